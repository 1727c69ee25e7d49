//! The one IPC thread of a process: a tokio current-thread runtime with a
//! `LocalSet` (Cap'n Proto clients are `!Send`), plus tokio's bounded pool of
//! blocking threads on which the servers run the (sync, possibly blocking)
//! `kestrel-interfaces` calls.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::IpcError;

/// Default size of the blocking pool that runs server-side trait calls.
pub const DEFAULT_BLOCKING_THREADS: usize = 16;

/// How long shutdown waits for trait calls still running on the blocking
/// pool; a call stuck in user code must not keep the process alive.
const POOL_SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

type Job = Box<dyn FnOnce() + Send>;

/// How an event loop runs.
#[derive(Debug, Clone)]
pub struct LoopOptions {
    /// Most threads of the blocking pool (calls beyond that queue).
    pub blocking_threads: usize,
    /// How long the loop watches its sockets before it sleeps
    /// (`-ipcspin`; zero: it sleeps at once). See `spin.rs`.
    pub spin_before_park: Duration,
}

impl LoopOptions {
    /// The defaults, but polling for `spin` before sleeping (`-ipcspin`).
    pub fn spinning(spin: Duration) -> Self {
        Self {
            spin_before_park: spin,
            ..Self::default()
        }
    }
}

impl Default for LoopOptions {
    fn default() -> Self {
        Self {
            blocking_threads: DEFAULT_BLOCKING_THREADS,
            spin_before_park: Duration::ZERO,
        }
    }
}

/// Owns the event-loop thread. Dropping it stops the loop: every connection
/// is closed (peers see a disconnect), calls waiting on it fail with
/// `Error::Disconnected`, and the thread is joined.
pub struct EventLoop {
    handle: EventLoopHandle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// A `Send + Sync` reference to the event loop that lets any thread post
/// work to it.
#[derive(Clone)]
pub struct EventLoopHandle {
    shared: Arc<LoopShared>,
}

struct LoopShared {
    jobs: mpsc::UnboundedSender<Job>,
    thread: ThreadId,
    process_name: Arc<str>,
}

impl EventLoop {
    /// Starts the loop thread. `process_name` appears in `-debug=ipc` lines.
    pub fn start(process_name: &str) -> Result<Self, IpcError> {
        Self::with_blocking_threads(process_name, DEFAULT_BLOCKING_THREADS)
    }

    /// Like [`EventLoop::start`] with a blocking pool of at most
    /// `blocking_threads` threads (calls beyond that queue). Pick it larger
    /// than the number of calls that can block on each other across
    /// processes at once (a wallet call waiting on a chain call ...).
    pub fn with_blocking_threads(
        process_name: &str,
        blocking_threads: usize,
    ) -> Result<Self, IpcError> {
        Self::with_options(
            process_name,
            LoopOptions {
                blocking_threads,
                ..LoopOptions::default()
            },
        )
    }

