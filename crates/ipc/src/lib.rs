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

use std::sync::Arc;

use kestrel_interfaces::{rpc_code, Chain, Error, Node, Result, Wallet};

mod args;
mod connection;
mod convert;
mod error;
mod event_loop;
mod log;
mod peer;
mod proxy;
pub mod schema;
mod server;
mod shutdown;
mod stream;

pub use args::{default_socket_path, parse_ipcfd, parse_unix_address, IpcOption, UnixAddress};
pub use connection::{
    connect_unix, serve_fd, spawn_process, ChildProcess, Connection, IpcListener,
};
pub use error::IpcError;
pub use event_loop::{EventLoop, EventLoopHandle, DEFAULT_BLOCKING_THREADS};
pub use log::LOG_TARGET;
pub use proxy::{ChainProxy, EchoProxy, InitProxy, NodeProxy, WalletLoaderProxy, WalletProxy};
pub use shutdown::{ShutdownReason, ShutdownSignal};

/// Loads wallets for a chain (the wallet process's side of
/// `Init.makeWalletLoader`).
pub trait WalletLoader: Send + Sync {
    fn load_wallet(&self, name: &str) -> Result<Arc<dyn Wallet>>;
}

/// What a process offers on each connection, first. `makeEcho` is always
/// offered; the rest default to a refusal naming what is missing.
pub trait Init: Send + Sync {
    /// The node's chain, for wallets that attach with `-ipcconnect`.
    fn make_chain(&self) -> Result<Arc<dyn Chain>> {
        Err(not_offered("a chain (makeChain)"))
    }

    /// A wallet loader using `chain` (a proxy for the node's chain).
    fn make_wallet_loader(&self, chain: Arc<dyn Chain>) -> Result<Arc<dyn WalletLoader>> {
        let _ = chain;
        Err(not_offered("wallets (makeWalletLoader)"))
    }

    /// The node, for a gui (spawned by it, or attached with `-ipcconnect`).
    fn make_node(&self) -> Result<Arc<dyn Node>> {
        Err(not_offered("a node (makeNode)"))
    }
}

/// An `Init` that offers only `makeEcho`: for processes that only call out.
pub struct EchoOnlyInit;

impl Init for EchoOnlyInit {}

fn not_offered(what: &str) -> Error {
    Error::Rejected {
        code: rpc_code::MISC_ERROR,
        message: format!("this process does not offer {what}"),
    }
}
