//! The Cap'n Proto text form of a message, as capnp's `Debug` prints it
//! (one line), written straight into a `String`.
//!
//! capnp's own printer writes `Data` with one `write!("{:02x}")` per byte,
//! and under tracing each of those goes through the log formatter's escaping
//! writer: that was most of what `-debug=ipc` cost per call, and a logged
//! block is kilobytes of `Data`. Here bytes are hex-encoded from a table and
//! the line reaches tracing as one string. A struct type's fields and their
//! names are looked up in its schema once, not for every message (that
//! walk was half of what printing an Echo cost). Tests pin the text to
//! capnp's.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write;
use std::rc::Rc;

use capnp::dynamic_value::Reader as Value;
use capnp::schema::{Field, StructSchema};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends the text form of `value` to `out`. A value that cannot be read
/// (a malformed message) ends the text with `<unreadable: why>`.
pub(crate) fn write_text(value: Value<'_>, out: &mut String) {
    if let Err(e) = write_value(value, out) {
        let _ = write!(out, "<unreadable: {e}>");
    }
}

fn write_value(value: Value<'_>, out: &mut String) -> capnp::Result<()> {
    match value {
        Value::Void => out.push_str("()"),
        Value::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        Value::Int8(x) => push_display(out, x),
        Value::Int16(x) => push_display(out, x),
        Value::Int32(x) => push_display(out, x),
        Value::Int64(x) => push_display(out, x),
        Value::UInt8(x) => push_display(out, x),
        Value::UInt16(x) => push_display(out, x),
        Value::UInt32(x) => push_display(out, x),
        Value::UInt64(x) => push_display(out, x),
        Value::Float32(x) => push_display(out, x),
        Value::Float64(x) => push_display(out, x),
        Value::Enum(e) => match e.get_enumerant()? {
            Some(enumerant) => out.push_str(enumerant.get_proto().get_name()?.to_str()?),
            None => push_display(out, e.get_value()),
        },
        Value::Text(t) => {
            let _ = write!(out, "{t:?}");
        }
        Value::Data(bytes) => {
            out.push_str("0x\"");
            out.reserve(bytes.len() * 2 + 1);
            // A chunk's digits at a time: one `push_str` instead of two
            // `push`es per byte.
            let mut digits = [0u8; 128];
            for chunk in bytes.chunks(digits.len() / 2) {
                for (pair, &b) in digits.chunks_exact_mut(2).zip(chunk) {
                    pair[0] = HEX[usize::from(b >> 4)];
                    pair[1] = HEX[usize::from(b & 0xf)];
                }
                let hex = &digits[..chunk.len() * 2];
                out.push_str(std::str::from_utf8(hex).expect("hex digits are ASCII"));
            }
            out.push('"');
        }
        Value::List(list) => {
            out.push('[');
            for (i, item) in list.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(item?, out)?;
            }
            out.push(']');
        }
        Value::Struct(st) => {
            let fields = fields_of(st.get_schema())?;
            if fields.plain.is_empty() && fields.union.is_empty() {
                out.push_str("()");
                return Ok(());
            }
            // As capnp prints it: the active union member unless it is the
            // first one and unset, at its place among the other fields.
            let mut union_member = None;
            if !fields.union.is_empty() {
                if let Some(active) = st.which()? {
                    let discriminant = active.get_proto().get_discriminant_value();
                    if discriminant != 0 || st.has(active)? {
                        union_member = fields.union.get(usize::from(discriminant));
                    }
                }
            }
            let mut first = true;
            let mut write_field = |&(field, name): &(Field, &str), out: &mut String| {
                if !std::mem::take(&mut first) {
                    out.push_str(", ");
                }
                out.push_str(name);
                out.push_str(" = ");
                write_value(st.get(field)?, out)
            };
            out.push('(');
            for plain in &fields.plain {
                if let Some(member) = union_member.filter(|m| m.0.get_index() < plain.0.get_index())
                {
                    write_field(member, out)?;
                    union_member = None;
                }
                if st.has(plain.0)? {
                    write_field(plain, out)?;
                }
            }
            if let Some(member) = union_member {
                write_field(member, out)?;
            }
            out.push(')');
        }
        Value::AnyPointer(_) => out.push_str("<opaque pointer>"),
        Value::Capability(_) => out.push_str("<external capability>"),
    }
    Ok(())
}

