//! Fakes for kestrel-ipc's own tests and benchmark (feature `test-peer`,
//! never in a product build): one test chain that both the test process
//! and the `kestrel-ipc-testpeer` process serve, and the wallet loader the
//! test peer offers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use kestrel_interfaces::{
    rpc_code, take_blocks, Amount, Chain, ChainNotifications, Error, Hash256, Result, Subscription,
    Tip, Unspent, Wallet, WalletTx, BLOCKS_FROM_MAX_BYTES, COIN,
};

use crate::{Init, WalletLoader};

/// `recv` and `send` calls made so far on connection sockets by this
/// process (every connection's, in total).
pub fn socket_syscalls() -> (u64, u64) {
    use std::sync::atomic::Ordering::Relaxed;
    (
        crate::stream::syscalls::RECVS.load(Relaxed),
        crate::stream::syscalls::SENDS.load(Relaxed),
    )
}

/// The halves of a connected, non-blocking stream socket as kestrel-ipc
/// reads and writes it (registered for readability only), without its
/// coalescing writer: for a bare capnp-rpc baseline with the same socket
/// handling. Must run inside a tokio runtime.
pub fn readable_only_halves(
    socket: std::os::fd::OwnedFd,
) -> std::io::Result<(
    impl futures::io::AsyncRead + Unpin,
    impl futures::io::AsyncWrite + Unpin,
)> {
    crate::stream::split(socket)
}

/// Spawns `command` with `-ipcfd=N` added, N the child's end of a new
/// socketpair; returns the child and this process's end.
pub fn spawn_with_socket(
    command: &mut std::process::Command,
) -> std::io::Result<(std::process::Child, std::os::unix::net::UnixStream)> {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
    crate::connection::pass_ipcfd(command, &theirs);
    let child = command.spawn()?;
    Ok((child, ours))
}

/// Bare capnp-rpc (none of kestrel-ipc's layers) serving and calling Echo
/// in its best set-up: buffered halves over the socket registered for
/// readability only, as kestrel-ipc reads and writes it, without the
/// coalescing writer. The baseline of `bench ipc` and the floor of `bench
/// rpc`.
pub mod bare {
    use std::os::unix::net::UnixStream;
    use std::rc::Rc;

    use capnp_rpc::rpc_twoparty_capnp::Side;
    use capnp_rpc::{twoparty, RpcSystem, VatNetwork};

    use crate::schema::echo_capnp::echo;

    /// Buffer size of each half (kestrel-ipc's).
    pub const BUFFER: usize = 64 * 1024;

    /// The network over `stream` as `side`. Must run inside the runtime.
    pub fn network(stream: UnixStream, side: Side) -> std::io::Result<Box<dyn VatNetwork<Side>>> {
        stream.set_nonblocking(true)?;
        let (read, write) = super::readable_only_halves(stream.into())?;
        Ok(Box::new(twoparty::VatNetwork::new(
            futures::io::BufReader::with_capacity(BUFFER, read),
            futures::io::BufWriter::with_capacity(BUFFER, write),
            side,
            Default::default(),
        )))
    }

    /// The Echo server: answers with the data it was given.
    pub fn echo_server() -> echo::Client {
        capnp_rpc::new_client(Echo)
    }

    struct Echo;

    impl echo::Server for Echo {
        async fn echo(
            self: Rc<Self>,
            params: echo::EchoParams,
            mut results: echo::EchoResults,
        ) -> capnp::Result<()> {
            results.get().set_data(params.get()?.get_data()?);
            Ok(())
        }
    }

    /// Serves Echo on `stream` until the peer disconnects.
    pub fn serve(stream: UnixStream) -> anyhow::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        tokio::task::LocalSet::new().block_on(&runtime, async move {
            let network = network(stream, Side::Server)?;
            RpcSystem::new(network, Some(echo_server().client)).await?;
            anyhow::Ok(())
        })
    }

    /// A blocking Echo client on its own runtime, for a caller that is not
    /// async. Dropping it disconnects.
    pub struct Client {
        runtime: tokio::runtime::Runtime,
        local: tokio::task::LocalSet,
        echo: echo::Client,
    }

    impl Client {
        pub fn connect(stream: UnixStream) -> anyhow::Result<Client> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let local = tokio::task::LocalSet::new();
            let echo = local.block_on(&runtime, async move {
                let mut rpc = RpcSystem::new(network(stream, Side::Client)?, None);
                let echo: echo::Client = rpc.bootstrap(Side::Server);
                tokio::task::spawn_local(rpc);
                anyhow::Ok(echo)
            })?;
            Ok(Client {
                runtime,
                local,
                echo,
            })
        }

        /// One round trip of `data`, checked.
        pub fn echo(&self, data: &[u8]) -> anyhow::Result<()> {
            self.local.block_on(&self.runtime, async {
                let mut request = self.echo.echo_request();
                request.get().set_data(data);
                let response = request.send().promise.await?;
                anyhow::ensure!(response.get()?.get_data()? == data, "Echo changed the data");
                Ok(())
            })
        }
    }
}

