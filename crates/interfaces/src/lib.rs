//! The process boundaries of Kestrel, in the spirit of Bitcoin Core's
//! `src/interfaces/`.
//!
//! Every trait here is implemented twice: once by the real object (the node's
//! chain state, the wallet) and once by an IPC proxy in `kestrel-ipc` that
//! forwards each call over Cap'n Proto. Callers cannot tell the two apart,
//! which is what makes `kestreld` and `kestrel-node` the same program seen
//! from outside.
//!
//! Blocks and transactions cross the boundary as their consensus
//! serialization (`Vec<u8>`), as Bitcoin Core does, so this crate does not
//! depend on the chain crate's types and the IPC schema stays small.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A 32-byte hash (block id or transaction id), in internal byte order.
pub type Hash256 = [u8; 32];

/// Amounts are integer base units ("sats"); 1 coin = 100_000_000.
pub type Amount = u64;

/// Base units per coin.
pub const COIN: Amount = 100_000_000;

/// Failure of a call across a boundary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The other side is gone (process exited, socket closed). Calls never
    /// hang on a dead peer: they fail with this.
    #[error("{0} is not available: {1}")]
    Disconnected(&'static str, String),
    /// The other side understood the call and refused it (bad address,
    /// insufficient funds, invalid transaction ...). The code is the
    /// bitcoind-style JSON-RPC error code the node should report.
    #[error("{message}")]
    Rejected { code: i32, message: String },
}

/// bitcoind's JSON-RPC error codes that cross interfaces.
pub mod rpc_code {
    pub const MISC_ERROR: i32 = -1;
    pub const TYPE_ERROR: i32 = -3;
    pub const INVALID_ADDRESS_OR_KEY: i32 = -5;
    pub const WALLET_ERROR: i32 = -4;
    pub const WALLET_INSUFFICIENT_FUNDS: i32 = -6;
    pub const INVALID_PARAMETER: i32 = -8;
    pub const WALLET_NOT_FOUND: i32 = -18;
    pub const VERIFY_REJECTED: i32 = -26;
}

pub type Result<T> = std::result::Result<T, Error>;

/// The chain tip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tip {
    pub height: u32,
    pub hash: Hash256,
}

/// The most [`Chain::blocks_from`] returns in one reply, in serialized
/// bytes: it stops after the block that reaches this, so a reply stays
/// bounded (at most this plus one block).
pub const BLOCKS_FROM_MAX_BYTES: usize = 4 * 1024 * 1024;

/// Takes serialized consecutive blocks from `blocks` as
/// [`Chain::blocks_from`] returns them: at most `max_blocks`, stopping after
/// the block that brings the total to `max_bytes` or more. It always takes a
/// first block if there is one (and `max_blocks` is not 0), so a caller
/// looping until an empty batch always makes progress. `blocks` is consumed
/// lazily: an implementation can serialize blocks as they are taken.
pub fn take_blocks(
    blocks: impl IntoIterator<Item = Vec<u8>>,
    max_blocks: u32,
    max_bytes: usize,
) -> Vec<Vec<u8>> {
    let mut taken = Vec::new();
    let mut bytes = 0;
    for block in blocks.into_iter().take(max_blocks as usize) {
        bytes += block.len();
        taken.push(block);
        if bytes >= max_bytes {
            break;
        }
    }
    taken
}

