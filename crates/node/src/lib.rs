//! The Kestrel node as a library: options, logging, the datadir lock, the
//! JSON-RPC server, and the startup that `kestreld` (wallet in-process) and
//! the multiprocess `kestrel-node` (wallet over IPC) share.

pub mod amount;
pub mod args;
pub mod config;
pub mod json;
pub mod lock;
pub mod logging;
pub mod node_chain;
pub mod node_interface;
pub mod node_process;
pub mod rpc;
pub mod shutdown;
pub mod startup;
pub mod wallet_files;
pub mod wallet_slot;

#[cfg(feature = "multiprocess")]
pub mod multiprocess;
