//! The Cap'n Proto text form of a message, as capnp's `Debug` prints it
//! (one line), written straight into a `String`.
//!
//! capnp's own printer writes `Data` with one `write!("{:02x}")` per byte,
//! and under tracing each of those goes through the log formatter's escaping
//! writer: that was most of what `-debug=ipc` cost per call, and a logged
//! block is kilobytes of `Data`. Here bytes are hex-encoded from a table and
//! the line reaches tracing as one string. A test pins the text to capnp's.

use std::fmt::Write;

use capnp::dynamic_value::Reader as Value;

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
            let schema = st.get_schema();
            let union_fields = schema.get_union_fields()?;
            let non_union_fields = schema.get_non_union_fields()?;
            if union_fields.len() + non_union_fields.len() == 0 {
                out.push_str("()");
                return Ok(());
            }
            // As capnp prints it: the active union member unless it is the
            // first one and unset, at its place among the other fields.
            let mut union_field = match st.which()? {
                Some(field)
                    if field.get_proto().get_discriminant_value() != 0 || st.has(field)? =>
                {
                    Some(field)
                }
                _ => None,
            };
            let mut first = true;
            let mut write_field = |field: capnp::schema::Field, out: &mut String| {
                if !std::mem::take(&mut first) {
                    out.push_str(", ");
                }
                out.push_str(field.get_proto().get_name()?.to_str()?);
                out.push_str(" = ");
                write_value(st.get(field)?, out)
            };
            out.push('(');
            for field in non_union_fields {
                if let Some(member) = union_field.filter(|m| m.get_index() < field.get_index()) {
                    write_field(member, out)?;
                    union_field = None;
                }
                if st.has(field)? {
                    write_field(field, out)?;
                }
            }
            if let Some(member) = union_field {
                write_field(member, out)?;
            }
            out.push(')');
        }
        Value::AnyPointer(_) => out.push_str("<opaque pointer>"),
        Value::Capability(_) => out.push_str("<external capability>"),
    }
    Ok(())
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
