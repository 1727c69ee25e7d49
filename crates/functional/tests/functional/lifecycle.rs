//! Starting and stopping: clean shutdown by `stop` and by SIGTERM (exit
//! code 0, cookie removed, RPC closed, no process left behind), starting
//! again, and starting when the chosen RPC port is taken.

use kestrel_functional::process::ProcessInfo;
use kestrel_functional::{CallError, TestFramework, TestNode};

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
            rpc.call("getblockcount", &[]),
            Err(CallError::Connect { .. })
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

#[test]
fn start_moves_off_a_taken_rpc_port() {
    let mut test = TestFramework::new(1);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let node = &mut test.nodes[0];
    node.set_rpc_port(taken_port);
    node.start();
    assert_ne!(node.rpc_port(), taken_port);
    assert_eq!(node.getblockcount(), 0);
    let stderr = std::fs::read_to_string(node.stderr_path()).unwrap();
    assert!(
        stderr.contains(&format!("-rpcport={taken_port}")),
        "{stderr}"
    );
}
