//! Connections: Cap'n Proto two-party RPC over a Unix stream, set up by
//! spawning a child over a socketpair (`-ipcfd=N`), by serving an inherited
//! fd, by listening (`-ipcbind`) or by connecting (`-ipcconnect`). Each end
//! offers its `Init` and can reach the other's.

use std::cell::RefCell;
use std::ffi::OsStr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use capnp_rpc::rpc_twoparty_capnp::Side;
use capnp_rpc::{twoparty, RpcSystem};
use futures::io::BufReader;

use crate::coalesce::CoalescingWriter;
use crate::event_loop::{EventLoopHandle, LoopLocal};
use crate::init::{Init, InitProxy, InitServer};
use crate::link::{Link, ProxyCore};
use crate::peer::Peer;
use crate::schema::init_capnp::init;
use crate::stream;
use crate::{IpcError, LOG_TARGET};

/// Buffer size of the reading half of a connection: one read syscall for
/// many messages instead of one per segment-table and segment.
const STREAM_BUFFER: usize = 64 * 1024;

/// How long a child may keep running after its connection closed before it
/// is killed.
const CHILD_EXIT_GRACE: Duration = Duration::from_secs(5);

/// One connection to another process. Dropping it does not close the
/// connection (this process keeps serving the peer, as a listener must);
/// [`Connection::close`] does.
pub struct Connection {
    remote_init: InitProxy,
    peer: Arc<Peer>,
    disconnector: Arc<LoopLocal<RefCell<Option<capnp_rpc::Disconnector<Side>>>>>,
    handle: EventLoopHandle,
}

impl Connection {
    /// The `Init` the other process offers.
    pub fn remote_init(&self) -> &InitProxy {
        &self.remote_init
    }

    /// Who is at the other end, for messages.
    pub fn peer_description(&self) -> &str {
        self.peer.description()
    }

    /// Why the connection closed, or `None` while it is up.
    pub fn closed_reason(&self) -> Option<String> {
        self.peer.closed_reason()
    }

    /// Blocks until the connection closes or `timeout` passes; the reason
    /// if it closed.
    pub fn wait_closed(&self, timeout: Duration) -> Option<String> {
        self.peer.wait_closed(timeout)
    }

    /// Closes the connection; calls through it fail with `Disconnected`.
    pub fn close(&self) {
        let disconnector = self.disconnector.clone();
        let _ = self.handle.post(Box::new(move || {
            if let Some(disconnect) = disconnector.get().borrow_mut().take() {
                tokio::task::spawn_local(disconnect);
            }
        }));
    }
}

/// This end of a new connection: its side in the two-party network, what
/// it offers, and who is at the other end (for messages).
struct Endpoint {
    side: Side,
    local_init: Arc<dyn Init>,
    peer: String,
}

/// Starts RPC on `stream` (connected, non-blocking); must run on the loop
/// thread.
fn start_rpc(
    handle: &EventLoopHandle,
    stream: std::os::unix::net::UnixStream,
    Endpoint {
        side,
        local_init,
        peer,
    }: Endpoint,
) -> Result<Connection, IpcError> {
    let peer = Arc::new(Peer::new(peer));
    let link = Link::new(handle, peer.clone());
    let (read, write) = stream::split(stream.into())
        .map_err(|e| IpcError::io("cannot register the IPC socket", e))?;
    let network = twoparty::VatNetwork::new(
        BufReader::with_capacity(STREAM_BUFFER, read),
        CoalescingWriter::new(write),
        side,
        capnp::message::ReaderOptions::default(),
    );
    let bootstrap: init::Client = capnp_rpc::new_client(InitServer::new(local_init, &link));
    let mut rpc = RpcSystem::new(Box::new(network), Some(bootstrap.client));
    let remote_side = match side {
        Side::Client => Side::Server,
        Side::Server => Side::Client,
    };
    let remote: init::Client = rpc.bootstrap(remote_side);
    let disconnector = Arc::new(LoopLocal::new(
        RefCell::new(Some(rpc.get_disconnector())),
        handle,
    ));
    let task_peer = peer.clone();
    tokio::task::spawn_local(async move {
        let reason = match rpc.await {
            Ok(()) => "the other side closed the connection".to_string(),
            Err(e) => {
                tracing::warn!(target: LOG_TARGET, "IPC connection to {} failed: {e}", task_peer.description());
                format!("connection error: {e}")
            }
        };
        tracing::debug!(target: LOG_TARGET, "IPC connection to {} closed: {reason}", task_peer.description());
        task_peer.mark_closed(reason);
    });
    Ok(Connection {
        remote_init: InitProxy::new(ProxyCore::new(remote, &link, "Init")),
        peer,
        disconnector,
        handle: handle.clone(),
    })
}