/// What a wallet asks of the node (Bitcoin Core's `interfaces::Chain`).
pub trait Chain: Send + Sync {
    /// The current tip; the genesis block is height 0, so there always is one.
    fn tip(&self) -> Result<Tip>;
    /// The serialized block at `height` on the active chain, if any.
    fn block_at(&self, height: u32) -> Result<Option<Vec<u8>>>;
    /// Consecutive serialized blocks of the active chain from `height`: at
    /// most `max_blocks`, fewer at the tip or once they reach
    /// [`BLOCKS_FROM_MAX_BYTES`] (see [`take_blocks`]); empty when `height`
    /// is past the tip. Across IPC each call is one round trip, so a rescan
    /// asks for blocks in batches rather than one [`Chain::block_at`] each.
    fn blocks_from(&self, height: u32, max_blocks: u32) -> Result<Vec<Vec<u8>>>;
    /// Serialized transactions now in the mempool.
    fn mempool(&self) -> Result<Vec<Vec<u8>>>;
    /// Submit a serialized transaction to the mempool; returns its txid.
    fn broadcast(&self, tx: &[u8]) -> Result<Hash256>;
    /// Fee rate in base units per 1000 bytes to use for a new transaction.
    /// It may change only when the tip does (Bitcoin Core's estimator too
    /// learns only from connected blocks), so a wallet may reuse it until
    /// its next block notification.
    fn estimate_fee_per_kb(&self) -> Result<Amount>;
    /// True when `estimate_fee_per_kb` never waits on a lock or another
    /// process: an IPC server may then answer it on its event loop instead
    /// of a pool thread. False for a proxy.
    fn fee_estimate_never_waits(&self) -> bool {
        false
    }
    /// Subscribe to chain events. The subscription lasts until the returned
    /// handle is dropped (across IPC the notifications object is passed as a
    /// capability and the node calls back into the wallet).
    fn register_notifications(
        &self,
        notifications: Arc<dyn ChainNotifications>,
    ) -> Result<Box<dyn Subscription>>;
}

/// Keeps a notifications subscription alive; dropping it unsubscribes.
pub trait Subscription: Send {}

/// What the node tells subscribers (Bitcoin Core's
/// `Chain::Notifications`). Called in chain order, never concurrently for one
/// subscriber.
pub trait ChainNotifications: Send + Sync {
    /// `block` (serialized) was connected at `height` and is the new tip.
    fn block_connected(&self, height: u32, block: &[u8]);
    /// A serialized transaction entered the mempool.
    fn transaction_added_to_mempool(&self, tx: &[u8]);
    /// Returns once every notification given before it has been handled.
    /// The chain calls it at `sync_notifications` and whenever its queue of
    /// events runs dry. An in-process subscriber handles each notification
    /// before returning, so the default does nothing; an IPC proxy batches
    /// notifications (mining 100 blocks must not cost 100 round trips) and
    /// sends and waits for them here.
    fn flush(&self) {}
}

/// One spendable output of the wallet (bitcoind's `listunspent` entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unspent {
    pub txid: Hash256,
    pub vout: u32,
    pub address: String,
    pub amount: Amount,
    pub confirmations: u32,
    /// False for immature coinbase outputs.
    pub spendable: bool,
}

/// The wallet's view of one transaction (bitcoind's `gettransaction`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletTx {
    pub txid: Hash256,
    /// Net effect on the wallet's balance, in base units (negative: sent).
    pub amount: i64,
    /// Fee paid, when the wallet paid it.
    pub fee: Option<Amount>,
    pub confirmations: u32,
    pub block_hash: Option<Hash256>,
    /// The serialized transaction.
    pub raw: Vec<u8>,
}

/// What the node (its RPC) and the gui ask of a wallet (Bitcoin Core's
/// `interfaces::Wallet`).
pub trait Wallet: Send + Sync {
    fn get_new_address(&self) -> Result<String>;
    /// Confirmed, mature balance (bitcoind's `getbalance` with default args).
    fn get_balance(&self) -> Result<Amount>;
    /// Build, sign and broadcast a payment; returns the txid.
    fn send_to_address(&self, address: &str, amount: Amount) -> Result<Hash256>;
    fn list_unspent(&self, min_confirmations: u32) -> Result<Vec<Unspent>>;
    fn get_transaction(&self, txid: &Hash256) -> Result<WalletTx>;
    /// Most recent wallet transactions first, at most `count`.
    fn list_transactions(&self, count: u32) -> Result<Vec<WalletTx>>;
    /// True when the reads (`get_balance`, `list_unspent`,
    /// `get_transaction`, `list_transactions`) never wait on another
    /// process, nor on a lock that anyone holds while waiting on one: an
    /// IPC server may then answer them on its event loop instead of a pool
    /// thread (two thread hand-offs less per call). False for a proxy,
    /// whose every call waits on its connection.
    fn reads_never_wait(&self) -> bool {
        false
    }
    /// The same calls as futures, when this wallet's calls wait on another
    /// process (an IPC proxy): the caller awaits the answer instead of
    /// holding a thread while it waits. `None` for a wallet in this
    /// process, whose calls are plain function calls.
    fn as_async(&self) -> Option<&dyn WalletAsync> {
        None
    }
}

