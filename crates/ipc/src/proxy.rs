//! Client side: sync proxies that implement the kestrel-interfaces traits by
//! posting each call to the event loop and blocking on its reply.
//!
//! Never call a proxy on the event-loop thread (for instance from inside an
//! IPC server's loop code): it would wait for itself. Server-side trait calls
//! run on the blocking pool, where calling proxies is fine.

use std::future::Future;
use std::sync::{Arc, Mutex};

use kestrel_interfaces::{
    Amount, Chain, ChainNotifications, Hash256, Node, NodeInfo, Result, Subscription, Tip, Unspent,
    Wallet, WalletTx,
};

use crate::convert::{
    read_data_list, read_hash, read_hashes, read_node_info, read_tip, read_unspent, read_wallet_tx,
    write_chain_events, ChainEvent,
};
use crate::error::read_rejected;
use crate::event_loop::{EventLoopHandle, LoopLocal};
use crate::log::{CallLog, Side};
use crate::peer::Peer;
use crate::schema::chain_capnp::{chain, chain_notifications};
use crate::schema::common_capnp::handler;
use crate::schema::echo_capnp::echo;
use crate::schema::init_capnp::init;
use crate::schema::node_capnp::node;
use crate::schema::wallet_capnp::{wallet, wallet_loader};
use crate::server::NotificationsServer;
use crate::WalletLoader;

/// What every proxy obtained through one connection shares: the loop it
/// runs on and the liveness of the far process.
#[derive(Clone)]
pub(crate) struct Link {
    pub(crate) handle: EventLoopHandle,
    pub(crate) peer: Arc<Peer>,
    /// Chain notification batches arriving over this connection are handled
    /// one at a time in arrival order, across every subscriber on it: the
    /// sender does not wait between them.
    pub(crate) notification_turn: Arc<tokio::sync::Mutex<()>>,
}

/// One remote object: its Cap'n Proto client (kept on the loop) and how to
/// report on calls to it.
pub(crate) struct ProxyCore<C: 'static> {
    client: LoopLocal<C>,
    link: Link,
    log: CallLog,
    interface: &'static str,
}

/// A call's future on the loop: outer error = transport failure, inner
/// result = the call's own outcome (possibly `Rejected`).
type CallOutcome<T> = capnp::Result<Result<T>>;

impl<C: 'static> ProxyCore<C> {
    /// Must be called on the loop thread.
    pub(crate) fn new(client: C, link: &Link, interface: &'static str) -> Arc<Self> {
        Arc::new(Self {
            client: LoopLocal::new(client, &link.handle),
            log: CallLog::new(link.handle.process_name_arc(), interface, Side::Client),
            link: link.clone(),
            interface,
        })
    }

    /// Starts a call: `f` runs on the loop with this proxy and returns the
    /// call's future. The returned future is `Send` and may be awaited
    /// anywhere, which lets one thread keep many calls in flight.
    fn start<T, Fut>(
        self: &Arc<Self>,
        f: impl FnOnce(Arc<Self>) -> Fut + Send + 'static,
    ) -> impl Future<Output = Result<T>> + Send + 'static
    where
        T: Send + 'static,
        Fut: Future<Output = CallOutcome<T>> + 'static,
    {
        let core = self.clone();
        let peer = self.link.peer.clone();
        let interface = self.interface;
        let reply = self.link.handle.run(move || f(core));
        async move {
            match reply.await {
                Some(Ok(outcome)) => outcome,
                Some(Err(e)) => Err(peer.call_failed(interface, e)),
                None => Err(peer.disconnected(interface, None)),
            }
        }
    }

    /// A call from sync code: blocks until the reply (or the disconnect).
    fn call<T, Fut>(
        self: &Arc<Self>,
        f: impl FnOnce(Arc<Self>) -> Fut + Send + 'static,
    ) -> Result<T>
    where
        T: Send + 'static,
        Fut: Future<Output = CallOutcome<T>> + 'static,
    {
        debug_assert!(
            !self.link.handle.is_loop_thread(),
            "{} proxy called on the IPC event-loop thread",
            self.interface
        );
        futures::executor::block_on(self.start(f))
    }

    fn client(&self) -> &C {
        self.client.get()
    }
}

/// Sends `request` (a `mut` binding), logging it and its results under
/// `-debug=ipc`; evaluates to the response.
macro_rules! send_logged {
    ($core:expr, $method:literal, $request:ident) => {{
        $core.log.request($method, $request.get().into_reader());
        let response = $request.send().promise.await?;
        $core.log.response($method, response.get()?);
        response
    }};
}

