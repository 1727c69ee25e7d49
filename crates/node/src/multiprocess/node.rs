//! `kestrel-node`: the node with its wallet in a `kestrel-wallet` child
//! process, and optionally a `-ipcbind` socket that other processes attach
//! to.
//!
//! The node offers [`NodeInit`] on every connection (its chain). At start it
//! spawns `kestrel-wallet` (found next to its own executable) over a
//! socketpair, hands it the chain through `Init.makeWalletLoader`, loads the
//! datadir's own wallet and puts the `Wallet` proxy in the RPC's slot. A
//! watcher thread empties the slot, with the reason, when the child's
//! connection closes, so wallet RPCs answer -18 while chain RPCs go on.
//!
//! Started by `kestrel-gui` (`-ipcfd=N`, the gui's socketpair), the node
//! serves the same `NodeInit` there once its wallet is loaded, and shuts
//! down when that connection closes.

use std::ffi::OsString;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use anyhow::Context;
use kestrel_interfaces::{Chain, Error, Node, Result, Wallet};
use kestrel_ipc::{
    parse_ipcfd, parse_ipcspin, parse_unix_address, serve_fd, spawn_process, ChildProcess,
    Connection, EchoProxy, EventLoop, Init, IpcListener, LoopOptions, WalletLoader,
};

use kestrel_common::args::Args;
use kestrel_common::config::NodeConfig;
use kestrel_common::datadir::DEFAULT_WALLET;
use kestrel_rpc::methods::EchoIpc;
use kestrel_rpc::wallet_slot::WalletSlot;

use crate::startup::{RpcHost, WalletProvider};

/// This process's name in `-debug=ipc` lines.
pub const NODE_PROCESS: &str = "kestrel-node";
/// The wallet executable, expected next to `kestrel-node`.
pub const WALLET_EXECUTABLE: &str = "kestrel-wallet";

/// How long the wallet process may take to exit once its connection is
/// closed at shutdown before it is killed.
const WALLET_EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the node offers on each IPC connection: its chain, for the wallet
/// it spawns (through `makeWalletLoader`) and for wallets that attach with
/// `-ipcconnect` (through `makeChain`), and itself for a gui (`makeNode`).
/// `makeEcho` is always offered.
pub struct NodeInit {
    chain: Arc<dyn Chain>,
    node: Arc<dyn Node>,
}

impl NodeInit {
    pub fn new(chain: Arc<dyn Chain>, node: Arc<dyn Node>) -> NodeInit {
        NodeInit { chain, node }
    }
}

impl Init for NodeInit {
    fn make_chain(&self) -> Result<Arc<dyn Chain>> {
        Ok(self.chain.clone())
    }

    fn make_node(&self) -> Result<Arc<dyn Node>> {
        Ok(self.node.clone())
    }
}

/// `kestrel-node`'s wallet: a `kestrel-wallet` child process.
pub struct SpawnedWallet {
    executable: PathBuf,
    /// Options the child gets besides `-ipcfd`: the node's datadir, config
    /// file and logging.
    child_args: Vec<String>,
    /// `-ipcbind`: the socket to listen on.
    bind: Option<PathBuf>,
    /// `-ipcfd`: the socket of the kestrel-gui that started this node.
    gui_fd: Option<RawFd>,
    /// `-ipcspin`, for this process's event loop (the child gets it too).
    spin: Duration,
    echo: Option<Arc<EchoProxy>>,
    running: Option<Running>,
}

/// What exists while the child runs; torn down in [`WalletProvider::stop`].
struct Running {
    event_loop: EventLoop,
    child: Arc<ChildProcess>,
    connection: Arc<Connection>,
    listener: Option<IpcListener>,
    /// The connection to the kestrel-gui that started this node.
    gui: Option<Arc<Connection>>,
    watcher: Option<JoinHandle<()>>,
    /// Set at shutdown, so the watcher does not report the child's planned
    /// exit as a loss.
    stopping: Arc<AtomicBool>,
}

impl SpawnedWallet {
    /// From the node's options; `-ipcbind` is checked here. The wallet
    /// executable is `kestrel-wallet` next to `node_executable`.
    pub fn new(
        node_executable: &Path,
        args: &Args,
        config: &NodeConfig,
    ) -> anyhow::Result<SpawnedWallet> {
        let bind = args
            .value("ipcbind")
            .map(|value| parse_unix_address("-ipcbind", value))
            .transpose()?
            .map(|address| address.resolve(&config.datadir.root));
        let gui_fd = args.value("ipcfd").map(parse_ipcfd).transpose()?;
        let spin = parse_ipcspin(args.value("ipcspin"))?;
        let mut child_args = vec![
            format!("-datadir={}", config.datadir.root.display()),
            format!("-ipcspin={}", spin.as_micros()),
        ];
        child_args.extend(config.conf.iter().map(|conf| format!("-conf={conf}")));
        child_args.extend(config.log.to_args());
        Ok(SpawnedWallet {
            executable: node_executable.with_file_name(WALLET_EXECUTABLE),
            child_args,
            spin,
            bind,
            gui_fd,
            echo: None,
            running: None,
        })
    }

