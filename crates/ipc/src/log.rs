//! `-debug=ipc`: every request and response, in Cap'n Proto text form, on
//! tracing target `ipc` at debug level. With that target off nothing is
//! formatted: callers hand over a message reader (a few pointers, built
//! either way) and the text is produced only when the target is enabled.

mod text;

use std::sync::Arc;

use capnp::dynamic_value;

/// The tracing target of IPC logging (`-debug=ipc` enables it at debug
/// level). Its lines are escape-free (see `text`), which is why the log
/// writes them unsanitized.
pub const LOG_TARGET: &str = kestrel_common::logging::IPC_TARGET;

/// Which end of a call is logging.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Side {
    Client,
    Server,
}

/// Logs the calls of one interface in one process.
#[derive(Clone)]
pub(crate) struct CallLog {
    /// `<process> pid=<pid> <side> <interface>`, formatted once: the start
    /// of every line, the same for all of them.
    caller: Arc<str>,
}

impl CallLog {
    pub(crate) fn new(process: Arc<str>, interface: &'static str, side: Side) -> Self {
        let side = match side {
            Side::Client => "client",
            Side::Server => "server",
        };
        let pid = std::process::id();
        Self {
            caller: format!("{process} pid={pid} {side} {interface}").into(),
        }
    }

    pub(crate) fn enabled() -> bool {
        tracing::enabled!(target: LOG_TARGET, tracing::Level::DEBUG)
    }

    pub(crate) fn request<'r>(&self, method: &str, message: impl Into<dynamic_value::Reader<'r>>) {
        if Self::enabled() {
            self.write(method, "request", message.into());
        }
    }

    pub(crate) fn response<'r>(&self, method: &str, message: impl Into<dynamic_value::Reader<'r>>) {
        if Self::enabled() {
            self.write(method, "response", message.into());
        }
    }

    fn write(&self, method: &str, what: &str, message: dynamic_value::Reader<'_>) {
        let mut text = String::with_capacity(256);
        text::write_text(message, &mut text);
        tracing::debug!(target: LOG_TARGET, "{}.{method} {what} {text}", self.caller);
    }
}
