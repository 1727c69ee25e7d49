//! JSON text as bitcoind writes it: the RPC emits floats only for amounts
//! (see [`crate::amount::amount_to_json`]), and those are written with 8
//! decimals (`50.00000000`, not `50.0`).

use std::io;

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};
use serde_json::Value;

/// Wraps a formatter to write every float with 8 decimals.
struct AmountFormatter<F>(F);

macro_rules! delegate {
    ($($name:ident),*) => {
        $(
            fn $name<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
                self.0.$name(writer)
            }
        )*
    };
}

impl<F: Formatter> Formatter for AmountFormatter<F> {
    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        write!(writer, "{value:.8}")
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        self.write_f64(writer, f64::from(value))
    }

    delegate!(
        begin_array,
        end_array,
        begin_object,
        end_object,
        end_array_value,
        end_object_value
    );

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(writer, first)
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(writer, first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_object_value(writer)
    }
}

fn write_with<F: Formatter>(value: &Value, formatter: F) -> String {
    let mut out = Vec::new();
    let mut serializer =
        serde_json::Serializer::with_formatter(&mut out, AmountFormatter(formatter));
    value
        .serialize(&mut serializer)
        .expect("serializing a Value into memory cannot fail");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// One-line JSON, for responses.
pub fn to_compact(value: &Value) -> String {
    write_with(value, CompactFormatter)
}

/// Indented JSON, for people (bitcoin-cli's output).
pub fn to_pretty(value: &Value) -> String {
    write_with(value, PrettyFormatter::with_indent(b"  "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amount::amount_to_json;
    use serde_json::json;

    #[test]
    fn amounts_get_eight_decimals_and_the_rest_is_unchanged() {
        let value = json!({"amount": amount_to_json(5_000_000_000), "fee": amount_to_json(-1), "n": 3, "s": "x"});
        assert_eq!(
            to_compact(&value),
            r#"{"amount":50.00000000,"fee":-0.00000001,"n":3,"s":"x"}"#
        );
        assert_eq!(
            to_pretty(&json!([amount_to_json(1), {"a": null}])),
            "[\n  0.00000001,\n  {\n    \"a\": null\n  }\n]"
        );
    }
}
