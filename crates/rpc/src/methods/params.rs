//! A call's parameters, placed by position, read with type checks that
//! answer as bitcoind does (`-3` for a wrong type, `-1` for a missing one).

use kestrel_interfaces::Hash256;
use serde_json::Value;

use crate::*;

/// A call's parameters, by position, after named ones were placed.
pub struct Params {
    pub(crate) values: Vec<Value>,
}

pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

pub(crate) fn type_error(name: &str, expected: &str, got: &Value) -> RpcError {
    RpcError::new(
        TYPE_ERROR,
        format!(
            "JSON value of type {} is not of expected type {expected} (parameter {name})",
            type_name(got)
        ),
    )
}

impl Params {
    /// The value at `index`, `None` when absent or null.
    pub(crate) fn get(&self, index: usize) -> Option<&Value> {
        self.values.get(index).filter(|v| !v.is_null())
    }

    pub(crate) fn str(&self, index: usize, name: &str) -> Result<Option<&str>, RpcError> {
        self.get(index)
            .map(|v| v.as_str().ok_or_else(|| type_error(name, "string", v)))
            .transpose()
    }

    pub(crate) fn u32(&self, index: usize, name: &str) -> Result<Option<u32>, RpcError> {
        self.get(index)
            .map(|v| {
                let n = v.as_i64().ok_or_else(|| type_error(name, "number", v))?;
                u32::try_from(n).map_err(|_| {
                    RpcError::new(INVALID_PARAMETER, format!("{name} out of range: {n}"))
                })
            })
            .transpose()
    }

    pub(crate) fn required_str(&self, index: usize, name: &str) -> Result<&str, RpcError> {
        self.str(index, name)?.ok_or_else(|| missing(name))
    }

    pub(crate) fn required_u32(&self, index: usize, name: &str) -> Result<u32, RpcError> {
        self.u32(index, name)?.ok_or_else(|| missing(name))
    }
}

pub(crate) fn missing(name: &str) -> RpcError {
    RpcError::new(MISC_ERROR, format!("Missing required parameter {name}"))
}

pub(crate) fn parse_hash(text: &str, name: &str) -> Result<Hash256, RpcError> {
    if text.len() != 64 {
        return Err(RpcError::new(
            INVALID_PARAMETER,
            format!(
                "{name} must be of length 64 (not {}, for '{text}')",
                text.len()
            ),
        ));
    }
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash).map_err(|_| {
        RpcError::new(
            INVALID_PARAMETER,
            format!("{name} must be hexadecimal string (not '{text}')"),
        )
    })?;
    hash.reverse();
    Ok(hash)
}
