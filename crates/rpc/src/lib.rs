//! The JSON-RPC interface: bitcoind's request and response shapes, its
//! error codes, credentials (cookie or user and password) and a client
//! ([`client::RpcClient`], what `kestrel-cli` and the functional tests talk
//! through). With the `server` feature (the default; `kestrel-node` uses
//! it): the HTTP server, the protocol, the dispatch and the methods,
//! grouped as bitcoind groups them.

pub mod auth;
pub mod client;

#[cfg(feature = "server")]
pub mod methods;
#[cfg(feature = "server")]
pub mod node_chain;
#[cfg(feature = "server")]
pub mod protocol;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod shutdown;
#[cfg(feature = "server")]
pub mod wallet_slot;

#[cfg(all(feature = "server", any(test, feature = "test-support")))]
pub mod test_support;

pub use kestrel_interfaces::rpc_code::*;

/// JSON-RPC's own error codes, as bitcoind uses them.
pub const INVALID_REQUEST: i32 = -32600;
pub const METHOD_NOT_FOUND: i32 = -32601;
pub const INTERNAL_ERROR: i32 = -32603;
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
