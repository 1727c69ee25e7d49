//! Where the RPC finds the wallet: one `Arc<dyn Wallet>` that may be absent
//! (not loaded yet, or its process died) and may be replaced.

use std::sync::{Arc, RwLock};

use kestrel_interfaces::Wallet;

use crate::rpc::{RpcError, WALLET_NOT_FOUND};

/// Shared handle to the node's wallet, if any. Clones see the same slot.
#[derive(Clone, Default)]
pub struct WalletSlot(Arc<RwLock<Option<Arc<dyn Wallet>>>>);

impl WalletSlot {
    pub fn set(&self, wallet: Arc<dyn Wallet>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some(wallet);
    }

    /// Empties the slot, returning what it held (e.g. to flush it).
    pub fn take(&self) -> Option<Arc<dyn Wallet>> {
        self.0.write().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Empties the slot if it still holds `wallet` (a call found it dead;
    /// a replacement loaded meanwhile stays).
    pub fn remove_if_same(&self, wallet: &Arc<dyn Wallet>) {
        let mut slot = self.0.write().unwrap_or_else(|e| e.into_inner());
        if slot.as_ref().is_some_and(|held| Arc::ptr_eq(held, wallet)) {
            *slot = None;
        }
    }

    /// The wallet, or bitcoind's -18 "no wallet" error.
    pub fn get(&self) -> Result<Arc<dyn Wallet>, RpcError> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| {
                RpcError::new(
                    WALLET_NOT_FOUND,
                    "No wallet is loaded. Wallet RPCs are unavailable until the node is restarted with its wallet; chain RPCs keep working.",
                )
            })
    }
}
