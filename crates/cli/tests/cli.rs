//! Runs `kestrel-cli` against a real `kestreld` (built beside it by
//! `cargo test -p kestrel-node -p kestrel-cli`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kestrel_functional::node::free_port;
use kestrel_functional::node_process::NodeProcess;

const CLI: &str = env!("CARGO_BIN_EXE_kestrel-cli");

fn kestreld() -> PathBuf {
    let path = Path::new(CLI).with_file_name("kestreld");
    assert!(
        path.exists(),
        "{} is missing: build it with the cli, `cargo test -p kestrel-node -p kestrel-cli`",
        path.display()
    );
    path
}

fn cli(datadir: &Path, port: u16, args: &[&str]) -> Output {
    Command::new(CLI)
        .arg(format!("-datadir={}", datadir.display()))
        .arg(format!("-rpcport={port}"))
        .args(args)
        .output()
        .unwrap()
}

/// Stdout of a successful run.
fn ok(output: Output) -> String {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// Stderr of a run that failed with exit code 1.
fn failed(output: Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    String::from_utf8(output.stderr).unwrap()
}

#[test]
fn commands_print_like_bitcoin_cli() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::start(&kestreld(), dir.path(), &[], None).unwrap();
    let run = |args: &[&str]| cli(dir.path(), node.port(), args);

    assert_eq!(ok(run(&["getblockcount"])), "0\n");
    let address = ok(run(&["getnewaddress"])).trim().to_string();
    assert!(address.starts_with("kcrt1"), "{address}");
    let hashes: serde_json::Value =
        serde_json::from_str(&ok(run(&["generatetoaddress", "101", &address]))).unwrap();
    assert_eq!(hashes.as_array().unwrap().len(), 101);
    assert_eq!(ok(run(&["getbalance"])), "50.00000000\n");
    assert_eq!(
        ok(run(&["echo", r#"{"a":[1]}"#, "text"])),
        "[\n  {\n    \"a\": [\n      1\n    ]\n  },\n  \"text\"\n]\n"
    );
    assert_eq!(
        failed(run(&["getblockhash", "999"])),
        "error code: -8\nerror message:\nBlock height out of range\n"
    );
    assert!(
        failed(run(&["-rpcuser=x", "-rpcpassword=y", "getblockcount"]))
            .starts_with("error: Authorization failed")
    );
    assert_eq!(ok(run(&["stop"])), "Kestrel server stopping\n");
}

#[test]
fn rpcwait_waits_for_the_node_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let waiting = Command::new(CLI)
        .arg(format!("-datadir={}", dir.path().display()))
        .arg(format!("-rpcport={port}"))
        .args(["-rpcwait", "getblockcount"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut node = NodeProcess::start_on_port(&kestreld(), dir.path(), port, &[], None).unwrap();
    assert_eq!(ok(waiting.wait_with_output().unwrap()), "0\n");
    assert!(node.terminate().unwrap().success());
}

#[test]
fn missing_node_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let stderr = failed(cli(dir.path(), port, &["getblockcount"]));
    assert!(stderr.contains("No authentication cookie"), "{stderr}");
    // A cookie left by a node that died: nothing listens.
    std::fs::create_dir(dir.path().join("regtest")).unwrap();
    std::fs::write(dir.path().join("regtest/.cookie"), "__cookie__:abc").unwrap();
    let stderr = failed(cli(dir.path(), port, &["getblockcount"]));
    assert!(
        stderr.starts_with("error: Could not connect to the server 127.0.0.1:"),
        "{stderr}"
    );
    let stderr = failed(cli(
        dir.path(),
        port,
        &["-rpcwait", "-rpcwaittimeout=1", "getblockcount"],
    ));
    assert!(stderr.contains("Could not connect"), "{stderr}");
}
