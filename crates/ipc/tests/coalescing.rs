//! The coalescing writer under a real connection: a burst of calls queued
//! in one turn of the loop leaves in a few `send`s and is answered in full,
//! and calls still pending when the peer goes away fail instead of waiting.
//! A test binary of its own (and its tests one at a time): the `send`
//! counter is per process, and nothing else may send meanwhile.

use std::future::{poll_fn, Future};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use kestrel_interfaces::Error;
use kestrel_ipc::test_peer::socket_syscalls;
use kestrel_ipc::{spawn_process, ChildProcess, Connection, EchoOnlyInit, EventLoop};
use rustix::process::{kill_process, Pid, Signal};

const PEER: &str = env!("CARGO_BIN_EXE_kestrel-ipc-testpeer");
const PROMPTLY: Duration = Duration::from_secs(10);
const BURST: u32 = 200;

/// An echo call started on the loop, not yet answered.
type PendingEcho = Pin<Box<dyn Future<Output = kestrel_interfaces::Result<Vec<u8>>>>>;

/// Held by each test: they count this process's sends.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn spawn_peer(event_loop: &EventLoop) -> (ChildProcess, Connection) {
    spawn_process(
        &event_loop.handle(),
        Path::new(PEER),
        &[],
        Arc::new(EchoOnlyInit),
    )
    .expect("spawn the test peer")
}

fn signal(pid: u32, signal: Signal) {
    let raw = Pid::from_raw(pid as i32).expect("a child's pid is positive");
    kill_process(raw, signal).expect("signal the test peer");
    if signal == Signal::STOP {
        // The signal takes effect asynchronously: wait until the peer is
        // stopped, so that it can answer nothing sent from here on.
        let deadline = Instant::now() + PROMPTLY;
        while !is_stopped(pid) {
            assert!(Instant::now() < deadline, "the test peer did not stop");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Whether `pid` is in state `T` (stopped), from /proc/<pid>/stat.
fn is_stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let after_name = &stat[stat.rfind(')')? + 1..];
            after_name
                .split_whitespace()
                .next()
                .map(|state| state == "T")
        })
        .unwrap_or(false)
}

fn sends() -> u64 {
    socket_syscalls().1
}

/// 200 calls started by one task in one poll, to a peer that is stopped so
/// that no reply can interleave: they leave in a few `send`s (capnp-rpc's
/// write queue flushes after every message, which without coalescing is
/// one `send` per call), and once the peer runs again every call is
/// answered with its own bytes.
#[test]
fn a_burst_of_queued_calls_leaves_in_a_few_sends_and_is_answered() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let event_loop = EventLoop::start("test-node").unwrap();
    let (child, connection) = spawn_peer(&event_loop);
    let echo = connection.remote_init().make_echo().unwrap();
    // One call first: the capability is resolved and the burst is calls only.
    assert_eq!(echo.echo(b"warm").unwrap(), b"warm");
    let pid = child.pid();
    signal(pid, Signal::STOP);
    let on_loop = echo.clone();
    let (burst_sends, replies) = event_loop
        .handle()
        .run_blocking(move || async move {
            let before = sends();
            let mut calls: Vec<PendingEcho> = (0..BURST)
                .map(|i| Box::pin(on_loop.echo_on_loop(&i.to_le_bytes())) as Pin<Box<_>>)
                .collect();
            // Every call builds and queues its request in this one poll.
            poll_fn(|cx| {
                for call in &mut calls {
                    assert!(
                        call.as_mut().poll(cx).is_pending(),
                        "answered by a stopped peer"
                    );
                }
                Poll::Ready(())
            })
            .await;
            // Let the write queue and the writer's sending task run.
            let deadline = Instant::now() + PROMPTLY;
            while sends() == before && Instant::now() < deadline {
                tokio::task::yield_now().await;
            }
            for _ in 0..100 {
                tokio::task::yield_now().await;
            }
            let burst_sends = sends() - before;
            signal(pid, Signal::CONT);
            (burst_sends, futures::future::join_all(calls).await)
        })
        .expect("the loop runs");
    assert!(
        (1..=4).contains(&burst_sends),
        "{BURST} calls queued in one poll took {burst_sends} sends"
    );
    assert_eq!(replies.len(), BURST as usize);
    for (i, reply) in replies.into_iter().enumerate() {
        assert_eq!(reply.expect("answered"), (i as u32).to_le_bytes());
    }
    drop(echo);
    connection.close();
    assert!(child.wait_exit(PROMPTLY).is_some(), "the peer did not exit");
}

/// Calls written to a peer that then dies without reading them all fail
/// with `Disconnected`, promptly.
#[test]
fn calls_pending_when_the_peer_dies_fail_as_disconnected() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let event_loop = EventLoop::start("test-node").unwrap();
    let (child, connection) = spawn_peer(&event_loop);
    let echo = connection.remote_init().make_echo().unwrap();
    assert_eq!(echo.echo(b"warm").unwrap(), b"warm");
    signal(child.pid(), Signal::STOP);
    let before = sends();
    let pending: Vec<_> = (0..BURST)
        .map(|i| echo.echo_async(&i.to_le_bytes()))
        .collect();
    let waiting =
        std::thread::spawn(move || futures::executor::block_on(futures::future::join_all(pending)));
    // The calls are written (they wait in the stopped peer's socket) ...
    let deadline = Instant::now() + PROMPTLY;
    while sends() == before {
        assert!(Instant::now() < deadline, "the calls were never sent");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    assert!(!waiting.is_finished(), "a stopped peer answered");
    // ... and the peer dies without answering.
    child.kill();
    assert!(
        connection.wait_closed(PROMPTLY).is_some(),
        "the connection did not see the peer die"
    );
    while !waiting.is_finished() {
        assert!(Instant::now() < deadline, "pending calls still wait");
        std::thread::sleep(Duration::from_millis(10));
    }
    let replies = waiting.join().expect("the waiting thread");
    assert_eq!(replies.len(), BURST as usize);
    for reply in replies {
        assert!(matches!(reply, Err(Error::Disconnected(..))), "{reply:?}");
    }
}
