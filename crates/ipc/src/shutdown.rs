//! Shutdown requests: SIGINT/SIGTERM (caught on the event loop) or the
//! process's own request (an RPC `stop`). The binary waits on it, then drops
//! its listener and its `EventLoop`, which closes every connection so the
//! peers see `Disconnected` at once.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::signal::unix::{signal, SignalKind};

use crate::event_loop::EventLoopHandle;
use crate::{IpcError, LOG_TARGET};

/// Why the process is shutting down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownReason {
    Interrupt,
    Terminate,
    Requested,
}

/// A latch set by SIGINT, SIGTERM or [`ShutdownSignal::request`].
#[derive(Clone)]
pub struct ShutdownSignal {
    state: Arc<(Mutex<Option<ShutdownReason>>, Condvar)>,
}

impl ShutdownSignal {
    /// Catches SIGINT and SIGTERM from now on (instead of dying at once).
    pub fn install(handle: &EventLoopHandle) -> Result<Self, IpcError> {
        let shutdown = Self {
            state: Arc::default(),
        };
        let latch = shutdown.clone();
        handle
            .run_blocking(move || async move {
                let register =
                    |kind| signal(kind).map_err(|e| IpcError::io("cannot catch SIGINT/SIGTERM", e));
                let mut interrupt = register(SignalKind::interrupt())?;
                let mut terminate = register(SignalKind::terminate())?;
                tokio::task::spawn_local(async move {
                    let reason = tokio::select! {
                        _ = interrupt.recv() => ShutdownReason::Interrupt,
                        _ = terminate.recv() => ShutdownReason::Terminate,
                    };
                    tracing::info!(target: LOG_TARGET, "shutdown requested by {reason:?}");
                    latch.set(reason);
                });
                Ok(())
            })
            .unwrap_or(Err(IpcError::LoopStopped))?;
        Ok(shutdown)
    }

    /// Asks for shutdown from inside the process.
    pub fn request(&self) {
        self.set(ShutdownReason::Requested);
    }

    fn set(&self, reason: ShutdownReason) {
        let (requested, changed) = &*self.state;
        requested
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(reason);
        changed.notify_all();
    }

    /// Blocks until shutdown is requested.
    pub fn wait(&self) -> ShutdownReason {
        loop {
            if let Some(reason) = self.wait_timeout(Duration::from_secs(3600)) {
                return reason;
            }
        }
    }

    /// Waits up to `timeout`; the reason if shutdown was requested.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<ShutdownReason> {
        let deadline = Instant::now() + timeout;
        let (requested, changed) = &*self.state;
        let mut reason = requested.lock().unwrap_or_else(|e| e.into_inner());
        while reason.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            reason = changed
                .wait_timeout(reason, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *reason
    }
}
