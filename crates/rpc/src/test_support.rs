//! Fakes of the chain and the wallet for tests of the RPC layer, and of
//! what builds on it (kestrel-node's tests, through the `test-support`
//! feature); no product code uses them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use std::future::ready;

use futures::channel::oneshot;

use kestrel_interfaces::{Amount, Hash256, Pending, Tip, Unspent, Wallet, WalletAsync, WalletTx};
use serde_json::Value;

use crate::methods::{dispatch, RpcContext};
use crate::node_chain::{BlockInfo, MempoolEntry, NodeChain, Synced};
use crate::shutdown::Shutdown;
use crate::wallet_slot::WalletSlot;
use crate::*;

/// A chain of `blocks` fake blocks whose hash is `[height+1; 32]`.
pub struct FakeChain {
    pub blocks: Mutex<Vec<BlockInfo>>,
    /// Calls of the blocking `sync_notifications`.
    pub syncs: Mutex<u32>,
    /// Notifications are on their way until `sync_notifications` or
    /// [`FakeChain::deliver_notifications`].
    pub pending: AtomicBool,
    /// Futures of `notifications_synced` waiting for them.
    synced_waiters: Mutex<Vec<oneshot::Sender<()>>>,
}

fn fake_block(height: u32) -> BlockInfo {
    BlockInfo {
        hash: [height as u8 + 1; 32],
        height,
        version: 1,
        prev_hash: if height == 0 {
            [0; 32]
        } else {
            [height as u8; 32]
        },
        merkle_root: [0xaa; 32],
        time: 1_700_000_000 + height,
        bits: 0x207fffff,
        nonce: 7,
        txids: vec![[0xbb; 32]],
        raw: vec![1, 2, 3],
    }
}

impl Default for FakeChain {
    fn default() -> FakeChain {
        FakeChain::new()
    }
}

impl FakeChain {
    pub fn new() -> FakeChain {
        FakeChain {
            blocks: Mutex::new(vec![fake_block(0)]),
            syncs: Mutex::new(0),
            pending: AtomicBool::new(false),
            synced_waiters: Mutex::new(Vec::new()),
        }
    }

    /// The pending notifications arrive: every wait for them ends.
    pub fn deliver_notifications(&self) {
        self.pending.store(false, Ordering::SeqCst);
        for waiter in self.synced_waiters.lock().unwrap().drain(..) {
            let _ = waiter.send(());
        }
    }
}

impl NodeChain for FakeChain {
    fn tip(&self) -> Tip {
        let blocks = self.blocks.lock().unwrap();
        let last = blocks.last().unwrap();
        Tip {
            height: last.height,
            hash: last.hash,
        }
    }
    fn block_hash(&self, height: u32) -> Option<Hash256> {
        self.blocks
            .lock()
            .unwrap()
            .get(height as usize)
            .map(|b| b.hash)
    }
    fn block(&self, hash: &Hash256) -> Option<BlockInfo> {
        self.blocks
            .lock()
            .unwrap()
            .iter()
            .find(|b| &b.hash == hash)
            .cloned()
    }
    fn generate_to_address(&self, address: &str, count: u32) -> Result<Vec<Hash256>, RpcError> {
        if !address.starts_with("kcrt1") {
            return Err(RpcError::new(
                INVALID_ADDRESS_OR_KEY,
                "Error: Invalid address",
            ));
        }
        let mut blocks = self.blocks.lock().unwrap();
        Ok((0..count)
            .map(|_| {
                let block = fake_block(blocks.len() as u32);
                blocks.push(block.clone());
                block.hash
            })
            .collect())
    }
    fn mempool(&self) -> Vec<MempoolEntry> {
        vec![
            MempoolEntry {
                txid: [0xcc; 32],
                size: 100,
            },
            MempoolEntry {
                txid: [0xdd; 32],
                size: 150,
            },
        ]
    }
    fn sync_notifications(&self) {
        *self.syncs.lock().unwrap() += 1;
        self.deliver_notifications();
    }
    fn notifications_synced(&self) -> Synced {
        // Checked under the lock that delivery drains the waiters under.
        let mut waiters = self.synced_waiters.lock().unwrap();
        if !self.pending.load(Ordering::SeqCst) {
            return Box::pin(ready(()));
        }
        let (waiter, delivered) = oneshot::channel();
        waiters.push(waiter);
        Box::pin(async move {
            let _ = delivered.await;
        })
    }
}

/// A wallet with a fixed balance that records what it was sent.
pub struct FakeWallet {
    pub balance: Amount,
    pub sent: Mutex<Vec<(String, Amount)>>,
    pub disconnected: bool,
    /// Offers its calls as futures too, as a remote wallet does.
    pub remote: bool,
    /// Every call panics, as a bug would.
    pub panics: bool,
}

