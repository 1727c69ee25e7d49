//! Scenarios only the multiprocess build can pass: the wallet in its own
//! process, `-debug=ipc`, a wallet attached over `-ipcbind`/`-ipcconnect`,
//! the wallet process dying under a running node, and a C++ Cap'n Proto
//! peer attaching over `-ipcbind` (wire compatibility with the C++ runtime
//! Bitcoin Core's processes use; it needs the depends C++ IPC set and fails
//! saying so without it). Run with
//! `KESTRELD=<path to kestrel-node>`; against `kestreld` every test fails
//! (it would prove nothing, so it must not pass).

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kestrel_functional::process::{ProcessInfo, Signal};
use kestrel_functional::{
    node_binary, wait_until, Amount, Build, TestFramework, TestNode, DEFAULT_TIMEOUT,
};
use serde_json::json;

/// A framework of `count` nodes, not started, after checking that the
/// binary under test is `kestrel-node`.
fn multiprocess_framework(count: usize) -> TestFramework {
    let binary = node_binary();
    assert_eq!(
        binary.build,
        Build::Multiprocess,
        "these scenarios test kestrel-node, but KESTRELD is {}: run them with KESTRELD=<path to kestrel-node> (built by `cargo xtask build` with the multiprocess depends)",
        binary.path.display()
    );
    TestFramework::new(count)
}

