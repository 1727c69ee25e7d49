//! The gui's connection to a node: a `kestrel-node` it spawned over a
//! socketpair, or one it attached to with `-ipcconnect`. Either way all it
//! holds of the node is a `Node` proxy.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use kestrel_interfaces::Node;
use kestrel_ipc::{connect_unix, spawn_process, ChildProcess, Connection, EchoOnlyInit, EventLoop};

/// This process's name in `-debug=ipc` lines.
pub const GUI_PROCESS: &str = "kestrel-gui";
/// The node executable, expected next to `kestrel-gui`.
pub const NODE_EXECUTABLE: &str = "kestrel-node";
/// How long a spawned node may take to shut down (it stops its wallet
/// process first) before it is killed.
const NODE_EXIT_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Session {
    node: Arc<dyn Node>,
    /// Set when the gui started the node: it is stopped with the gui.
    child: Option<ChildProcess>,
    connection: Connection,
    /// Declared last: dropped after every proxy that lives on it.
    event_loop: EventLoop,
}

impl Session {
    /// Starts `kestrel-node` from beside `gui_executable` with `node_args`
    /// and takes its `Node`.
    pub fn spawn(gui_executable: &Path, node_args: &[String]) -> anyhow::Result<Session> {
        let executable: PathBuf = gui_executable.with_file_name(NODE_EXECUTABLE);
        if !executable.is_file() {
            anyhow::bail!(
                "{} not found: kestrel-gui starts the {NODE_EXECUTABLE} that sits next to it (build both with the multiprocess feature), or attach to a running node with -ipcconnect=unix",
                executable.display()
            );
        }
        let event_loop = EventLoop::start(GUI_PROCESS)?;
        let args: Vec<&OsStr> = node_args.iter().map(OsStr::new).collect();
        let (child, connection) = spawn_process(
            &event_loop.handle(),
            &executable,
            &args,
            Arc::new(EchoOnlyInit),
        )
        .with_context(|| format!("Cannot start {}", executable.display()))?;
        let node = connection.remote_init().make_node().map_err(|e| {
            let status = child
                .wait_exit(Duration::ZERO)
                .map(|s| format!(" ({s}; its error is above)"))
                .unwrap_or_default();
            anyhow::anyhow!("{NODE_EXECUTABLE} did not start{status}: {e}")
        })?;
        Ok(Session {
            node: Arc::new(node),
            child: Some(child),
            connection,
            event_loop,
        })
    }

    /// Attaches to the node listening (`-ipcbind`) at `socket`.
    pub fn attach(socket: &Path) -> anyhow::Result<Session> {
        let event_loop = EventLoop::start(GUI_PROCESS)?;
        let connection = connect_unix(&event_loop.handle(), socket, Arc::new(EchoOnlyInit))?;
        let node = connection.remote_init().make_node().with_context(|| {
            format!(
                "The process at {} does not offer a node (is it a kestrel-node -ipcbind=unix?)",
                socket.display()
            )
        })?;
        Ok(Session {
            node: Arc::new(node),
            child: None,
            connection,
            event_loop,
        })
    }

    pub fn node(&self) -> Arc<dyn Node> {
        self.node.clone()
    }

    /// Who the gui talks to, for the overview.
    pub fn description(&self) -> String {
        match &self.child {
            Some(child) => format!(
                "{NODE_EXECUTABLE} (pid {}), started by the gui",
                child.pid()
            ),
            None => format!("attached to {}", self.connection.peer_description()),
        }
    }

    /// Why the connection is gone, or `None` while it is up.
    pub fn closed_reason(&self) -> Option<String> {
        self.connection.closed_reason()
    }

    /// Lets go of the node: a spawned one is stopped and waited for, an
    /// attached one keeps running.
    pub fn close(self) -> anyhow::Result<()> {
        let Session {
            node,
            child,
            connection,
            event_loop,
        } = self;
        let result = match child {
            None => Ok(()),
            Some(child) => {
                if let Err(e) = node.stop() {
                    tracing::warn!("asking {NODE_EXECUTABLE} to stop: {e}");
                }
                drop(node);
                connection.close();
                match child.wait_exit(NODE_EXIT_TIMEOUT) {
                    Some(_) => Ok(()),
                    None => {
                        child.kill();
                        child.wait_exit(NODE_EXIT_TIMEOUT);
                        Err(anyhow::anyhow!(
                            "{NODE_EXECUTABLE} (pid {}) did not stop within {NODE_EXIT_TIMEOUT:?}; it was killed",
                            child.pid()
                        ))
                    }
                }
            }
        };
        drop(event_loop);
        result
    }
}
