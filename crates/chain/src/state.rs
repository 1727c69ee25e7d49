//! The chain state: active chain, UTXO set, mempool, block file.
//!
//! Blocks are kept in memory (a regtest chain is small) and in the
//! append-only block file; the UTXO set and the transaction index are
//! rebuilt by replaying the block file on open, so there is no second file
//! to keep consistent with it.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use kestrel_interfaces::{Amount, ChainNotifications};

use crate::address::Address;
use crate::consensus::{block_subsidy, genesis_block, meets_target, mine, REGTEST_BITS};
use crate::hash::{BlockHash, Txid};
use crate::notify::{Event, NotificationSubscription, Notifier};
use crate::primitives::{Block, BlockHeader, OutPoint, Transaction, MAX_BLOCK_SIZE};
use crate::store::{BlockStore, StoreError};
use crate::validation::{check_inputs, Coin, CoinLookup, Place, Signatures, ValidationError};

/// Failure of an operation on the chain state as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not start the notification thread: {0}")]
    Thread(std::io::Error),
    #[error("block at height {height} is invalid: {reason}")]
    InvalidBlock { height: u32, reason: String },
}

/// The node's chain. `Send + Sync`; every method locks internally and none
/// calls a subscriber while holding the lock.
pub struct ChainState {
    inner: Mutex<Inner>,
    notifier: Notifier,
}

struct Inner {
    store: BlockStore,
    index: ChainIndex,
    mempool: Mempool,
}

/// The active chain and what is derived from it.
struct ChainIndex {
    blocks: Vec<Block>,
    heights: HashMap<BlockHash, u32>,
    /// Block height of every confirmed transaction.
    tx_heights: HashMap<Txid, u32>,
    utxos: HashMap<OutPoint, Coin>,
}

impl ChainIndex {
    fn new() -> ChainIndex {
        let mut index = ChainIndex {
            blocks: Vec::new(),
            heights: HashMap::new(),
            tx_heights: HashMap::new(),
            utxos: HashMap::new(),
        };
        index.apply(genesis_block().clone(), 0, Vec::new());
        index
    }

    fn tip_height(&self) -> u32 {
        (self.blocks.len() - 1) as u32
    }

    fn tip_hash(&self) -> BlockHash {
        self.blocks.last().expect("genesis is always there").hash()
    }

    fn confirmed_tx(&self, txid: &Txid) -> Option<(&Transaction, u32)> {
        let height = *self.tx_heights.get(txid)?;
        let tx = self.blocks[height as usize]
            .txs
            .iter()
            .find(|tx| tx.txid() == *txid)?;
        Some((tx, height))
    }

    /// Validates `block` as the next block and connects it. Nothing changes
    /// unless it is valid.
    fn connect(&mut self, block: Block, signatures: Signatures) -> Result<(), String> {
        let height = self.tip_height() + 1;
        if block.header.prev_hash != self.tip_hash() {
            return Err(format!(
                "previous block {} is not the tip {}",
                block.header.prev_hash,
                self.tip_hash()
            ));
        }
        if block.header.bits != REGTEST_BITS || !meets_target(&block.hash(), block.header.bits) {
            return Err("proof of work does not meet the regtest target".to_string());
        }
        if block.header.merkle_root != Block::merkle_root(&block.txs) {
            return Err("merkle root does not match the transactions".to_string());
        }
        let Some((coinbase, txs)) = block.txs.split_first() else {
            return Err("no coinbase".to_string());
        };
        if coinbase.coinbase_height() != Some(height) {
            return Err(format!(
                "first transaction is not a coinbase for height {height}"
            ));
        }
        let mut spent = HashSet::new();
        let mut created = HashMap::new();
        let mut block_txids = HashSet::new();
        let mut fees: Amount = 0;
        for tx in txs {
            let txid = tx.txid();
            if self.tx_heights.contains_key(&txid) || !block_txids.insert(txid) {
                return Err(format!("transaction {txid} is already in the chain"));
            }
            let fee = check_inputs(
                tx,
                height,
                |outpoint| {
                    if spent.contains(outpoint) {
                        return CoinLookup::Spent(Place::Chain);
                    }
                    match self.utxos.get(outpoint).or_else(|| created.get(outpoint)) {
                        Some(coin) => CoinLookup::Unspent(*coin),
                        None if self.tx_heights.contains_key(&outpoint.txid)
                            || block_txids.contains(&outpoint.txid) =>
                        {
                            CoinLookup::Spent(Place::Chain)
                        }
                        None => CoinLookup::Unknown,
                    }
                },
                signatures,
            )
            .map_err(|e| format!("transaction {txid}: {e}"))?;
            fees += fee;
            spent.extend(tx.inputs.iter().map(|input| input.prevout));
            created.extend(new_coins(tx, txid, height));
        }
        let allowed = block_subsidy(height) + fees;
        if coinbase.output_total().is_none_or(|paid| paid > allowed) {
            return Err(format!(
                "coinbase pays more than subsidy plus fees ({allowed})"
            ));
        }
        self.apply(block, height, spent.into_iter().collect());
        Ok(())
    }

