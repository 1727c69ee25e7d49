//! Runs the real `kestrel-node` with its `kestrel-wallet` child: the same
//! RPC results as `kestreld`, `echoipc` through the child, the child killed
//! (-18 on wallet RPCs, chain RPCs fine, clean stop, no orphan), and
//! wallets attaching with `-ipcconnect` to `-ipcbind`, then SIGINT.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use kestrel_chain::PrivateKey;
use kestrel_functional::node_process::NodeProcess;
use kestrel_functional::process::{self, send_signal, Signal};
use kestrel_rpc::client::CallError;
use serde_json::{json, Value};

const KESTREL_NODE: &str = env!("CARGO_BIN_EXE_kestrel-node");
const KESTREL_WALLET: &str = env!("CARGO_BIN_EXE_kestrel-wallet");

/// Upper bound for conditions that should hold within moments; only a
/// broken build waits this long.
const WAIT: Duration = Duration::from_secs(20);

fn start(datadir: &Path, extra: &[&str]) -> NodeProcess {
    NodeProcess::start(Path::new(KESTREL_NODE), datadir, extra, None).expect("kestrel-node starts")
}

fn foreign_address() -> String {
    PrivateKey::generate().unwrap().address().to_string()
}

/// The one `kestrel-wallet -ipcfd` child of `node`.
fn wallet_child(node: &NodeProcess) -> u32 {
    let children = process::children(node.pid() as i32);
    assert_eq!(children.len(), 1, "children of kestrel-node: {children:?}");
    let cmdline = children[0].command();
    assert!(
        cmdline.contains("kestrel-wallet") && cmdline.contains("-ipcfd="),
        "{cmdline}"
    );
    children[0].pid as u32
}

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn rpc_error(result: Result<Value, CallError>) -> (i32, String) {
    match result {
        Err(CallError::Rpc(e)) => (e.code, e.message),
        other => panic!("expected an RPC error, got {other:?}"),
    }
}

/// Stops the node and checks it left nothing behind: no wallet process,
/// no cookie, no socket.
fn stop_cleanly(mut node: NodeProcess, wallet_pid: u32, datadir: &Path) {
    node.call("stop", &[]);
    let status = node.wait_timeout(WAIT).unwrap().expect("node exits");
    assert!(status.success(), "{status}: {}", node.stderr());
    // The node reaps its child before it exits.
    assert!(
        !process::exists(wallet_pid as i32),
        "orphan wallet {wallet_pid}"
    );
    assert!(!node.cookie_path().exists());
    assert!(!datadir.join("regtest/sockets/node.sock").exists());
}

#[test]
fn the_wallet_runs_in_a_child_process_behind_the_same_rpc() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &["-debug=ipc"]);
    let wallet_pid = wallet_child(&node);

    let address = node.call("getnewaddress", &[]);
    node.call("generatetoaddress", &[json!(101), address]);
    assert_eq!(node.call("getbalance", &[]), json!(50.0));
    let txid = node.call("sendtoaddress", &[json!(foreign_address()), json!(10)]);
    assert_eq!(node.call("getrawmempool", &[]), json!([txid]));
    node.call("generatetoaddress", &[json!(1), json!(foreign_address())]);
    let tx = node.call("gettransaction", std::slice::from_ref(&txid));
    assert_eq!(tx["confirmations"], json!(1));
    // The net effect: 10 sent plus the fee. At height 102 two coinbases are
    // mature.
    let spent = tx["amount"].as_f64().unwrap();
    assert!(spent < -10.0 && spent > -10.01, "{tx}");
    let balance = node.call("getbalance", &[]).as_f64().unwrap();
    assert_eq!(
        ((balance - (100.0 + spent)) * 1e8).round(),
        0.0,
        "{balance} {tx}"
    );

    assert_eq!(
        node.call("echoipc", &[json!("through the child")]),
        json!("through the child")
    );

    let wallet_file = dir.path().join("regtest/wallet.json");
    let mode = std::fs::metadata(&wallet_file)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let log = std::fs::read_to_string(dir.path().join("regtest/debug.log")).unwrap();
    for line in [
        format!("kestrel-wallet pid={wallet_pid} server Wallet.getBalance request"),
        format!(
            "kestrel-node pid={} client Wallet.getBalance response",
            node.pid()
        ),
        format!("kestrel-wallet pid={wallet_pid} server Echo.echo"),
    ] {
        assert!(log.contains(&line), "debug.log lacks {line:?}");
    }
    stop_cleanly(node, wallet_pid, dir.path());

    // Restarted, the new child loads the same wallet and rescans the chain.
    let node = start(dir.path(), &[]);
    assert_eq!(node.call("getbalance", &[]), json!(balance));
    let wallet_pid = wallet_child(&node);
    stop_cleanly(node, wallet_pid, dir.path());
}

