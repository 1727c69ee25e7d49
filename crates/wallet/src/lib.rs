//! Kestrel's wallet.
//!
//! [`WalletState`] holds keys (persisted in the wallet file) and tracks its
//! coins from what the [`Chain`] interface says: a rescan through
//! `blocks_from`/`mempool` on load, then notifications. It never looks at the
//! node's chain state directly, so the same code runs in-process and across
//! IPC.
//!
//! Locking: the wallet lock is never held while calling the chain, and the
//! types see to it ([`guarded`]). A send builds and signs under the lock and
//! reserves its inputs, releases the lock to broadcast, then records the
//! transaction (or drops the reservation if the broadcast failed). So the
//! reads ([`Wallet::reads_never_wait`]) only ever wait for work of this
//! process, and an IPC server may answer them on its event loop.

mod file;
mod guarded;
mod ledger;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};

use kestrel_chain::consensus::{MAX_MONEY, MAX_TX_SIZE};
use kestrel_chain::{
    Address, Amount, Block, DecodeError, OutPoint, PrivateKey, Transaction, TxIn, TxOut, Txid,
};
use kestrel_interfaces::{
    rpc_code, Chain, ChainNotifications, Error, Hash256, Result, Subscription, Unspent, Wallet,
    WalletTx,
};

pub use file::FileError;
use file::{StoredKey, WalletFile};
use guarded::{Guarded, Locked, Unlocked};
use ledger::{select_coins, Ledger};

/// Blocks the load-time rescan asks the chain for at once: across IPC each
/// [`Chain::blocks_from`] call is one round trip.
const RESCAN_BATCH: u32 = 500;

/// Why a wallet could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("could not scan the chain: {0}")]
    Chain(#[from] Error),
    #[error("the chain sent a block at height {height} that does not decode: {source}")]
    BadBlock { height: u32, source: DecodeError },
}

/// A loaded wallet; implements [`Wallet`] and (through a weak handle it
/// registers) [`ChainNotifications`].
pub struct WalletState {
    file: WalletFile,
    /// The chain, and the keys and coins behind the wallet lock.
    guarded: Guarded<Inner>,
    /// Held for the wallet's lifetime; dropping it unsubscribes.
    subscription: Mutex<Option<Box<dyn Subscription>>>,
    block_observer: Mutex<Option<BlockObserver>>,
}

/// Told the height and the wallet's balance after each block notification
/// the wallet has processed (see [`WalletState::observe_blocks`]).
pub type BlockObserver = Box<dyn Fn(u32, Amount) + Send + Sync>;

struct Inner {
    keys: Vec<StoredKey>,
    /// Pubkey hash to index in `keys`.
    key_index: HashMap<[u8; 20], usize>,
    ledger: Ledger,
    /// Inputs of sends being broadcast, not to be selected again meanwhile.
    reserved: HashSet<OutPoint>,
    /// The chain's last fee estimate, reused until the wallet sees another
    /// block ([`Chain::estimate_fee_per_kb`] says why it may be).
    fee_rate: Option<FeeRate>,
}

/// A fee estimate and the wallet's tip when it was asked for.
#[derive(Clone, Copy)]
struct FeeRate {
    tip: Option<u32>,
    per_kb: Amount,
}

impl Inner {
    fn is_mine(&self) -> impl Fn(&[u8; 20]) -> bool + '_ {
        |hash| self.key_index.contains_key(hash)
    }

    /// Creates a key and persists it before anyone can pay to it.
    fn new_key(&mut self, file: &WalletFile, change: bool) -> Result<Address> {
        let key = PrivateKey::generate().map_err(|e| wallet_error(e.to_string()))?;
        let address = key.address();
        self.keys.push(StoredKey { key, change });
        if let Err(e) = file.save(&self.keys) {
            self.keys.pop();
            return Err(wallet_error(e.to_string()));
        }
        self.key_index
            .insert(address.pubkey_hash(), self.keys.len() - 1);
        Ok(address)
    }
}

fn wallet_error(message: String) -> Error {
    Error::Rejected {
        code: rpc_code::WALLET_ERROR,
        message,
    }
}

