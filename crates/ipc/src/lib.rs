//! Cap'n Proto IPC between Kestrel processes (the multiprocess build).
//!
//! One [`EventLoop`] thread per process runs Cap'n Proto RPC (two-party vat
//! network over Unix streams). Sync code calls the far process through
//! proxies that implement the `kestrel-interfaces` traits
//! ([`ChainProxy`], [`WalletProxy`], [`NodeProxy`] ...); this process's objects are served
//! with each trait call run on a bounded blocking pool. Connections come
//! from [`spawn_process`] / [`serve_fd`] (`-ipcfd`), [`IpcListener`]
//! (`-ipcbind`) and [`connect_unix`] (`-ipcconnect`); on each, both ends
//! offer an [`Init`]. A lost connection fails calls with
//! `Error::Disconnected`; `-debug=ipc` is tracing target [`LOG_TARGET`] at
//! debug level.

mod args;
mod chain;
mod coalesce;
mod connection;
mod convert;
mod echo;
mod error;
mod event_loop;
mod init;
mod link;
mod log;
mod node;
mod notifications;
mod peer;
pub mod schema;
mod shutdown;
mod spin;
mod stream;
#[cfg(feature = "test-peer")]
pub mod test_peer;
mod wallet;

pub use args::{
    default_socket_path, parse_ipcfd, parse_ipcspin, parse_unix_address, IpcOption, UnixAddress,
    DEFAULT_IPC_SPIN,
};
pub use chain::ChainProxy;
pub use connection::{
    connect_unix, serve_fd, spawn_process, ChildProcess, Connection, IpcListener,
};
pub use echo::EchoProxy;
pub use error::IpcError;
pub use event_loop::{EventLoop, EventLoopHandle, LoopOptions, DEFAULT_BLOCKING_THREADS};
pub use init::{EchoOnlyInit, Init, InitProxy};
pub use log::LOG_TARGET;
pub use node::NodeProxy;
pub use shutdown::{ShutdownReason, ShutdownSignal};
pub use wallet::{WalletLoader, WalletLoaderProxy, WalletProxy};
