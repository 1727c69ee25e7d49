//! One node executable as a bare child process, for the integration tests
//! of kestrel-node, kestrel-cli and the benchmarks: start it on a port in a
//! datadir, wait until its RPC answers, call it, signal it, stop it. (The
//! scenarios use [`crate::TestNode`], which adds logs kept on failure,
//! restarts and the orphan check.)

use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use kestrel_common::datadir::DataDir;
use kestrel_rpc::auth::{read_cookie, RpcAuth};
use kestrel_rpc::client::{CallError, RpcClient};
use serde_json::Value;

use crate::node::free_port;
use crate::process::{send_signal, Signal};

/// How long a node may take to start answering RPC.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const POLL_INTERVAL: Duration = Duration::from_millis(20);

pub struct NodeProcess {
    child: Child,
    datadir: PathBuf,
    port: u16,
    /// `-rpcuser`/`-rpcpassword` credentials; `None`: the cookie.
    user_password: Option<RpcAuth>,
}

impl NodeProcess {
    /// Starts `binary -datadir=<datadir> -rpcport=<free port> <extra_args>`
    /// and waits until it answers `getblockcount`. `user_password` must
    /// match any `-rpcuser`/`-rpcpassword` in `extra_args`.
    pub fn start(
        binary: &Path,
        datadir: &Path,
        extra_args: &[&str],
        user_password: Option<RpcAuth>,
    ) -> io::Result<NodeProcess> {
        NodeProcess::start_on_port(binary, datadir, free_port(), extra_args, user_password)
    }

    /// [`NodeProcess::start`] on a chosen RPC port.
    pub fn start_on_port(
        binary: &Path,
        datadir: &Path,
        port: u16,
        extra_args: &[&str],
        user_password: Option<RpcAuth>,
    ) -> io::Result<NodeProcess> {
        let child = Command::new(binary)
            .arg(format!("-datadir={}", datadir.display()))
            .arg(format!("-rpcport={port}"))
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                io::Error::new(e.kind(), format!("cannot run {}: {e}", binary.display()))
            })?;
        let mut node = NodeProcess {
            child,
            datadir: datadir.to_path_buf(),
            port,
            user_password,
        };
        node.wait_ready()?;
        Ok(node)
    }

    fn wait_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "node exited during startup ({status}): {}",
                    self.stderr()
                )));
            }
            if let Ok(client) = self.client() {
                if client.call("getblockcount", &[]).is_ok() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("node did not answer RPC within {START_TIMEOUT:?}"),
                ));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn cookie_path(&self) -> PathBuf {
        DataDir::new(&self.datadir).cookie_path()
    }

    /// A client with the node's credentials (the cookie as it is now).
    pub fn client(&self) -> io::Result<RpcClient> {
        let auth = match &self.user_password {
            Some(auth) => auth.clone(),
            None => read_cookie(&self.cookie_path())?,
        };
        Ok(RpcClient::new(
            SocketAddr::from((Ipv4Addr::LOCALHOST, self.port)),
            auth,
        ))
    }

    /// Calls `method`, panicking with the error if it fails: for tests
    /// whose next steps need the result.
    pub fn call(&self, method: &str, params: &[Value]) -> Value {
        self.try_call(method, params)
            .unwrap_or_else(|e| panic!("{method} {params:?} failed: {e}"))
    }

    pub fn try_call(&self, method: &str, params: &[Value]) -> Result<Value, CallError> {
        let client = self.client().map_err(|e| CallError::Connect {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, self.port)),
            detail: e.to_string(),
        })?;
        client.call(method, params)
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(&mut self) -> io::Result<ExitStatus> {
        self.signal(Signal::TERM)?;
        self.child.wait()
    }

    /// Sends `signal` without waiting.
    pub fn signal(&self, signal: Signal) -> io::Result<()> {
        send_signal(self.child.id() as i32, signal)
    }

    /// Waits for the process to exit (after `stop`).
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        self.child.wait()
    }

    /// Waits up to `timeout` for the process to exit; `None` if it is still
    /// running then.
    pub fn wait_timeout(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() > deadline {
                return Ok(None);
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// What the process wrote to stderr. Reads to the end of the stream, so
    /// call it only once the process has exited.
    pub fn stderr(&mut self) -> String {
        let mut text = String::new();
        if let Some(stderr) = self.child.stderr.as_mut() {
            let _ = stderr.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for NodeProcess {
    /// A test that failed midway leaves no process behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