    /// The socket `-ipcbind` listens on, if given.
    pub fn bind_path(&self) -> Option<&Path> {
        self.bind.as_deref()
    }

    /// The arguments the wallet process is started with (before `-ipcfd`).
    pub fn child_args(&self) -> &[String] {
        &self.child_args
    }

    fn spawn(&mut self, init: Arc<dyn Init>) -> anyhow::Result<&mut Running> {
        let event_loop = EventLoop::with_options(NODE_PROCESS, LoopOptions::spinning(self.spin))?;
        let handle = event_loop.handle();
        let args: Vec<OsString> = self.child_args.iter().map(OsString::from).collect();
        let args: Vec<&std::ffi::OsStr> = args.iter().map(OsString::as_os_str).collect();
        let (child, connection) = spawn_process(&handle, &self.executable, &args, init.clone())
            .with_context(|| {
                format!(
                    "Cannot start the wallet process {}: kestrel-node runs its wallet in {WALLET_EXECUTABLE}, which must sit next to it (build both with --features multiprocess)",
                    self.executable.display()
                )
            })?;
        tracing::info!("wallet process {} started", connection.peer_description());
        Ok(self.running.insert(Running {
            event_loop,
            child: Arc::new(child),
            connection: Arc::new(connection),
            listener: None,
            gui: None,
            watcher: None,
            stopping: Arc::new(AtomicBool::new(false)),
        }))
    }
}

/// Accepts IPC clients (`-ipcbind`) on `path`.
fn listen(event_loop: &EventLoop, path: &Path, init: Arc<dyn Init>) -> anyhow::Result<IpcListener> {
    let listener = IpcListener::bind(&event_loop.handle(), path, init, |client| {
        tracing::info!("IPC client attached: {}", client.peer_description());
    })
    .with_context(|| format!("Cannot listen for IPC (-ipcbind) on {}", path.display()))?;
    tracing::info!("listening for IPC on unix:{}", path.display());
    Ok(listener)
}

impl WalletProvider for SpawnedWallet {
    fn start(
        &mut self,
        chain: Arc<dyn Chain>,
        node: Arc<dyn Node>,
        slot: &WalletSlot,
    ) -> anyhow::Result<()> {
        let init: Arc<dyn Init> = Arc::new(NodeInit::new(chain.clone(), node.clone()));
        // Before spawning: the wallet process must not inherit the gui's
        // socket, or the gui would not see the node's end close.
        self.gui_fd = self.gui_fd.map(close_on_exec).transpose()?;
        let running = self.spawn(init.clone())?;
        let remote = running.connection.remote_init();
        let echo = Arc::new(remote.make_echo()?);
        let wallet = remote
            .make_wallet_loader(chain)
            .and_then(|loader| loader.load_wallet(DEFAULT_WALLET))
            .context("Cannot load the wallet in the wallet process")?;
        slot.set(wallet.clone());
        running.watcher = Some(watch_wallet_process(
            running.connection.clone(),
            running.child.clone(),
            Arc::downgrade(&wallet),
            slot.clone(),
            running.stopping.clone(),
        )?);
        tracing::info!(target: "wallet", "wallet loaded in the wallet process");
        self.echo = Some(echo);
        // Only now: a gui's first calls ask for the wallet, and the socket
        // file of `-ipcbind` tells clients that the node is ready.
        let running = self.running.as_mut().expect("spawned above");
        if let Some(path) = &self.bind {
            running.listener = Some(listen(&running.event_loop, path, init.clone())?);
        }
        if let Some(fd) = self.gui_fd.take() {
            running.gui = Some(serve_gui(&running.event_loop, fd, init, node)?);
        }
        Ok(())
    }

    fn echo_ipc(&self) -> EchoIpc {
        let echo = self.echo.clone();
        Arc::new(move |message: &str| {
            let echo = echo.as_ref().ok_or_else(|| {
                Error::Disconnected("Echo", "the wallet process was not started".into())
            })?;
            let reply = echo.echo(message.as_bytes())?;
            Ok(String::from_utf8_lossy(&reply).into_owned())
        })
    }