/// A struct type's fields with their names, in the order capnp prints them.
struct Fields {
    /// Those outside the union, by index.
    plain: Vec<(Field, &'static str)>,
    /// The union's members, by discriminant value.
    union: Vec<(Field, &'static str)>,
}

thread_local! {
    /// Walking a struct's schema for its fields and their names cost more
    /// than printing them; the walk is done once per struct type.
    static FIELDS: RefCell<HashMap<StructSchema, Rc<Fields>>> = RefCell::default();
}

fn fields_of(schema: StructSchema) -> capnp::Result<Rc<Fields>> {
    if let Some(fields) = FIELDS.with_borrow(|known| known.get(&schema).cloned()) {
        return Ok(fields);
    }
    let named = |subset: capnp::schema::FieldSubset| {
        subset
            .into_iter()
            .map(|field| Ok((field, field.get_proto().get_name()?.to_str()?)))
            .collect::<capnp::Result<Vec<_>>>()
    };
    let fields = Rc::new(Fields {
        plain: named(schema.get_non_union_fields()?)?,
        union: named(schema.get_union_fields()?)?,
    });
    FIELDS.with_borrow_mut(|known| known.insert(schema, fields.clone()));
    Ok(fields)
}

fn push_display(out: &mut String, value: impl std::fmt::Display) {
    let _ = write!(out, "{value}");
}

#[cfg(test)]
mod tests {
    use capnp::message::{Builder, HeapAllocator};

    use super::write_text;
    use crate::schema::chain_capnp::chain_notifications::notify_params;
    use crate::schema::wallet_capnp::wallet::{list_transactions_results, list_unspent_results};

    /// Ours and capnp's text of the same message.
    fn both<'r>(message: impl Into<capnp::dynamic_value::Reader<'r>>) -> (String, String) {
        let value = message.into();
        let mut ours = String::new();
        write_text(value, &mut ours);
        (ours, format!("{value:?}"))
    }

    #[test]
    fn unions_groups_lists_and_data_print_as_capnp_prints_them() {
        let mut message = Builder::new(HeapAllocator::new());
        let params = message.init_root::<notify_params::Builder>();
        let mut events = params.init_events(3);
        let mut connected = events.reborrow().get(0).init_block_connected();
        connected.set_height(7);
        connected.set_block(&[0x00, 0x0f, 0xa5, 0xff]);
        // Longer than one chunk of hex digits, every byte value once.
        let all_bytes: Vec<u8> = (0..=255).collect();
        events
            .reborrow()
            .get(1)
            .set_transaction_added_to_mempool(&all_bytes);
        events.reborrow().get(2).init_block_connected();
        let (ours, capnp) = both(
            message
                .get_root_as_reader::<notify_params::Reader>()
                .unwrap(),
        );
        assert_eq!(ours, capnp);
        assert!(ours.contains(r#"block = 0x"000fa5ff""#), "{ours}");
        assert!(ours.contains(r#"ToMempool = 0x"000102"#), "{ours}");
    }

    #[test]
    fn empty_data_the_first_union_member_unset_and_absent_pointers_print_as_capnp_prints_them() {
        let mut message = Builder::new(HeapAllocator::new());
        let results = message.init_root::<list_transactions_results::Builder>();
        let mut txs = results.init_txs(2);
        let mut paid = txs.reborrow().get(0);
        paid.set_txid(&[1; 32]);
        paid.set_amount(-5);
        paid.reborrow().init_fee().set_paid(100);
        paid.set_confirmations(3);
        let mut unknown = txs.reborrow().get(1);
        unknown.reborrow().init_fee().set_unknown(());
        unknown.set_raw(&[0xde, 0xad]);
        unknown.set_block_hash(&[]);
        let (ours, capnp) = both(
            message
                .get_root_as_reader::<list_transactions_results::Reader>()
                .unwrap(),
        );
        assert_eq!(ours, capnp);
        assert!(ours.contains("paid = 100"), "{ours}");
    }

    #[test]
    fn text_escapes_empty_lists_and_nested_structs_print_as_capnp_prints_them() {
        let mut message = Builder::new(HeapAllocator::new());
        let mut results = message.init_root::<list_unspent_results::Builder>();
        results.reborrow().init_unspent(0);
        let mut rejected = results.init_rejected();
        rejected.set_code(-4);
        rejected.set_message("a \"quoted\"\nline with \x1b[31m and ünïcode");
        let (ours, capnp) = both(
            message
                .get_root_as_reader::<list_unspent_results::Reader>()
                .unwrap(),
        );
        assert_eq!(ours, capnp);
        assert!(ours.contains("unspent = []"), "{ours}");
        assert!(
            !ours.contains('\x1b'),
            "control characters are escaped: {ours}"
        );
    }
}
