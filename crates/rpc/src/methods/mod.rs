//! The RPC methods and the dispatch of a call: each group, as bitcoind
//! groups them ([`blockchain`], [`control`], [`mining`], [`util`],
//! [`wallet`]), lists its methods with their parameters and help; here
//! they are found by name and their parameters bound. Handlers reach the
//! chain through [`NodeChain`] and the wallet only through the
//! [`WalletSlot`].
//!
//! Where a call runs ([`dispatch_async`]): a wallet RPC whose wallet is
//! remote (`Wallet::as_async`) is awaited on the server's own task, so no
//! thread waits on the IPC answer; every other call runs on tokio's
//! bounded blocking pool, since chain and in-process wallet calls are
//! synchronous and may take a while.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use serde_json::Value;

mod blockchain;
mod control;
mod mining;
mod params;
mod util;
mod wallet;

use crate::node_chain::NodeChain;
use crate::shutdown::Shutdown;
use crate::wallet_slot::WalletSlot;
use crate::*;
use params::{type_name, Params};

/// `echoipc`'s round trip: in-process in `kestreld`, through an IPC Echo
/// object in the multiprocess build.
pub type EchoIpc = Arc<dyn Fn(&str) -> kestrel_interfaces::Result<String> + Send + Sync>;

/// What the handlers work with.
pub struct RpcContext {
    pub chain: Arc<dyn NodeChain>,
    pub wallet: WalletSlot,
    pub echo_ipc: EchoIpc,
    pub shutdown: Shutdown,
    pub started: Instant,
    /// The runtime whose blocking pool runs the calls that may block;
    /// `None`: the pool of the runtime the server runs on. A multiprocess
    /// node serves HTTP on its IPC event loop but keeps RPC calls off that
    /// loop's pool, which serves the wallet process's chain calls: a flood
    /// of RPCs waiting on the wallet must not take every thread the wallet
    /// waits for.
    pub blocking_pool: Option<tokio::runtime::Handle>,
}

impl RpcContext {
    /// Runs `call` on the blocking pool (see [`RpcContext::blocking_pool`]).
    pub(crate) fn spawn_blocking<R: Send + 'static>(
        &self,
        call: impl FnOnce() -> R + Send + 'static,
    ) -> tokio::task::JoinHandle<R> {
        match &self.blocking_pool {
            Some(pool) => pool.spawn_blocking(call),
            None => tokio::task::spawn_blocking(call),
        }
    }
}

pub(crate) struct Param {
    pub(crate) name: &'static str,
    pub(crate) required: bool,
}

pub(crate) const fn req(name: &'static str) -> Param {
    Param {
        name,
        required: true,
    }
}

pub(crate) const fn opt(name: &'static str) -> Param {
    Param {
        name,
        required: false,
    }
}

pub(crate) type Handler = fn(&RpcContext, &Params) -> Result<Value, RpcError>;

/// A wallet RPC's answer on its way.
pub(crate) type WalletFuture = Pin<Box<dyn Future<Output = Result<Value, RpcError>> + Send>>;

/// How a method runs.
pub(crate) enum Run {
    /// A plain call, on a thread that may block.
    Sync(Handler),
    /// A future over the wallet (see [`wallet::WalletAccess`]): awaited
    /// where it is when the wallet is remote, run to completion in place
    /// when it is in this process.
    Wallet(fn(wallet::WalletAccess, Params) -> WalletFuture),
}

pub(crate) struct Method {
    pub(crate) name: &'static str,
    pub(crate) category: &'static str,
    pub(crate) params: &'static [Param],
    /// `echo` takes any parameters.
    pub(crate) variadic: bool,
    pub(crate) help: &'static str,
    pub(crate) run: Run,
}

pub(crate) const fn method(
    name: &'static str,
    category: &'static str,
    params: &'static [Param],
    help: &'static str,
    handler: Handler,
) -> Method {
    Method {
        name,
        category,
        params,
        variadic: false,
        help,
        run: Run::Sync(handler),
    }
}

/// Every group's methods, in the order `help` lists them.
const GROUPS: &[&[Method]] = &[
    blockchain::METHODS,
    control::METHODS,
    mining::METHODS,
    util::METHODS,
    wallet::METHODS,
];

pub(crate) fn all_methods() -> impl Iterator<Item = &'static Method> {
    GROUPS.iter().flat_map(|group| group.iter())
}

pub(crate) fn find_method(name: &str) -> Option<&'static Method> {
    all_methods().find(|m| m.name == name)
}

pub(crate) fn usage(method: &Method) -> String {
    let mut line = method.name.to_string();
    for param in method.params {
        if param.required {
            line.push_str(&format!(" {}", param.name));
        } else {
            line.push_str(&format!(" ( {} )", param.name));
        }
    }
    if method.variadic {
        line.push_str(" ( arg ... )");
    }
    line
}