/// Subscribed notification objects by subscription id.
type Subscribers = Arc<Mutex<Vec<(u64, Arc<dyn ChainNotifications>)>>>;

/// A chain of `height` blocks whose block `h` is `[h as u8; 8]`. Its
/// `broadcast` records the transaction (or refuses one starting with
/// `reject`) and can be held, to keep a call in flight; its subscribers are
/// notified on demand.
#[derive(Default)]
pub struct TestChain {
    height: Mutex<u32>,
    broadcasts: Mutex<Vec<Vec<u8>>>,
    subscribers: Subscribers,
    next_subscriber: Mutex<u64>,
    hold: Mutex<bool>,
    hold_changed: Condvar,
    broadcast_started: Condvar,
    fee_estimates: AtomicUsize,
}

/// Block `height` of a [`TestChain`].
pub fn test_block(height: u32) -> Vec<u8> {
    vec![height as u8; 8]
}

/// The txid a [`TestChain`] gives `tx`.
pub fn txid_of(tx: &[u8]) -> Hash256 {
    let mut txid = [0u8; 32];
    for (i, byte) in tx.iter().enumerate() {
        txid[i % 32] ^= byte;
    }
    txid
}

impl TestChain {
    pub fn at_height(height: u32) -> Self {
        Self {
            height: Mutex::new(height),
            ..Self::default()
        }
    }

    /// Connects the next block and notifies every subscriber, waiting for
    /// each to have handled it (like the chain's `sync_notifications`).
    pub fn connect_block(&self) {
        let height = {
            let mut height = self.height.lock().unwrap();
            *height += 1;
            *height
        };
        for subscriber in self.subscribers() {
            subscriber.block_connected(height, &test_block(height));
            subscriber.flush();
        }
    }

    pub fn subscribers(&self) -> Vec<Arc<dyn ChainNotifications>> {
        let subscribers = self.subscribers.lock().unwrap();
        subscribers.iter().map(|(_, s)| s.clone()).collect()
    }

    pub fn subscriber_count(&self) -> usize {
        self.subscribers.lock().unwrap().len()
    }

    /// How many times `estimate_fee_per_kb` was called.
    pub fn fee_estimates(&self) -> usize {
        self.fee_estimates.load(Ordering::SeqCst)
    }

    /// The transactions broadcast so far, in order.
    pub fn broadcasts(&self) -> Vec<Vec<u8>> {
        self.broadcasts.lock().unwrap().clone()
    }

    /// While held, `broadcast` waits after recording its transaction.
    pub fn set_hold(&self, hold: bool) {
        *self.hold.lock().unwrap() = hold;
        self.hold_changed.notify_all();
    }

    /// Waits up to `timeout` until a broadcast has started; false if none did.
    pub fn wait_broadcast_started(&self, timeout: Duration) -> bool {
        let broadcasts = self.broadcasts.lock().unwrap();
        let (_broadcasts, waited) = self
            .broadcast_started
            .wait_timeout_while(broadcasts, timeout, |b| b.is_empty())
            .unwrap();
        !waited.timed_out()
    }
}

struct TestSubscription {
    id: u64,
    subscribers: Subscribers,
}

impl Subscription for TestSubscription {}

impl Drop for TestSubscription {
    fn drop(&mut self) {
        self.subscribers
            .lock()
            .unwrap()
            .retain(|(id, _)| *id != self.id);
    }
}

impl Chain for TestChain {
    fn tip(&self) -> Result<Tip> {
        let height = *self.height.lock().unwrap();
        Ok(Tip {
            height,
            hash: [height as u8; 32],
        })
    }

    fn block_at(&self, height: u32) -> Result<Option<Vec<u8>>> {
        Ok((height <= *self.height.lock().unwrap()).then(|| test_block(height)))
    }

    fn blocks_from(&self, height: u32, max_blocks: u32) -> Result<Vec<Vec<u8>>> {
        let tip = *self.height.lock().unwrap();
        Ok(take_blocks(
            (height..=tip).map(test_block),
            max_blocks,
            BLOCKS_FROM_MAX_BYTES,
        ))
    }

    fn mempool(&self) -> Result<Vec<Vec<u8>>> {
        Ok(self.broadcasts())
    }

    fn broadcast(&self, tx: &[u8]) -> Result<Hash256> {
        if tx.starts_with(b"reject") {
            return Err(Error::Rejected {
                code: rpc_code::VERIFY_REJECTED,
                message: "bad-txns-test".into(),
            });
        }
        self.broadcasts.lock().unwrap().push(tx.to_vec());
        self.broadcast_started.notify_all();
        let hold = self.hold.lock().unwrap();
        drop(self.hold_changed.wait_while(hold, |hold| *hold).unwrap());
        Ok(txid_of(tx))
    }

    fn estimate_fee_per_kb(&self) -> Result<Amount> {
        self.fee_estimates.fetch_add(1, Ordering::SeqCst);
        Ok(1000)
    }

    fn fee_estimate_never_waits(&self) -> bool {
        true
    }