/// The subscriber registered with the chain. Weak, so that the chain's
/// notifier does not keep the wallet alive.
struct WalletNotifications(Weak<WalletState>);

impl ChainNotifications for WalletNotifications {
    fn block_connected(&self, height: u32, block: &[u8]) {
        if let Some(wallet) = self.0.upgrade() {
            let token = &mut Unlocked::new();
            if let Err(e) = wallet.receive_block(token, height, block) {
                tracing::error!("wallet ignored an undecodable block notification: {e}");
                return;
            }
            if let Some(observe) = wallet
                .block_observer
                .lock()
                .expect("observer lock")
                .as_ref()
            {
                let inner = wallet.lock(token);
                let balance = inner.ledger.balance(&inner.is_mine());
                drop(inner);
                observe(height, balance);
            }
        }
    }

    fn transaction_added_to_mempool(&self, tx: &[u8]) {
        if let Some(wallet) = self.0.upgrade() {
            match Transaction::deserialize(tx) {
                Ok(tx) => wallet.receive_transaction(&mut Unlocked::new(), tx),
                Err(e) => tracing::error!("wallet ignored an undecodable transaction: {e}"),
            }
        }
    }
}

impl WalletState {
    /// Loads the wallet file at `path` (creating an empty wallet if there is
    /// none), subscribes to `chain`'s notifications, and scans the chain
    /// from genesis plus the mempool. Subscribing first, then scanning,
    /// leaves no gap: blocks delivered twice are ignored and blocks
    /// delivered early wait for their predecessors.
    pub fn load_or_create(
        path: &Path,
        chain: Arc<dyn Chain>,
    ) -> std::result::Result<Arc<WalletState>, WalletError> {
        let (file, keys) = WalletFile::open(path)?;
        let key_index = keys
            .iter()
            .enumerate()
            .map(|(index, stored)| (stored.key.address().pubkey_hash(), index))
            .collect();
        let wallet = Arc::new(WalletState {
            file,
            guarded: Guarded::new(
                chain,
                Inner {
                    keys,
                    key_index,
                    ledger: Ledger::default(),
                    reserved: HashSet::new(),
                    fee_rate: None,
                },
            ),
            subscription: Mutex::new(None),
            block_observer: Mutex::new(None),
        });
        let token = &mut Unlocked::new();
        let subscription = wallet
            .guarded
            .chain(token)
            .register_notifications(Arc::new(WalletNotifications(Arc::downgrade(&wallet))))?;
        *wallet.subscription.lock().expect("subscription lock") = Some(subscription);

        let mut height = wallet.lock(token).ledger.next_height();
        loop {
            let blocks = wallet
                .guarded
                .chain(token)
                .blocks_from(height, RESCAN_BATCH)?;
            if blocks.is_empty() {
                break;
            }
            for block in blocks {
                wallet
                    .receive_block(token, height, &block)
                    .map_err(|source| WalletError::BadBlock { height, source })?;
                height += 1;
            }
        }
        for tx in wallet.guarded.chain(token).mempool()? {
            match Transaction::deserialize(&tx) {
                Ok(tx) => wallet.receive_transaction(token, tx),
                Err(e) => tracing::warn!("wallet skipped an undecodable mempool transaction: {e}"),
            }
        }
        Ok(wallet)
    }

    fn lock<'a>(&'a self, token: &'a mut Unlocked) -> Locked<'a, Inner> {
        self.guarded.lock(token)
    }

    fn receive_block(
        &self,
        token: &mut Unlocked,
        height: u32,
        block: &[u8],
    ) -> std::result::Result<(), DecodeError> {
        let block = Block::deserialize(block)?;
        let mut inner = self.lock(token);
        let Inner {
            key_index, ledger, ..
        } = &mut *inner;
        ledger.block_connected(height, block, &|hash| key_index.contains_key(hash));
        Ok(())
    }

    fn receive_transaction(&self, token: &mut Unlocked, tx: Transaction) {
        let mut inner = self.lock(token);
        let Inner {
            key_index, ledger, ..
        } = &mut *inner;
        ledger.add(tx, None, &|hash| key_index.contains_key(hash));
    }