impl FakeWallet {
    pub fn new(balance: Amount) -> FakeWallet {
        FakeWallet {
            balance,
            sent: Mutex::new(Vec::new()),
            disconnected: false,
            remote: false,
            panics: false,
        }
    }

    fn check(&self) -> kestrel_interfaces::Result<()> {
        assert!(!self.panics, "FakeWallet: a bug in the wallet");
        if self.disconnected {
            return Err(kestrel_interfaces::Error::Disconnected(
                "wallet",
                "socket closed".into(),
            ));
        }
        Ok(())
    }
}

impl Wallet for FakeWallet {
    fn get_new_address(&self) -> kestrel_interfaces::Result<String> {
        self.check()?;
        Ok("kcrt1new".into())
    }
    fn get_balance(&self) -> kestrel_interfaces::Result<Amount> {
        self.check()?;
        Ok(self.balance)
    }
    fn send_to_address(
        &self,
        address: &str,
        amount: Amount,
    ) -> kestrel_interfaces::Result<Hash256> {
        self.check()?;
        if amount > self.balance {
            return Err(kestrel_interfaces::Error::Rejected {
                code: WALLET_INSUFFICIENT_FUNDS,
                message: "Insufficient funds".into(),
            });
        }
        self.sent.lock().unwrap().push((address.into(), amount));
        Ok([0x11; 32])
    }
    fn list_unspent(&self, min_confirmations: u32) -> kestrel_interfaces::Result<Vec<Unspent>> {
        self.check()?;
        Ok([1u32, 50, 150]
            .into_iter()
            .filter(|c| *c >= min_confirmations)
            .map(|confirmations| Unspent {
                txid: [0x22; 32],
                vout: confirmations,
                address: "kcrt1a".into(),
                amount: 25 * kestrel_interfaces::COIN,
                confirmations,
                spendable: confirmations >= 100,
            })
            .collect())
    }
    fn get_transaction(&self, txid: &Hash256) -> kestrel_interfaces::Result<WalletTx> {
        self.check()?;
        if *txid != [0x11; 32] {
            return Err(kestrel_interfaces::Error::Rejected {
                code: INVALID_ADDRESS_OR_KEY,
                message: "Invalid or non-wallet transaction id".into(),
            });
        }
        Ok(WalletTx {
            txid: *txid,
            amount: -150_000_000,
            fee: Some(1000),
            confirmations: 0,
            block_hash: None,
            raw: vec![0xde, 0xad],
        })
    }
    fn list_transactions(&self, _count: u32) -> kestrel_interfaces::Result<Vec<WalletTx>> {
        self.check()?;
        Ok(Vec::new())
    }
    fn as_async(&self) -> Option<&dyn WalletAsync> {
        self.remote.then_some(self as &dyn WalletAsync)
    }
}

/// The sync answers, already there.
impl WalletAsync for FakeWallet {
    fn get_new_address(&self) -> Pending<String> {
        Box::pin(ready(Wallet::get_new_address(self)))
    }
    fn get_balance(&self) -> Pending<Amount> {
        Box::pin(ready(Wallet::get_balance(self)))
    }
    fn send_to_address(&self, address: &str, amount: Amount) -> Pending<Hash256> {
        Box::pin(ready(Wallet::send_to_address(self, address, amount)))
    }
    fn list_unspent(&self, min_confirmations: u32) -> Pending<Vec<Unspent>> {
        Box::pin(ready(Wallet::list_unspent(self, min_confirmations)))
    }
    fn get_transaction(&self, txid: &Hash256) -> Pending<WalletTx> {
        Box::pin(ready(Wallet::get_transaction(self, txid)))
    }
    fn list_transactions(&self, count: u32) -> Pending<Vec<WalletTx>> {
        Box::pin(ready(Wallet::list_transactions(self, count)))
    }
}

pub fn context(chain: Arc<FakeChain>, wallet: Option<Arc<dyn Wallet>>) -> RpcContext {
    let slot = WalletSlot::default();
    if let Some(wallet) = wallet {
        slot.set(wallet);
    }
    RpcContext {
        chain,
        wallet: slot,
        echo_ipc: Arc::new(|s: &str| Ok(s.to_string())),
        shutdown: Shutdown::default(),
        started: Instant::now(),
        blocking_pool: None,
    }
}

pub fn call(ctx: &RpcContext, name: &str, params: Value) -> Result<Value, RpcError> {
    dispatch(ctx, name, &params)
}

pub fn code(result: Result<Value, RpcError>) -> i32 {
    result.expect_err("expected an error").code
}