/// Ends a call's future: a `Rejected` in the results becomes `Err`,
/// otherwise `decode` reads the value.
macro_rules! outcome {
    ($results:expr, $decode:expr) => {{
        let results = $results;
        if results.has_rejected() {
            Ok(Err(read_rejected(results.get_rejected()?)?))
        } else {
            Ok(Ok($decode(results)?))
        }
    }};
}

/// `handleNotifications`, which `Chain` and `Node` both offer: the same call
/// on two interfaces whose generated types differ.
macro_rules! handle_notifications {
    ($proxy:expr, $notifications:ident, $results:ty) => {
        $proxy.core.call(move |core| async move {
            let mut request = core.client().handle_notifications_request();
            request
                .get()
                .set_notifications(notifications_client($notifications, &core.link));
            let response = send_logged!(core, "handleNotifications", request);
            let results = response.get()?;
            outcome!(results, |r: $results| {
                r.get_handler()
                    .map(|handler| SubscriptionProxy::boxed(handler, &core.link))
            })
        })
    };
}

/// The first object of the process at the other end of a connection.
pub struct InitProxy {
    core: Arc<ProxyCore<init::Client>>,
}

impl InitProxy {
    pub(crate) fn new(core: Arc<ProxyCore<init::Client>>) -> Self {
        Self { core }
    }

    pub fn make_echo(&self) -> Result<EchoProxy> {
        self.core.call(|core| async move {
            let mut request = core.client().make_echo_request();
            let response = send_logged!(core, "makeEcho", request);
            let results = response.get()?;
            let echo = ProxyCore::new(results.get_echo()?, &core.link, "Echo");
            Ok(Ok(EchoProxy { core: echo }))
        })
    }

    /// The far process's chain (a node offers it to wallets attaching
    /// with `-ipcconnect`).
    pub fn make_chain(&self) -> Result<ChainProxy> {
        self.core.call(|core| async move {
            let mut request = core.client().make_chain_request();
            let response = send_logged!(core, "makeChain", request);
            let results = response.get()?;
            outcome!(results, |r: init::make_chain_results::Reader<'_>| {
                r.get_chain().map(|chain| ChainProxy {
                    core: ProxyCore::new(chain, &core.link, "Chain"),
                })
            })
        })
    }

    /// Hands `chain` to the far process (a wallet), which returns a loader
    /// for wallets that use it. Calls from those wallets into `chain` come
    /// back over this connection and run on this process's blocking pool.
    pub fn make_wallet_loader(&self, chain: Arc<dyn Chain>) -> Result<WalletLoaderProxy> {
        self.core.call(|core| async move {
            let mut request = core.client().make_wallet_loader_request();
            let server = crate::server::ChainServer::new(chain, &core.link);
            request.get().set_chain(capnp_rpc::new_client(server));
            let response = send_logged!(core, "makeWalletLoader", request);
            let results = response.get()?;
            outcome!(results, |r: init::make_wallet_loader_results::Reader<
                '_,
            >| {
                r.get_wallet_loader().map(|loader| WalletLoaderProxy {
                    core: ProxyCore::new(loader, &core.link, "WalletLoader"),
                })
            })
        })
    }

    /// The far process's node (a node offers it to the gui).
    pub fn make_node(&self) -> Result<NodeProxy> {
        self.core.call(|core| async move {
            let mut request = core.client().make_node_request();
            let response = send_logged!(core, "makeNode", request);
            let results = response.get()?;
            outcome!(results, |r: init::make_node_results::Reader<'_>| {
                r.get_node().map(|node| NodeProxy {
                    core: ProxyCore::new(node, &core.link, "Node"),
                })
            })
        })
    }
}

/// `Echo` of the far process.
pub struct EchoProxy {
    core: Arc<ProxyCore<echo::Client>>,
}

impl EchoProxy {
    pub fn echo(&self, data: &[u8]) -> Result<Vec<u8>> {
        debug_assert!(!self.core.link.handle.is_loop_thread());
        futures::executor::block_on(self.echo_async(data))
    }

    /// The same call as a `Send` future, so one thread can keep many in
    /// flight (pipelining).
    pub fn echo_async(&self, data: &[u8]) -> impl Future<Output = Result<Vec<u8>>> + Send {
        let data = data.to_vec();
        self.core.start(move |core| async move {
            let mut request = core.client().echo_request();
            request.get().set_data(&data);
            let response = send_logged!(core, "echo", request);
            let results = response.get()?;
            Ok(Ok(results.get_data()?.to_vec()))
        })
    }
}