    /// Calls `observer` after each block notification the wallet has
    /// processed, with the block's height and the balance then: a second
    /// subscription would see the wallet at whatever block it had reached,
    /// as notifications to different subscribers may cross in different
    /// batches. Replaces an earlier observer.
    pub fn observe_blocks(&self, observer: impl Fn(u32, Amount) + Send + Sync + 'static) {
        *self.block_observer.lock().expect("observer lock") = Some(Box::new(observer));
    }

    /// Height of the last block the wallet has processed.
    pub fn last_block_height(&self) -> Option<u32> {
        self.lock(&mut Unlocked::new()).ledger.tip()
    }

    /// The fee rate for a new transaction: asked of the chain once per tip,
    /// as across processes each ask is one IPC round trip. Stored with the
    /// tip read before asking, so a block that arrives meanwhile makes the
    /// next send ask again.
    fn fee_per_kb(&self, token: &mut Unlocked) -> Result<Amount> {
        let tip = {
            let inner = self.lock(token);
            let tip = inner.ledger.tip();
            match inner.fee_rate {
                Some(rate) if rate.tip == tip => return Ok(rate.per_kb),
                _ => tip,
            }
        };
        let per_kb = self.guarded.chain(token).estimate_fee_per_kb()?;
        self.lock(token).fee_rate = Some(FeeRate { tip, per_kb });
        Ok(per_kb)
    }

    /// Builds and signs a payment under the wallet lock and reserves its
    /// inputs.
    fn create_transaction(
        &self,
        token: &mut Unlocked,
        address: &Address,
        amount: Amount,
        fee_per_kb: Amount,
    ) -> Result<Transaction> {
        let mut inner = self.lock(token);
        let candidates = inner.ledger.unspent(&inner.is_mine());
        let selection =
            select_coins(candidates, amount, fee_per_kb, &inner.reserved).map_err(|available| {
                Error::Rejected {
                    code: rpc_code::WALLET_INSUFFICIENT_FUNDS,
                    message: format!(
                        "Insufficient funds: {available} base units spendable, {amount} requested plus fee"
                    ),
                }
            })?;
        let size = Transaction::serialized_size(selection.inputs.len(), 2);
        if size > MAX_TX_SIZE {
            return Err(wallet_error(format!(
                "Transaction too large: {} inputs needed ({size} bytes, limit {MAX_TX_SIZE}); send a smaller amount",
                selection.inputs.len()
            )));
        }
        let mut outputs = vec![TxOut {
            value: amount,
            pubkey_hash: address.pubkey_hash(),
        }];
        if selection.change > 0 {
            let change = inner.new_key(&self.file, true)?;
            outputs.push(TxOut {
                value: selection.change,
                pubkey_hash: change.pubkey_hash(),
            });
        }
        let signers: Vec<&PrivateKey> = selection
            .inputs
            .iter()
            .map(|coin| &inner.keys[inner.key_index[&coin.output.pubkey_hash]].key)
            .collect();
        let mut tx = Transaction {
            version: 1,
            inputs: selection
                .inputs
                .iter()
                .zip(&signers)
                .map(|(coin, key)| TxIn {
                    prevout: coin.outpoint,
                    pubkey: key.public_key(),
                    signature: [0; 64],
                })
                .collect(),
            outputs,
            lock_time: 0,
        };
        let signatures: Vec<[u8; 64]> = signers
            .iter()
            .enumerate()
            .map(|(index, key)| key.sign(&tx.sighash(index)))
            .collect();
        for (input, signature) in tx.inputs.iter_mut().zip(signatures) {
            input.signature = signature;
        }
        inner
            .reserved
            .extend(selection.inputs.iter().map(|coin| coin.outpoint));
        Ok(tx)
    }

