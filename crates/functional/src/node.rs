//! One node under test (Bitcoin's TestNode): its datadir, its process with
//! output captured to files, readiness, stop/kill/restart, and RPC with
//! typed helpers.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{json, Value};

use crate::amount::Amount;
use crate::binaries::{cli_binary, NodeBinary};
use crate::process::{descendants, send_signal, ProcessInfo, Signal};
use crate::wait::{try_wait_until, TimedOut};
use kestrel_rpc::auth::RpcAuth;
use kestrel_rpc::client::{CallError, RpcClient};
use kestrel_rpc::RpcError;

/// How long a node may take to answer RPC after it was spawned.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a node may take to exit after `stop` or SIGTERM.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(60);
/// Starts that lost their port to another process before binding it.
const PORT_ATTEMPTS: usize = 5;
/// What the node says when its RPC port is taken (startup.rs).
const PORT_IN_USE: &str = "Unable to bind the RPC server";
/// How long one call may take before the test gives up on it: generous,
/// since debug builds mine slowly and the machine is shared.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a start failed.
#[derive(Debug)]
enum StartError {
    /// Another process took the chosen port first: try another.
    PortInUse(String),
    Failed(String),
}

/// A node's process, its datadir and its RPC.
pub struct TestNode {
    pub index: usize,
    binary: NodeBinary,
    datadir: PathBuf,
    rpc_port: u16,
    /// Options given on every start, after `-datadir` and `-rpcport`.
    pub extra_args: Vec<String>,
    /// Options of the current start only (kept to retry on a port race).
    start_args: Vec<String>,
    /// Where the current run's output begins in the stderr file.
    run_stderr_offset: u64,
    process: Option<Child>,
    rpc: Option<RpcClient>,
    /// Every process seen below the node; teardown proves them all gone.
    seen_descendants: Vec<ProcessInfo>,
}

/// A free loopback port, found by binding port 0. Another process may take
/// it before the node binds it: starts retry on that.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|e| panic!("cannot find a free loopback port: {e}"))
}

fn append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()))
}

/// The last `lines` lines of a text file ("" if unreadable).
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// What a file holds from byte `offset` on: the output of one run of a
/// node whose output is appended across restarts.
fn read_from(path: &Path, offset: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path) {
        if file.seek(SeekFrom::Start(offset)).is_ok() {
            let _ = file.read_to_string(&mut text);
        }
    }
    text
}

/// Waits for `child` to exit, up to `timeout`.
pub fn wait_for_exit(child: &mut Child, timeout: Duration) -> Result<ExitStatus, TimedOut> {
    let mut status = None;
    try_wait_until("the process to exit", timeout, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    })?;
    Ok(status.expect("set when the wait succeeded"))
}

