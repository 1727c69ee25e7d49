//! The RPC's view ([`NodeChain`]) of the node's [`ChainState`]: blocks
//! decoded for `getblock`, mining to an address given as text, the mempool.

use std::sync::Arc;

use kestrel_chain::{Address, BlockHash, ChainState};
use kestrel_interfaces::{Hash256, Tip};
use kestrel_rpc::node_chain::{BlockInfo, MempoolEntry, NodeChain, Synced};
use kestrel_rpc::{RpcError, INVALID_ADDRESS_OR_KEY, MISC_ERROR};

/// The node's chain as the RPC and the Node interface ask for it.
#[derive(Clone)]
pub struct RpcChain(pub Arc<ChainState>);

impl NodeChain for RpcChain {
    fn tip(&self) -> Tip {
        let (height, hash) = self.0.tip();
        Tip {
            height,
            hash: hash.0,
        }
    }

    fn block_hash(&self, height: u32) -> Option<Hash256> {
        self.0.block_hash(height).map(|h| h.0)
    }

    fn block(&self, hash: &Hash256) -> Option<BlockInfo> {
        let (block, height) = self.0.block(&BlockHash(*hash))?;
        let header = block.header;
        Some(BlockInfo {
            hash: *hash,
            height,
            version: header.version,
            prev_hash: header.prev_hash.0,
            merkle_root: header.merkle_root,
            time: header.time,
            bits: header.bits,
            nonce: header.nonce,
            txids: block.txs.iter().map(|tx| tx.txid().0).collect(),
            raw: block.serialize(),
        })
    }

    fn generate_to_address(&self, address: &str, count: u32) -> Result<Vec<Hash256>, RpcError> {
        let address: Address = address.parse().map_err(|e| {
            RpcError::new(
                INVALID_ADDRESS_OR_KEY,
                format!("Error: Invalid address: {e}"),
            )
        })?;
        let hashes = self
            .0
            .generate_to(&address, count)
            .map_err(|e| RpcError::new(MISC_ERROR, format!("Mining failed: {e}")))?;
        Ok(hashes.into_iter().map(|h| h.0).collect())
    }

    fn mempool(&self) -> Vec<MempoolEntry> {
        self.0
            .mempool()
            .iter()
            .map(|tx| MempoolEntry {
                txid: tx.txid().0,
                size: tx.serialize().len(),
            })
            .collect()
    }

    fn notifications_synced(&self) -> Synced {
        Box::pin(self.0.notifications_synced())
    }
}