/// `Chain` of the far process (the node, seen from a wallet).
pub struct ChainProxy {
    core: Arc<ProxyCore<chain::Client>>,
}

impl ChainProxy {
    pub(crate) fn new(core: Arc<ProxyCore<chain::Client>>) -> Self {
        Self { core }
    }
}

impl Chain for ChainProxy {
    fn tip(&self) -> Result<Tip> {
        self.core.call(|core| async move {
            let mut request = core.client().tip_request();
            let response = send_logged!(core, "tip", request);
            let results = response.get()?;
            outcome!(results, |r: chain::tip_results::Reader<'_>| read_tip(
                r.get_tip()?
            ))
        })
    }

    fn block_at(&self, height: u32) -> Result<Option<Vec<u8>>> {
        self.core.call(move |core| async move {
            let mut request = core.client().block_at_request();
            request.get().set_height(height);
            let response = send_logged!(core, "blockAt", request);
            let results = response.get()?;
            outcome!(results, |r: chain::block_at_results::Reader<'_>| {
                capnp::Result::Ok(match r.has_block() {
                    true => Some(r.get_block()?.to_vec()),
                    false => None,
                })
            })
        })
    }

    fn blocks_from(&self, height: u32, max_blocks: u32) -> Result<Vec<Vec<u8>>> {
        self.core.call(move |core| async move {
            let mut request = core.client().blocks_from_request();
            request.get().set_height(height);
            request.get().set_max_blocks(max_blocks);
            let response = send_logged!(core, "blocksFrom", request);
            let results = response.get()?;
            outcome!(results, |r: chain::blocks_from_results::Reader<'_>| {
                read_data_list(r.get_blocks()?)
            })
        })
    }

    fn mempool(&self) -> Result<Vec<Vec<u8>>> {
        self.core.call(|core| async move {
            let mut request = core.client().mempool_request();
            let response = send_logged!(core, "mempool", request);
            let results = response.get()?;
            outcome!(results, |r: chain::mempool_results::Reader<'_>| {
                read_data_list(r.get_txs()?)
            })
        })
    }

    fn broadcast(&self, tx: &[u8]) -> Result<Hash256> {
        let tx = tx.to_vec();
        self.core.call(move |core| async move {
            let mut request = core.client().broadcast_request();
            request.get().set_tx(&tx);
            let response = send_logged!(core, "broadcast", request);
            let results = response.get()?;
            outcome!(results, |r: chain::broadcast_results::Reader<'_>| {
                read_hash("txid", r.get_txid()?)
            })
        })
    }

    fn estimate_fee_per_kb(&self) -> Result<Amount> {
        self.core.call(|core| async move {
            let mut request = core.client().estimate_fee_request();
            let response = send_logged!(core, "estimateFee", request);
            let results = response.get()?;
            outcome!(results, |r: chain::estimate_fee_results::Reader<'_>| {
                capnp::Result::Ok(r.get_fee_per_kb())
            })
        })
    }

    fn register_notifications(
        &self,
        notifications: Arc<dyn ChainNotifications>,
    ) -> Result<Box<dyn Subscription>> {
        handle_notifications!(
            self,
            notifications,
            chain::handle_notifications_results::Reader<'_>
        )
    }
}

/// Serves `notifications` of this process to the far one, which calls back
/// into it.
fn notifications_client(
    notifications: Arc<dyn ChainNotifications>,
    link: &Link,
) -> chain_notifications::Client {
    capnp_rpc::new_client(NotificationsServer::new(notifications, link))
}

/// Keeps a remote subscription alive. Dropping it releases the `Handler`
/// capability, which unsubscribes on the far side.
struct SubscriptionProxy {
    _handler: LoopLocal<handler::Client>,
}

impl SubscriptionProxy {
    /// Must be called on the loop thread.
    fn boxed(handler: handler::Client, link: &Link) -> Box<dyn Subscription> {
        Box::new(SubscriptionProxy {
            _handler: LoopLocal::new(handler, &link.handle),
        })
    }
}

impl Subscription for SubscriptionProxy {}

/// `Node` of the far process (the node, seen from the gui).
pub struct NodeProxy {
    core: Arc<ProxyCore<node::Client>>,
}

