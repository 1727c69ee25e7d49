//! The JSON-RPC interface: bitcoind's request and response shapes, its
//! methods and error codes, served over HTTP with basic authentication.

pub mod auth;
pub mod client;
pub mod methods;
pub mod protocol;
pub mod server;

pub use kestrel_interfaces::rpc_code::*;

/// JSON-RPC's own error codes, as bitcoind uses them.
pub const INVALID_REQUEST: i32 = -32600;
pub const METHOD_NOT_FOUND: i32 = -32601;
pub const PARSE_ERROR: i32 = -32700;

/// An error answer: bitcoind's `{"code": .., "message": ..}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (code {code})")]
pub struct RpcError {
    pub code: i32,
    pub message: String,
}

impl RpcError {
    pub fn new(code: i32, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"code": self.code, "message": self.message})
    }
}