    fn apply(&mut self, block: Block, height: u32, spent: Vec<OutPoint>) {
        for outpoint in spent {
            self.utxos.remove(&outpoint);
        }
        for tx in &block.txs {
            let txid = tx.txid();
            self.tx_heights.insert(txid, height);
            self.utxos.extend(new_coins(tx, txid, height));
        }
        self.heights.insert(block.hash(), height);
        self.blocks.push(block);
    }
}

fn new_coins(
    tx: &Transaction,
    txid: Txid,
    height: u32,
) -> impl Iterator<Item = (OutPoint, Coin)> + '_ {
    let is_coinbase = tx.is_coinbase();
    tx.outputs.iter().enumerate().map(move |(vout, output)| {
        (
            OutPoint {
                txid,
                vout: vout as u32,
            },
            Coin {
                output: *output,
                height,
                is_coinbase,
            },
        )
    })
}

struct MempoolEntry {
    tx: Transaction,
    fee: Amount,
    size: usize,
}

/// Accepted, unconfirmed transactions in arrival order (so a parent always
/// precedes its child).
#[derive(Default)]
struct Mempool {
    order: Vec<Txid>,
    entries: HashMap<Txid, MempoolEntry>,
    /// Which mempool transaction spends each outpoint.
    spent: HashMap<OutPoint, Txid>,
}

impl Mempool {
    fn remove_confirmed(&mut self, txids: &HashSet<Txid>) {
        self.order.retain(|txid| !txids.contains(txid));
        for txid in txids {
            if let Some(entry) = self.entries.remove(txid) {
                for input in &entry.tx.inputs {
                    self.spent.remove(&input.prevout);
                }
            }
        }
    }
}

impl ChainState {
    /// Opens the chain stored in `dir`, creating it (with only the genesis
    /// block) if empty. Replays the block file; a torn or corrupt tail is
    /// set aside with a warning (see the `store` module docs).
    pub fn open(dir: &Path) -> Result<Arc<ChainState>, ChainError> {
        let (mut store, stored) = BlockStore::open(dir)?;
        let mut index = ChainIndex::new();
        for record in stored {
            if let Err(reason) = index.connect(record.block, Signatures::Trust) {
                store.discard_from(
                    record.offset,
                    &format!(
                        "block at height {} does not connect: {reason}",
                        index.tip_height() + 1
                    ),
                )?;
                break;
            }
        }
        tracing::info!(
            "chain loaded from {}: height {}, tip {}",
            dir.display(),
            index.tip_height(),
            index.tip_hash()
        );
        Ok(Arc::new(ChainState {
            inner: Mutex::new(Inner {
                store,
                index,
                mempool: Mempool::default(),
            }),
            notifier: Notifier::start().map_err(ChainError::Thread)?,
        }))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("chain state lock poisoned")
    }

    /// Height and hash of the active tip (genesis is height 0).
    pub fn tip(&self) -> (u32, BlockHash) {
        let inner = self.lock();
        (inner.index.tip_height(), inner.index.tip_hash())
    }

    pub fn block_hash(&self, height: u32) -> Option<BlockHash> {
        self.lock()
            .index
            .blocks
            .get(height as usize)
            .map(Block::hash)
    }