    /// Like [`EventLoop::start`] with `options`.
    pub fn with_options(process_name: &str, options: LoopOptions) -> Result<Self, IpcError> {
        let spin = crate::spin::effective(options.spin_before_park, crate::spin::available_cpus());
        let mut builder = tokio::runtime::Builder::new_current_thread();
        builder
            .enable_all()
            .max_blocking_threads(options.blocking_threads.max(1))
            .thread_name(format!("{process_name}-ipc-pool"));
        // Without a spin, a park costs nothing more than tokio's own.
        if !spin.is_zero() {
            builder.on_thread_park(move || crate::spin::before_park(spin));
        }
        let runtime = builder
            .build()
            .map_err(|source| IpcError::io("cannot start the IPC event loop", source))?;
        let (jobs, mut job_queue) = mpsc::unbounded_channel::<Job>();
        let (stop, stop_requested) = oneshot::channel::<()>();
        let thread = thread::Builder::new()
            .name(format!("{process_name}-ipc"))
            .spawn(move || {
                if !spin.is_zero() {
                    if let Err(e) = crate::spin::enable(spin) {
                        tracing::warn!(target: "ipc", "no bounded poll before sleeping: {e}");
                    }
                }
                let local = tokio::task::LocalSet::new();
                local.block_on(&runtime, async {
                    let run_jobs = async {
                        while let Some(job) = job_queue.recv().await {
                            job();
                        }
                    };
                    tokio::select! {
                        _ = run_jobs => {}
                        _ = stop_requested => {}
                    }
                });
                // Jobs still queued hold loop-local values: drop them here,
                // on this thread, and refuse new ones.
                job_queue.close();
                while job_queue.try_recv().is_ok() {}
                // Dropping the LocalSet drops every connection task, which
                // closes the sockets.
                drop(local);
                runtime.shutdown_timeout(POOL_SHUTDOWN_GRACE);
            })
            .map_err(|source| IpcError::io("cannot start the IPC event-loop thread", source))?;
        let handle = EventLoopHandle {
            shared: Arc::new(LoopShared {
                jobs,
                thread: thread.thread().id(),
                process_name: process_name.into(),
            }),
        };
        Ok(Self {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn handle(&self) -> EventLoopHandle {
        self.handle.clone()
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // Joining ourselves would deadlock; the loop then ends on its own.
            if !self.handle.is_loop_thread() {
                let _ = thread.join();
            }
        }
    }
}

impl EventLoopHandle {
    pub fn process_name(&self) -> &str {
        &self.shared.process_name
    }

    pub(crate) fn process_name_arc(&self) -> Arc<str> {
        self.shared.process_name.clone()
    }

    /// True on the event-loop thread, where blocking on a call would
    /// deadlock the loop.
    pub fn is_loop_thread(&self) -> bool {
        thread::current().id() == self.shared.thread
    }

    /// Runs `job` on the loop thread. Gives the job back if the loop has
    /// stopped.
    pub(crate) fn post(&self, job: Job) -> Result<(), Job> {
        self.shared.jobs.send(job).map_err(|rejected| rejected.0)
    }

    /// Runs `make()` on the loop thread and the future it returns as a local
    /// task; the returned future (`Send`) yields its output, or `None` if
    /// the loop stopped first. Code that makes many calls can run on the
    /// loop this way and use the proxies' `..._on_loop` calls, which cross
    /// no thread.
    pub fn run<T, Fut>(
        &self,
        make: impl FnOnce() -> Fut + Send + 'static,
    ) -> impl Future<Output = Option<T>> + Send + 'static
    where
        T: Send + 'static,
        Fut: Future<Output = T> + 'static,
    {
        let (reply, outcome) = futures::channel::oneshot::channel();
        // If the loop has stopped, the job and with it `reply` are dropped,
        // which resolves `outcome` to `None`.
        let _ = self.post(Box::new(move || {
            tokio::task::spawn_local(async move {
                let _ = reply.send(make().await);
            });
        }));
        async move { outcome.await.ok() }
    }

    /// Blocks the calling thread on [`EventLoopHandle::run`]. Never call it
    /// on the loop thread (it would wait for itself).
    pub fn run_blocking<T, Fut>(&self, make: impl FnOnce() -> Fut + Send + 'static) -> Option<T>
    where
        T: Send + 'static,
        Fut: Future<Output = T> + 'static,
    {
        debug_assert!(
            !self.is_loop_thread(),
            "a blocking IPC call was made on the IPC event-loop thread"
        );
        futures::executor::block_on(self.run(make))
    }
}

/// A value that lives on the event-loop thread (a Cap'n Proto client,
/// which is `!Send`) but is owned by sync code on other threads. It is only
/// ever touched on the loop thread: `get` checks, and `Drop` sends it back
/// there.
pub(crate) struct LoopLocal<T: 'static> {
    value: ManuallyDrop<T>,
    owner: EventLoopHandle,
}

// SAFETY: the wrapped value is accessed (`get`) and dropped only on the loop
// thread; other threads only move the wrapper, never the value's contents.
unsafe impl<T: 'static> Send for LoopLocal<T> {}
// SAFETY: as above, a shared reference gives access only on the loop thread.
unsafe impl<T: 'static> Sync for LoopLocal<T> {}

impl<T: 'static> LoopLocal<T> {
    /// Must be called on the loop thread of `owner`.
    pub(crate) fn new(value: T, owner: &EventLoopHandle) -> Self {
        assert!(owner.is_loop_thread(), "LoopLocal created off the loop");
        Self {
            value: ManuallyDrop::new(value),
            owner: owner.clone(),
        }
    }

    pub(crate) fn get(&self) -> &T {
        assert!(
            self.owner.is_loop_thread(),
            "loop-local value used off the IPC event-loop thread"
        );
        &self.value
    }

    fn get_mut(&mut self) -> &mut T {
        assert!(
            self.owner.is_loop_thread(),
            "loop-local value used off the IPC event-loop thread"
        );
        &mut self.value
    }
}

/// A loop-local future (a call's, started on the loop thread) is polled
/// where it lives: by a task on the loop thread that is not one of the
/// `LocalSet`'s, such as the node's HTTP server's.
impl<F: Future + Unpin + 'static> Future for LoopLocal<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        Pin::new(self.get_mut().get_mut()).poll(cx)
    }
}

impl<T: 'static> Drop for LoopLocal<T> {
    fn drop(&mut self) {
        if self.owner.is_loop_thread() {
            // SAFETY: dropped once, here, on the loop thread.
            unsafe { ManuallyDrop::drop(&mut self.value) };
            return;
        }
        // SAFETY: taken once; from here on only the carrier owns it.
        let carrier = LoopLocal {
            value: ManuallyDrop::new(unsafe { ManuallyDrop::take(&mut self.value) }),
            owner: self.owner.clone(),
        };
        if let Err(job) = self.owner.post(Box::new(move || drop(carrier))) {
            // The loop is gone: the value cannot be dropped on its thread,
            // so it is leaked rather than touched here.
            std::mem::forget(job);
        }
    }
}