    fn register_notifications(
        &self,
        notifications: Arc<dyn ChainNotifications>,
    ) -> Result<Box<dyn Subscription>> {
        let id = {
            let mut next = self.next_subscriber.lock().unwrap();
            *next += 1;
            *next
        };
        self.subscribers.lock().unwrap().push((id, notifications));
        Ok(Box::new(TestSubscription {
            id,
            subscribers: self.subscribers.clone(),
        }))
    }
}

/// What the test peer offers: a [`TestChain`] at `chain_height`, and
/// wallets ([`TestWallet`]) on the chain it is handed.
pub struct TestPeerInit {
    pub chain_height: u32,
}

impl Init for TestPeerInit {
    fn make_chain(&self) -> Result<Arc<dyn Chain>> {
        Ok(Arc::new(TestChain::at_height(self.chain_height)))
    }

    fn make_wallet_loader(&self, chain: Arc<dyn Chain>) -> Result<Arc<dyn WalletLoader>> {
        Ok(Arc::new(TestWalletLoader { chain }))
    }
}

struct TestWalletLoader {
    chain: Arc<dyn Chain>,
}

impl WalletLoader for TestWalletLoader {
    fn load_wallet(&self, name: &str) -> Result<Arc<dyn Wallet>> {
        if name == "missing" {
            return Err(Error::Rejected {
                code: rpc_code::WALLET_NOT_FOUND,
                message: format!("wallet \"{name}\" not found"),
            });
        }
        let seen = Arc::new(SeenBlocks::default());
        let subscription = self.chain.register_notifications(seen.clone())?;
        Ok(Arc::new(TestWallet {
            name: name.to_string(),
            chain: self.chain.clone(),
            seen,
            _subscription: Mutex::new(subscription),
        }))
    }
}

/// Blocks the chain notified a wallet of, in order.
#[derive(Default)]
struct SeenBlocks {
    heights: Mutex<Vec<u32>>,
}

impl ChainNotifications for SeenBlocks {
    fn block_connected(&self, height: u32, _block: &[u8]) {
        self.heights.lock().unwrap().push(height);
    }
    fn transaction_added_to_mempool(&self, _tx: &[u8]) {}
}

/// Balance: one coin per notified block. Sends go to the chain's broadcast.
struct TestWallet {
    name: String,
    chain: Arc<dyn Chain>,
    seen: Arc<SeenBlocks>,
    _subscription: Mutex<Box<dyn Subscription>>,
}

impl TestWallet {
    fn tx(&self, n: u32) -> WalletTx {
        WalletTx {
            txid: [n as u8; 32],
            amount: -(n as i64) * 1000,
            fee: n.is_multiple_of(2).then_some(n as u64),
            confirmations: n,
            block_hash: (!n.is_multiple_of(2)).then_some([0xbb; 32]),
            raw: vec![n as u8; n as usize],
        }
    }
}

impl Wallet for TestWallet {
    fn get_new_address(&self) -> Result<String> {
        Ok(format!(
            "{}-address-{}",
            self.name,
            self.seen.heights.lock().unwrap().len()
        ))
    }
    fn get_balance(&self) -> Result<Amount> {
        Ok(self.seen.heights.lock().unwrap().len() as u64 * COIN)
    }
    fn send_to_address(&self, address: &str, amount: Amount) -> Result<Hash256> {
        if amount == 0 {
            return Err(Error::Rejected {
                code: rpc_code::INVALID_PARAMETER,
                message: "amount must be positive".into(),
            });
        }
        // As the wallet does: the fee rate first, then the broadcast.
        self.chain.estimate_fee_per_kb()?;
        let mut tx = address.as_bytes().to_vec();
        tx.extend_from_slice(&amount.to_le_bytes());
        self.chain.broadcast(&tx)
    }
    fn list_unspent(&self, min_confirmations: u32) -> Result<Vec<Unspent>> {
        let heights = self.seen.heights.lock().unwrap();
        Ok(heights
            .iter()
            .map(|&h| Unspent {
                txid: [h as u8; 32],
                vout: h,
                address: format!("{}-address-{h}", self.name),
                amount: COIN,
                confirmations: min_confirmations + h,
                spendable: h.is_multiple_of(2),
            })
            .collect())
    }
    fn get_transaction(&self, txid: &Hash256) -> Result<WalletTx> {
        Ok(self.tx(u32::from(txid[0])))
    }
    fn list_transactions(&self, count: u32) -> Result<Vec<WalletTx>> {
        Ok((0..count).map(|n| self.tx(n)).collect())
    }
    /// The reads take only `seen`'s lock, never held while calling out.
    fn reads_never_wait(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::bare;

    #[test]
    fn the_bare_echo_answers_with_the_data_and_its_server_ends_when_the_client_goes() {
        let (client_end, server_end) = std::os::unix::net::UnixStream::pair().unwrap();
        let server = std::thread::spawn(move || bare::serve(server_end));
        let client = bare::Client::connect(client_end).unwrap();
        for data in [&[0x5a; 64][..], b"", &[7; 3000]] {
            client.echo(data).unwrap();
        }
        drop(client);
        server.join().unwrap().unwrap();
    }
}
