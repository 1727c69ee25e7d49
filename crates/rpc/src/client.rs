//! A JSON-RPC client for the node's server: what `kestrel-cli` and tests
//! talk through.

use std::net::SocketAddr;

use serde_json::{json, Value};

use crate::auth::RpcAuth;
use crate::RpcError;

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Nothing answered (not started yet, or gone).
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

pub struct RpcClient {
    agent: ureq::Agent,
    addr: SocketAddr,
    auth: RpcAuth,
}

impl RpcClient {
    pub fn new(addr: SocketAddr, auth: RpcAuth) -> RpcClient {
        // Error statuses carry JSON-RPC errors in their bodies: read them.
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build();
        RpcClient {
            agent: ureq::Agent::new_with_config(config),
            addr,
            auth,
        }
    }

    /// Calls `method` with positional `params` and returns its result.
    pub fn call(&self, method: &str, params: &[Value]) -> Result<Value, CallError> {
        let request = json!({"jsonrpc": "1.0", "id": 1, "method": method, "params": params});
        let mut response = self
            .agent
            .post(&format!("http://{}/", self.addr))
            .header("Authorization", &self.auth.header())
            .content_type("application/json")
            .send(request.to_string())
            .map_err(|e| CallError::Connect {
                addr: self.addr,
                detail: e.to_string(),
            })?;
        let status = response.status().as_u16();
        if status == 401 {
            return Err(CallError::Unauthorized);
        }
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|e| CallError::Connect {
                addr: self.addr,
                detail: e.to_string(),
            })?;
        let protocol_error = || CallError::Protocol {
            status,
            body: body.clone(),
        };
        let reply: Value = serde_json::from_str(&body).map_err(|_| protocol_error())?;
        match reply.get("error") {
            Some(Value::Null) | None => reply.get("result").cloned().ok_or_else(protocol_error),
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
