//! The Kestrel node as a library: the datadir lock, the chain as the RPC
//! and the Node interface see it, and the startup that `kestreld` (wallet
//! in-process) and the multiprocess `kestrel-node` (wallet over IPC) share.
//! Options, logging and amounts are kestrel-common's; the JSON-RPC server is
//! kestrel-rpc's.

pub mod lock;
pub mod node_interface;
pub mod rpc_chain;
pub mod startup;

#[cfg(feature = "multiprocess")]
pub mod multiprocess;
