//! ChainState behaviour: validation, mining, persistence, notifications.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::sync::{Arc, Mutex};

use kestrel_chain::consensus::block_subsidy;
use kestrel_chain::validation::{RPC_VERIFY_ALREADY_IN_CHAIN, RPC_VERIFY_ERROR};
use kestrel_chain::{
    Address, Block, ChainError, ChainState, OutPoint, Place, PrivateKey, StoreError, Transaction,
    TxIn, TxOut, Txid, ValidationError, COIN,
};
use kestrel_interfaces::{rpc_code, Chain, ChainNotifications, Error};

struct Fixture {
    dir: tempfile::TempDir,
    chain: Arc<ChainState>,
    key: PrivateKey,
}

impl Fixture {
    /// A chain whose first `blocks` coinbases pay `key`.
    fn new(blocks: u32) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let chain = ChainState::open(dir.path()).unwrap();
        let key = PrivateKey::generate().unwrap();
        chain.generate_to(&key.address(), blocks).unwrap();
        Fixture { dir, chain, key }
    }

    fn coinbase_outpoint(&self, height: u32) -> OutPoint {
        let hash = self.chain.block_hash(height).unwrap();
        let (block, _) = self.chain.block(&hash).unwrap();
        OutPoint {
            txid: block.txs[0].txid(),
            vout: 0,
        }
    }

    fn reopen(self) -> Fixture {
        let Fixture { dir, chain, key } = self;
        drop(chain);
        let chain = ChainState::open(dir.path()).unwrap();
        Fixture { dir, chain, key }
    }
}

/// A transaction spending `inputs` (all owned by `key`) to `outputs`.
fn spend(key: &PrivateKey, inputs: &[OutPoint], outputs: &[(u64, &Address)]) -> Transaction {
    let mut tx = Transaction {
        version: 1,
        inputs: inputs
            .iter()
            .map(|prevout| TxIn {
                prevout: *prevout,
                pubkey: key.public_key(),
                signature: [0; 64],
            })
            .collect(),
        outputs: outputs
            .iter()
            .map(|(value, address)| TxOut {
                value: *value,
                pubkey_hash: address.pubkey_hash(),
            })
            .collect(),
        lock_time: 0,
    };
    for index in 0..tx.inputs.len() {
        tx.inputs[index].signature = key.sign(&tx.sighash(index));
    }
    tx
}

fn other_address() -> Address {
    PrivateKey::generate().unwrap().address()
}

#[test]
fn mature_coinbase_spend_is_accepted_and_mined_with_its_fee() {
    let f = Fixture::new(101);
    let to = other_address();
    let tx = spend(&f.key, &[f.coinbase_outpoint(1)], &[(49 * COIN, &to)]);
    let txid = f.chain.submit_transaction(tx.clone()).unwrap();
    assert_eq!(f.chain.mempool(), vec![tx.clone()]);
    assert_eq!(f.chain.find_transaction(&txid), Some((tx.clone(), None)));

    let miner = other_address();
    let hashes = f.chain.generate_to(&miner, 1).unwrap();
    let (block, height) = f.chain.block(&hashes[0]).unwrap();
    assert_eq!(height, 102);
    assert_eq!(block.txs[1], tx);
    assert_eq!(block.txs[0].outputs[0].value, block_subsidy(102) + COIN);
    assert!(f.chain.mempool().is_empty());
    assert_eq!(f.chain.find_transaction(&txid), Some((tx, Some(hashes[0]))));
    let paid = f.chain.utxo(&OutPoint { txid, vout: 0 }).unwrap();
    assert_eq!(paid.output.value, 49 * COIN);
    assert_eq!(paid.height, 102);
    assert_eq!(f.chain.utxo(&f.coinbase_outpoint(1)), None);
}

#[test]
fn immature_coinbase_spend_is_rejected() {
    // At tip 99 the next block is 100: the height-1 coinbase needs block 101.
    let f = Fixture::new(99);
    let tx = spend(
        &f.key,
        &[f.coinbase_outpoint(1)],
        &[(COIN, &other_address())],
    );
    assert!(matches!(
        f.chain.submit_transaction(tx.clone()),
        Err(ValidationError::ImmatureCoinbase {
            coinbase_height: 1,
            spend_height: 100,
            ..
        })
    ));
    f.chain.generate_to(&other_address(), 1).unwrap();
    assert!(f.chain.submit_transaction(tx).is_ok());
}

