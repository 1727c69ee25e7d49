//! RPC basics: errors with bitcoind's codes, authentication, `echo`,
//! `echoipc`, `help`, `uptime`, and `kestrel-cli` against the node.

use std::time::Instant;

use kestrel_functional::{CallError, RpcAuth, TestFramework};
use serde_json::json;

#[test]
fn errors_carry_bitcoind_codes() {
    let test = TestFramework::start(1);
    let node = &test.nodes[0];
    let code = |method: &str, params| node.call(method, params).unwrap_err().code;

    assert_eq!(code("nosuchmethod", json!([])), -32601);
    // Wrong type: RPC_TYPE_ERROR.
    assert_eq!(code("getblockhash", json!(["0"])), -3);
    assert_eq!(code("generatetoaddress", json!(["1", "x"])), -3);
    // Missing or extra parameters: bitcoind answers with the usage, -1.
    let missing = node.call("getblockhash", json!([])).unwrap_err();
    assert_eq!(missing.code, -1);
    assert!(missing.message.contains("getblockhash height"), "{missing}");
    assert_eq!(code("getblockcount", json!([1])), -1);
    // Unknown named parameter, out-of-range height: RPC_INVALID_PARAMETER.
    assert_eq!(code("getblockhash", json!({"hieght": 0})), -8);
    assert_eq!(code("getblockhash", json!([1])), -8);
    assert_eq!(code("getblock", json!(["abc"])), -8);
    // Well-formed but unknown block, bad address: RPC_INVALID_ADDRESS_OR_KEY.
    assert_eq!(code("getblock", json!(["00".repeat(32)])), -5);
    assert_eq!(code("generatetoaddress", json!([1, "notanaddress"])), -5);
    // Named parameters work where positional ones do.
    assert_eq!(
        node.call("getblockhash", json!({"height": 0})).unwrap(),
        node.call("getblockhash", json!([0])).unwrap()
    );
}

#[test]
fn requests_without_the_right_credentials_get_401() {
    let test = TestFramework::start(1);
    let node = &test.nodes[0];
    let request = r#"{"jsonrpc":"1.0","id":1,"method":"getblockcount","params":[]}"#;

    let anonymous = node.rpc_with_credentials(None);
    assert_eq!(anonymous.post(request).unwrap().status, 401);

    let cookie = std::fs::read_to_string(node.cookie_path()).unwrap();
    let right = RpcAuth::from_cookie(&cookie).unwrap();
    // The cookie's password with one more character.
    let wrong = RpcAuth::from_cookie(&format!("{}0", cookie.trim())).unwrap();
    let err = node
        .rpc_with_credentials(Some(wrong))
        .call("getblockcount", &[])
        .unwrap_err();
    assert!(matches!(err, CallError::Unauthorized), "{err}");
    // The cookie's own credentials are accepted.
    let reply = node
        .rpc_with_credentials(Some(right))
        .post(request)
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[test]
fn echo_help_and_uptime() {
    let before_start = Instant::now();
    let test = TestFramework::start(1);
    let node = &test.nodes[0];

    let params = json!(["text", 7, 1.5, null, {"nested": [true]}]);
    assert_eq!(node.call("echo", params.clone()).unwrap(), params);

    let help = node.expect("help", json!([]));
    let help = help.as_str().unwrap();
    for method in [
        "getblockcount",
        "getbestblockhash",
        "getblock",
        "generatetoaddress",
        "getbalance",
        "sendtoaddress",
        "stop",
    ] {
        assert!(help.contains(method), "help lacks {method}:\n{help}");
    }
    let one = node.expect("help", json!(["getblockhash"]));
    assert!(
        one.as_str().unwrap().starts_with("getblockhash height"),
        "{one}"
    );

    // The node started after `before_start`, so it cannot have been up longer.
    assert!(node.uptime() <= before_start.elapsed().as_secs());
}

#[test]
fn echoipc_round_trips() {
    let test = TestFramework::start(1);
    let node = &test.nodes[0];
    assert_eq!(node.echoipc("hello"), "hello");
    // Empty, non-ASCII and larger-than-a-segment-word payloads survive.
    assert_eq!(node.echoipc(""), "");
    let long = "kestrel ✓ ".repeat(500);
    assert_eq!(node.echoipc(&long), long);
    assert_eq!(node.call("echoipc", json!([])).unwrap_err().code, -1);
}

#[test]
fn kestrel_cli_talks_to_the_node() {
    let test = TestFramework::start(1);
    let node = &test.nodes[0];
    let hashes = node.generate(2);

    let output = node.cli(&["getblockcount"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "2");

    let output = node.cli(&["getblockhash", "2"]);
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), hashes[1]);

    let output = node.cli(&["nosuchmethod"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("error code: -32601"), "{stderr}");
}

#[test]
fn json_rpc_versions_and_batches() {
    let test = TestFramework::start(1);
    let rpc = test.nodes[0].rpc();
    let parse = |body: &str| serde_json::from_str::<serde_json::Value>(body).unwrap();

    // A batch answers each request, errors included, with HTTP 200.
    let reply = rpc
        .post(r#"[{"id":1,"method":"getblockcount"},{"id":2,"method":"nosuchmethod"}]"#)
        .unwrap();
    assert_eq!(reply.status, 200);
    let replies = parse(&reply.body);
    assert_eq!(replies[0]["result"], json!(0));
    assert_eq!(replies[0]["id"], json!(1));
    assert_eq!(replies[1]["error"]["code"], json!(-32601));
    assert_eq!(replies[1]["id"], json!(2));

    // JSON-RPC 2.0: an error is HTTP 200 with only "error"; 1.0 is a 404.
    let reply = rpc
        .post(r#"{"jsonrpc":"2.0","id":"x","method":"nosuchmethod"}"#)
        .unwrap();
    assert_eq!(reply.status, 200);
    let body = parse(&reply.body);
    assert_eq!(body["error"]["code"], json!(-32601));
    assert!(body.get("result").is_none(), "{body}");
    let reply = rpc.post(r#"{"id":"x","method":"nosuchmethod"}"#).unwrap();
    assert_eq!(reply.status, 404);

    // Not JSON at all: a parse error.
    let reply = rpc.post("{not json").unwrap();
    assert_eq!(parse(&reply.body)["error"]["code"], json!(-32700));
}
