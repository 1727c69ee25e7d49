//! Runs the real `kestreld`: mining, sending, restart, shutdown paths, auth
//! and the datadir lock.

use std::path::Path;

use kestrel_chain::PrivateKey;
use kestrel_functional::node_process::NodeProcess;
use kestrel_rpc::auth::RpcAuth;
use kestrel_rpc::client::{CallError, RpcClient};
use serde_json::json;

const KESTRELD: &str = env!("CARGO_BIN_EXE_kestreld");

fn start(datadir: &Path, extra: &[&str]) -> NodeProcess {
    NodeProcess::start(Path::new(KESTRELD), datadir, extra, None).expect("kestreld starts")
}

/// An address no wallet of the test owns.
fn foreign_address() -> String {
    PrivateKey::generate().unwrap().address().to_string()
}

fn stop(mut node: NodeProcess) {
    assert_eq!(node.call("stop", &[]), json!("Kestrel server stopping"));
    let status = node.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(!node.cookie_path().exists(), "cookie left behind");
}

#[test]
fn mine_send_restart_keeps_chain_and_wallet() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]);
    assert_eq!(node.call("getblockcount", &[]), json!(0));
    let address = node.call("getnewaddress", &[]);
    let hashes = node.call("generatetoaddress", &[json!(101), address.clone()]);
    assert_eq!(hashes.as_array().unwrap().len(), 101);
    assert_eq!(node.call("getbestblockhash", &[]), hashes[100]);
    // Only the first coinbase is mature; wallet RPCs see the blocks at once.
    assert_eq!(node.call("getbalance", &[]), json!(50.0));

    let txid = node.call("sendtoaddress", &[json!(foreign_address()), json!(10)]);
    assert_eq!(node.call("getrawmempool", &[]), json!([txid]));
    assert_eq!(node.call("getmempoolinfo", &[])["size"], json!(1));
    let tx = node.call("gettransaction", std::slice::from_ref(&txid));
    assert_eq!(tx["confirmations"], json!(0));
    assert!(tx["fee"].as_f64().unwrap() < 0.0, "{tx}");

    let mined = node.call("generatetoaddress", &[json!(1), json!(foreign_address())]);
    assert_eq!(node.call("getrawmempool", &[]), json!([]));
    let block = node.call("getblock", &[mined[0].clone()]);
    assert!(block["tx"].as_array().unwrap().contains(&txid), "{block}");
    assert_eq!(
        node.call("gettransaction", std::slice::from_ref(&txid))["confirmations"],
        json!(1)
    );

    let best = node.call("getbestblockhash", &[]);
    let balance = node.call("getbalance", &[]);
    let unspent = node.call("listunspent", &[]);
    stop(node);

    let node = start(dir.path(), &[]);
    assert_eq!(node.call("getblockcount", &[]), json!(102));
    assert_eq!(node.call("getbestblockhash", &[]), best);
    assert_eq!(node.call("getbalance", &[]), balance);
    assert_eq!(node.call("listunspent", &[]), unspent);
    assert_eq!(
        node.call("gettransaction", &[txid])["confirmations"],
        json!(1)
    );
    // The wallet's keys survived: the old address is still its own.
    node.call("generatetoaddress", &[json!(100), address]);
    let grown = node.call("getbalance", &[]).as_f64().unwrap();
    assert!(grown > balance.as_f64().unwrap(), "{grown} vs {balance}");
    stop(node);
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = start(dir.path(), &[]);
    assert!(node.cookie_path().exists());
    let status = node.terminate().unwrap();
    assert!(status.success(), "{status}");
    assert!(!node.cookie_path().exists(), "cookie left behind");
    let log = std::fs::read_to_string(dir.path().join("regtest/debug.log")).unwrap();
    assert!(
        log.contains("SIGTERM received") && log.contains("Shutdown: done"),
        "{log}"
    );
}

#[test]
fn second_node_on_the_same_datadir_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let first = start(dir.path(), &[]);
    let err = NodeProcess::start(Path::new(KESTRELD), dir.path(), &[], None)
        .err()
        .expect("second node must not start");
    assert!(
        err.to_string().contains("probably already running"),
        "{err}"
    );
    // The first node is unharmed.
    assert_eq!(first.call("getblockcount", &[]), json!(0));
    stop(first);
}

#[test]
fn requests_without_the_right_credentials_get_401() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], node.port()));
    let wrong = RpcClient::new(addr, RpcAuth::new("__cookie__", "guess"));
    assert!(matches!(
        wrong.call("getblockcount", &[]),
        Err(CallError::Unauthorized)
    ));
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build(),
    );
    let response = agent
        .post(&format!("http://{addr}/"))
        .send(r#"{"method":"getblockcount","id":1}"#)
        .unwrap();
    assert_eq!(response.status(), 401);
    stop(node);
}

#[test]
fn rpcuser_and_rpcpassword_replace_the_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let auth = RpcAuth::new("alice", "pw");
    let mut node = NodeProcess::start(
        Path::new(KESTRELD),
        dir.path(),
        &["-rpcuser=alice", "-rpcpassword=pw"],
        Some(auth),
    )
    .unwrap();
    assert!(!node.cookie_path().exists());
    assert_eq!(node.call("echo", &[json!("x"), json!(1)]), json!(["x", 1]));
    assert_eq!(node.call("echoipc", &[json!("hello")]), json!("hello"));
    assert!(node.call("uptime", &[]).is_u64());
    assert!(node
        .call("help", &[])
        .as_str()
        .unwrap()
        .contains("getblockcount"));
    let err = node.try_call("nosuchmethod", &[]).unwrap_err();
    assert!(
        matches!(err, CallError::Rpc(ref e) if e.code == -32601),
        "{err}"
    );
    let err = node
        .try_call("generatetoaddress", &[json!(1), json!("notanaddress")])
        .unwrap_err();
    assert!(
        matches!(err, CallError::Rpc(ref e) if e.code == -5),
        "{err}"
    );
    let err = node
        .try_call("sendtoaddress", &[json!(foreign_address()), json!(1)])
        .unwrap_err();
    assert!(
        matches!(err, CallError::Rpc(ref e) if e.code == -6),
        "{err}"
    );
    let status = node.terminate().unwrap();
    assert!(status.success());
}

#[test]
fn bad_options_are_rejected_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["-bogus"], "Invalid parameter -bogus"),
        (&["-rpcbind=0.0.0.0"], "loopback"),
        (&["-debug=nonsense"], "-debug=nonsense"),
    ];
    for (args, expected) in cases {
        let output = std::process::Command::new(KESTRELD)
            .arg(format!("-datadir={}", dir.path().display()))
            .args(*args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    assert!(
        !dir.path().join("regtest").exists(),
        "nothing written for bad options"
    );
    let help = std::process::Command::new(KESTRELD)
        .arg("-help")
        .output()
        .unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("-rpcport=<port>"));
}

#[test]
fn config_file_and_debug_categories_reach_the_log() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kestrel.conf"), "# test\ndebug=rpc\n").unwrap();
    let node = start(dir.path(), &[]);
    node.call("getblockcount", &[]);
    stop(node);
    let log = std::fs::read_to_string(dir.path().join("regtest/debug.log")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("DEBUG") && l.contains("getblockcount")),
        "{log}"
    );

    // Without -debug, no debug lines.
    let quiet = tempfile::tempdir().unwrap();
    let node = start(quiet.path(), &[]);
    node.call("getblockcount", &[]);
    stop(node);
    let log = std::fs::read_to_string(quiet.path().join("regtest/debug.log")).unwrap();
    assert!(!log.contains("DEBUG"), "{log}");
}