impl TestNode {
    /// A node of `binary` with its datadir `<root>/node<index>` (created).
    pub fn new(index: usize, root: &Path, binary: &NodeBinary) -> TestNode {
        let datadir = root.join(format!("node{index}"));
        std::fs::create_dir_all(&datadir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", datadir.display()));
        TestNode {
            index,
            binary: binary.clone(),
            datadir,
            rpc_port: free_port(),
            extra_args: Vec::new(),
            start_args: Vec::new(),
            run_stderr_offset: 0,
            process: None,
            rpc: None,
            seen_descendants: Vec::new(),
        }
    }

    pub fn datadir(&self) -> &Path {
        &self.datadir
    }

    /// `<datadir>/regtest`: chain, wallet, cookie, debug.log.
    pub fn net_dir(&self) -> PathBuf {
        self.datadir.join("regtest")
    }

    pub fn cookie_path(&self) -> PathBuf {
        self.net_dir().join(".cookie")
    }

    pub fn debug_log_path(&self) -> PathBuf {
        self.net_dir().join("debug.log")
    }

    /// The default `-ipcbind=unix` socket.
    pub fn ipc_socket_path(&self) -> PathBuf {
        self.net_dir().join("sockets").join("node.sock")
    }

    /// The node's stdout, appended across restarts.
    pub fn stdout_path(&self) -> PathBuf {
        self.datadir.join("stdout.log")
    }

    /// The node's stderr, appended across restarts.
    pub fn stderr_path(&self) -> PathBuf {
        self.datadir.join("stderr.log")
    }

    pub fn rpc_port(&self) -> u16 {
        self.rpc_port
    }

    /// Chooses the RPC port of the next start (a free one is picked at
    /// creation; a start that finds it taken moves to another).
    pub fn set_rpc_port(&mut self, port: u16) {
        self.rpc_port = port;
    }

    pub fn binary(&self) -> &NodeBinary {
        &self.binary
    }

    pub fn pid(&self) -> Option<i32> {
        self.process.as_ref().map(|child| child.id() as i32)
    }

    /// Whether the node's process was started and has not been seen to exit.
    pub fn is_running(&mut self) -> bool {
        match self.process.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Starts the node with its `extra_args` and waits until RPC answers.
    pub fn start(&mut self) {
        self.start_with_args(&[]);
    }

    /// [`TestNode::start`] with more options for this start only.
    pub fn start_with_args(&mut self, args: &[&str]) {
        self.spawn(args);
        self.wait_until_started();
    }

    /// Spawns the process without waiting for it; [`TestNode::wait_until_started`]
    /// finishes the start. Lets a framework start several nodes at once.
    pub fn spawn(&mut self, args: &[&str]) {
        assert!(
            self.process.is_none(),
            "node{} is already running",
            self.index
        );
        self.start_args = args.iter().map(|a| a.to_string()).collect();
        self.rpc = None;
        self.run_stderr_offset = std::fs::metadata(self.stderr_path()).map_or(0, |m| m.len());
        let mut command = Command::new(&self.binary.path);
        command
            .arg(format!("-datadir={}", self.datadir.display()))
            .arg(format!("-rpcport={}", self.rpc_port))
            .args(&self.extra_args)
            .args(&self.start_args)
            .stdin(Stdio::null())
            .stdout(append(&self.stdout_path()))
            .stderr(append(&self.stderr_path()));
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.binary.path.display()));
        self.process = Some(child);
    }

    /// Waits for the spawned node's RPC, retrying on a fresh port when
    /// another process took the chosen one first.
    pub fn wait_until_started(&mut self) {
        let mut attempts = 1;
        loop {
            match self.wait_for_rpc() {
                Ok(()) => break,
                Err(StartError::PortInUse(_)) if attempts < PORT_ATTEMPTS => {
                    attempts += 1;
                    self.process = None;
                    self.rpc_port = free_port();
                    let args = std::mem::take(&mut self.start_args);
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    self.spawn(&args);
                }
                Err(StartError::PortInUse(message)) | Err(StartError::Failed(message)) => {
                    panic!("node{} did not start: {message}", self.index)
                }
            }
        }
        self.record_descendants();
    }

    fn wait_for_rpc(&mut self) -> Result<(), StartError> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let child = self.process.as_mut().expect("spawned");
            if let Ok(Some(status)) = child.try_wait() {
                self.process = None;
                let stderr = read_from(&self.stderr_path(), self.run_stderr_offset);
                let message = format!("exited during startup ({status}); stderr:\n{stderr}");
                return Err(if stderr.contains(PORT_IN_USE) {
                    StartError::PortInUse(message)
                } else {
                    StartError::Failed(message)
                });
            }
            // A cookie left by a killed run may be read before the new one
            // is written: its calls get 401 and the loop reads again.
            if let Ok(text) = std::fs::read_to_string(self.cookie_path()) {
                if let Some(auth) = RpcAuth::from_cookie(&text) {
                    let client = self.rpc_with_credentials(Some(auth));
                    if client.call("getblockcount", &[]).is_ok() {
                        self.rpc = Some(client);
                        return Ok(());
                    }
                }
            }
            if Instant::now() > deadline {
                return Err(StartError::Failed(format!(
                    "RPC did not answer within {START_TIMEOUT:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Notes the node's current child processes (e.g. its `kestrel-wallet`)
    /// and returns them.
    pub fn child_processes(&mut self) -> Vec<ProcessInfo> {
        self.record_descendants();
        match self.pid() {
            Some(pid) => descendants(pid),
            None => Vec::new(),
        }
    }

    fn record_descendants(&mut self) {
        let Some(pid) = self.pid() else { return };
        for process in descendants(pid) {
            if !self.seen_descendants.contains(&process) {
                self.seen_descendants.push(process);
            }
        }
    }

    /// Processes that ran below this node, for the teardown's orphan check.
    pub(crate) fn seen_descendants(&self) -> &[ProcessInfo] {
        &self.seen_descendants
    }

    /// The node's RPC client (valid until the node stops).
    pub fn rpc(&self) -> &RpcClient {
        self.rpc
            .as_ref()
            .unwrap_or_else(|| panic!("node{} is not running", self.index))
    }

    /// A client of this node's port with other credentials (or none).
    pub fn rpc_with_credentials(&self, auth: Option<RpcAuth>) -> RpcClient {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.rpc_port));
        RpcClient::with_auth(addr, auth, Some(CALL_TIMEOUT))
    }

    /// Calls `method` with `params` (array or object): its result, or the
    /// JSON-RPC error the test may check. A failure below JSON-RPC (no
    /// connection, HTTP error) panics, since no scenario expects one
    /// through this call.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        match self.rpc().call_with(method, params) {
            Ok(result) => Ok(result),
            Err(CallError::Rpc(error)) => Err(error),
            Err(other) => panic!("node{}: {method}: {other}", self.index),
        }
    }

