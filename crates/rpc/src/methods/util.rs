//! Utility RPCs for testing, hidden from `help` (bitcoind's echo and
//! echoipc in rpc/misc.cpp).

use serde_json::Value;

use crate::methods::params::Params;
use crate::methods::{method, req, Method, RpcContext};
use crate::{RpcError, MISC_ERROR};

#[rustfmt::skip]
pub(crate) const METHODS: &[Method] = &[
    Method {
        variadic: true,
        ..method("echo", "Hidden", &[], "Returns its parameters, for testing.", echo)
    },
    method("echoipc", "Hidden", &[req("arg")], "Echoes arg through an IPC round trip, for testing.", echo_ipc),
];

fn echo(_: &RpcContext, params: &Params) -> Result<Value, RpcError> {
    Ok(Value::Array(params.values.clone()))
}

fn echo_ipc(ctx: &RpcContext, params: &Params) -> Result<Value, RpcError> {
    let arg = params.required_str(0, "arg")?;
    (ctx.echo_ipc)(arg)
        .map(Value::from)
        .map_err(|e| RpcError::new(MISC_ERROR, e.to_string()))
}