#[test]
fn bad_signatures_are_rejected() {
    let f = Fixture::new(101);
    let prevout = f.coinbase_outpoint(1);
    let mut tampered = spend(&f.key, &[prevout], &[(COIN, &other_address())]);
    tampered.outputs[0].value = 2 * COIN;
    assert!(matches!(
        f.chain.submit_transaction(tampered),
        Err(ValidationError::BadSignature { input: 0, .. })
    ));
    let thief = PrivateKey::generate().unwrap();
    let stolen = spend(&thief, &[prevout], &[(COIN, &thief.address())]);
    let err = f.chain.submit_transaction(stolen).unwrap_err();
    assert!(err.to_string().contains("does not hash"), "{err}");
}

#[test]
fn double_spends_in_mempool_and_chain_are_rejected() {
    let f = Fixture::new(101);
    let prevout = f.coinbase_outpoint(1);
    let first = spend(&f.key, &[prevout], &[(COIN, &other_address())]);
    let second = spend(&f.key, &[prevout], &[(2 * COIN, &other_address())]);
    f.chain.submit_transaction(first.clone()).unwrap();
    assert!(matches!(
        f.chain.submit_transaction(second.clone()),
        Err(ValidationError::DoubleSpend {
            place: Place::Mempool,
            ..
        })
    ));
    assert!(matches!(
        f.chain.submit_transaction(first.clone()),
        Err(ValidationError::Duplicate {
            place: Place::Mempool,
            ..
        })
    ));
    f.chain.generate_to(&other_address(), 1).unwrap();
    let err = f.chain.submit_transaction(second).unwrap_err();
    assert!(matches!(
        err,
        ValidationError::DoubleSpend {
            place: Place::Chain,
            ..
        }
    ));
    assert_eq!(err.rpc_code(), RPC_VERIFY_ERROR);
    let duplicate = f.chain.submit_transaction(first).unwrap_err();
    assert_eq!(duplicate.rpc_code(), RPC_VERIFY_ALREADY_IN_CHAIN);
}

#[test]
fn unknown_inputs_and_overspending_are_rejected() {
    let f = Fixture::new(101);
    let unknown = OutPoint {
        txid: Txid([0x11; 32]),
        vout: 0,
    };
    let tx = spend(&f.key, &[unknown], &[(COIN, &other_address())]);
    assert_eq!(
        f.chain.submit_transaction(tx),
        Err(ValidationError::MissingInput {
            input: 0,
            outpoint: unknown
        })
    );
    let out_of_range = OutPoint {
        vout: 5,
        ..f.coinbase_outpoint(1)
    };
    let tx = spend(&f.key, &[out_of_range], &[(COIN, &other_address())]);
    assert!(matches!(
        f.chain.submit_transaction(tx),
        Err(ValidationError::MissingInput { .. })
    ));
    let tx = spend(
        &f.key,
        &[f.coinbase_outpoint(1)],
        &[(50 * COIN + 1, &other_address())],
    );
    assert_eq!(
        f.chain.submit_transaction(tx),
        Err(ValidationError::OutputsExceedInputs {
            inputs: 50 * COIN,
            outputs: 50 * COIN + 1
        })
    );
}

#[test]
fn unconfirmed_outputs_can_be_spent_and_are_mined_in_order() {
    let f = Fixture::new(101);
    let parent = spend(
        &f.key,
        &[f.coinbase_outpoint(1)],
        &[(40 * COIN, &f.key.address())],
    );
    let parent_id = f.chain.submit_transaction(parent).unwrap();
    let child = spend(
        &f.key,
        &[OutPoint {
            txid: parent_id,
            vout: 0,
        }],
        &[(39 * COIN, &other_address())],
    );
    let child_id = f.chain.submit_transaction(child).unwrap();
    let hashes = f.chain.generate_to(&other_address(), 2).unwrap();
    let (block, _) = f.chain.block(&hashes[0]).unwrap();
    let ids: Vec<Txid> = block.txs.iter().skip(1).map(Transaction::txid).collect();
    assert_eq!(ids, vec![parent_id, child_id]);
    assert_eq!(block.txs[0].outputs[0].value, 50 * COIN + 11 * COIN);
    assert_eq!(f.chain.confirmations(&hashes[0]), Some(2));
}