impl Node for NodeProxy {
    fn info(&self) -> Result<NodeInfo> {
        self.core.call(|core| async move {
            let mut request = core.client().info_request();
            let response = send_logged!(core, "info", request);
            let results = response.get()?;
            outcome!(results, |r: node::info_results::Reader<'_>| read_node_info(
                r.get_info()?
            ))
        })
    }

    fn generate(&self, count: u32, address: &str) -> Result<Vec<Hash256>> {
        let address = address.to_string();
        self.core.call(move |core| async move {
            let mut request = core.client().generate_request();
            request.get().set_count(count);
            request.get().set_address(address.as_str());
            let response = send_logged!(core, "generate", request);
            let results = response.get()?;
            outcome!(results, |r: node::generate_results::Reader<'_>| {
                read_hashes("hashes", r.get_hashes()?)
            })
        })
    }

    fn wallet(&self) -> Result<Arc<dyn Wallet>> {
        self.core.call(|core| async move {
            let mut request = core.client().wallet_request();
            let response = send_logged!(core, "wallet", request);
            let results = response.get()?;
            outcome!(results, |r: node::wallet_results::Reader<'_>| {
                r.get_wallet()
                    .map(|wallet| WalletProxy::shared(wallet, &core.link))
            })
        })
    }

    fn handle_notifications(
        &self,
        notifications: Arc<dyn ChainNotifications>,
    ) -> Result<Box<dyn Subscription>> {
        handle_notifications!(
            self,
            notifications,
            node::handle_notifications_results::Reader<'_>
        )
    }

    fn stop(&self) -> Result<()> {
        self.core.call(|core| async move {
            let mut request = core.client().stop_request();
            let response = send_logged!(core, "stop", request);
            let results = response.get()?;
            outcome!(results, |_| capnp::Result::Ok(()))
        })
    }
}

/// `ChainNotifications` of the far process (a wallet, seen from the node).
///
/// Notifications are batched: they collect until [`ChainNotifications::flush`]
/// (which the chain calls when its queue runs dry and at
/// `sync_notifications`) or a full batch, then go out as one `notify` call.
/// Batches are sent without waiting for each answer: Cap'n Proto delivers
/// calls on one capability in order and the far side handles them in that
/// order, so only `flush` and a full window wait.
pub(crate) struct NotificationsProxy {
    core: Arc<ProxyCore<chain_notifications::Client>>,
    batches: Mutex<Batches>,
}

#[derive(Default)]
struct Batches {
    pending: Vec<ChainEvent>,
    pending_bytes: usize,
    in_flight: Vec<SentBatch>,
}

/// The answer to come to a sent batch.
type SentBatch = std::pin::Pin<Box<dyn Future<Output = Result<()>> + Send>>;

/// A batch goes out once it holds this many events or bytes.
const BATCH_EVENTS: usize = 64;
const BATCH_BYTES: usize = 1 << 20;
/// Batches in flight before the sender waits for them: bounds the memory a
/// slow subscriber can make the node hold.
const BATCH_WINDOW: usize = 4;

