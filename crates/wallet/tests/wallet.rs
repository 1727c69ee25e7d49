//! The wallet over a real ChainState, seen only through the Chain trait.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use kestrel_chain::{Address, ChainState, PrivateKey, Transaction, Txid, COIN};
use kestrel_interfaces::{
    rpc_code, Amount, Chain, ChainNotifications, Error, Hash256, Subscription, Tip, Wallet,
};
use kestrel_wallet::{WalletError, WalletState};

struct Node {
    dir: tempfile::TempDir,
    chain: Arc<ChainState>,
}

impl Node {
    fn new() -> Node {
        let dir = tempfile::tempdir().unwrap();
        let chain = ChainState::open(&dir.path().join("regtest")).unwrap();
        Node { dir, chain }
    }

    fn wallet_path(&self, name: &str) -> PathBuf {
        self.dir
            .path()
            .join("regtest/wallets")
            .join(format!("{name}.json"))
    }

    fn load_wallet(&self, name: &str) -> Arc<WalletState> {
        let chain: Arc<dyn Chain> = self.chain.clone();
        WalletState::load_or_create(&self.wallet_path(name), chain).unwrap()
    }

    /// Mines to `address` and waits until wallets have seen the blocks.
    fn generate(&self, address: &str, blocks: u32) {
        let address: Address = address.parse().unwrap();
        self.chain.generate_to(&address, blocks).unwrap();
        self.chain.sync_notifications();
    }

    fn generate_elsewhere(&self, blocks: u32) {
        let address = PrivateKey::generate().unwrap().address().to_string();
        self.generate(&address, blocks);
    }
}