/// Hands a connected std stream to the loop and starts RPC on it.
fn connect_stream(
    handle: &EventLoopHandle,
    stream: std::os::unix::net::UnixStream,
    endpoint: Endpoint,
) -> Result<Connection, IpcError> {
    stream
        .set_nonblocking(true)
        .map_err(|e| IpcError::io("cannot make the IPC socket non-blocking", e))?;
    let loop_handle = handle.clone();
    handle
        .run_blocking(move || async move { start_rpc(&loop_handle, stream, endpoint) })
        .unwrap_or(Err(IpcError::LoopStopped))
}

/// Serves `local_init` on the socket inherited as `-ipcfd=fd` (the child's
/// end of a [`spawn_process`] socketpair). The fd is owned from here on.
pub fn serve_fd(
    handle: &EventLoopHandle,
    fd: RawFd,
    local_init: Arc<dyn Init>,
) -> Result<Connection, IpcError> {
    let is_socket =
        rustix::fs::fstat(unsafe { rustix::fd::BorrowedFd::borrow_raw(fd) }).map(|stat| {
            rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::Socket
        });
    if !matches!(is_socket, Ok(true)) {
        return Err(IpcError::BadArgument {
            option: "-ipcfd",
            value: fd.to_string(),
            reason: "not an open socket; -ipcfd is set by the process that spawns this one".into(),
        });
    }
    // SAFETY: checked above to be an open socket; this process was handed
    // it by its parent to own.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // Grandchildren must not inherit it.
    rustix::io::fcntl_setfd(&owned, rustix::io::FdFlags::CLOEXEC)
        .map_err(|e| IpcError::io("cannot set FD_CLOEXEC on -ipcfd", e.into()))?;
    let stream = std::os::unix::net::UnixStream::from(owned);
    let parent = format!(
        "parent process (pid {})",
        std::os::unix::process::parent_id()
    );
    connect_stream(
        handle,
        stream,
        Endpoint {
            side: Side::Server,
            local_init,
            peer: parent,
        },
    )
}

/// Connects to a process listening with `-ipcbind` at `path`.
pub fn connect_unix(
    handle: &EventLoopHandle,
    path: &Path,
    local_init: Arc<dyn Init>,
) -> Result<Connection, IpcError> {
    let stream = std::os::unix::net::UnixStream::connect(path).map_err(|e| {
        IpcError::io(
            format!(
                "cannot connect to {} (is the node running with -ipcbind?)",
                path.display()
            ),
            e,
        )
    })?;
    connect_stream(
        handle,
        stream,
        Endpoint {
            side: Side::Client,
            local_init,
            peer: format!("unix:{}", path.display()),
        },
    )
}

/// A child process spawned with [`spawn_process`]. It is killed if it
/// outlives its connection by more than a few seconds, and reaped by the
/// event loop as soon as it exits.
pub struct ChildProcess {
    pid: u32,
    exit: Arc<ChildExit>,
}

#[derive(Default)]
struct ChildExit {
    status: Mutex<Option<ExitStatus>>,
    changed: Condvar,
}

impl ChildProcess {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits up to `timeout` for the child to exit (and be reaped).
    pub fn wait_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        let status = self.exit.status.lock().unwrap_or_else(|e| e.into_inner());
        *self
            .exit
            .changed
            .wait_timeout_while(status, timeout, |status| status.is_none())
            .unwrap_or_else(|e| e.into_inner())
            .0
    }

    /// Sends SIGKILL (the event loop still reaps it).
    pub fn kill(&self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.pid as i32) {
            if self.wait_exit(Duration::ZERO).is_none() {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }
}

