//! Where the RPC finds the wallet: one `Arc<dyn Wallet>` that may be absent
//! (not loaded yet, or its process died) and may be replaced. When a wallet
//! is unloaded because it failed, the slot remembers why, so every later
//! wallet RPC says what happened instead of a bare "not loaded".

use std::sync::{Arc, RwLock};

use kestrel_interfaces::Wallet;

use crate::{RpcError, WALLET_NOT_FOUND};

#[derive(Default)]
enum Held {
    #[default]
    Empty,
    Loaded(Arc<dyn Wallet>),
    /// Unloaded because it failed; the text says why.
    Lost(String),
}

/// Shared handle to the node's wallet, if any. Clones see the same slot.
#[derive(Clone, Default)]
pub struct WalletSlot(Arc<RwLock<Held>>);

impl WalletSlot {
    pub fn set(&self, wallet: Arc<dyn Wallet>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Held::Loaded(wallet);
    }

    /// Empties the slot, returning what it held (e.g. to flush it).
    pub fn take(&self) -> Option<Arc<dyn Wallet>> {
        match std::mem::take(&mut *self.0.write().unwrap_or_else(|e| e.into_inner())) {
            Held::Loaded(wallet) => Some(wallet),
            Held::Empty | Held::Lost(_) => None,
        }
    }

    /// Empties the slot if it still holds `wallet`, recording `why` it was
    /// lost for later calls (a replacement loaded meanwhile stays). Returns
    /// the -18 error that names `why`.
    pub fn unload_lost(&self, wallet: &Arc<dyn Wallet>, why: String) -> RpcError {
        let error = not_loaded(Some(&why));
        let mut slot = self.0.write().unwrap_or_else(|e| e.into_inner());
        if matches!(&*slot, Held::Loaded(held) if Arc::ptr_eq(held, wallet)) {
            *slot = Held::Lost(why);
        }
        error
    }

    /// The wallet, or bitcoind's -18 "no wallet" error.
    pub fn get(&self) -> Result<Arc<dyn Wallet>, RpcError> {
        match &*self.0.read().unwrap_or_else(|e| e.into_inner()) {
            Held::Loaded(wallet) => Ok(wallet.clone()),
            Held::Empty => Err(not_loaded(None)),
            Held::Lost(why) => Err(not_loaded(Some(why))),
        }
    }
}

fn not_loaded(why: Option<&str>) -> RpcError {
    let why = why.map(|why| format!(": {why}")).unwrap_or_default();
    RpcError::new(
        WALLET_NOT_FOUND,
        format!("No wallet is loaded{why}. Wallet RPCs are unavailable until the node is restarted with its wallet; chain RPCs keep working."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::FakeWallet;

    #[test]
    fn a_lost_wallet_says_why_and_a_replacement_is_kept() {
        let slot = WalletSlot::default();
        let first: Arc<dyn Wallet> = Arc::new(FakeWallet::new(1));
        slot.set(first.clone());
        let reported = slot.unload_lost(&first, "the wallet process exited".into());
        let err = slot.get().err().unwrap();
        assert_eq!(reported, err);
        assert_eq!(err.code, WALLET_NOT_FOUND);
        assert!(
            err.message.contains("the wallet process exited")
                && err.message.contains("chain RPCs keep working"),
            "{}",
            err.message
        );
        let second: Arc<dyn Wallet> = Arc::new(FakeWallet::new(2));
        slot.set(second.clone());
        // A late report about the first wallet leaves the second in place.
        let _ = slot.unload_lost(&first, "stale".into());
        assert!(Arc::ptr_eq(&slot.get().unwrap(), &second));
        assert!(slot.take().is_some());
        assert!(slot.take().is_none());
        assert!(!slot.get().err().unwrap().message.contains(':'));
    }
}