#[test]
fn a_killed_wallet_process_leaves_chain_rpcs_working() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]);
    let wallet_pid = wallet_child(&node);
    let address = node.call("getnewaddress", &[]);
    node.call("generatetoaddress", &[json!(1), address.clone()]);

    send_signal(wallet_pid as i32, Signal::KILL).unwrap();
    wait_until("the node to reap its wallet process", || {
        !process::exists(wallet_pid as i32)
    });
    let (code, message) = rpc_error(node.try_call("getbalance", &[]));
    assert_eq!(code, -18, "{message}");
    assert!(
        message.contains("wallet process") && message.contains("chain RPCs keep working"),
        "{message}"
    );
    for (method, params) in [
        ("getnewaddress", vec![]),
        ("sendtoaddress", vec![json!(foreign_address()), json!(1)]),
        ("listunspent", vec![]),
    ] {
        assert_eq!(rpc_error(node.try_call(method, &params)).0, -18, "{method}");
    }
    assert_eq!(node.call("getblockcount", &[]), json!(1));
    node.call("generatetoaddress", &[json!(2), address]);
    assert_eq!(node.call("getblockcount", &[]), json!(3));
    let (code, _) = rpc_error(node.try_call("echoipc", &[json!("x")]));
    assert_eq!(code, -1);

    let log = std::fs::read_to_string(dir.path().join("regtest/debug.log")).unwrap();
    assert!(
        log.contains(&format!(
            "wallet process kestrel-wallet (pid {wallet_pid}) is gone"
        )),
        "{log}"
    );
    // SIGTERM now: the node stops cleanly without its wallet.
    let mut node = node;
    let status = node.terminate().unwrap();
    assert!(status.success(), "{status}");
    assert!(!node.cookie_path().exists());
}

/// A `kestrel-wallet -ipcconnect` whose stdout lines arrive on a channel.
struct AttachedWallet {
    child: Child,
    lines: Receiver<String>,
}

impl AttachedWallet {
    fn start(args: &[String]) -> AttachedWallet {
        let mut child = Command::new(KESTREL_WALLET)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        AttachedWallet { child, lines }
    }

    /// The first line containing `text` (earlier lines are skipped).
    fn line_with(&self, text: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(e) => panic!("no line with {text:?} from kestrel-wallet: {e}"),
            }
        }
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "kestrel-wallet did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for AttachedWallet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn receive_address(attached_line: &str) -> String {
    attached_line
        .rsplit_once("receive address ")
        .map(|(_, address)| address.trim().to_string())
        .unwrap_or_else(|| panic!("no address in {attached_line:?}"))
}

#[test]
fn wallets_attach_with_ipcconnect_and_exit_when_the_node_is_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = start(dir.path(), &["-ipcbind=unix"]);
    let node_wallet = wallet_child(&node);
    let socket = dir.path().join("regtest/sockets/node.sock");
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let datadir = format!("-datadir={}", dir.path().display());

    // The node's own wallet holds the datadir's default wallet file.
    let mut busy = AttachedWallet::start(&[datadir.clone(), "-ipcconnect=unix".into()]);
    assert!(!busy.wait_exit().success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(busy.child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("in use by another process") && stderr.contains("-wallet=<name>"),
        "{stderr}"
    );

    // A named wallet on the node's datadir, and one on a datadir of its own.
    let mut side = AttachedWallet::start(&[
        datadir.clone(),
        "-ipcconnect=unix".into(),
        "-wallet=side".into(),
    ]);
    let other_dir = tempfile::tempdir().unwrap();
    let mut other = AttachedWallet::start(&[
        format!("-datadir={}", other_dir.path().display()),
        format!("-ipcconnect=unix:{}", socket.display()),
    ]);
    let side_address = receive_address(&side.line_with("attached to the node"));
    let other_address = receive_address(&other.line_with("attached to the node"));
    assert!(dir.path().join("regtest/wallets/side.json").exists());
    assert!(other_dir.path().join("regtest/wallet.json").exists());

    let miner = node.call("getnewaddress", &[]);
    node.call("generatetoaddress", &[json!(101), miner]);
    node.call("sendtoaddress", &[json!(side_address), json!(3)]);
    node.call("sendtoaddress", &[json!(other_address), json!(4)]);
    node.call("generatetoaddress", &[json!(1), json!(foreign_address())]);
    side.line_with("height 102: balance 3.00000000");
    other.line_with("height 102: balance 4.00000000");

    node.signal(Signal::INT).unwrap();
    let status = node
        .wait_timeout(WAIT)
        .unwrap()
        .expect("node exits on SIGINT");
    assert!(status.success(), "{status}");
    assert!(
        !process::exists(node_wallet as i32),
        "orphan wallet {node_wallet}"
    );
    assert!(!socket.exists(), "socket left behind");
    for wallet in [&mut side, &mut other] {
        wallet.line_with("went away");
        assert!(wallet.wait_exit().success());
    }
}

