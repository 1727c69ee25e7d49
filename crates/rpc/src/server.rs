//! The HTTP side: an async server (axum on the node's tokio runtime). Each
//! call runs where `methods::dispatch_async` says: on tokio's bounded
//! blocking pool, or awaited right here when it waits on a remote wallet.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::net::TcpListener;

use crate::auth::RpcAuth;
use crate::methods::RpcContext;
use crate::protocol::handle_body;

/// Largest request body accepted (bitcoind allows 32 MB; our calls are
/// small).
const MAX_BODY_BYTES: usize = 4 << 20;

struct ServerState {
    ctx: Arc<RpcContext>,
    auth: RpcAuth,
}

/// Serves JSON-RPC on `listener` until the context's shutdown is requested;
/// requests in flight then finish and the function returns.
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<RpcContext>,
    auth: RpcAuth,
) -> std::io::Result<()> {
    let shutdown = ctx.shutdown.clone();
    let app = Router::new()
        .fallback(handle)
        .with_state(Arc::new(ServerState { ctx, auth }));
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.requested().await })
        .await
}

async fn handle(State(state): State<Arc<ServerState>>, request: Request) -> Response {
    if request.method() != Method::POST {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            "JSONRPC server handles only POST requests",
        )
            .into_response();
    }
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !state.auth.accepts(authorization) {
        tracing::warn!(target: "http", "RPC request with missing or incorrect credentials");
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"jsonrpc\"")],
        )
            .into_response();
    }
    if request.uri().path() != "/" {
        return (
            StatusCode::NOT_FOUND,
            "Unknown path: JSON-RPC is served at /",
        )
            .into_response();
    }
    // Read only after authentication: strangers cannot make us buffer.
    let body = match axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(e) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Request body unreadable or over {MAX_BODY_BYTES} bytes: {e}"),
            )
                .into_response()
        }
    };
    tracing::debug!(target: "http", bytes = body.len(), "POST /");
    let reply = handle_body(&state.ctx, &body).await;
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match reply.body {
        Some(body) => (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            body + "\n",
        )
            .into_response(),
        None => status.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use serde_json::{json, Value};

    use super::*;
    use crate::client::{CallError, RpcClient};
    use crate::test_support::{context, FakeChain};

    /// Runs a server on a free loopback port in the background.
    fn start(auth: RpcAuth) -> (SocketAddr, Arc<RpcContext>, std::thread::JoinHandle<()>) {
        let ctx = Arc::new(context(Arc::new(FakeChain::new()), None));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let server_ctx = ctx.clone();
        let thread = std::thread::spawn(move || {
            runtime.block_on(serve(listener, server_ctx, auth)).unwrap();
        });
        (addr, ctx, thread)
    }

    #[test]
    fn authenticated_calls_succeed_and_others_get_401() {
        let auth = RpcAuth::new("u", "p");
        let (addr, ctx, thread) = start(auth.clone());
        let client = RpcClient::new(addr, auth);
        assert_eq!(client.call("getblockcount", &[]).unwrap(), json!(0));
        let err = client.call("getblockhash", &[json!(5)]).unwrap_err();
        assert!(
            matches!(err, CallError::Rpc(ref e) if e.code == -8),
            "{err:?}"
        );

        let wrong = RpcClient::new(addr, RpcAuth::new("u", "q"));
        assert!(matches!(
            wrong.call("getblockcount", &[]),
            Err(CallError::Unauthorized)
        ));

        // No credentials at all, and a GET.
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build(),
        );
        let url = format!("http://{addr}/");
        let response = agent.post(&url).send("{}").unwrap();
        assert_eq!(response.status(), 401);
        let response = agent.get(&url).call().unwrap();
        assert_eq!(response.status(), 405);

        assert_eq!(
            client.call("stop", &[]).unwrap(),
            Value::from("Kestrel server stopping")
        );
        assert!(ctx.shutdown.is_requested());
        thread.join().unwrap();
    }
}