    fn rpc_host(&self) -> Option<RpcHost> {
        let event_loop = self.running.as_ref()?.event_loop.handle();
        Some(Box::new(move |serve| {
            event_loop.run_blocking(serve).unwrap_or_else(|| {
                Err(anyhow::anyhow!(
                    "the IPC event loop stopped before the RPC server did"
                ))
            })
        }))
    }

    fn stop(&mut self, slot: &WalletSlot) -> anyhow::Result<()> {
        let Some(mut running) = self.running.take() else {
            return Ok(());
        };
        running.stopping.store(true, Ordering::SeqCst);
        if let Some(gui) = running.gui.take() {
            gui.close();
        }
        // Releasing the Wallet capability unloads the wallet in the child,
        // which writes its file on every change; no client attaches after
        // this, and the socket file goes.
        drop(slot.take());
        drop(running.listener.take());
        // A closed connection is the wallet process's cue to exit.
        running.connection.close();
        let exited = running.child.wait_exit(WALLET_EXIT_TIMEOUT).or_else(|| {
            tracing::warn!(
                "wallet process {} did not exit within {WALLET_EXIT_TIMEOUT:?}; killing it",
                running.connection.peer_description()
            );
            running.child.kill();
            running.child.wait_exit(WALLET_EXIT_TIMEOUT)
        });
        if let Some(watcher) = running.watcher.take() {
            let _ = watcher.join();
        }
        self.echo = None;
        // Closes the connections of attached processes too.
        drop(running.event_loop);
        match exited {
            Some(status) => {
                tracing::info!("wallet process exited ({status})");
                Ok(())
            }
            None => anyhow::bail!(
                "wallet process {} could not be stopped",
                running.connection.peer_description()
            ),
        }
    }
}

/// The inherited socket `fd` (from `-ipcfd`) as a new descriptor with
/// FD_CLOEXEC set; `fd` itself is closed.
fn close_on_exec(fd: RawFd) -> anyhow::Result<RawFd> {
    use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
    use std::os::unix::fs::FileTypeExt;
    // Checked first: owning a descriptor that is not open is undefined.
    let is_socket = std::fs::metadata(format!("/proc/self/fd/{fd}"))
        .is_ok_and(|meta| meta.file_type().is_socket());
    if !is_socket {
        anyhow::bail!(
            "invalid -ipcfd={fd}: not an open socket; -ipcfd is set by the kestrel-gui that spawns this node"
        );
    }
    // SAFETY: an open socket that the spawning gui handed to this process.
    let inherited = unsafe { OwnedFd::from_raw_fd(fd) };
    // std duplicates with F_DUPFD_CLOEXEC.
    let duplicate = inherited
        .try_clone()
        .context("Cannot duplicate the -ipcfd socket")?;
    Ok(duplicate.into_raw_fd())
}

/// Serves `init` to the kestrel-gui that started this node (`-ipcfd`); the
/// gui closing the connection (quitting or dying) stops the node.
fn serve_gui(
    event_loop: &EventLoop,
    fd: RawFd,
    init: Arc<dyn Init>,
    node: Arc<dyn Node>,
) -> anyhow::Result<Arc<Connection>> {
    let connection = Arc::new(
        serve_fd(&event_loop.handle(), fd, init)
            .context("Cannot serve the kestrel-gui that started this node (-ipcfd)")?,
    );
    tracing::info!("serving kestrel-gui: {}", connection.peer_description());
    let watched = connection.clone();
    // Not joined: it ends when the connection closes, at the latest when
    // `stop` drops the event loop.
    thread::Builder::new()
        .name("kestrel-gui-watch".into())
        .spawn(move || {
            let reason = loop {
                if let Some(reason) = watched.wait_closed(Duration::from_secs(3600)) {
                    break reason;
                }
            };
            tracing::info!("the kestrel-gui connection closed ({reason}); shutting down");
            let _ = node.stop();
        })
        .context("Cannot start the thread that watches kestrel-gui")?;
    Ok(connection)
}

/// Waits on its own thread for the wallet process's connection to close.
/// Unless the node is stopping, that is a loss: the slot is emptied with
/// the reason and the exit is logged.
fn watch_wallet_process(
    connection: Arc<Connection>,
    child: Arc<ChildProcess>,
    wallet: Weak<dyn Wallet>,
    slot: WalletSlot,
    stopping: Arc<AtomicBool>,
) -> anyhow::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("kestrel-wallet-watch".into())
        .spawn(move || {
            let reason = loop {
                if let Some(reason) = connection.wait_closed(Duration::from_secs(3600)) {
                    break reason;
                }
            };
            if stopping.load(Ordering::SeqCst) {
                return;
            }
            let who = connection.peer_description();
            if let Some(wallet) = wallet.upgrade() {
                let _ = slot.unload_lost(
                    &wallet,
                    format!("the wallet process {who} is gone ({reason})"),
                );
            }
            let status = child
                .wait_exit(WALLET_EXIT_TIMEOUT)
                .map_or_else(|| "still running".to_string(), |s| s.to_string());
            tracing::error!(
                target: "wallet",
                "wallet process {who} is gone ({reason}; exit status: {status}); wallet RPCs now fail with -18 until the node is restarted, chain RPCs keep working"
            );
        })
        .context("Cannot start the thread that watches the wallet process")
}