#[test]
fn an_attached_wallet_stops_on_sigterm_and_keeps_its_coins() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &["-ipcbind=unix:node.sock"]);
    let node_wallet = wallet_child(&node);
    let args = [
        format!("-datadir={}", dir.path().display()),
        "-ipcconnect=unix:node.sock".to_string(),
        "-wallet=w".to_string(),
    ];
    let mut wallet = AttachedWallet::start(&args);
    let address = receive_address(&wallet.line_with("attached"));
    node.call("generatetoaddress", &[json!(101), json!(address)]);
    wallet.line_with("height 101: balance 50.00000000");
    send_signal(wallet.child.id() as i32, Signal::TERM).unwrap();
    wallet.line_with("Terminate signal received");
    assert!(wallet.wait_exit().success());

    // The node did not notice: its own wallet and chain carry on.
    assert_eq!(node.call("getbalance", &[]), json!(0.0));
    let mut wallet = AttachedWallet::start(&args);
    assert!(wallet.line_with("attached").contains("balance 50.00000000"));
    send_signal(wallet.child.id() as i32, Signal::INT).unwrap();
    assert!(wallet.wait_exit().success());
    stop_cleanly(node, node_wallet, dir.path());
}

#[test]
fn bad_ipc_options_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let run = |binary: &str, args: &[String]| {
        let output = Command::new(binary).args(args).output().unwrap();
        assert!(!output.status.success(), "{binary} {args:?}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let datadir = format!("-datadir={}", dir.path().display());
    let cases: &[(&str, &[String], &str)] = &[
        (
            KESTREL_NODE,
            &[datadir.clone(), "-ipcbind=tcp:1".into()],
            "only Unix sockets",
        ),
        (
            KESTREL_NODE,
            &[datadir.clone(), "-ipcconnect=unix".into()],
            "-ipcconnect",
        ),
        (
            KESTREL_WALLET,
            std::slice::from_ref(&datadir),
            "needs -ipcconnect",
        ),
        (
            KESTREL_WALLET,
            &["-ipcconnect=unix".into()],
            "needs -datadir",
        ),
        (
            KESTREL_WALLET,
            &[datadir.clone(), "-ipcfd=1".into()],
            "stdout",
        ),
        (
            KESTREL_WALLET,
            &[datadir.clone(), "-ipcfd=99".into()],
            "not an open socket",
        ),
        (
            KESTREL_WALLET,
            &[
                datadir.clone(),
                "-ipcconnect=unix".into(),
                "-wallet=../x".into(),
            ],
            "Invalid wallet name",
        ),
        (
            KESTREL_WALLET,
            &[datadir.clone(), "-ipcconnect=unix".into()],
            "is the node running with -ipcbind?",
        ),
    ];
    for (binary, args, expected) in cases {
        let stderr = run(binary, args);
        assert!(stderr.contains(expected), "{binary} {args:?}: {stderr}");
    }
}

#[test]
fn kestrel_node_without_its_wallet_executable_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let lonely: PathBuf = dir.path().join("kestrel-node");
    if std::fs::hard_link(KESTREL_NODE, &lonely).is_err() {
        std::fs::copy(KESTREL_NODE, &lonely).unwrap();
    }
    let datadir = tempfile::tempdir().unwrap();
    let output = Command::new(&lonely)
        .arg(format!("-datadir={}", datadir.path().display()))
        .arg("-rpcport=1")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&dir.path().join("kestrel-wallet").display().to_string())
            && stderr.contains("must sit next to it"),
        "{stderr}"
    );
}

#[test]
fn an_attached_process_gets_the_nodes_chain_and_node() {
    use kestrel_interfaces::{Chain, Node};
    use kestrel_ipc::{connect_unix, EchoOnlyInit, EventLoop};

    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &["-ipcbind=unix"]);
    let node_wallet = wallet_child(&node);
    let address = node.call("getnewaddress", &[]);
    node.call("generatetoaddress", &[json!(101), address]);

    let event_loop = EventLoop::start("multiprocess-test").unwrap();
    let socket = dir.path().join("regtest/sockets/node.sock");
    let connection = connect_unix(
        &event_loop.handle(),
        &socket,
        std::sync::Arc::new(EchoOnlyInit),
    )
    .unwrap();
    let chain = connection.remote_init().make_chain().unwrap();
    assert_eq!(chain.tip().unwrap().height, 101);
    let remote_node = connection.remote_init().make_node().unwrap();
    assert_eq!(remote_node.info().unwrap().tip.height, 101);
    // The node hands out its own wallet (a proxy into its wallet process).
    let balance = remote_node.wallet().unwrap().get_balance().unwrap();
    assert_eq!(json!(balance as f64 / 1e8), node.call("getbalance", &[]));
    remote_node.stop().unwrap();

    let mut node = node;
    let status = node
        .wait_timeout(WAIT)
        .unwrap()
        .expect("node exits on Node.stop");
    assert!(status.success(), "{status}");
    assert!(!process::exists(node_wallet as i32));
    assert!(connection.wait_closed(WAIT).is_some());
    assert!(chain.tip().is_err());
}