fn rejection_code(result: Result<impl std::fmt::Debug, Error>) -> i32 {
    match result {
        Err(Error::Rejected { code, .. }) => code,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn coinbase_counts_once_it_has_101_confirmations() {
    let node = Node::new();
    let wallet = node.load_wallet("w");
    let address = wallet.get_new_address().unwrap();
    node.generate(&address, 100);
    assert_eq!(wallet.last_block_height(), Some(100));
    assert_eq!(wallet.get_balance().unwrap(), 0);
    let unspent = wallet.list_unspent(1).unwrap();
    assert_eq!(unspent.len(), 100);
    assert!(unspent.iter().all(|u| !u.spendable && u.address == address));

    node.generate(&address, 1);
    assert_eq!(wallet.get_balance().unwrap(), 50 * COIN);
    let spendable: Vec<_> = wallet
        .list_unspent(1)
        .unwrap()
        .into_iter()
        .filter(|u| u.spendable)
        .collect();
    assert_eq!(spendable.len(), 1);
    assert_eq!(spendable[0].confirmations, 101);
}

#[test]
fn a_block_observer_sees_each_block_with_the_balance_after_it() {
    let node = Node::new();
    let wallet = node.load_wallet("w");
    let address = wallet.get_new_address().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    wallet.observe_blocks(move |height, balance| record.lock().unwrap().push((height, balance)));
    node.generate(&address, 101);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 101);
    assert_eq!(seen[99], (100, 0));
    assert_eq!(seen[100], (101, 50 * COIN));
}

#[test]
fn send_with_change_settles_on_both_sides() {
    let node = Node::new();
    let alice = node.load_wallet("alice");
    let bob = node.load_wallet("bob");
    node.generate(&alice.get_new_address().unwrap(), 101);
    let bob_address = bob.get_new_address().unwrap();

    let txid = alice.send_to_address(&bob_address, 10 * COIN).unwrap();
    let fee = Transaction::serialized_size(1, 2) as u64;
    node.chain.sync_notifications();
    // Alice's own unconfirmed change is trusted; Bob's incoming coin is not.
    assert_eq!(alice.get_balance().unwrap(), 40 * COIN - fee);
    assert_eq!(bob.get_balance().unwrap(), 0);
    assert_eq!(node.chain.mempool()[0].txid(), Txid(txid));

    // The new block also matures Alice's second coinbase.
    node.generate_elsewhere(1);
    assert_eq!(alice.get_balance().unwrap(), 90 * COIN - fee);
    assert_eq!(bob.get_balance().unwrap(), 10 * COIN);

    let sent = alice.get_transaction(&txid).unwrap();
    assert_eq!(sent.amount, -((10 * COIN + fee) as i64));
    assert_eq!(sent.fee, Some(fee));
    assert_eq!(sent.confirmations, 1);
    assert_eq!(sent.block_hash, Some(node.chain.tip().1 .0));
    let received = bob.get_transaction(&txid).unwrap();
    assert_eq!(received.amount, (10 * COIN) as i64);
    assert_eq!(received.fee, None);
    assert_eq!(alice.list_transactions(1).unwrap()[0].txid, txid);

    // Bob can spend what he received, back to Alice.
    bob.send_to_address(&alice.get_new_address().unwrap(), 5 * COIN)
        .unwrap();
    node.generate_elsewhere(1);
    assert_eq!(alice.get_balance().unwrap(), 145 * COIN - fee);
    assert_eq!(bob.get_balance().unwrap(), 5 * COIN - fee);
}

#[test]
fn sends_can_follow_each_other_before_mining() {
    let node = Node::new();
    let wallet = node.load_wallet("w");
    node.generate(&wallet.get_new_address().unwrap(), 101);
    let to = PrivateKey::generate().unwrap().address().to_string();
    wallet.send_to_address(&to, 10 * COIN).unwrap();
    // The only mature coin is spent; the second send uses the change.
    wallet.send_to_address(&to, 10 * COIN).unwrap();
    assert_eq!(node.chain.mempool().len(), 2);
    let fee = Transaction::serialized_size(1, 2) as u64;
    assert_eq!(wallet.get_balance().unwrap(), 30 * COIN - 2 * fee);
}

#[test]
fn bad_requests_get_bitcoind_error_codes() {
    let node = Node::new();
    let wallet = node.load_wallet("w");
    node.generate(&wallet.get_new_address().unwrap(), 101);
    let to = wallet.get_new_address().unwrap();
    assert_eq!(
        rejection_code(wallet.send_to_address(&to, 50 * COIN)),
        rpc_code::WALLET_INSUFFICIENT_FUNDS
    );
    assert_eq!(
        rejection_code(wallet.send_to_address("kcrt1nonsense", COIN)),
        rpc_code::INVALID_ADDRESS_OR_KEY
    );
    assert_eq!(
        rejection_code(wallet.send_to_address(&to, 0)),
        rpc_code::TYPE_ERROR
    );
    assert_eq!(
        rejection_code(wallet.get_transaction(&[7; 32])),
        rpc_code::INVALID_ADDRESS_OR_KEY
    );
    // Nothing was reserved by the failed attempts.
    assert!(wallet.send_to_address(&to, 49 * COIN).is_ok());
}

#[test]
fn reloaded_wallet_sees_the_same_coins() {
    let node = Node::new();
    let wallet = node.load_wallet("w");
    node.generate(&wallet.get_new_address().unwrap(), 102);
    let to = PrivateKey::generate().unwrap().address().to_string();
    wallet.send_to_address(&to, 3 * COIN).unwrap();
    node.generate_elsewhere(1);
    let balance = wallet.get_balance().unwrap();
    let unspent = wallet.list_unspent(0).unwrap();
    let weak = Arc::downgrade(&wallet);
    drop(wallet);
    // The chain's notifier holds no strong reference to the wallet.
    assert!(weak.upgrade().is_none());

    let reloaded = node.load_wallet("w");
    assert_eq!(reloaded.get_balance().unwrap(), balance);
    assert_eq!(reloaded.list_unspent(0).unwrap().len(), unspent.len());
    // Three mature coinbases by now, less the payment and its fee.
    assert_eq!(
        balance,
        150 * COIN - 3 * COIN - Transaction::serialized_size(1, 2) as u64
    );
}

/// The node's chain, counting the block fetches and fee estimates that
/// would each be one IPC round trip across processes, with a fee rate the
/// test sets.
struct CountingChain {
    chain: Arc<ChainState>,
    block_at_calls: AtomicU32,
    blocks_from_calls: AtomicU32,
    estimate_calls: AtomicU32,
    fee_per_kb: AtomicU64,
}

impl CountingChain {
    fn new(chain: Arc<ChainState>) -> Arc<CountingChain> {
        let fee_per_kb = chain.estimate_fee_per_kb().unwrap();
        Arc::new(CountingChain {
            chain,
            block_at_calls: AtomicU32::new(0),
            blocks_from_calls: AtomicU32::new(0),
            estimate_calls: AtomicU32::new(0),
            fee_per_kb: AtomicU64::new(fee_per_kb),
        })
    }
}

impl Chain for CountingChain {
    fn tip(&self) -> Result<Tip, Error> {
        Chain::tip(&*self.chain)
    }
    fn block_at(&self, height: u32) -> Result<Option<Vec<u8>>, Error> {
        self.block_at_calls.fetch_add(1, Ordering::SeqCst);
        Chain::block_at(&*self.chain, height)
    }
    fn blocks_from(&self, height: u32, max_blocks: u32) -> Result<Vec<Vec<u8>>, Error> {
        self.blocks_from_calls.fetch_add(1, Ordering::SeqCst);
        self.chain.blocks_from(height, max_blocks)
    }
    fn mempool(&self) -> Result<Vec<Vec<u8>>, Error> {
        Chain::mempool(&*self.chain)
    }
    fn broadcast(&self, tx: &[u8]) -> Result<Hash256, Error> {
        self.chain.broadcast(tx)
    }
    fn estimate_fee_per_kb(&self) -> Result<Amount, Error> {
        self.estimate_calls.fetch_add(1, Ordering::SeqCst);
        Ok(self.fee_per_kb.load(Ordering::SeqCst))
    }
    fn register_notifications(
        &self,
        notifications: Arc<dyn ChainNotifications>,
    ) -> Result<Box<dyn Subscription>, Error> {
        self.chain.register_notifications(notifications)
    }
}

#[test]
fn rescan_fetches_blocks_in_batches() {
    let node = Node::new();
    let wallet = node.load_wallet("w");
    // Every block pays the wallet, so a block missed by the rescan shows.
    node.generate(&wallet.get_new_address().unwrap(), 1100);
    let balance = wallet.get_balance().unwrap();
    let unspent = wallet.list_unspent(0).unwrap();
    assert_eq!(unspent.len(), 1100);
    drop(wallet);

    let chain = CountingChain::new(node.chain.clone());
    let reloaded = WalletState::load_or_create(&node.wallet_path("w"), chain.clone()).unwrap();
    assert_eq!(reloaded.last_block_height(), Some(1100));
    assert_eq!(reloaded.get_balance().unwrap(), balance);
    assert_eq!(reloaded.list_unspent(0).unwrap(), unspent);
    // Blocks 0..=1100: batches of 500, 500 and 101, then an empty one.
    assert_eq!(chain.blocks_from_calls.load(Ordering::SeqCst), 4);
    assert_eq!(chain.block_at_calls.load(Ordering::SeqCst), 0);
}

#[test]
fn sends_ask_the_chain_for_the_fee_rate_once_per_tip() {
    let node = Node::new();
    let chain = CountingChain::new(node.chain.clone());
    let wallet = WalletState::load_or_create(&node.wallet_path("w"), chain.clone()).unwrap();
    node.generate(&wallet.get_new_address().unwrap(), 101);
    let to = PrivateKey::generate().unwrap().address().to_string();
    let size = Transaction::serialized_size(1, 2) as u64;
    let fee_of = |txid: Hash256| wallet.get_transaction(&txid).unwrap().fee.unwrap();

    let first = wallet.send_to_address(&to, COIN).unwrap();
    chain.fee_per_kb.store(5000, Ordering::SeqCst);
    let second = wallet.send_to_address(&to, COIN).unwrap();
    assert_eq!(chain.estimate_calls.load(Ordering::SeqCst), 1);
    assert_eq!(fee_of(first), size);
    assert_eq!(fee_of(second), size, "the rate is kept until a block");

    node.generate_elsewhere(1);
    let third = wallet.send_to_address(&to, COIN).unwrap();
    assert_eq!(chain.estimate_calls.load(Ordering::SeqCst), 2);
    assert_eq!(fee_of(third), 5 * size);
}

#[test]
fn corrupt_or_busy_wallet_files_are_refused_clearly() {
    let node = Node::new();
    let _open = node.load_wallet("busy");
    let chain: Arc<dyn Chain> = node.chain.clone();
    let err = WalletState::load_or_create(&node.wallet_path("busy"), chain.clone()).err();
    assert!(err.unwrap().to_string().contains("in use"));

    let path = node.wallet_path("corrupt");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "{ not json").unwrap();
    let err = WalletState::load_or_create(&path, chain).err().unwrap();
    assert!(matches!(err, WalletError::File(_)));
    assert!(
        err.to_string().contains("restore it from a backup"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{ not json");
}
