//! What one side knows about the process at the other end of a connection:
//! its name and whether the connection is still up.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use kestrel_interfaces::{rpc_code, Error};

/// Liveness of one connection, shared by its RPC task and every proxy that
/// calls through it.
pub(crate) struct Peer {
    description: String,
    closed: Mutex<Option<String>>,
    closed_changed: Condvar,
    closed_async: tokio::sync::Notify,
}

impl Peer {
    pub(crate) fn new(description: String) -> Self {
        Self {
            description,
            closed: Mutex::new(None),
            closed_changed: Condvar::new(),
            closed_async: tokio::sync::Notify::new(),
        }
    }

    pub(crate) fn description(&self) -> &str {
        &self.description
    }

    /// Records that the connection is gone (first reason wins) and wakes
    /// everyone waiting for that.
    pub(crate) fn mark_closed(&self, reason: String) {
        let mut closed = self.closed.lock().unwrap_or_else(|e| e.into_inner());
        closed.get_or_insert(reason);
        self.closed_changed.notify_all();
        self.closed_async.notify_waiters();
    }

    pub(crate) fn closed_reason(&self) -> Option<String> {
        self.closed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits up to `timeout` for the connection to close; its reason if it did.
    pub(crate) fn wait_closed(&self, timeout: Duration) -> Option<String> {
        let closed = self.closed.lock().unwrap_or_else(|e| e.into_inner());
        self.closed_changed
            .wait_timeout_while(closed, timeout, |closed| closed.is_none())
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }

    /// Resolves once the connection has closed.
    pub(crate) async fn closed(&self) {
        loop {
            let notified = self.closed_async.notified();
            if self.closed_reason().is_some() {
                return;
            }
            notified.await;
        }
    }

    /// The interfaces error for a call on `interface` that failed in
    /// transport (`e`): a lost connection is `Disconnected`, anything else
    /// (a malformed message, a method the far side lacks) is reported as a
    /// refused call with the transport's explanation.
    pub(crate) fn call_failed(&self, interface: &'static str, e: capnp::Error) -> Error {
        if e.kind == capnp::ErrorKind::Disconnected || self.closed_reason().is_some() {
            return self.disconnected(interface, Some(e));
        }
        Error::Rejected {
            code: rpc_code::MISC_ERROR,
            message: format!("{interface} call to {} failed: {e}", self.description),
        }
    }

    pub(crate) fn disconnected(&self, interface: &'static str, e: Option<capnp::Error>) -> Error {
        let why = self
            .closed_reason()
            .or_else(|| e.map(|e| e.to_string()))
            .unwrap_or_else(|| "the IPC event loop has stopped".into());
        Error::Disconnected(
            interface,
            format!("connection to {} lost: {why}", self.description),
        )
    }
}
