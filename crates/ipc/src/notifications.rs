//! `ChainNotifications` and its `Handler`: how a subscriber in one process
//! hears of another process's chain (through `Chain.handleNotifications`
//! or `Node.handleNotifications`), and how it unsubscribes.
//!
//! Notifications are batched: they collect until
//! [`ChainNotifications::flush`] (which the chain calls when its queue runs
//! dry and at `sync_notifications`) or a full batch, then go out as one
//! `notify` call. Batches are sent without waiting for each answer: Cap'n
//! Proto delivers calls on one capability in order and the far side handles
//! them in that order, so only `flush` and a full window wait.

use std::cell::RefCell;
use std::future::Future;
use std::sync::{Arc, Mutex};

use capnp::capability::Rc;
use kestrel_interfaces::{ChainNotifications, Subscription};

use crate::convert::{read_chain_events, write_chain_events, ChainEvent};
use crate::event_loop::LoopLocal;
use crate::link::{on_pool, send_logged, Link, ProxyCore};
use crate::log::{CallLog, Side};
use crate::schema::chain_capnp::chain_notifications;
use crate::schema::common_capnp::handler;

/// `handleNotifications`, which `Chain` and `Node` both offer: the same call
/// on two interfaces whose generated types differ.
macro_rules! handle_notifications {
    ($proxy:expr, $notifications:ident, $results:ty) => {
        $crate::link::call_remote!(
            $proxy,
            "handleNotifications",
            handle_notifications_request,
            |mut params| params
                .set_notifications($crate::notifications::serve($notifications, &core.link)),
            |core, results: $results| results.get_handler().map(|handler| {
                $crate::notifications::SubscriptionProxy::boxed(handler, &core.link)
            })
        )
    };
}
pub(crate) use handle_notifications;

/// The server side of `handleNotifications`: subscribes the far process's
/// notifications with `$register` (run on the pool) and answers with the
/// `Handler` that keeps the subscription.
macro_rules! serve_handle_notifications {
    ($server:ident, $params:ident, $results:ident, $register:expr) => {{
        let params = $params.get()?;
        $server.log.request("handleNotifications", params);
        let notifications = params.get_notifications()?;
        let outcome =
            $crate::notifications::subscribe_remote(&$server.link, notifications, $register)
                .await?;
        $crate::link::respond!(
            $server,
            "handleNotifications",
            $results,
            outcome,
            |out, handler| out.set_handler(handler)
        )
    }};
}
pub(crate) use serve_handle_notifications;

/// Serves `notifications` of this process to the far one, which calls back
/// into it.
pub(crate) fn serve(
    notifications: Arc<dyn ChainNotifications>,
    link: &Link,
) -> chain_notifications::Client {
    capnp_rpc::new_client(NotificationsServer::new(notifications, link))
}

/// Keeps a remote subscription alive. Dropping it releases the `Handler`
/// capability, which unsubscribes on the far side.
pub(crate) struct SubscriptionProxy {
    _handler: LoopLocal<handler::Client>,
}

impl SubscriptionProxy {
    /// Must be called on the loop thread.
    pub(crate) fn boxed(handler: handler::Client, link: &Link) -> Box<dyn Subscription> {
        Box::new(SubscriptionProxy {
            _handler: LoopLocal::new(handler, &link.handle),
        })
    }
}

impl Subscription for SubscriptionProxy {}

/// Subscribes the far process's `notifications` with `register` (run on
/// the pool); the `Handler` the far process keeps to stay subscribed.
pub(crate) async fn subscribe_remote(
    link: &Link,
    notifications: chain_notifications::Client,
    register: impl FnOnce(Arc<dyn ChainNotifications>) -> kestrel_interfaces::Result<Box<dyn Subscription>>
        + Send
        + 'static,
) -> capnp::Result<kestrel_interfaces::Result<handler::Client>> {
    let notifications =
        NotificationsProxy::new(ProxyCore::new(notifications, link, "ChainNotifications"));
    let outcome = on_pool(move || register(Arc::new(notifications))).await?;
    Ok(outcome.map(|subscription| {
        capnp_rpc::new_client(HandlerServer {
            subscription: RefCell::new(Some(subscription)),
        })
    }))
}

/// `ChainNotifications` of the far process (a wallet, seen from the node),
/// batching as the module says.
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
type SentBatch = std::pin::Pin<Box<dyn Future<Output = kestrel_interfaces::Result<()>> + Send>>;

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
            !self.core.on_loop_thread(),
            "ChainNotifications proxy flushed on the IPC event-loop thread"
        );
        let mut batches = self.lock();
        self.send_pending(&mut batches);
        let sent = std::mem::take(&mut batches.in_flight);
        drop(batches);
        wait_for(sent);
    }
}

/// The notifications object a wallet of this process passed to a remote
/// chain.
struct NotificationsServer {
    notifications: Arc<dyn ChainNotifications>,
    log: CallLog,
    /// The connection's [`Link::notification_turn`]: a fair (FIFO) lock
    /// that hands notifications to the pool one at a time, in the order
    /// they arrived.
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl NotificationsServer {
    fn new(notifications: Arc<dyn ChainNotifications>, link: &Link) -> Self {
        Self {
            notifications,
            log: link.call_log("ChainNotifications", Side::Server),
            turn: link.notification_turn.clone(),
        }
    }
}

impl chain_notifications::Server for NotificationsServer {
    async fn notify(
        self: Rc<Self>,
        params: chain_notifications::NotifyParams,
        mut results: chain_notifications::NotifyResults,
    ) -> capnp::Result<()> {
        let params = params.get()?;
        self.log.request("notify", params);
        let events = read_chain_events(params.get_events()?)?;
        let notifications = self.notifications.clone();
        let _turn = self.turn.lock().await;
        on_pool(move || {
            for event in &events {
                event.deliver(notifications.as_ref());
            }
        })
        .await?;
        self.log.response("notify", results.get().into_reader());
        Ok(())
    }
}

/// A subscription of the far process, ended by `disconnect` or by the far
/// side releasing the capability (which includes losing the connection).
struct HandlerServer {
    subscription: RefCell<Option<Box<dyn Subscription>>>,
}

impl HandlerServer {
    /// Unsubscribing may wait on the chain's locks, so it runs on the pool.
    fn end(&self) {
        if let Some(subscription) = self.subscription.borrow_mut().take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                tokio::task::spawn_blocking(move || drop(subscription));
            }
        }
    }
}

impl handler::Server for HandlerServer {
    async fn disconnect(
        self: Rc<Self>,
        _: handler::DisconnectParams,
        _: handler::DisconnectResults,
    ) -> capnp::Result<()> {
        self.end();
        Ok(())
    }
}

impl Drop for HandlerServer {
    fn drop(&mut self) {
        self.end();
    }
}