    fn wallet_tx(&self, inner: &Inner, txid: &Txid) -> Option<WalletTx> {
        let ledger_tx = inner.ledger.get(txid)?;
        let tx = &ledger_tx.tx;
        let is_mine = inner.is_mine();
        let credit: Amount = tx
            .outputs
            .iter()
            .filter(|out| is_mine(&out.pubkey_hash))
            .map(|out| out.value)
            .sum();
        let debit = inner.ledger.debit(tx);
        let fee = inner
            .ledger
            .is_from_me(tx)
            .then(|| debit - tx.output_total().unwrap_or(debit));
        Some(WalletTx {
            txid: txid.0,
            amount: credit as i64 - debit as i64,
            fee,
            confirmations: inner.ledger.confirmations(ledger_tx),
            block_hash: ledger_tx.block.map(|(_, hash)| hash.0),
            raw: tx.serialize(),
        })
    }
}

impl Wallet for WalletState {
    /// The wallet lock is never held while calling the chain ([`guarded`]).
    fn reads_never_wait(&self) -> bool {
        true
    }

    fn get_new_address(&self) -> Result<String> {
        Ok(self
            .lock(&mut Unlocked::new())
            .new_key(&self.file, false)?
            .to_string())
    }

    /// Confirmed mature coins plus unconfirmed change of the wallet's own
    /// sends, less what mempool transactions spend (bitcoind's trusted
    /// balance).
    fn get_balance(&self) -> Result<Amount> {
        let token = &mut Unlocked::new();
        let inner = self.lock(token);
        let balance = inner.ledger.balance(&inner.is_mine());
        Ok(balance)
    }

    fn send_to_address(&self, address: &str, amount: Amount) -> Result<Hash256> {
        let address: Address = address.parse().map_err(|e| Error::Rejected {
            code: rpc_code::INVALID_ADDRESS_OR_KEY,
            message: format!("Invalid address: {e}"),
        })?;
        if amount == 0 || amount > MAX_MONEY {
            return Err(Error::Rejected {
                code: rpc_code::TYPE_ERROR,
                message: format!(
                    "Invalid amount for send: {amount} base units; it must be more than 0 and at most {MAX_MONEY}"
                ),
            });
        }
        let token = &mut Unlocked::new();
        let fee_per_kb = self.fee_per_kb(token)?;
        let tx = self.create_transaction(token, &address, amount, fee_per_kb)?;
        let broadcast = self.guarded.chain(token).broadcast(&tx.serialize());
        let mut inner = self.lock(token);
        for input in &tx.inputs {
            inner.reserved.remove(&input.prevout);
        }
        let txid = broadcast?;
        let Inner {
            key_index, ledger, ..
        } = &mut *inner;
        ledger.add(tx, None, &|hash| key_index.contains_key(hash));
        Ok(txid)
    }

    /// Unspent outputs with at least `min_confirmations`; unconfirmed ones
    /// only if trusted (the wallet's own change). Immature coinbase outputs
    /// are listed with `spendable: false`.
    fn list_unspent(&self, min_confirmations: u32) -> Result<Vec<Unspent>> {
        let token = &mut Unlocked::new();
        let inner = self.lock(token);
        let coins = inner.ledger.unspent(&inner.is_mine());
        Ok(coins
            .into_iter()
            .filter(|coin| coin.trusted && coin.confirmations >= min_confirmations)
            .map(|coin| Unspent {
                txid: coin.outpoint.txid.0,
                vout: coin.outpoint.vout,
                address: Address::from_pubkey_hash(coin.output.pubkey_hash).to_string(),
                amount: coin.output.value,
                confirmations: coin.confirmations,
                spendable: coin.mature,
            })
            .collect())
    }

    /// `amount` is the net change of the balance (a send counts its fee).
    fn get_transaction(&self, txid: &Hash256) -> Result<WalletTx> {
        let token = &mut Unlocked::new();
        let inner = self.lock(token);
        self.wallet_tx(&inner, &Txid(*txid))
            .ok_or_else(|| Error::Rejected {
                code: rpc_code::INVALID_ADDRESS_OR_KEY,
                message: "Invalid or non-wallet transaction id".to_string(),
            })
    }

    fn list_transactions(&self, count: u32) -> Result<Vec<WalletTx>> {
        let token = &mut Unlocked::new();
        let inner = self.lock(token);
        Ok(inner
            .ledger
            .newest_first()
            .into_iter()
            .take(count as usize)
            .filter_map(|(txid, _)| self.wallet_tx(&inner, txid))
            .collect())
    }
}