/// Places `params` (an array, an object of named parameters, or absent)
/// against the method's parameter list.
fn bind_params(method: &Method, params: &Value) -> Result<Params, RpcError> {
    let wrong_count = || {
        RpcError::new(
            MISC_ERROR,
            format!(
                "Wrong number of parameters for {}; usage: {}",
                method.name,
                usage(method)
            ),
        )
    };
    let values = match params {
        Value::Null => Vec::new(),
        Value::Array(values) => {
            if !method.variadic && values.len() > method.params.len() {
                return Err(wrong_count());
            }
            values.clone()
        }
        Value::Object(named) => {
            if let Some(unknown) = named
                .keys()
                .find(|key| !method.params.iter().any(|p| p.name == key.as_str()))
            {
                return Err(RpcError::new(
                    INVALID_PARAMETER,
                    format!(
                        "Unknown named parameter {unknown}; usage: {}",
                        usage(method)
                    ),
                ));
            }
            method
                .params
                .iter()
                .map(|p| named.get(p.name).cloned().unwrap_or(Value::Null))
                .collect()
        }
        other => {
            return Err(RpcError::new(
                INVALID_REQUEST,
                format!(
                    "Params must be an array or object, not {}",
                    type_name(other)
                ),
            ))
        }
    };
    let missing_required = method
        .params
        .iter()
        .enumerate()
        .any(|(i, p)| p.required && values.get(i).is_none_or(Value::is_null));
    if missing_required {
        return Err(wrong_count());
    }
    Ok(Params { values })
}

/// Finds the method and binds its parameters.
fn prepare(name: &str, params: &Value) -> Result<(&'static Method, Params), RpcError> {
    let method =
        find_method(name).ok_or_else(|| RpcError::new(METHOD_NOT_FOUND, "Method not found"))?;
    let params = bind_params(method, params)?;
    tracing::debug!(target: "rpc", method = name, params = %serde_json::Value::from(params.values.clone()), "call");
    Ok((method, params))
}

/// Runs one call on this thread, which may block.
pub fn dispatch(ctx: &RpcContext, name: &str, params: &Value) -> Result<Value, RpcError> {
    let (method, params) = prepare(name, params)?;
    run_blocking(method, ctx, params)
}

fn run_blocking(method: &Method, ctx: &RpcContext, params: Params) -> Result<Value, RpcError> {
    match method.run {
        Run::Sync(handler) => handler(ctx, &params),
        Run::Wallet(call) => {
            let access = wallet::WalletAccess::synced(ctx)?;
            futures::executor::block_on(call(access, params))
        }
    }
}

/// Runs one call from async code: a wallet RPC whose wallet is remote is
/// awaited right here, chain notifications it must wait for included;
/// anything else goes to the blocking pool.
pub async fn dispatch_async(
    ctx: &Arc<RpcContext>,
    name: &str,
    params: &Value,
) -> Result<Value, RpcError> {
    let (method, params) = prepare(name, params)?;
    if let Run::Wallet(call) = method.run {
        if let Some(access) = wallet::WalletAccess::remote_synced(ctx).await {
            // A panic here would unwind through the HTTP connection's task
            // and close it unanswered; on the pool it is a `JoinError`.
            return AssertUnwindSafe(call(access, params))
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| Err(handler_failed(panic_message(&*panic))));
        }
    }
    let call_ctx = ctx.clone();
    ctx.spawn_blocking(move || run_blocking(method, &call_ctx, params))
        .await
        .unwrap_or_else(|e| Err(handler_failed(&e)))
}

/// The answer to a call whose handler panicked (as bitcoind answers an
/// exception in one): logged, and the server goes on.
fn handler_failed(why: &dyn std::fmt::Display) -> RpcError {
    tracing::error!(target: "rpc", "RPC handler failed: {why}");
    RpcError::new(INTERNAL_ERROR, "RPC handler failed")
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &dyn std::fmt::Display {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(message), _) => message,
        (_, Some(message)) => message,
        _ => &"panic",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{json, Value};

    use crate::test_support::{call, code, context, FakeChain};
    use crate::*;

    #[test]
    fn parameter_checking() {
        let ctx = context(Arc::new(FakeChain::new()), None);
        assert_eq!(
            code(call(&ctx, "nosuchmethod", json!([]))),
            METHOD_NOT_FOUND
        );
        let err = call(&ctx, "getblockhash", json!([])).unwrap_err();
        assert_eq!(err.code, MISC_ERROR);
        assert!(
            err.message.contains("usage: getblockhash height"),
            "{}",
            err.message
        );
        assert_eq!(code(call(&ctx, "getblockcount", json!([1]))), MISC_ERROR);
        assert_eq!(
            code(call(&ctx, "getblockhash", json!({"hieght": 1}))),
            INVALID_PARAMETER
        );
        assert_eq!(
            code(call(&ctx, "getblockcount", json!("x"))),
            INVALID_REQUEST
        );
        assert_eq!(call(&ctx, "getblockcount", Value::Null), Ok(json!(0)));
    }
}