    /// A block of the active chain and its height.
    pub fn block(&self, hash: &BlockHash) -> Option<(Block, u32)> {
        let inner = self.lock();
        let height = *inner.index.heights.get(hash)?;
        Some((inner.index.blocks[height as usize].clone(), height))
    }

    pub fn block_at(&self, height: u32) -> Option<Block> {
        self.lock().index.blocks.get(height as usize).cloned()
    }

    /// Runs `f` on the active chain's blocks from `height` to the tip (empty
    /// past the tip), under one lock for the whole call.
    pub(crate) fn with_blocks_from<R>(&self, height: u32, f: impl FnOnce(&[Block]) -> R) -> R {
        let inner = self.lock();
        f(inner
            .index
            .blocks
            .get(height as usize..)
            .unwrap_or_default())
    }

    /// 1 for the tip, `None` for a block not on the active chain.
    pub fn confirmations(&self, hash: &BlockHash) -> Option<u32> {
        let inner = self.lock();
        let height = *inner.index.heights.get(hash)?;
        Some(inner.index.tip_height() - height + 1)
    }

    /// Mines `count` blocks paying `address`. The first takes as many
    /// mempool transactions as fit (all of them, short of a megabyte), in
    /// arrival order, and each coinbase pays subsidy plus its block's fees.
    /// The blocks are fsynced before this returns; then notifications are
    /// queued.
    pub fn generate_to(&self, address: &Address, count: u32) -> Result<Vec<BlockHash>, ChainError> {
        let mut inner = self.lock();
        let Inner {
            store,
            index,
            mempool,
        } = &mut *inner;
        let mut blocks = Vec::with_capacity(count as usize);
        let mut confirmed = HashSet::new();
        let start_height = index.tip_height();
        let mut prev_hash = index.tip_hash();
        let mut prev_time = index.blocks.last().expect("genesis").header.time;
        for height in start_height + 1..=start_height + count {
            let mut size = BlockHeader::SIZE + 9 + Transaction::serialized_size(1, 1);
            let mut fees: Amount = 0;
            let mut txs = vec![];
            // A prefix of what earlier blocks of this call left, so parents
            // always precede their children.
            for txid in mempool
                .order
                .iter()
                .filter(|txid| !confirmed.contains(*txid))
            {
                let entry = &mempool.entries[txid];
                if size + entry.size > MAX_BLOCK_SIZE {
                    break;
                }
                size += entry.size;
                fees += entry.fee;
                txs.push(entry.tx.clone());
            }
            confirmed.extend(txs.iter().map(Transaction::txid));
            let mut all_txs = vec![Transaction::coinbase(
                height,
                block_subsidy(height) + fees,
                address.pubkey_hash(),
            )];
            all_txs.extend(txs);
            let mut header = BlockHeader {
                version: 1,
                prev_hash,
                merkle_root: Block::merkle_root(&all_txs),
                time: now().max(prev_time),
                bits: REGTEST_BITS,
                nonce: 0,
            };
            mine(&mut header);
            prev_hash = header.hash();
            prev_time = header.time;
            blocks.push(Block {
                header,
                txs: all_txs,
            });
        }
        store.append(&blocks)?;
        // The blocks are durable now; connecting them cannot fail because
        // their transactions were validated on entry to the mempool against
        // this same chain (which has only grown since).
        let mut hashes = Vec::with_capacity(blocks.len());
        for block in blocks {
            let height = index.tip_height() + 1;
            let serialized = block.serialize();
            hashes.push(block.hash());
            index
                .connect(block, Signatures::Trust)
                .map_err(|reason| ChainError::InvalidBlock { height, reason })?;
            self.notifier.send(Event::BlockConnected {
                height,
                block: serialized,
            });
        }
        mempool.remove_confirmed(&confirmed);
        Ok(hashes)
    }

