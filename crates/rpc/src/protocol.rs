//! JSON-RPC 1.0 and 2.0 over an HTTP body, shaped as bitcoind shapes it:
//! 1.0 replies carry both `result` and `error`; 2.0 replies one of them and
//! `"jsonrpc": "2.0"`; batches are arrays; 2.0 notifications get no reply.

use std::sync::Arc;

use serde_json::{json, Value};

use kestrel_common::json::to_compact;

use crate::methods::{dispatch, dispatch_async, RpcContext};
use crate::*;

/// What goes back over HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    /// `None`: nothing to say (only 2.0 notifications), HTTP 204.
    pub body: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Version {
    Legacy,
    V2,
}

/// A reply to one request, and the error code when it failed.
struct Answer {
    response: Value,
    error: Option<i32>,
}

fn answer(version: Version, id: Value, outcome: Result<Value, RpcError>) -> Answer {
    let error = outcome.as_ref().err().map(|e| e.code);
    let response = match (version, outcome) {
        (Version::Legacy, Ok(result)) => json!({"result": result, "error": null, "id": id}),
        (Version::Legacy, Err(e)) => json!({"result": null, "error": e.to_json(), "id": id}),
        (Version::V2, Ok(result)) => json!({"jsonrpc": "2.0", "result": result, "id": id}),
        (Version::V2, Err(e)) => json!({"jsonrpc": "2.0", "error": e.to_json(), "id": id}),
    };
    Answer { response, error }
}

/// One request object, read: how to answer it.
struct Request {
    version: Version,
    id: Value,
    /// A 2.0 request without an id: run, but not answered.
    notification: bool,
}

/// What a request calls (method and parameters), or why it calls nothing.
type Call<'a> = Result<(&'a str, &'a Value), RpcError>;

impl Request {
    /// Reads `request`; a malformed one is answered at once.
    fn read(request: &Value) -> Result<(Request, Call<'_>), Answer> {
        let Some(object) = request.as_object() else {
            return Err(answer(
                Version::Legacy,
                Value::Null,
                Err(RpcError::new(INVALID_REQUEST, "Invalid Request object")),
            ));
        };
        let id = object.get("id").cloned().unwrap_or(Value::Null);
        let version = match object.get("jsonrpc") {
            None => Version::Legacy,
            Some(v) if v == "1.0" => Version::Legacy,
            Some(v) if v == "2.0" => Version::V2,
            Some(other) => {
                return Err(answer(
                    Version::Legacy,
                    id,
                    Err(RpcError::new(
                        INVALID_REQUEST,
                        format!("JSON-RPC version {other} not supported; use \"1.0\" or \"2.0\""),
                    )),
                ))
            }
        };
        let call = match object.get("method") {
            Some(Value::String(method)) => Ok((
                method.as_str(),
                object.get("params").unwrap_or(&Value::Null),
            )),
            _ => Err(RpcError::new(INVALID_REQUEST, "Method must be a string")),
        };
        let request = Request {
            version,
            id,
            notification: version == Version::V2 && !object.contains_key("id"),
        };
        Ok((request, call))
    }

    /// The answer to the call's `outcome`; `None` for a notification.
    fn answer(self, outcome: Result<Value, RpcError>) -> Option<Answer> {
        if let Err(e) = &outcome {
            tracing::debug!(target: "rpc", code = e.code, message = %e.message, "error");
        }
        (!self.notification).then(|| answer(self.version, self.id, outcome))
    }
}

/// Handles a single request from the server's task: a remote wallet's
/// call is awaited there (see [`dispatch_async`]).
async fn handle_single(ctx: &Arc<RpcContext>, request: &Value) -> Option<Answer> {
    let (request, call) = match Request::read(request) {
        Ok(read) => read,
        Err(malformed) => return Some(malformed),
    };
    let outcome = match call {
        Ok((method, params)) => dispatch_async(ctx, method, params).await,
        Err(e) => Err(e),
    };
    request.answer(outcome)
}

/// Handles a batch's requests one after another on this thread, which may
/// block: one pool hop for the whole batch.
fn handle_batch(ctx: &RpcContext, batch: &[Value]) -> Vec<Value> {
    batch
        .iter()
        .filter_map(|request| match Request::read(request) {
            Ok((request, call)) => {
                request.answer(call.and_then(|(method, params)| dispatch(ctx, method, params)))
            }
            Err(malformed) => Some(malformed),
        })
        .map(|answer| answer.response)
        .collect()
}

