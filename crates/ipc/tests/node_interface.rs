//! The `Node` interface (what the gui asks of the node) across a real Unix
//! socket: a "node" event loop listening with an `Init` that offers a fake
//! node, and a "gui" event loop connecting to it, in one test process.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kestrel_interfaces::{
    rpc_code, Amount, ChainNotifications, Error, Hash256, Node, NodeInfo, Result, Subscription,
    Tip, Unspent, Wallet, WalletTx,
};
use kestrel_ipc::{
    connect_unix, Connection, EchoOnlyInit, EventLoop, Init, IpcListener, NodeProxy,
};

/// Upper bound for anything that should happen promptly; tests fail rather
/// than hang when it is exceeded.
const PROMPTLY: Duration = Duration::from_secs(10);

type Subscribers = Arc<Mutex<Vec<Arc<dyn ChainNotifications>>>>;

#[derive(Default)]
struct FakeNode {
    mined: Mutex<Vec<(u32, String)>>,
    subscribers: Subscribers,
    stopped: AtomicBool,
}

impl Node for FakeNode {
    fn info(&self) -> Result<NodeInfo> {
        Ok(NodeInfo {
            tip: Tip {
                height: 7,
                hash: [7; 32],
            },
            mempool_size: 2,
            mempool_bytes: 450,
        })
    }

    fn generate(&self, count: u32, address: &str) -> Result<Vec<Hash256>> {
        if !address.starts_with("kr1") {
            return Err(Error::Rejected {
                code: rpc_code::INVALID_ADDRESS_OR_KEY,
                message: format!("Invalid address: {address}"),
            });
        }
        self.mined
            .lock()
            .unwrap()
            .push((count, address.to_string()));
        Ok((0..count).map(|i| [i as u8; 32]).collect())
    }

    fn wallet(&self) -> Result<Arc<dyn Wallet>> {
        Ok(Arc::new(FakeWallet))
    }

    fn handle_notifications(
        &self,
        notifications: Arc<dyn ChainNotifications>,
    ) -> Result<Box<dyn Subscription>> {
        self.subscribers.lock().unwrap().push(notifications);
        Ok(Box::new(FakeSubscription(self.subscribers.clone())))
    }

    fn stop(&self) -> Result<()> {
        self.stopped.store(true, Ordering::SeqCst);
        Ok(())
    }
}

/// Ends the one subscription the tests make.
struct FakeSubscription(Subscribers);

impl Subscription for FakeSubscription {}

impl Drop for FakeSubscription {
    fn drop(&mut self) {
        self.0.lock().unwrap().clear();
    }
}

struct FakeWallet;

impl Wallet for FakeWallet {
    fn get_new_address(&self) -> Result<String> {
        Ok("kr1fake".into())
    }
    fn get_balance(&self) -> Result<Amount> {
        Ok(5_000_000_000)
    }
    fn send_to_address(&self, _address: &str, _amount: Amount) -> Result<Hash256> {
        Ok([9; 32])
    }
    fn list_unspent(&self, _min_confirmations: u32) -> Result<Vec<Unspent>> {
        Ok(Vec::new())
    }
    fn get_transaction(&self, _txid: &Hash256) -> Result<WalletTx> {
        Err(Error::Rejected {
            code: rpc_code::INVALID_ADDRESS_OR_KEY,
            message: "no such transaction".into(),
        })
    }
    fn list_transactions(&self, _count: u32) -> Result<Vec<WalletTx>> {
        Ok(Vec::new())
    }
}

struct NodeInit(Arc<FakeNode>);

impl Init for NodeInit {
    fn make_node(&self) -> Result<Arc<dyn Node>> {
        Ok(self.0.clone())
    }
}

/// Forwards each notification to the test thread.
struct Forward(Mutex<mpsc::Sender<u32>>);

impl ChainNotifications for Forward {
    fn block_connected(&self, height: u32, _block: &[u8]) {
        let _ = self.0.lock().unwrap().send(height);
    }
    fn transaction_added_to_mempool(&self, _tx: &[u8]) {}
}