    /// Calls `method`, failing the test if it errs: for steps whose result
    /// the scenario needs.
    pub fn expect(&self, method: &str, params: Value) -> Value {
        let shown = params.to_string();
        self.call(method, params)
            .unwrap_or_else(|e| panic!("node{}: {method} {shown} failed: {e}", self.index))
    }

    fn expect_as<T: serde::de::DeserializeOwned>(&self, method: &str, params: Value) -> T {
        let result = self.expect(method, params);
        serde_json::from_value(result.clone()).unwrap_or_else(|e| {
            panic!(
                "node{}: {method} returned {result}, not the expected shape: {e}",
                self.index
            )
        })
    }

    /// `stop`, then waits for a clean exit (code 0), as Bitcoin's
    /// `stop_node` does.
    pub fn stop(&mut self) {
        self.record_descendants();
        self.expect("stop", json!([]));
        self.wait_for_clean_exit("stop");
    }

    /// SIGTERM, then waits for a clean exit (code 0).
    pub fn terminate(&mut self) {
        self.record_descendants();
        let pid = self.pid().expect("node is running");
        send_signal(pid, Signal::TERM).expect("SIGTERM sent");
        self.wait_for_clean_exit("SIGTERM");
    }

    /// SIGKILL (`kill -9`): the node gets no chance to clean up.
    pub fn kill(&mut self) {
        self.record_descendants();
        let mut child = self
            .process
            .take()
            .unwrap_or_else(|| panic!("node{} is not running", self.index));
        self.rpc = None;
        child.kill().expect("SIGKILL sent");
        child.wait().expect("killed node reaped");
    }

    /// Stops cleanly and starts again with the same datadir and options.
    pub fn restart(&mut self) {
        self.stop();
        self.start();
    }

