//! A JSON-RPC client for a node under test (Bitcoin's AuthServiceProxy):
//! HTTP basic authentication, JSON-RPC errors as [`RpcError`], anything
//! else (no connection, HTTP errors, garbage) as another [`CallError`].

use std::fmt;
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

/// How long one call may take before the test gives up on it: generous,
/// since debug builds mine slowly and the machine is shared.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// A JSON-RPC error reply: bitcoind's `{"code": .., "message": ..}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RPC error {}: {}", self.code, self.message)
    }
}

impl std::error::Error for RpcError {}

/// Why a call has no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The server answered with a JSON-RPC error.
    Rpc(RpcError),
    /// The server answered, but not with a JSON-RPC reply (e.g. 401).
    Http { status: u16, body: String },
    /// No answer: nothing listening, connection reset, timeout.
    Transport(String),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Rpc(e) => e.fmt(f),
            CallError::Http { status, body } => write!(f, "HTTP {status}: {body:?}"),
            CallError::Transport(detail) => write!(f, "no answer: {detail}"),
        }
    }
}

impl std::error::Error for CallError {}

/// A raw HTTP reply, for tests of the transport itself.
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    pub body: String,
}

/// `user:password` for HTTP basic authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl Credentials {
    /// Parses a cookie file's content (`__cookie__:<hex>`).
    pub fn from_cookie(text: &str) -> Result<Credentials, String> {
        let (user, password) = text
            .trim()
            .split_once(':')
            .ok_or_else(|| format!("not a cookie (expected user:password): {text:?}"))?;
        Ok(Credentials {
            user: user.to_string(),
            password: password.to_string(),
        })
    }

    fn header(&self) -> String {
        let pair = format!("{}:{}", self.user, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }
}

/// Talks JSON-RPC to one node's port.
#[derive(Clone)]
pub struct RpcClient {
    agent: ureq::Agent,
    url: String,
    credentials: Option<Credentials>,
}

impl RpcClient {
    /// A client of `127.0.0.1:<port>`; `None` sends no credentials.
    pub fn new(port: u16, credentials: Option<Credentials>) -> RpcClient {
        // Error statuses carry JSON-RPC errors in their bodies: read them.
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(CALL_TIMEOUT))
            .build();
        RpcClient {
            agent: ureq::Agent::new_with_config(config),
            url: format!("http://127.0.0.1:{port}/"),
            credentials,
        }
    }

    /// POSTs `body` as it is and returns the HTTP reply.
    pub fn post(&self, body: &str) -> Result<HttpReply, CallError> {
        let mut request = self.agent.post(&self.url).content_type("application/json");
        if let Some(credentials) = &self.credentials {
            request = request.header("Authorization", &credentials.header());
        }
        let mut response = request
            .send(body)
            .map_err(|e| CallError::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|e| CallError::Transport(e.to_string()))?;
        Ok(HttpReply { status, body })
    }

    /// Calls `method` with `params` (an array, or an object of named
    /// parameters).
    pub fn try_call(&self, method: &str, params: Value) -> Result<Value, CallError> {
        let request =
            json!({"jsonrpc": "1.0", "id": "functional", "method": method, "params": params});
        let reply = self.post(&request.to_string())?;
        let not_json_rpc = || CallError::Http {
            status: reply.status,
            body: reply.body.clone(),
        };
        let parsed: Value = serde_json::from_str(&reply.body).map_err(|_| not_json_rpc())?;
        match parsed.get("error") {
            None | Some(Value::Null) => parsed.get("result").cloned().ok_or_else(not_json_rpc),
            Some(error) => {
                let code = error
                    .get("code")
                    .and_then(Value::as_i64)
                    .ok_or_else(not_json_rpc)?;
                let message = error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                Err(CallError::Rpc(RpcError { code, message }))
            }
        }
    }

    /// Calls `method`: its result, or the JSON-RPC error the test may
    /// check. A failure below JSON-RPC (no connection, HTTP error) panics,
    /// since no scenario expects one through this call.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        match self.try_call(method, params) {
            Ok(result) => Ok(result),
            Err(CallError::Rpc(error)) => Err(error),
            Err(other) => panic!("{method} on {}: {other}", self.url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_credentials() {
        let credentials = Credentials::from_cookie("__cookie__:abc:def\n").unwrap();
        assert_eq!(credentials.user, "__cookie__");
        assert_eq!(credentials.password, "abc:def");
        assert_eq!(
            Credentials {
                user: "a".into(),
                password: "b".into()
            }
            .header(),
            "Basic YTpi"
        );
        assert!(Credentials::from_cookie("garbage").is_err());
    }

    #[test]
    fn nothing_listening_is_a_transport_error() {
        // A port just freed: nothing listens on it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = RpcClient::new(port, None);
        assert!(matches!(
            client.try_call("getblockcount", json!([])),
            Err(CallError::Transport(_))
        ));
    }
}