/// A failure of the whole body, answered as bitcoind does: 1.0, no id.
fn body_error(error: RpcError) -> Reply {
    Reply {
        status: 500,
        body: Some(to_compact(
            &answer(Version::Legacy, Value::Null, Err(error)).response,
        )),
    }
}

fn parse_error(e: serde_json::Error) -> Reply {
    body_error(RpcError::new(PARSE_ERROR, format!("Parse error: {e}")))
}

/// Handles an HTTP request body. A batch (a body that starts with `[`) is
/// parsed and run whole on the blocking pool.
pub async fn handle_body(ctx: &Arc<RpcContext>, body: &[u8]) -> Reply {
    let is_batch = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'[');
    if is_batch {
        let (batch_ctx, body) = (ctx.clone(), body.to_vec());
        return ctx
            .spawn_blocking(move || match serde_json::from_slice::<Vec<Value>>(&body) {
                Ok(batch) => Reply {
                    status: 200,
                    body: Some(to_compact(&Value::Array(handle_batch(&batch_ctx, &batch)))),
                },
                Err(e) => parse_error(e),
            })
            .await
            .unwrap_or_else(|e| {
                tracing::error!(target: "rpc", "RPC batch failed: {e}");
                body_error(RpcError::new(INTERNAL_ERROR, "RPC handler failed"))
            });
    }
    let request: Value = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(e) => return parse_error(e),
    };
    match handle_single(ctx, &request).await {
        None => Reply {
            status: 204,
            body: None,
        },
        Some(reply) => {
            let is_v2 = reply.response.get("jsonrpc").is_some();
            // bitcoind's HTTP statuses for 1.0 errors; 2.0 always 200.
            let status = match reply.error {
                None => 200,
                Some(_) if is_v2 => 200,
                Some(METHOD_NOT_FOUND) => 404,
                Some(INVALID_REQUEST) => 400,
                Some(_) => 500,
            };
            Reply {
                status,
                body: Some(to_compact(&reply.response)),
            }
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::test_support::{context, FakeChain};

    fn post(body: &str) -> (u16, Value) {
        let ctx = Arc::new(context(Arc::new(FakeChain::new()), None));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let reply = runtime.block_on(handle_body(&ctx, body.as_bytes()));
        let body = reply
            .body
            .map(|b| serde_json::from_str(&b).unwrap())
            .unwrap_or(Value::Null);
        (reply.status, body)
    }

    #[test]
    fn legacy_request_and_errors() {
        assert_eq!(
            post(r#"{"method":"getblockcount","params":[],"id":"x"}"#),
            (200, json!({"result": 0, "error": null, "id": "x"}))
        );
        assert_eq!(
            post(r#"{"jsonrpc":"1.0","method":"nope","id":1}"#),
            (
                404,
                json!({"result": null, "error": {"code": -32601, "message": "Method not found"}, "id": 1})
            )
        );
        let (status, body) = post(r#"{"method":"getblockhash","params":[99],"id":1}"#);
        assert_eq!((status, &body["error"]["code"]), (500, &json!(-8)));
        let (status, body) = post(r#"{"method":5,"id":1}"#);
        assert_eq!((status, &body["error"]["code"]), (400, &json!(-32600)));
    }

    #[test]
    fn v2_request_notification_and_batch() {
        assert_eq!(
            post(r#"{"jsonrpc":"2.0","method":"nope","id":7}"#),
            (
                200,
                json!({"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": 7})
            )
        );
        assert_eq!(
            post(r#"{"jsonrpc":"2.0","method":"getblockcount"}"#),
            (204, Value::Null)
        );
        let (status, body) = post(
            r#"[{"method":"getblockcount","id":1},{"method":"echo","params":["a"],"id":2},3]"#,
        );
        assert_eq!(status, 200);
        assert_eq!(body[0]["result"], json!(0));
        assert_eq!(body[1]["result"], json!(["a"]));
        assert_eq!(body[2]["error"]["code"], json!(-32600));
        let (_, body) = post(r#"{"jsonrpc":"3.0","method":"getblockcount","id":1}"#);
        assert_eq!(body["error"]["code"], json!(-32600));
    }

    #[test]
    fn parse_error() {
        let (status, body) = post("{not json");
        assert_eq!(status, 500);
        assert_eq!(body["error"]["code"], json!(PARSE_ERROR));
        assert_eq!(body["id"], Value::Null);
    }
}