/// Spawns `executable` with `args` and `-ipcfd=N`, the child's end of a
/// socketpair, and connects to it. The child dies with this process
/// (SIGTERM via PR_SET_PDEATHSIG, tied to the loop thread, which lives as
/// long as the [`crate::EventLoop`]).
pub fn spawn_process(
    handle: &EventLoopHandle,
    executable: &Path,
    args: &[&OsStr],
    local_init: Arc<dyn Init>,
) -> Result<(ChildProcess, Connection), IpcError> {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()
        .map_err(|e| IpcError::io("cannot create the IPC socketpair", e))?;
    ours.set_nonblocking(true)
        .map_err(|e| IpcError::io("cannot make the IPC socket non-blocking", e))?;
    let executable = executable.to_path_buf();
    let args: Vec<_> = args.iter().map(|a| a.to_os_string()).collect();
    let loop_handle = handle.clone();
    handle
        .run_blocking(move || async move {
            spawn_on_loop(&loop_handle, &executable, &args, ours, theirs, local_init)
        })
        .unwrap_or(Err(IpcError::LoopStopped))
}

/// Hands `socket` to the child `command` will spawn, as `-ipcfd=N`: the fd
/// stays open across exec (std opens every fd close-on-exec).
pub(crate) fn pass_ipcfd(
    command: &mut std::process::Command,
    socket: &std::os::unix::net::UnixStream,
) {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let fd = socket.as_raw_fd();
    command.arg(format!("-ipcfd={fd}"));
    // SAFETY: only fcntl, async-signal-safe, between fork and exec.
    unsafe {
        command.pre_exec(move || {
            let fd = rustix::fd::BorrowedFd::borrow_raw(fd);
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
            Ok(())
        });
    }
}

fn spawn_on_loop(
    handle: &EventLoopHandle,
    executable: &Path,
    args: &[std::ffi::OsString],
    ours: std::os::unix::net::UnixStream,
    theirs: std::os::unix::net::UnixStream,
    local_init: Arc<dyn Init>,
) -> Result<(ChildProcess, Connection), IpcError> {
    let parent_pid = std::process::id();
    let mut command = tokio::process::Command::new(executable);
    command.args(args).kill_on_drop(true);
    pass_ipcfd(command.as_std_mut(), &theirs);
    // SAFETY: only async-signal-safe syscalls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))?;
            // The parent may have died before the line above took effect.
            if rustix::process::getppid().map(|p| p.as_raw_pid() as u32) != Some(parent_pid) {
                return Err(std::io::Error::other("parent exited during spawn"));
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| IpcError::io(format!("cannot spawn {}", executable.display()), e))?;
    drop(theirs);
    let pid = child.id().unwrap_or_default();
    let name = executable
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| executable.display().to_string());
    let connection = start_rpc(
        handle,
        ours,
        Endpoint {
            side: Side::Client,
            local_init,
            peer: format!("{name} (pid {pid})"),
        },
    )?;

    let exit = Arc::new(ChildExit::default());
    let reaped = exit.clone();
    let peer = connection.peer.clone();
    tokio::task::spawn_local(async move {
        let outlived_connection = async {
            peer.closed().await;
            tokio::time::sleep(CHILD_EXIT_GRACE).await;
        };
        let status = tokio::select! {
            status = child.wait() => status,
            _ = outlived_connection => {
                tracing::warn!(target: LOG_TARGET, "{} still running {CHILD_EXIT_GRACE:?} after its connection closed; killing it", peer.description());
                let _ = child.start_kill();
                child.wait().await
            }
        };
        let status = status.unwrap_or_else(|e| {
            tracing::warn!(target: LOG_TARGET, "cannot reap {}: {e}", peer.description());
            ExitStatus::from_raw(-1)
        });
        tracing::debug!(target: LOG_TARGET, "{} exited: {status}", peer.description());
        peer.mark_closed(format!("the process exited ({status})"));
        *reaped.status.lock().unwrap_or_else(|e| e.into_inner()) = Some(status);
        reaped.changed.notify_all();
    });
    Ok((ChildProcess { pid, exit }, connection))
}

