//! Delivery of chain notifications on one dedicated thread.
//!
//! Events are queued (under the chain lock, so in chain order) and
//! delivered by the notifier thread, never synchronously from the call that
//! caused them: a subscriber may be blocked on its own lock while calling
//! into the chain, possibly across a process boundary.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle, ThreadId};

use futures::channel::oneshot;
use kestrel_interfaces::{ChainNotifications, Subscription};

pub(crate) enum Event {
    BlockConnected {
        height: u32,
        block: Vec<u8>,
    },
    TransactionAdded(Vec<u8>),
    /// Queued like any event, so a subscriber sees exactly the events
    /// queued after it subscribed.
    Subscribe(Subscriber),
    /// Acknowledged once every earlier event has been delivered.
    Flush(oneshot::Sender<()>),
}

pub(crate) struct Subscriber {
    active: Arc<AtomicBool>,
    target: Arc<dyn ChainNotifications>,
}

/// Returned by `register_notifications`; dropping it unsubscribes (events
/// already being delivered finish).
pub struct NotificationSubscription {
    active: Arc<AtomicBool>,
}

impl Subscription for NotificationSubscription {}

impl Drop for NotificationSubscription {
    fn drop(&mut self) {
        self.active.store(false, Ordering::SeqCst);
    }
}

pub(crate) struct Notifier {
    sender: Mutex<Option<Sender<Event>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    thread_id: ThreadId,
    progress: Arc<Progress>,
}

/// How far delivery has got, so that [`Notifier::sync`] with nothing
/// pending returns without a round trip through the notifier thread (two
/// thread wake-ups on every wallet RPC).
#[derive(Default)]
struct Progress {
    /// Events queued so far (counted under the sender lock, so in queue
    /// order).
    queued: AtomicU64,
    /// Of those, how many were delivered and then flushed: all of the first
    /// `settled` reached every subscriber, batching proxies included.
    settled: AtomicU64,
}

impl Notifier {
    pub(crate) fn start() -> std::io::Result<Notifier> {
        let (sender, receiver) = mpsc::channel();
        let progress = Arc::new(Progress::default());
        let delivery = progress.clone();
        let thread = thread::Builder::new()
            .name("kestrel-notify".to_string())
            .spawn(move || deliver(receiver, &delivery))?;
        Ok(Notifier {
            sender: Mutex::new(Some(sender)),
            thread_id: thread.thread().id(),
            thread: Mutex::new(Some(thread)),
            progress,
        })
    }

    /// Queues an event; after shutdown events are dropped.
    pub(crate) fn send(&self, event: Event) {
        if let Some(sender) = self.sender.lock().expect("notifier lock").as_ref() {
            if !matches!(event, Event::Flush(_)) {
                self.progress.queued.fetch_add(1, Ordering::SeqCst);
            }
            // A send fails only if the thread is gone, which shutdown
            // handles; nothing is left to deliver to.
            let _ = sender.send(event);
        }
    }

    pub(crate) fn subscribe(
        &self,
        target: Arc<dyn ChainNotifications>,
    ) -> NotificationSubscription {
        let active = Arc::new(AtomicBool::new(true));
        self.send(Event::Subscribe(Subscriber {
            active: active.clone(),
            target,
        }));
        NotificationSubscription { active }
    }

    /// Blocks until every event queued before the call was delivered.
    /// Returns at once on the notifier thread itself (a subscriber calling
    /// back) and after shutdown.
    pub(crate) fn sync(&self) {
        futures::executor::block_on(self.synced());
    }

    /// Resolves once every event queued before the call was delivered, like
    /// [`Notifier::sync`], for async code that must not block its thread.
    pub(crate) fn synced(&self) -> impl Future<Output = ()> + Send + 'static {
        let acked = (thread::current().id() != self.thread_id && !self.settled()).then(|| {
            let (ack, acked) = oneshot::channel();
            self.send(Event::Flush(ack));
            acked
        });
        async move {
            if let Some(acked) = acked {
                // Err means the thread is gone (shut down): nothing is
                // pending.
                let _ = acked.await;
            }
        }
    }

    /// Whether every event queued before the call has been delivered and
    /// flushed, so that [`Notifier::sync`] would return at once.
    pub(crate) fn settled(&self) -> bool {
        // `settled` never passes `queued`: having reached the count read
        // first, everything queued before this call is delivered and flushed.
        let queued = self.progress.queued.load(Ordering::SeqCst);
        self.progress.settled.load(Ordering::SeqCst) >= queued
    }

    /// Delivers what is queued, then stops the thread.
    pub(crate) fn shutdown(&self) {
        drop(self.sender.lock().expect("notifier lock").take());
        let thread = self.thread.lock().expect("notifier lock").take();
        if let Some(thread) = thread {
            if thread.thread().id() != thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

fn deliver(receiver: Receiver<Event>, progress: &Progress) {
    let mut subscribers: Vec<Subscriber> = Vec::new();
    // Whether a notification went out since subscribers last flushed.
    let mut unflushed = false;
    // Events taken off the queue so far (Flush not counted).
    let mut taken = 0u64;
    loop {
        let event = match receiver.try_recv() {
            Ok(event) => event,
            Err(TryRecvError::Empty) => {
                // The queue ran dry: let batching subscribers send what
                // they hold before waiting for more.
                if std::mem::take(&mut unflushed) {
                    notify_each(&subscribers, |s| s.flush());
                }
                progress.settled.store(taken, Ordering::SeqCst);
                match receiver.recv() {
                    Ok(event) => event,
                    Err(_) => return,
                }
            }
            Err(TryRecvError::Disconnected) => {
                if unflushed {
                    notify_each(&subscribers, |s| s.flush());
                }
                return;
            }
        };
        subscribers.retain(|s| s.active.load(Ordering::SeqCst));
        if !matches!(event, Event::Flush(_)) {
            taken += 1;
        }
        match event {
            Event::Subscribe(subscriber) => subscribers.push(subscriber),
            Event::Flush(ack) => {
                notify_each(&subscribers, |s| s.flush());
                unflushed = false;
                progress.settled.store(taken, Ordering::SeqCst);
                let _ = ack.send(());
            }
            Event::BlockConnected { height, block } => {
                notify_each(&subscribers, |s| s.block_connected(height, &block));
                unflushed = true;
            }
            Event::TransactionAdded(tx) => {
                notify_each(&subscribers, |s| s.transaction_added_to_mempool(&tx));
                unflushed = true;
            }
        }
    }
}

fn notify_each(subscribers: &[Subscriber], call: impl Fn(&dyn ChainNotifications)) {
    for subscriber in subscribers {
        if !subscriber.active.load(Ordering::SeqCst) {
            continue;
        }
        // One subscriber's panic must not stop delivery to the others.
        if catch_unwind(AssertUnwindSafe(|| call(subscriber.target.as_ref()))).is_err() {
            tracing::error!("a chain notification subscriber panicked; continuing");
        }
    }
}