#[test]
fn chain_survives_reopen() {
    let f = Fixture::new(101);
    let tx = spend(
        &f.key,
        &[f.coinbase_outpoint(1)],
        &[(COIN, &other_address())],
    );
    let txid = f.chain.submit_transaction(tx).unwrap();
    f.chain.generate_to(&other_address(), 1).unwrap();
    let tip = f.chain.tip();
    let coin = f.chain.utxo(&OutPoint { txid, vout: 0 }).unwrap();

    let f = f.reopen();
    assert_eq!(f.chain.tip(), tip);
    assert_eq!(tip.0, 102);
    assert_eq!(f.chain.utxo(&OutPoint { txid, vout: 0 }), Some(coin));
    assert_eq!(f.chain.utxo(&f.coinbase_outpoint(1)), None);
    assert!(f.chain.utxo(&f.coinbase_outpoint(2)).is_some());
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let f = Fixture::new(0);
    assert!(matches!(
        ChainState::open(f.dir.path()),
        Err(ChainError::Store(StoreError::Locked(_)))
    ));
}

#[test]
fn torn_tail_is_truncated_on_open_and_saved_aside() {
    let f = Fixture::new(3);
    let tip_2 = f.chain.block_hash(2).unwrap();
    let blocks_file = f.dir.path().join("blocks.dat");
    let len = fs::metadata(&blocks_file).unwrap().len();
    let Fixture {
        dir: tempdir,
        chain,
        ..
    } = f;
    drop(chain);
    let dir = tempdir.path().to_path_buf();

    // A crash in the middle of appending the third block.
    let file = OpenOptions::new().write(true).open(&blocks_file).unwrap();
    file.set_len(len - 7).unwrap();
    drop(file);
    let chain = ChainState::open(&dir).unwrap();
    assert_eq!(chain.tip(), (2, tip_2));
    let saved: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("discarded"))
        .collect();
    assert_eq!(saved.len(), 1);

    // The chain continues from there, and garbage after a good record is
    // handled the same way.
    chain.generate_to(&other_address(), 1).unwrap();
    let tip = chain.tip();
    drop(chain);
    let mut file = OpenOptions::new().append(true).open(&blocks_file).unwrap();
    file.write_all(b"KBLK\xff\xff").unwrap();
    drop(file);
    let chain = ChainState::open(&dir).unwrap();
    assert_eq!(chain.tip(), tip);
}

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<String>>,
}

impl ChainNotifications for Recorder {
    fn block_connected(&self, height: u32, block: &[u8]) {
        let block = Block::deserialize(block).unwrap();
        self.events
            .lock()
            .unwrap()
            .push(format!("block {height} {}", block.hash()));
    }

    fn transaction_added_to_mempool(&self, tx: &[u8]) {
        let tx = Transaction::deserialize(tx).unwrap();
        self.events
            .lock()
            .unwrap()
            .push(format!("tx {}", tx.txid()));
    }
}

#[test]
fn notifications_arrive_in_chain_order_and_stop_on_unsubscribe() {
    let f = Fixture::new(101);
    let recorder = Arc::new(Recorder::default());
    let subscription = f.chain.register_notifications(recorder.clone()).unwrap();
    let first = f.chain.generate_to(&other_address(), 2).unwrap();
    let tx = spend(
        &f.key,
        &[f.coinbase_outpoint(1)],
        &[(COIN, &other_address())],
    );
    let txid = f.chain.submit_transaction(tx).unwrap();
    let last = f.chain.generate_to(&other_address(), 1).unwrap();
    f.chain.sync_notifications();
    assert_eq!(
        *recorder.events.lock().unwrap(),
        vec![
            format!("block 102 {}", first[0]),
            format!("block 103 {}", first[1]),
            format!("tx {txid}"),
            format!("block 104 {}", last[0]),
        ]
    );

    drop(subscription);
    f.chain.generate_to(&other_address(), 1).unwrap();
    f.chain.sync_notifications();
    assert_eq!(recorder.events.lock().unwrap().len(), 4);
}

