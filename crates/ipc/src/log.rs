//! `-debug=ipc`: every request and response, in Cap'n Proto text form, on
//! tracing target `ipc` at debug level. With that target off nothing is
//! formatted: callers hand over a message reader (a few pointers, built
//! either way) and the text is produced only when the target is enabled.

use std::fmt::Debug;
use std::sync::Arc;

/// The tracing target of IPC logging (`-debug=ipc` enables it at debug level).
pub const LOG_TARGET: &str = "ipc";

/// Which end of a call is logging.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Side {
    Client,
    Server,
}

/// Logs the calls of one interface in one process.
#[derive(Clone)]
pub(crate) struct CallLog {
    process: Arc<str>,
    /// Read once: `getpid` is a system call per line otherwise.
    pid: u32,
    interface: &'static str,
    side: Side,
}

impl CallLog {
    pub(crate) fn new(process: Arc<str>, interface: &'static str, side: Side) -> Self {
        Self {
            process,
            pid: std::process::id(),
            interface,
            side,
        }
    }

    pub(crate) fn enabled() -> bool {
        tracing::enabled!(target: LOG_TARGET, tracing::Level::DEBUG)
    }

    pub(crate) fn request<D: Debug>(&self, method: &str, text: D) {
        self.write(method, "request", text);
    }

    pub(crate) fn response<D: Debug>(&self, method: &str, text: D) {
        self.write(method, "response", text);
    }

    fn write<D: Debug>(&self, method: &str, what: &str, text: D) {
        if Self::enabled() {
            let side = match self.side {
                Side::Client => "client",
                Side::Server => "server",
            };
            tracing::debug!(
                target: LOG_TARGET,
                "{} pid={} {side} {}.{method} {what} {:?}",
                self.process,
                self.pid,
                self.interface,
                text,
            );
        }
    }
}