    /// Waits for the node to exit by itself (after `stop` or a signal) and
    /// returns its status.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Result<ExitStatus, TimedOut> {
        let child = self
            .process
            .as_mut()
            .unwrap_or_else(|| panic!("node{} is not running", self.index));
        let status = wait_for_exit(child, timeout)?;
        self.process = None;
        self.rpc = None;
        Ok(status)
    }

    fn wait_for_clean_exit(&mut self, after: &str) {
        let status = self
            .wait_for_exit(SHUTDOWN_TIMEOUT)
            .unwrap_or_else(|e| panic!("node{} after {after}: {e}", self.index));
        let stderr = read_from(&self.stderr_path(), self.run_stderr_offset);
        assert!(
            status.success(),
            "node{} exited with {status} after {after}; stderr:\n{stderr}",
            self.index,
        );
        // As Bitcoin's stop_node: a clean run has nothing to complain about.
        assert!(
            stderr.is_empty(),
            "node{} wrote to stderr during a clean run:\n{stderr}",
            self.index
        );
    }

    /// Teardown: stop the node however it takes (`stop`, then SIGTERM, then
    /// SIGKILL) and say what went wrong, if anything.
    pub(crate) fn shut_down_for_teardown(&mut self, stop_requested: bool) -> Vec<String> {
        let mut problems = Vec::new();
        let Some(mut child) = self.process.take() else {
            return problems;
        };
        self.rpc = None;
        let pid = child.id() as i32;
        let mut status = if stop_requested {
            wait_for_exit(&mut child, SHUTDOWN_TIMEOUT).ok()
        } else {
            None
        };
        if status.is_none() {
            if stop_requested {
                problems.push(format!(
                    "node{} did not exit within {SHUTDOWN_TIMEOUT:?} of `stop`; sending SIGTERM",
                    self.index
                ));
            }
            let _ = send_signal(pid, Signal::TERM);
            status = wait_for_exit(&mut child, SHUTDOWN_TIMEOUT).ok();
        }
        let status = match status {
            Some(status) => status,
            None => {
                problems.push(format!(
                    "node{} ignored SIGTERM for {SHUTDOWN_TIMEOUT:?}; killed it",
                    self.index
                ));
                let _ = child.kill();
                child.wait().expect("killed node reaped")
            }
        };
        if !status.success() {
            problems.push(format!(
                "node{} exited with {status} at teardown; stderr:\n{}",
                self.index,
                tail(&self.stderr_path(), 20)
            ));
        }
        problems
    }

    /// Sends `stop` to a running node without waiting (teardown sends it
    /// to every node first so they shut down together). Whether it was
    /// sent.
    pub(crate) fn request_stop(&mut self) -> bool {
        self.record_descendants();
        match &self.rpc {
            Some(rpc) if self.process.is_some() => {
                !matches!(rpc.call("stop", &[]), Err(CallError::Connect { .. }))
            }
            _ => false,
        }
    }

    /// Runs `kestrel-cli` against this node: `-datadir`, `-rpcport`, then
    /// `args`.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(cli_binary())
            .arg(format!("-datadir={}", self.datadir.display()))
            .arg(format!("-rpcport={}", self.rpc_port))
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", cli_binary().display()))
    }

    // Typed helpers: each fails the test if its call errs.

    pub fn getblockcount(&self) -> u64 {
        self.expect_as("getblockcount", json!([]))
    }

    pub fn getbestblockhash(&self) -> String {
        self.expect_as("getbestblockhash", json!([]))
    }

    pub fn getblockhash(&self, height: u64) -> String {
        self.expect_as("getblockhash", json!([height]))
    }

    /// `getblock` at verbosity 1: the block as an object.
    pub fn getblock(&self, hash: &str) -> Value {
        self.expect("getblock", json!([hash, 1]))
    }

    /// `getblock` at verbosity 0: the serialized block in hex.
    pub fn getblock_hex(&self, hash: &str) -> String {
        self.expect_as("getblock", json!([hash, 0]))
    }

    pub fn generatetoaddress(&self, blocks: u32, address: &str) -> Vec<String> {
        self.expect_as("generatetoaddress", json!([blocks, address]))
    }

    /// Mines `blocks` blocks paying a new address of this node's wallet.
    pub fn generate(&self, blocks: u32) -> Vec<String> {
        let address = self.getnewaddress();
        self.generatetoaddress(blocks, &address)
    }

    pub fn getnewaddress(&self) -> String {
        self.expect_as("getnewaddress", json!([]))
    }

    pub fn getbalance(&self) -> Amount {
        self.expect_as("getbalance", json!([]))
    }

    /// Returns the txid.
    pub fn sendtoaddress(&self, address: &str, amount: Amount) -> String {
        self.expect_as("sendtoaddress", json!([address, amount.to_json()]))
    }

    pub fn listunspent(&self) -> Vec<Unspent> {
        self.expect_as("listunspent", json!([]))
    }

    pub fn gettransaction(&self, txid: &str) -> WalletTransaction {
        self.expect_as("gettransaction", json!([txid]))
    }

    pub fn getrawmempool(&self) -> Vec<String> {
        self.expect_as("getrawmempool", json!([]))
    }

    pub fn getmempoolinfo(&self) -> MempoolInfo {
        self.expect_as("getmempoolinfo", json!([]))
    }

    pub fn uptime(&self) -> u64 {
        self.expect_as("uptime", json!([]))
    }

    pub fn echoipc(&self, message: &str) -> String {
        self.expect_as("echoipc", json!([message]))
    }
}

/// One entry of `listunspent`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Unspent {
    pub txid: String,
    pub vout: u32,
    pub address: String,
    pub amount: Amount,
    pub confirmations: u64,
    pub spendable: bool,
}

/// `gettransaction`'s reply.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WalletTransaction {
    pub txid: String,
    /// The change of the wallet's balance (a send counts its fee).
    pub amount: Amount,
    /// Negative, as bitcoind shows it; only for the wallet's own sends.
    pub fee: Option<Amount>,
    pub confirmations: u64,
    pub blockhash: Option<String>,
    pub hex: String,
}

/// `getmempoolinfo`'s reply.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MempoolInfo {
    pub loaded: bool,
    pub size: u64,
    pub bytes: u64,
}