    /// Validates `tx` for inclusion in the next block and adds it to the
    /// mempool. Unconfirmed parents in the mempool may be spent.
    pub fn submit_transaction(&self, tx: Transaction) -> Result<Txid, ValidationError> {
        let mut inner = self.lock();
        let Inner { index, mempool, .. } = &mut *inner;
        let txid = tx.txid();
        if tx.is_coinbase() {
            return Err(ValidationError::Malformed(
                "a coinbase is only valid as a block's first transaction".to_string(),
            ));
        }
        if mempool.entries.contains_key(&txid) {
            return Err(ValidationError::Duplicate {
                txid,
                place: Place::Mempool,
            });
        }
        if index.tx_heights.contains_key(&txid) {
            return Err(ValidationError::Duplicate {
                txid,
                place: Place::Chain,
            });
        }
        let spend_height = index.tip_height() + 1;
        let fee = check_inputs(
            &tx,
            spend_height,
            |outpoint| {
                if mempool.spent.contains_key(outpoint) {
                    return CoinLookup::Spent(Place::Mempool);
                }
                if let Some(coin) = index.utxos.get(outpoint) {
                    return CoinLookup::Unspent(*coin);
                }
                if let Some(parent) = mempool.entries.get(&outpoint.txid) {
                    return match parent.tx.outputs.get(outpoint.vout as usize) {
                        Some(output) => CoinLookup::Unspent(Coin {
                            output: *output,
                            height: spend_height,
                            is_coinbase: false,
                        }),
                        None => CoinLookup::Unknown,
                    };
                }
                match index.confirmed_tx(&outpoint.txid) {
                    Some((parent, _)) if (outpoint.vout as usize) < parent.outputs.len() => {
                        CoinLookup::Spent(Place::Chain)
                    }
                    _ => CoinLookup::Unknown,
                }
            },
            Signatures::Verify,
        )?;
        let serialized = tx.serialize();
        for input in &tx.inputs {
            mempool.spent.insert(input.prevout, txid);
        }
        mempool.order.push(txid);
        mempool.entries.insert(
            txid,
            MempoolEntry {
                tx,
                fee,
                size: serialized.len(),
            },
        );
        self.notifier.send(Event::TransactionAdded(serialized));
        Ok(txid)
    }

    /// Mempool transactions in arrival order.
    pub fn mempool(&self) -> Vec<Transaction> {
        let inner = self.lock();
        inner
            .mempool
            .order
            .iter()
            .map(|txid| inner.mempool.entries[txid].tx.clone())
            .collect()
    }

    pub fn mempool_tx(&self, txid: &Txid) -> Option<Transaction> {
        self.lock().mempool.entries.get(txid).map(|e| e.tx.clone())
    }

    /// An unspent output of the active chain (mempool spends not applied).
    pub fn utxo(&self, outpoint: &OutPoint) -> Option<Coin> {
        self.lock().index.utxos.get(outpoint).copied()
    }

    /// A transaction in the mempool (`None` block) or on the active chain.
    pub fn find_transaction(&self, txid: &Txid) -> Option<(Transaction, Option<BlockHash>)> {
        let inner = self.lock();
        if let Some(entry) = inner.mempool.entries.get(txid) {
            return Some((entry.tx.clone(), None));
        }
        let (tx, height) = inner.index.confirmed_tx(txid)?;
        Some((tx.clone(), Some(inner.index.blocks[height as usize].hash())))
    }

    /// Subscribes to every event queued from now on; see
    /// [`kestrel_interfaces::Chain::register_notifications`].
    pub fn subscribe(&self, target: Arc<dyn ChainNotifications>) -> NotificationSubscription {
        // Under the chain lock, so the subscription is ordered against the
        // chain events around it.
        let _inner = self.lock();
        self.notifier.subscribe(target)
    }

    /// Waits until every notification queued before the call has been
    /// delivered (bitcoind's SyncWithValidationInterfaceQueue).
    pub fn sync_notifications(&self) {
        self.notifier.sync();
    }

    /// Resolves once every notification queued before the call has been
    /// delivered: [`ChainState::sync_notifications`] for async code, which
    /// awaits it on its own thread instead of blocking one.
    pub fn notifications_synced(&self) -> impl Future<Output = ()> + Send + 'static {
        self.notifier.synced()
    }

    /// Delivers pending notifications and stops the notifier thread; later
    /// events are not delivered. Also done on drop.
    pub fn shutdown(&self) {
        self.notifier.shutdown();
    }
}

impl Drop for ChainState {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}
