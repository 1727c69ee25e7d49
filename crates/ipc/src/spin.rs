//! An optional bounded poll before the event loop sleeps (`-ipcspin=<us>`):
//! after its last ready task, the loop watches its connections' sockets
//! for up to that long before it parks, so a reply that comes quickly is
//! read by a thread that is still running.
//!
//! Why: on a VM, waking an idle vCPU costs several times a whole round trip
//! (a raw socketpair ping-pong took 63 us between free processes here
//! against 10 us with both pinned to one core). The price is CPU: the loop
//! spins instead of sleeping while it waits, once per wake-up, and never
//! while idle. `cargo xtask bench ipc` measures both.

use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::event::epoll;
use rustix::event::Timespec;

thread_local! {
    /// The watch of this thread's event loop, if it spins.
    static WATCH: RefCell<Option<OwnedFd>> = const { RefCell::new(None) };
}

/// The poll a loop asked for `requested` runs, on a process that may run
/// on `cpus` CPUs: none on one CPU (pinned, or a one-CPU machine), where
/// the poll only takes the time the peer needs to answer (`bench rpc`
/// pinned: `getbalance` 2.5x `kestreld` with it, 1.35x without).
pub(crate) fn effective(requested: Duration, cpus: usize) -> Duration {
    if cpus > 1 {
        requested
    } else {
        Duration::ZERO
    }
}

/// The CPUs this process may run on (its affinity and CPU quota).
pub(crate) fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Makes this thread (an event loop's) spin for up to `limit` before it
/// parks. A zero `limit` turns spinning off.
pub(crate) fn enable(limit: Duration) -> std::io::Result<()> {
    let watch = if limit.is_zero() {
        None
    } else {
        Some(epoll::create(epoll::CreateFlags::CLOEXEC)?)
    };
    WATCH.with(|w| *w.borrow_mut() = watch);
    Ok(())
}

/// Adds a connection's socket to this thread's watch, if it spins. The
/// kernel drops it from the watch when the socket is closed.
pub(crate) fn watch(socket: impl AsFd) -> std::io::Result<()> {
    WATCH.with(|w| match &*w.borrow() {
        Some(watch) => Ok(epoll::add(
            watch,
            socket,
            epoll::EventData::new_u64(0),
            epoll::EventFlags::IN,
        )?),
        None => Ok(()),
    })
}

/// Runs before the loop parks: returns once a watched socket is readable
/// or `limit` has passed.
pub(crate) fn before_park(limit: Duration) {
    WATCH.with(|w| {
        let Some(watch) = &*w.borrow() else { return };
        let deadline = Instant::now() + limit;
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let mut ready = [MaybeUninit::<epoll::Event>::uninit(); 1];
        while Instant::now() < deadline {
            match epoll::wait(watch, &mut ready[..], Some(&now)) {
                Ok((events, _)) if !events.is_empty() => return,
                // Lets a peer pinned to the same core run meanwhile.
                Ok(_) => std::thread::yield_now(),
                Err(_) => return,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    use super::*;

    #[test]
    fn one_cpu_gets_no_poll() {
        let asked = Duration::from_micros(50);
        assert_eq!(effective(asked, 1), Duration::ZERO);
        assert_eq!(effective(asked, 2), asked);
    }

    #[test]
    fn the_poll_ends_when_a_watched_socket_is_readable_or_at_its_limit() {
        let limit = Duration::from_millis(200);
        let (watched, peer) = UnixStream::pair().unwrap();
        enable(limit).unwrap();
        watch(&watched).unwrap();

        let started = Instant::now();
        before_park(limit);
        assert!(started.elapsed() >= limit, "returned before its limit");

        (&peer).write_all(b"x").unwrap();
        let started = Instant::now();
        before_park(limit);
        assert!(
            started.elapsed() < limit / 2,
            "kept polling a readable socket for {:?}",
            started.elapsed()
        );

        // Off: nothing is watched and nothing waits.
        enable(Duration::ZERO).unwrap();
        let (unwatched, _peer) = UnixStream::pair().unwrap();
        watch(&unwatched).unwrap();
        let started = Instant::now();
        before_park(limit);
        assert!(started.elapsed() < limit / 2);
    }
}
