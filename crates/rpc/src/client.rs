//! The JSON-RPC client of the node's server: what `kestrel-cli` and the
//! functional tests talk through (Bitcoin's AuthServiceProxy). HTTP basic
//! authentication, JSON-RPC errors as [`CallError::Rpc`], anything else (no
//! connection, 401, garbage) as another [`CallError`].

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value};

use crate::auth::RpcAuth;
use crate::RpcError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// Nothing answered (not started yet, or gone, or timed out).
    #[error("Could not connect to the server {addr} ({detail})\n\nMake sure the node is running and that you are connecting to the correct RPC port.")]
    Connect { addr: SocketAddr, detail: String },
    #[error("Authorization failed: Incorrect rpcuser or rpcpassword")]
    Unauthorized,
    /// The server answered with a JSON-RPC error.
    #[error("error code: {}\nerror message:\n{}", .0.code, .0.message)]
    Rpc(RpcError),
    /// The server answered something that is not a JSON-RPC reply.
    #[error("Unexpected reply from the server (HTTP {status}): {body}")]
    Protocol { status: u16, body: String },
}

/// A raw HTTP reply, for tests of the transport itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    pub status: u16,
    pub body: String,
}

/// Talks JSON-RPC to one server.
#[derive(Clone)]
pub struct RpcClient {
    agent: ureq::Agent,
    addr: SocketAddr,
    /// `None`: sends no credentials (to test that they are required).
    auth: Option<RpcAuth>,
}

impl RpcClient {
    /// A client of the server at `addr` with the credentials `auth`.
    pub fn new(addr: SocketAddr, auth: RpcAuth) -> RpcClient {
        RpcClient::with_auth(addr, Some(auth), None)
    }

    /// A client whose calls give up after `timeout` (`None`: credentials
    /// are not sent).
    pub fn with_auth(
        addr: SocketAddr,
        auth: Option<RpcAuth>,
        timeout: Option<Duration>,
    ) -> RpcClient {
        // Error statuses carry JSON-RPC errors in their bodies: read them.
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(timeout)
            .build();
        RpcClient {
            agent: ureq::Agent::new_with_config(config),
            addr,
            auth,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn connect_error(&self, detail: impl ToString) -> CallError {
        CallError::Connect {
            addr: self.addr,
            detail: detail.to_string(),
        }
    }

    /// POSTs `body` as it is and returns the HTTP reply.
    pub fn post(&self, body: &str) -> Result<HttpReply, CallError> {
        let mut request = self
            .agent
            .post(&format!("http://{}/", self.addr))
            .content_type("application/json");
        if let Some(auth) = &self.auth {
            request = request.header("Authorization", &auth.header());
        }
        let mut response = request.send(body).map_err(|e| self.connect_error(e))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|e| self.connect_error(e))?;
        Ok(HttpReply { status, body })
    }

    /// Calls `method` with positional `params` and returns its result.
    pub fn call(&self, method: &str, params: &[Value]) -> Result<Value, CallError> {
        self.call_with(method, Value::from(params))
    }

    /// Calls `method` with `params`: an array, or an object of named
    /// parameters.
    pub fn call_with(&self, method: &str, params: Value) -> Result<Value, CallError> {
        let request = json!({"jsonrpc": "1.0", "id": 1, "method": method, "params": params});
        let reply = self.post(&request.to_string())?;
        if reply.status == 401 {
            return Err(CallError::Unauthorized);
        }
        let protocol_error = || CallError::Protocol {
            status: reply.status,
            body: reply.body.clone(),
        };
        let parsed: Value = serde_json::from_str(&reply.body).map_err(|_| protocol_error())?;
        match parsed.get("error") {
            Some(Value::Null) | None => parsed.get("result").cloned().ok_or_else(protocol_error),
            Some(error) => {
                let code = error
                    .get("code")
                    .and_then(Value::as_i64)
                    .ok_or_else(protocol_error)?;
                let message = error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                Err(CallError::Rpc(RpcError::new(code as i32, message)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_listening_is_a_connect_error() {
        // A port just freed: nothing listens on it.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let client = RpcClient::new(addr, RpcAuth::new("u", "p"));
        assert!(matches!(
            client.call("getblockcount", &[]),
            Err(CallError::Connect { .. })
        ));
    }
}