/// A node loop listening on a temp socket with `init`, and a gui loop.
struct Pair {
    _dir: tempfile::TempDir,
    _listener: IpcListener,
    gui_loop: EventLoop,
    _node_loop: EventLoop,
    socket: std::path::PathBuf,
}

impl Pair {
    /// The gui side's connection to the node.
    fn connect(&self) -> Connection {
        connect_unix(
            &self.gui_loop.handle(),
            &self.socket,
            Arc::new(EchoOnlyInit),
        )
        .unwrap()
    }
}

/// A gui connected to a node offering `node`: the pair (keep it alive), the
/// connection and the node's proxy.
fn gui_attached_to(node: &Arc<FakeNode>) -> (Pair, Connection, NodeProxy) {
    let pair = pair(Arc::new(NodeInit(node.clone())));
    let connection = pair.connect();
    let remote = connection.remote_init().make_node().unwrap();
    (pair, connection, remote)
}

fn pair(init: Arc<dyn Init>) -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("node.sock");
    let node_loop = EventLoop::start("test-node").unwrap();
    let listener = IpcListener::bind(&node_loop.handle(), &socket, init, |_| {}).unwrap();
    Pair {
        _dir: dir,
        _listener: listener,
        gui_loop: EventLoop::start("test-gui").unwrap(),
        _node_loop: node_loop,
        socket,
    }
}

#[test]
fn gui_reaches_node_and_its_wallet() {
    let node = Arc::new(FakeNode::default());
    let (_pair, _connection, remote) = gui_attached_to(&node);

    assert_eq!(remote.info().unwrap(), node.info().unwrap());
    let hashes = remote.generate(3, "kr1miner").unwrap();
    assert_eq!(hashes, vec![[0; 32], [1; 32], [2; 32]]);
    assert_eq!(
        *node.mined.lock().unwrap(),
        vec![(3, "kr1miner".to_string())]
    );

    // A refusal keeps its code and message across the boundary.
    match remote.generate(1, "bogus") {
        Err(Error::Rejected { code, message }) => {
            assert_eq!(code, rpc_code::INVALID_ADDRESS_OR_KEY);
            assert!(message.contains("bogus"), "{message}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }

    let wallet = remote.wallet().unwrap();
    assert_eq!(wallet.get_balance().unwrap(), 5_000_000_000);
    assert_eq!(wallet.get_new_address().unwrap(), "kr1fake");

    assert!(!node.stopped.load(Ordering::SeqCst));
    remote.stop().unwrap();
    assert!(node.stopped.load(Ordering::SeqCst));
}

#[test]
fn notifications_reach_the_gui_in_order_until_it_unsubscribes() {
    let node = Arc::new(FakeNode::default());
    let (_pair, _connection, remote) = gui_attached_to(&node);
    let (sender, received) = mpsc::channel();
    let subscription = remote
        .handle_notifications(Arc::new(Forward(Mutex::new(sender))))
        .unwrap();

    let subscribers: Vec<_> = node.subscribers.lock().unwrap().clone();
    assert_eq!(subscribers.len(), 1);
    // The node calls back across the socket, from one of its own threads,
    // more notifications than the proxy keeps in flight, without waiting
    // for each answer; after flush every one has been handled, in order.
    let count = 300;
    std::thread::spawn(move || {
        for height in 0..count {
            subscribers[0].block_connected(height, b"block");
        }
        subscribers[0].flush();
    })
    .join()
    .unwrap();
    let heights: Vec<u32> = received.try_iter().collect();
    assert_eq!(heights, (0..count).collect::<Vec<_>>());

    drop(subscription);
    let deadline = std::time::Instant::now() + PROMPTLY;
    while !node.subscribers.lock().unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "dropping the gui's subscription did not unsubscribe it on the node"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_process_without_a_node_says_so() {
    let pair = pair(Arc::new(EchoOnlyInit));
    let connection = pair.connect();
    match connection.remote_init().make_node() {
        Err(Error::Rejected { message, .. }) => {
            assert!(message.contains("makeNode"), "{message}")
        }
        Err(other) => panic!("expected a rejection, got {other}"),
        Ok(_) => panic!("a process without a node handed one out"),
    }
}
