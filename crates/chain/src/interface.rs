//! `ChainState` as the process-boundary `Chain` the wallet talks to.

use std::sync::Arc;

use kestrel_interfaces::{
    take_blocks, Amount, Chain, ChainNotifications, Error, Hash256, Result, Subscription, Tip,
    BLOCKS_FROM_MAX_BYTES,
};

use crate::consensus::FEE_PER_KB;
use crate::primitives::{Block, Transaction};
use crate::state::ChainState;
use crate::validation::{Place, ValidationError, RPC_DESERIALIZATION_ERROR};

impl Chain for ChainState {
    fn tip(&self) -> Result<Tip> {
        let (height, hash) = ChainState::tip(self);
        Ok(Tip {
            height,
            hash: hash.0,
        })
    }

    fn block_at(&self, height: u32) -> Result<Option<Vec<u8>>> {
        Ok(ChainState::block_at(self, height).map(|block| block.serialize()))
    }

    /// One chain lock for the whole batch, so it is consecutive blocks of
    /// one active chain.
    fn blocks_from(&self, height: u32, max_blocks: u32) -> Result<Vec<Vec<u8>>> {
        Ok(self.with_blocks_from(height, |blocks| {
            take_blocks(
                blocks.iter().map(Block::serialize),
                max_blocks,
                BLOCKS_FROM_MAX_BYTES,
            )
        }))
    }

    fn mempool(&self) -> Result<Vec<Vec<u8>>> {
        Ok(ChainState::mempool(self)
            .iter()
            .map(Transaction::serialize)
            .collect())
    }

    /// Like bitcoind's BroadcastTransaction, a transaction already in the
    /// mempool is a success.
    fn broadcast(&self, tx: &[u8]) -> Result<Hash256> {
        let tx = Transaction::deserialize(tx).map_err(|e| Error::Rejected {
            code: RPC_DESERIALIZATION_ERROR,
            message: format!("TX decode failed: {e}"),
        })?;
        match self.submit_transaction(tx) {
            Ok(txid)
            | Err(ValidationError::Duplicate {
                txid,
                place: Place::Mempool,
            }) => Ok(txid.0),
            Err(e) => Err(Error::Rejected {
                code: e.rpc_code(),
                message: e.to_string(),
            }),
        }
    }

    fn estimate_fee_per_kb(&self) -> Result<Amount> {
        Ok(FEE_PER_KB)
    }

    /// A constant: no lock.
    fn fee_estimate_never_waits(&self) -> bool {
        true
    }

    fn register_notifications(
        &self,
        notifications: Arc<dyn ChainNotifications>,
    ) -> Result<Box<dyn Subscription>> {
        Ok(Box::new(self.subscribe(notifications)))
    }
}
