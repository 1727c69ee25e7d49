//! Clean shutdown by `stop` and by SIGTERM: exit code 0, cookie removed,
//! RPC closed, no process left behind.

use kestrel_functional::process::ProcessInfo;
use kestrel_functional::{CallError, TestFramework, TestNode};
use serde_json::json;

/// Shuts `node` down with `shut_down` and checks what a clean shutdown
/// leaves: the stop/terminate helpers already asserted exit code 0.
fn assert_clean_shutdown(node: &mut TestNode, shut_down: fn(&mut TestNode)) {
    assert!(node.cookie_path().exists());
    let rpc = node.rpc().clone();
    let children: Vec<ProcessInfo> = node.child_processes();
    shut_down(node);
    assert!(!node.cookie_path().exists(), "cookie left behind");
    assert!(
        matches!(
            rpc.try_call("getblockcount", json!([])),
            Err(CallError::Transport(_))
        ),
        "RPC still answers after shutdown"
    );
    for child in children {
        assert!(!child.is_running(), "child process left running: {child:?}");
    }
    let log = std::fs::read_to_string(node.debug_log_path()).unwrap();
    assert!(log.contains("Shutdown: done"), "{log}");
}

#[test]
fn stop_rpc_shuts_down_cleanly() {
    let mut test = TestFramework::start(1);
    assert_clean_shutdown(&mut test.nodes[0], TestNode::stop);
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let mut test = TestFramework::start(1);
    assert_clean_shutdown(&mut test.nodes[0], TestNode::terminate);
}

#[test]
fn stopped_node_starts_again_on_the_same_datadir() {
    let mut test = TestFramework::start(1);
    let node = &mut test.nodes[0];
    node.generate(2);
    node.stop();
    // The datadir lock and the RPC port were released.
    node.start();
    assert_eq!(node.getblockcount(), 2);
}