/// The answer of a call still on its way.
pub type Pending<T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>> + Send>>;

/// [`Wallet`]'s calls as futures (see [`Wallet::as_async`]). Each call is
/// sent when it is made; the future waits for the answer.
pub trait WalletAsync: Send + Sync {
    fn get_new_address(&self) -> Pending<String>;
    fn get_balance(&self) -> Pending<Amount>;
    fn send_to_address(&self, address: &str, amount: Amount) -> Pending<Hash256>;
    fn list_unspent(&self, min_confirmations: u32) -> Pending<Vec<Unspent>>;
    fn get_transaction(&self, txid: &Hash256) -> Pending<WalletTx>;
    fn list_transactions(&self, count: u32) -> Pending<Vec<WalletTx>>;
}

/// The node's state as the gui shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub tip: Tip,
    /// Transactions waiting in the mempool.
    pub mempool_size: u32,
    /// Their total serialized size in bytes.
    pub mempool_bytes: u64,
}

/// What the gui asks of the node (Bitcoin Core's `interfaces::Node`). The
/// gui reaches the wallet only through [`Node::wallet`], so it never needs
/// a connection of its own to the wallet process.
pub trait Node: Send + Sync {
    fn info(&self) -> Result<NodeInfo>;
    /// Mines `count` regtest blocks paying `address`; returns their hashes.
    fn generate(&self, count: u32, address: &str) -> Result<Vec<Hash256>>;
    /// The node's wallet; `Rejected` with `WALLET_NOT_FOUND` when it has
    /// none (not loaded, or its process is gone).
    fn wallet(&self) -> Result<Arc<dyn Wallet>>;
    /// Subscribe to chain events, as [`Chain::register_notifications`]. The
    /// node's wallet is notified before later subscribers, so a subscriber
    /// that asks the wallet on `block_connected` sees the block counted.
    fn handle_notifications(
        &self,
        notifications: Arc<dyn ChainNotifications>,
    ) -> Result<Box<dyn Subscription>>;
    /// Asks the node to shut down (as the `stop` RPC); returns at once.
    fn stop(&self) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::take_blocks;

    fn blocks(sizes: &[usize]) -> Vec<Vec<u8>> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| vec![i as u8; size])
            .collect()
    }

    #[test]
    fn take_blocks_stops_at_max_blocks_or_after_the_block_reaching_max_bytes() {
        let all = blocks(&[10, 10, 10, 10]);
        assert_eq!(take_blocks(all.clone(), 2, 1000), all[..2]);
        assert_eq!(take_blocks(all.clone(), 10, 1000), all);
        assert_eq!(take_blocks(all.clone(), 0, 1000), Vec::<Vec<u8>>::new());
        // 10 + 10 < 25, the third reaches it and is the last.
        assert_eq!(take_blocks(all.clone(), 10, 25), all[..3]);
        assert_eq!(take_blocks(all.clone(), 10, 20), all[..2]);
        // A first block over the cap is still taken: callers make progress.
        assert_eq!(take_blocks(blocks(&[50, 1]), 10, 20), blocks(&[50]));
        assert_eq!(take_blocks(Vec::new(), 10, 20), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn take_blocks_consumes_no_more_than_it_takes() {
        let mut made = 0;
        let taken = take_blocks(
            std::iter::repeat_with(|| {
                made += 1;
                vec![0u8; 10]
            }),
            100,
            30,
        );
        assert_eq!(taken.len(), 3);
        assert_eq!(made, 3);
    }
}
