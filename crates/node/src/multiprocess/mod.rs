//! The multiprocess build (feature `multiprocess`): `kestrel-node` runs the
//! node and spawns its wallet as a `kestrel-wallet` process, talking Cap'n
//! Proto through `kestrel-ipc`; `kestrel-wallet` serves that node, or
//! attaches on its own to a node listening with `-ipcbind`.
//!
//! Both sides go through the `kestrel-interfaces` traits, so the RPC, chain
//! and wallet code is the same as `kestreld`'s.

pub mod node;
pub mod wallet;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use kestrel_ipc::{Connection, ShutdownReason, ShutdownSignal};

/// Blocks until SIGINT/SIGTERM arrive or `connection` closes, whichever is
/// first; the connection closing counts as [`ShutdownReason::Requested`].
fn wait_for_signal_or_close(
    connection: &Arc<Connection>,
    shutdown: &ShutdownSignal,
) -> ShutdownReason {
    let watched = connection.clone();
    let latch = shutdown.clone();
    // Not joined: after a signal the process exits and takes it along.
    thread::spawn(move || {
        while watched.wait_closed(Duration::from_secs(3600)).is_none() {}
        latch.request();
    });
    shutdown.wait()
}