/// The node's `kestrel-wallet` child process.
fn wallet_process(node: &mut TestNode) -> ProcessInfo {
    let children = node.child_processes();
    let wallets: Vec<&ProcessInfo> = children
        .iter()
        .filter(|p| p.name == "kestrel-wallet")
        .collect();
    assert_eq!(wallets.len(), 1, "one wallet process: {children:?}");
    wallets[0].clone()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Waits until the log at `path` has, for each entry of `expected`, a line
/// holding all its words; returns the log (fails the test with it).
fn wait_for_log_lines(path: &Path, expected: &[&[&str]]) -> String {
    let has_line = |log: &str, words: &[&str]| {
        log.lines()
            .any(|line| words.iter().all(|word| line.contains(word)))
    };
    let mut log = String::new();
    let logged = kestrel_functional::wait::try_wait_until(
        "the expected lines in debug.log",
        DEFAULT_TIMEOUT,
        || {
            log = read(path);
            expected.iter().all(|words| has_line(&log, words))
        },
    );
    assert!(
        logged.is_ok(),
        "expected {expected:?} in {}:\n{log}",
        path.display()
    );
    log
}

#[test]
fn wallet_runs_in_a_child_process() {
    let mut test = multiprocess_framework(1);
    test.start_all();
    let node = &mut test.nodes[0];
    let wallet = wallet_process(node);
    assert_eq!(wallet.parent, node.pid().unwrap());
    assert!(
        wallet.cmdline.iter().any(|a| a.starts_with("-ipcfd=")),
        "{wallet:?}"
    );
    // The wallet answers through it.
    node.generate(101);
    assert_eq!(node.getbalance(), Amount::coins(50));
    node.stop();
    assert!(!wallet.is_running(), "the wallet outlived its node");
}

#[test]
fn debug_ipc_logs_requests_and_responses() {
    let mut test = multiprocess_framework(1);
    test.nodes[0].extra_args = vec!["-debug=ipc".into()];
    test.start_all();
    let node = &mut test.nodes[0];
    let wallet_pid = wallet_process(node).pid;
    let node_pid = node.pid().unwrap();
    node.getbalance();

    // Both ends log the call: the node as client, the wallet as server.
    let node_pid = format!("kestrel-node pid={node_pid} ");
    let wallet_pid = format!("kestrel-wallet pid={wallet_pid} ");
    let log = wait_for_log_lines(
        &node.debug_log_path(),
        &[
            &[&node_pid, "client Wallet.getBalance request"],
            &[&node_pid, "client Wallet.getBalance response"],
            &[&wallet_pid, "server Wallet.getBalance request"],
            &[&wallet_pid, "server Wallet.getBalance response"],
        ],
    );
    // The response carries the result, in Cap'n Proto text form.
    let response = log
        .lines()
        .find(|l| l.contains(&node_pid) && l.contains("Wallet.getBalance response"))
        .unwrap();
    assert!(response.contains("balance = 0"), "{response}");
}

#[test]
fn killed_wallet_process_leaves_chain_rpcs_working() {
    let mut test = multiprocess_framework(1);
    test.start_all();
    let node = &mut test.nodes[0];
    let address = node.getnewaddress();
    node.generatetoaddress(101, &address);
    assert_eq!(node.getbalance(), Amount::coins(50));

    let wallet = wallet_process(node);
    kestrel_functional::process::send_signal(wallet.pid, Signal::KILL).unwrap();
    // The node notices, reaps it (no zombie), and turns wallet RPCs off.
    wait_until(
        "the node to reap its killed wallet",
        DEFAULT_TIMEOUT,
        || ProcessInfo::read(wallet.pid).is_none_or(|p| p.start_time != wallet.start_time),
    );
    for (method, params) in [
        ("getbalance", json!([])),
        ("getnewaddress", json!([])),
        ("sendtoaddress", json!([address, 1])),
        ("listunspent", json!([])),
        ("gettransaction", json!(["11".repeat(32)])),
    ] {
        let err = node.call(method, params).unwrap_err();
        assert_eq!(err.code, -18, "{method}: {err}");
        assert!(err.message.contains("wallet"), "{method}: {err}");
    }

    // Chain RPCs go on, mining included.
    let mined = node.generatetoaddress(1, &address);
    assert_eq!(node.getblockcount(), 102);
    assert_eq!(node.getbestblockhash(), mined[0]);
    assert_eq!(node.getblock(&mined[0])["height"], json!(102));
    assert!(node.getrawmempool().is_empty());
    let log = read(&node.debug_log_path());
    assert!(log.contains("wallet process"), "{log}");

    // A clean stop; teardown checks that nothing is left.
    node.stop();
    assert!(!node.cookie_path().exists());

    // Restarted, the wallet is back with nothing lost, and catches up on
    // the block mined while it was down (it matured block 2's coinbase).
    node.start();
    assert_eq!(node.getbalance(), Amount::coins(100));
}

/// The `-ipcbind` socket appears only once the node serves what a client
/// asks first, its wallet: a gui attaching as soon as the socket appeared
/// got "No wallet is loaded" while the wallet process was still loading.
#[test]
fn the_ipcbind_socket_appears_once_the_wallet_is_loaded() {
    let mut test = multiprocess_framework(1);
    let node = &mut test.nodes[0];
    node.extra_args = vec!["-ipcbind=unix".into()];
    node.spawn(&[]);
    let socket = node.ipc_socket_path();
    // Polled every millisecond, not through `wait_until`, whose backing off
    // would look too late to catch the socket before the wallet.
    let deadline = Instant::now() + DEFAULT_TIMEOUT;
    while !socket.exists() {
        assert!(
            Instant::now() < deadline,
            "no socket at {}",
            socket.display()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let log = read(&node.debug_log_path());
    assert!(
        log.contains("wallet loaded in the wallet process"),
        "the socket appeared before the wallet was loaded:\n{log}"
    );
    node.wait_until_started();
}

/// Attaches a `kestrel-wallet` to a node started with `-ipcbind=unix`,
/// pays it, then ends the node with `shut_down` (`stop`, SIGTERM or
/// `kill -9`) and checks that the attached wallet notices and exits cleanly.
fn attach_wallet_then_shut_down(shut_down: fn(&mut TestNode)) {
    let mut test = multiprocess_framework(1);
    test.nodes[0].extra_args = vec!["-ipcbind=unix".into()];
    test.start_all();
    let socket = test.nodes[0].ipc_socket_path();
    let metadata = std::fs::metadata(&socket).expect("the -ipcbind socket exists");
    assert!(metadata.file_type().is_socket());
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
    let directory = std::fs::metadata(socket.parent().unwrap()).unwrap();
    assert_eq!(directory.permissions().mode() & 0o777, 0o700);

    let wallet_binary = test.binary().wallet_path();
    let datadir = test.nodes[0].datadir().to_path_buf();
    let attach = |extra: &[&str]| {
        let mut command = Command::new(&wallet_binary);
        command
            .arg(format!("-datadir={}", datadir.display()))
            .arg("-ipcconnect=unix")
            .args(extra);
        command
    };

    // The node's own wallet file is taken: the attached one needs a name.
    let refused = test.spawn_process("refused-wallet", attach(&[]));
    let status = refused.wait_for_exit(DEFAULT_TIMEOUT).unwrap();
    assert!(!status.success());
    let stderr = read(refused.stderr_path());
    assert!(stderr.contains("-wallet=<name>"), "{stderr}");

    let attached = test.spawn_process("attached-wallet", attach(&["-wallet=attached"]));
    let stdout_path = attached.stdout_path().to_path_buf();
    let mut banner = String::new();
    wait_until("the wallet to attach", DEFAULT_TIMEOUT, || {
        banner = read(&stdout_path);
        banner.contains("receive address ")
    });
    assert!(banner.contains("height 0, balance 0.00000000"), "{banner}");
    let address = banner
        .split("receive address ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("an address in the banner")
        .to_string();

    // Blocks the node mines to the attached wallet's key reach it through
    // notifications; the node's own wallet does not own that key.
    let node = &mut test.nodes[0];
    node.generatetoaddress(101, &address);
    wait_until(
        "the attached wallet to see 50 coins",
        DEFAULT_TIMEOUT,
        || read(&stdout_path).contains("height 101: balance 50.00000000"),
    );
    assert_eq!(node.getbalance(), Amount::ZERO);

    // The node going away, however it goes, lets the attached wallet go.
    shut_down(node);
    let attached = test.processes.last_mut().unwrap();
    let status = attached.wait_for_exit(DEFAULT_TIMEOUT).unwrap();
    assert!(status.success(), "{status}");
    let stdout = read(&stdout_path);
    assert!(stdout.contains("went away"), "{stdout}");
}

#[test]
fn wallet_attaches_with_ipcconnect() {
    attach_wallet_then_shut_down(TestNode::stop);
}

#[test]
fn sigterm_with_an_attached_wallet_shuts_both_down() {
    attach_wallet_then_shut_down(TestNode::terminate);
}

#[test]
fn attached_wallet_exits_when_its_node_is_killed() {
    attach_wallet_then_shut_down(TestNode::kill);
}

/// `bytes` in hex, as the C++ peer takes and prints them.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn cxx_capnp_peer_calls_init_echo_and_node_info() {
    let peer = kestrel_ipc_cxx_peer::executable().unwrap_or_else(|missing| {
        panic!("this scenario needs the C++ Cap'n Proto peer: {missing}")
    });
    let mut test = multiprocess_framework(1);
    test.nodes[0].extra_args = vec!["-ipcbind=unix".into(), "-debug=ipc".into()];
    test.start_all();
    // A chain and a mempool for Node.info to report.
    let node = &test.nodes[0];
    node.generate(101);
    node.sendtoaddress(&node.getnewaddress(), Amount::coins(1));
    let mempool = node.getmempoolinfo();
    assert_eq!(mempool.size, 1);
    let display_hash = node.getbestblockhash();
    let socket = node.ipc_socket_path();
    let log_path = node.debug_log_path();

    let payload: Vec<u8> = (0..=255u8).chain(*b"kestrel").collect();
    let mut command = Command::new(peer);
    command.arg("attach").arg(&socket).arg(hex(&payload));
    let attached = test.spawn_process("cxx-peer", command);
    let status = attached.wait_for_exit(DEFAULT_TIMEOUT).unwrap();
    let stderr = read(attached.stderr_path());
    assert!(status.success(), "{status}: {stderr}");
    let stdout = read(attached.stdout_path());

    // Tip.hash is in internal byte order; bitcoind shows it reversed.
    let mut tip_hash: Vec<u8> = (0..display_hash.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&display_hash[i..i + 2], 16).unwrap())
        .collect();
    tip_hash.reverse();
    assert_eq!(
        stdout,
        format!(
            "echo {}\ninfo height=101 hash={} mempool_size=1 mempool_bytes={}\n",
            hex(&payload),
            hex(&tip_hash),
            mempool.bytes
        )
    );

    // The node's own servers answered them.
    let node_pid = format!("kestrel-node pid={} ", test.nodes[0].pid().unwrap());
    wait_for_log_lines(
        &log_path,
        &[
            &[&node_pid, "server Init.makeEcho response"],
            &[&node_pid, "server Echo.echo response"],
            &[&node_pid, "server Init.makeNode response"],
            &[&node_pid, "server Node.info response"],
        ],
    );
}