impl NotificationsProxy {
    pub(crate) fn new(core: Arc<ProxyCore<chain_notifications::Client>>) -> Self {
        Self {
            core,
            batches: Mutex::new(Batches::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Batches> {
        self.batches.lock().expect("notification batch lock")
    }

    fn push(&self, event: ChainEvent) {
        let mut batches = self.lock();
        batches.pending_bytes += event.size();
        batches.pending.push(event);
        if batches.pending.len() < BATCH_EVENTS && batches.pending_bytes < BATCH_BYTES {
            return;
        }
        self.send_pending(&mut batches);
        if batches.in_flight.len() >= BATCH_WINDOW {
            let sent = std::mem::take(&mut batches.in_flight);
            drop(batches);
            wait_for(sent);
        }
    }

    fn send_pending(&self, batches: &mut Batches) {
        if batches.pending.is_empty() {
            return;
        }
        let events = std::mem::take(&mut batches.pending);
        batches.pending_bytes = 0;
        let answer = self.core.start(move |core| async move {
            let mut request = core.client().notify_request();
            write_chain_events(request.get().init_events(events.len() as u32), &events);
            send_logged!(core, "notify", request);
            Ok(Ok(()))
        });
        batches.in_flight.push(Box::pin(answer));
    }
}

/// Notifications have no result to report a failure in: a subscriber that
/// went away is logged, and its subscription ends with the connection.
fn wait_for(sent: Vec<SentBatch>) {
    for answer in sent {
        if let Err(e) = futures::executor::block_on(answer) {
            tracing::warn!(target: crate::LOG_TARGET, "ChainNotifications.notify not delivered: {e}");
        }
    }
}

impl ChainNotifications for NotificationsProxy {
    fn block_connected(&self, height: u32, block: &[u8]) {
        self.push(ChainEvent::BlockConnected {
            height,
            block: block.to_vec(),
        });
    }

    fn transaction_added_to_mempool(&self, tx: &[u8]) {
        self.push(ChainEvent::TransactionAdded(tx.to_vec()));
    }

    fn flush(&self) {
        debug_assert!(
            !self.core.link.handle.is_loop_thread(),
            "ChainNotifications proxy flushed on the IPC event-loop thread"
        );
        let mut batches = self.lock();
        self.send_pending(&mut batches);
        let sent = std::mem::take(&mut batches.in_flight);
        drop(batches);
        wait_for(sent);
    }
}

/// `WalletLoader` of the far process (the wallet process, seen from the node).
pub struct WalletLoaderProxy {
    core: Arc<ProxyCore<wallet_loader::Client>>,
}

impl WalletLoader for WalletLoaderProxy {
    fn load_wallet(&self, name: &str) -> Result<Arc<dyn Wallet>> {
        let name = name.to_string();
        self.core.call(move |core| async move {
            let mut request = core.client().load_wallet_request();
            request.get().set_name(name.as_str());
            let response = send_logged!(core, "loadWallet", request);
            let results = response.get()?;
            outcome!(results, |r: wallet_loader::load_wallet_results::Reader<
                '_,
            >| {
                r.get_wallet()
                    .map(|wallet| WalletProxy::shared(wallet, &core.link))
            })
        })
    }
}

/// `Wallet` of the far process.
pub struct WalletProxy {
    core: Arc<ProxyCore<wallet::Client>>,
}

impl WalletProxy {
    /// Must be called on the loop thread.
    fn shared(client: wallet::Client, link: &Link) -> Arc<dyn Wallet> {
        Arc::new(WalletProxy {
            core: ProxyCore::new(client, link, "Wallet"),
        })
    }
}

impl Wallet for WalletProxy {
    fn get_new_address(&self) -> Result<String> {
        self.core.call(|core| async move {
            let mut request = core.client().get_new_address_request();
            let response = send_logged!(core, "getNewAddress", request);
            let results = response.get()?;
            outcome!(results, |r: wallet::get_new_address_results::Reader<'_>| {
                r.get_address()?.to_string().map_err(capnp::Error::from)
            })
        })
    }

    fn get_balance(&self) -> Result<Amount> {
        self.core.call(|core| async move {
            let mut request = core.client().get_balance_request();
            let response = send_logged!(core, "getBalance", request);
            let results = response.get()?;
            outcome!(results, |r: wallet::get_balance_results::Reader<'_>| {
                capnp::Result::Ok(r.get_balance())
            })
        })
    }

    fn send_to_address(&self, address: &str, amount: Amount) -> Result<Hash256> {
        let address = address.to_string();
        self.core.call(move |core| async move {
            let mut request = core.client().send_to_address_request();
            request.get().set_address(address.as_str());
            request.get().set_amount(amount);
            let response = send_logged!(core, "sendToAddress", request);
            let results = response.get()?;
            outcome!(results, |r: wallet::send_to_address_results::Reader<'_>| {
                read_hash("txid", r.get_txid()?)
            })
        })
    }

    fn list_unspent(&self, min_confirmations: u32) -> Result<Vec<Unspent>> {
        self.core.call(move |core| async move {
            let mut request = core.client().list_unspent_request();
            request.get().set_min_confirmations(min_confirmations);
            let response = send_logged!(core, "listUnspent", request);
            let results = response.get()?;
            outcome!(results, |r: wallet::list_unspent_results::Reader<'_>| {
                r.get_unspent()?
                    .iter()
                    .map(read_unspent)
                    .collect::<capnp::Result<Vec<_>>>()
            })
        })
    }

    fn get_transaction(&self, txid: &Hash256) -> Result<WalletTx> {
        let txid = *txid;
        self.core.call(move |core| async move {
            let mut request = core.client().get_transaction_request();
            request.get().set_txid(&txid);
            let response = send_logged!(core, "getTransaction", request);
            let results = response.get()?;
            outcome!(results, |r: wallet::get_transaction_results::Reader<'_>| {
                read_wallet_tx(r.get_tx()?)
            })
        })
    }

    fn list_transactions(&self, count: u32) -> Result<Vec<WalletTx>> {
        self.core.call(move |core| async move {
            let mut request = core.client().list_transactions_request();
            request.get().set_count(count);
            let response = send_logged!(core, "listTransactions", request);
            let results = response.get()?;
            outcome!(results, |r: wallet::list_transactions_results::Reader<
                '_,
            >| {
                r.get_txs()?
                    .iter()
                    .map(read_wallet_tx)
                    .collect::<capnp::Result<Vec<_>>>()
            })
        })
    }
}
