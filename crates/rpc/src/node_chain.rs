//! What the RPC asks of the node's own chain. The chain always lives in the
//! node process (only the wallet moves out in the multiprocess build), so
//! this is a plain trait; keeping it small lets the RPC be tested without a
//! real chain (kestrel-node implements it over its `ChainState`).

use std::future::Future;
use std::pin::Pin;

use kestrel_interfaces::{Hash256, Tip};

use crate::RpcError;

/// A block on the active chain, decoded for `getblock`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockInfo {
    pub hash: Hash256,
    pub height: u32,
    pub version: u32,
    /// All zero for the genesis block.
    pub prev_hash: Hash256,
    pub merkle_root: Hash256,
    pub time: u32,
    pub bits: u32,
    pub nonce: u32,
    pub txids: Vec<Hash256>,
    /// The serialized block.
    pub raw: Vec<u8>,
}

/// A transaction waiting in the mempool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MempoolEntry {
    pub txid: Hash256,
    /// Serialized size in bytes.
    pub size: usize,
}

pub trait NodeChain: Send + Sync {
    fn tip(&self) -> Tip;
    /// Hash of the active-chain block at `height`.
    fn block_hash(&self, height: u32) -> Option<Hash256>;
    /// An active-chain block by hash.
    fn block(&self, hash: &Hash256) -> Option<BlockInfo>;
    /// Mines `count` blocks paying `address`; an unparsable address is
    /// `INVALID_ADDRESS_OR_KEY`.
    fn generate_to_address(&self, address: &str, count: u32) -> Result<Vec<Hash256>, RpcError>;
    fn mempool(&self) -> Vec<MempoolEntry>;
    /// Resolves once every notification already queued has reached the
    /// subscribers (the wallet), so a wallet call sees the latest blocks.
    /// Async code awaits it on its own thread instead of parking a pool
    /// thread on it.
    fn notifications_synced(&self) -> Synced;
    /// [`NodeChain::notifications_synced`] for a thread that may block.
    fn sync_notifications(&self) {
        futures::executor::block_on(self.notifications_synced());
    }
}

/// What [`NodeChain::notifications_synced`] returns.
pub type Synced = Pin<Box<dyn Future<Output = ()> + Send>>;