/// Records notifications and flushes in the order they came.
#[derive(Default)]
struct FlushRecorder {
    events: Mutex<Vec<String>>,
}

impl ChainNotifications for FlushRecorder {
    fn block_connected(&self, height: u32, _block: &[u8]) {
        self.events.lock().unwrap().push(format!("block {height}"));
    }
    fn transaction_added_to_mempool(&self, _tx: &[u8]) {
        self.events.lock().unwrap().push("tx".into());
    }
    fn flush(&self) {
        self.events.lock().unwrap().push("flush".into());
    }
}

/// A batching subscriber (the IPC proxy) sends what it holds on flush; the
/// chain flushes whenever its queue runs dry, so nobody has to call
/// `sync_notifications` for notifications to go out.
#[test]
fn subscribers_are_flushed_when_the_queue_runs_dry() {
    let f = Fixture::new(101);
    let recorder = Arc::new(FlushRecorder::default());
    let _subscription = f.chain.register_notifications(recorder.clone()).unwrap();
    f.chain.generate_to(&other_address(), 3).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let events = recorder.events.lock().unwrap().clone();
        let blocks: Vec<_> = events.iter().filter(|e| e.starts_with("block")).collect();
        if blocks.len() == 3 && events.last().map(String::as_str) == Some("flush") {
            assert_eq!(blocks, ["block 102", "block 103", "block 104"]);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no flush after the last notification: {events:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// `sync_notifications` with nothing pending answers at once, without a
/// round trip through the notifier (which flushes every subscriber); with
/// something pending it still waits until it is delivered and flushed.
#[test]
fn sync_waits_only_for_what_is_pending() {
    let f = Fixture::new(101);
    let recorder = Arc::new(FlushRecorder::default());
    let _subscription = f.chain.register_notifications(recorder.clone()).unwrap();
    f.chain.generate_to(&other_address(), 2).unwrap();
    f.chain.sync_notifications();
    let settled = recorder.events.lock().unwrap().clone();
    let blocks: Vec<_> = settled.iter().filter(|e| *e != "flush").collect();
    assert_eq!(blocks, ["block 102", "block 103"]);
    assert_eq!(settled.last().map(String::as_str), Some("flush"));
    for _ in 0..5 {
        f.chain.sync_notifications();
    }
    assert_eq!(
        *recorder.events.lock().unwrap(),
        settled,
        "sync with nothing pending flushed"
    );

    let slow = Arc::new(SlowSubscriber::default());
    let _slow_subscription = f.chain.register_notifications(slow.clone()).unwrap();
    f.chain.generate_to(&other_address(), 1).unwrap();
    f.chain.sync_notifications();
    assert_eq!(*slow.heights.lock().unwrap(), [104]);
    let events = recorder.events.lock().unwrap().clone();
    assert_eq!(events[settled.len()..], ["block 104", "flush"]);
}

/// Takes its time over each block.
#[derive(Default)]
struct SlowSubscriber {
    heights: Mutex<Vec<u32>>,
}

impl ChainNotifications for SlowSubscriber {
    fn block_connected(&self, height: u32, _block: &[u8]) {
        std::thread::sleep(std::time::Duration::from_millis(100));
        self.heights.lock().unwrap().push(height);
    }
    fn transaction_added_to_mempool(&self, _tx: &[u8]) {}
}

/// `notifications_synced` is `sync_notifications` as a future: ready at
/// once with nothing pending, else resolved once what was queued before it
/// is delivered, with nothing blocking meanwhile.
#[test]
fn notifications_synced_resolves_once_what_was_queued_is_delivered() {
    use futures::FutureExt;
    let f = Fixture::new(101);
    let slow = Arc::new(SlowSubscriber::default());
    let _subscription = f.chain.register_notifications(slow.clone()).unwrap();
    f.chain.sync_notifications();
    assert_eq!(f.chain.notifications_synced().now_or_never(), Some(()));

    f.chain.generate_to(&other_address(), 2).unwrap();
    let mut synced = Box::pin(f.chain.notifications_synced());
    assert_eq!(
        (&mut synced).now_or_never(),
        None,
        "resolved with blocks pending"
    );
    futures::executor::block_on(synced);
    assert_eq!(*slow.heights.lock().unwrap(), [102, 103]);
}

#[test]
fn chain_interface_maps_rejections_to_rpc_codes() {
    let f = Fixture::new(101);
    let chain: Arc<dyn Chain> = f.chain.clone();
    let tx = spend(
        &f.key,
        &[f.coinbase_outpoint(1)],
        &[(COIN, &other_address())],
    );
    let txid = chain.broadcast(&tx.serialize()).unwrap();
    // Rebroadcasting a mempool transaction is a success, as in bitcoind.
    assert_eq!(chain.broadcast(&tx.serialize()), Ok(txid));
    assert_eq!(chain.mempool().unwrap(), vec![tx.serialize()]);

    let overspend = spend(
        &f.key,
        &[f.coinbase_outpoint(2)],
        &[(51 * COIN, &other_address())],
    );
    assert!(matches!(
        chain.broadcast(&overspend.serialize()),
        Err(Error::Rejected {
            code: rpc_code::VERIFY_REJECTED,
            ..
        })
    ));
    assert!(matches!(
        chain.broadcast(b"garbage"),
        Err(Error::Rejected { code: -22, .. })
    ));
    let tip = chain.tip().unwrap();
    assert_eq!(tip.height, 101);
    let block = Block::deserialize(&chain.block_at(101).unwrap().unwrap()).unwrap();
    assert_eq!(block.hash().0, tip.hash);
    assert_eq!(chain.block_at(102).unwrap(), None);
}

#[test]
fn chain_interface_blocks_from_returns_consecutive_blocks_up_to_the_limit() {
    let f = Fixture::new(10);
    let chain: Arc<dyn Chain> = f.chain.clone();
    let block_at = |height| chain.block_at(height).unwrap().unwrap();

    // From the middle, cut by max_blocks.
    let batch = chain.blocks_from(4, 3).unwrap();
    assert_eq!(batch, vec![block_at(4), block_at(5), block_at(6)]);
    // Up to the tip (height 10) and no further.
    let batch = chain.blocks_from(8, 500).unwrap();
    assert_eq!(batch, vec![block_at(8), block_at(9), block_at(10)]);
    // The whole chain from genesis, in order.
    let batch = chain.blocks_from(0, 500).unwrap();
    assert_eq!(batch.len(), 11);
    for (height, block) in batch.iter().enumerate() {
        let block = Block::deserialize(block).unwrap();
        assert_eq!(f.chain.block_hash(height as u32), Some(block.hash()));
    }
    // Past the tip, and no blocks asked for: empty.
    assert!(chain.blocks_from(11, 500).unwrap().is_empty());
    assert!(chain.blocks_from(u32::MAX, 500).unwrap().is_empty());
    assert!(chain.blocks_from(0, 0).unwrap().is_empty());
}

#[test]
fn oversized_and_coinbase_transactions_are_malformed() {
    let f = Fixture::new(101);
    let to = other_address();
    let outputs: Vec<(u64, &Address)> = (0..4000).map(|_| (1, &to)).collect();
    let huge = spend(&f.key, &[f.coinbase_outpoint(1)], &outputs);
    let err = f.chain.submit_transaction(huge).unwrap_err();
    assert!(matches!(err, ValidationError::Malformed(_)));
    assert!(err.to_string().contains("byte limit"), "{err}");
    let coinbase = Transaction::coinbase(102, COIN, to.pubkey_hash());
    assert!(matches!(
        f.chain.submit_transaction(coinbase),
        Err(ValidationError::Malformed(_))
    ));
}