#[cfg(test)]
mod tests {
    use super::*;
    use kestrel_common::config;
    use kestrel_common::options::{COMMON_OPTIONS, LOG_OPTIONS, NODE_IPC_OPTIONS, NODE_OPTIONS};

    fn spawned_wallet(datadir: &Path, extra: &[&str]) -> anyhow::Result<SpawnedWallet> {
        let argv = std::iter::once(format!("-datadir={}", datadir.display()))
            .chain(extra.iter().map(|s| s.to_string()));
        let sets = [COMMON_OPTIONS, LOG_OPTIONS, NODE_OPTIONS, NODE_IPC_OPTIONS];
        let (args, datadir) = config::load(argv, &sets)?;
        let config = NodeConfig::from_args(&args, datadir)?;
        SpawnedWallet::new(Path::new("/opt/kestrel/bin/kestrel-node"), &args, &config)
    }

    #[test]
    fn the_child_gets_the_datadir_ipcspin_config_file_and_logging() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("other.conf"), "debug=wallet\n").unwrap();
        let wallet = spawned_wallet(
            dir.path(),
            &["-conf=other.conf", "-debug=ipc", "-rpcport=5"],
        )
        .unwrap();
        assert_eq!(
            wallet.executable,
            Path::new("/opt/kestrel/bin/kestrel-wallet")
        );
        assert_eq!(
            wallet.child_args(),
            [
                format!("-datadir={}", dir.path().display()),
                "-ipcspin=50".into(),
                "-conf=other.conf".into(),
                "-printtoconsole=0".into(),
                "-debug=ipc".into(),
            ]
        );
        assert_eq!(wallet.bind_path(), None);
        assert_eq!(wallet.spin, kestrel_ipc::DEFAULT_IPC_SPIN);

        let no_spin = spawned_wallet(dir.path(), &["-ipcspin=0"]).unwrap();
        assert_eq!(no_spin.spin, Duration::ZERO);
        assert_eq!(no_spin.child_args()[1], "-ipcspin=0");
        let bad = spawned_wallet(dir.path(), &["-ipcspin=fast"])
            .err()
            .unwrap();
        assert!(format!("{bad:#}").contains("-ipcspin"), "{bad:#}");
    }

    #[test]
    fn the_gui_socket_is_not_inherited_by_the_wallet_process() {
        use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
        let (_ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let fd = theirs.into_raw_fd();
        let cloexec = close_on_exec(fd).unwrap();
        assert_ne!(cloexec, fd);
        let seen_by_child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("test -e /proc/self/fd/{cloexec}"))
            .status()
            .unwrap();
        assert!(!seen_by_child.success(), "fd {cloexec} leaked into a child");
        // SAFETY: returned open and owned by `close_on_exec`.
        drop(unsafe { OwnedFd::from_raw_fd(cloexec) });
        let err = close_on_exec(9999).unwrap_err().to_string();
        assert!(
            err.contains("-ipcfd=9999") && err.contains("not an open socket"),
            "{err}"
        );
    }

    #[test]
    fn ipcbind_paths_are_in_the_datadir_unless_absolute() {
        let dir = tempfile::tempdir().unwrap();
        let bind = |value: &str| {
            spawned_wallet(dir.path(), &[&format!("-ipcbind={value}")])
                .unwrap()
                .bind_path()
                .map(Path::to_path_buf)
        };
        assert_eq!(
            bind("unix"),
            Some(dir.path().join("regtest/sockets/node.sock"))
        );
        assert_eq!(bind("unix:n.sock"), Some(dir.path().join("n.sock")));
        assert_eq!(bind("unix:/run/k.sock"), Some("/run/k.sock".into()));
        let err = spawned_wallet(dir.path(), &["-ipcbind=tcp:127.0.0.1:1"])
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("-ipcbind") && err.contains("unix:<path>"),
            "{err}"
        );
        let err = spawned_wallet(dir.path(), &["-ipcconnect=unix"])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("-ipcconnect: unknown option"), "{err}");
    }
}
