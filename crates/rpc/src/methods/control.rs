//! Control RPCs (bitcoind's rpc/server.cpp and rpc/node.cpp): help, stop,
//! uptime.

use serde_json::Value;

use crate::methods::params::Params;
use crate::methods::{all_methods, find_method, method, opt, usage, Method, RpcContext};
use crate::RpcError;

#[rustfmt::skip]
pub(crate) const METHODS: &[Method] = &[
    method("help", "Control", &[opt("command")], "Lists the commands, or explains one.", help),
    method("stop", "Control", &[], "Requests a clean shutdown of the node.", stop),
    method("uptime", "Control", &[], "Returns the seconds the node has been running.", uptime),
];

fn help(_: &RpcContext, params: &Params) -> Result<Value, RpcError> {
    if let Some(name) = params.str(0, "command")? {
        return Ok(match find_method(name) {
            Some(method) => format!("{}\n\n{}", usage(method), method.help),
            None => format!("help: unknown command: {name}"),
        }
        .into());
    }
    let mut text = String::new();
    let mut category = "";
    for method in all_methods().filter(|m| m.category != "Hidden") {
        if method.category != category {
            if !category.is_empty() {
                text.push('\n');
            }
            category = method.category;
            text.push_str(&format!("== {category} ==\n"));
        }
        text.push_str(&usage(method));
        text.push('\n');
    }
    Ok(text.trim_end().to_string().into())
}

fn stop(ctx: &RpcContext, _: &Params) -> Result<Value, RpcError> {
    ctx.shutdown.request();
    Ok("Kestrel server stopping".into())
}

fn uptime(ctx: &RpcContext, _: &Params) -> Result<Value, RpcError> {
    Ok(ctx.started.elapsed().as_secs().into())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use crate::test_support::{call, context, FakeChain};

    #[test]
    fn control_methods() {
        let ctx = context(Arc::new(FakeChain::new()), None);
        assert_eq!(
            call(&ctx, "echo", json!(["a", 1, null])),
            Ok(json!(["a", 1, null]))
        );
        assert_eq!(call(&ctx, "echoipc", json!(["hi"])), Ok(json!("hi")));
        assert!(call(&ctx, "uptime", json!([])).unwrap().is_u64());
        let help = call(&ctx, "help", json!([])).unwrap();
        let help = help.as_str().unwrap();
        assert!(
            help.contains("== Wallet ==") && help.contains("sendtoaddress address amount"),
            "{help}"
        );
        assert!(!help.contains("echoipc"));
        let one = call(&ctx, "help", json!(["getblock"])).unwrap();
        assert!(one
            .as_str()
            .unwrap()
            .starts_with("getblock blockhash ( verbosity )"));
        assert!(!ctx.shutdown.is_requested());
        assert_eq!(
            call(&ctx, "stop", json!([])),
            Ok(json!("Kestrel server stopping"))
        );
        assert!(ctx.shutdown.is_requested());
    }
}