/// Listens on a Unix socket (`-ipcbind`), serving `Init` to every
/// connection. Dropping it stops accepting and removes the socket file.
pub struct IpcListener {
    path: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl IpcListener {
    /// Binds `path` (creating its directory with mode 0700 if missing,
    /// replacing a stale socket file, the socket itself mode 0600).
    /// `on_connect` runs on the blocking pool for each new connection.
    pub fn bind(
        handle: &EventLoopHandle,
        path: &Path,
        local_init: Arc<dyn Init>,
        on_connect: impl Fn(Connection) + Send + Sync + 'static,
    ) -> Result<Self, IpcError> {
        let listener = bind_socket(path)?;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let loop_handle = handle.clone();
        let on_connect = Arc::new(on_connect);
        let display = path.display().to_string();
        handle
            .run_blocking(move || async move {
                let listener = tokio::net::UnixListener::from_std(listener)
                    .map_err(|e| IpcError::io("cannot register the IPC listener", e))?;
                tokio::task::spawn_local(accept_loop(
                    loop_handle,
                    listener,
                    display,
                    local_init,
                    on_connect,
                    stopped,
                ));
                Ok(())
            })
            .unwrap_or(Err(IpcError::LoopStopped))?;
        Ok(Self {
            path: path.to_path_buf(),
            stop: Some(stop),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for IpcListener {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn bind_socket(path: &Path) -> Result<std::os::unix::net::UnixListener, IpcError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| IpcError::io(format!("cannot create {}", dir.display()), e))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(IpcError::Refused(format!(
                    "another process is listening on {}; stop it or choose another -ipcbind=unix:<path>",
                    path.display()
                )));
            }
            std::fs::remove_file(path).map_err(|e| {
                IpcError::io(format!("cannot remove stale socket {}", path.display()), e)
            })?;
        }
        Ok(_) => {
            return Err(IpcError::Refused(format!(
                "{} exists and is not a socket; remove it or choose another -ipcbind=unix:<path>",
                path.display()
            )))
        }
        Err(_) => {}
    }
    let listener = std::os::unix::net::UnixListener::bind(path)
        .map_err(|e| IpcError::io(format!("cannot listen on {}", path.display()), e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| IpcError::io(format!("cannot set mode 0600 on {}", path.display()), e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| IpcError::io("cannot make the IPC listener non-blocking", e))?;
    Ok(listener)
}

async fn accept_loop(
    handle: EventLoopHandle,
    listener: tokio::net::UnixListener,
    path: String,
    local_init: Arc<dyn Init>,
    on_connect: Arc<dyn Fn(Connection) + Send + Sync>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let mut accepted = 0u64;
    loop {
        let stream = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => accepted,
        };
        match stream {
            Ok((stream, _)) => {
                accepted += 1;
                let description = format!("client #{accepted} on unix:{path}");
                tracing::debug!(target: LOG_TARGET, "accepted IPC {description}");
                let connection = stream.into_std().and_then(|stream| {
                    let endpoint = Endpoint {
                        side: Side::Server,
                        local_init: local_init.clone(),
                        peer: description,
                    };
                    start_rpc(&handle, stream, endpoint).map_err(std::io::Error::other)
                });
                match connection {
                    Ok(connection) => {
                        let on_connect = on_connect.clone();
                        tokio::task::spawn_blocking(move || on_connect(connection));
                    }
                    Err(e) => {
                        tracing::warn!(target: LOG_TARGET, "cannot serve IPC client #{accepted} on unix:{path}: {e}")
                    }
                }
            }
            Err(e) => {
                tracing::warn!(target: LOG_TARGET, "accepting on unix:{path} failed: {e}");
                // Out of fds and the like: do not spin while it lasts.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
