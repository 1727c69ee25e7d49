//! kestrel-ipc between two real processes: this test process and
//! `kestrel-ipc-testpeer` (a wallet and chain backed by the fakes of
//! `kestrel_ipc::test_peer`; feature `test-peer`).

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use kestrel_interfaces::{rpc_code, Chain, Error, Wallet, COIN};
use kestrel_ipc::test_peer::{txid_of, TestChain};
use kestrel_ipc::{
    connect_unix, spawn_process, ChildProcess, Connection, EchoOnlyInit, EventLoop, WalletLoader,
};

const PEER: &str = env!("CARGO_BIN_EXE_kestrel-ipc-testpeer");
/// Upper bound for anything that should happen "promptly"; tests fail
/// rather than hang when it is exceeded.
const PROMPTLY: Duration = Duration::from_secs(10);

/// Polls `condition` until it holds or `PROMPTLY` passes.
fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PROMPTLY;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `f` on a thread and fails the test if it does not return promptly.
fn within_deadline<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, outcome) = mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(f());
    });
    outcome
        .recv_timeout(PROMPTLY)
        .unwrap_or_else(|_| panic!("{what} hung"))
}

fn spawn_wallet_peer(event_loop: &EventLoop) -> (ChildProcess, Connection) {
    spawn_process(
        &event_loop.handle(),
        Path::new(PEER),
        &[],
        Arc::new(EchoOnlyInit),
    )
    .expect("spawn the test peer")
}

/// A test peer with wallet `name` loaded on a fresh [`TestChain`] of ours.
fn spawn_with_wallet(
    event_loop: &EventLoop,
    name: &str,
) -> (ChildProcess, Connection, Arc<TestChain>, Arc<dyn Wallet>) {
    let (child, connection) = spawn_wallet_peer(event_loop);
    let chain = Arc::new(TestChain::default());
    let wallet = connection
        .remote_init()
        .make_wallet_loader(chain.clone())
        .unwrap()
        .load_wallet(name)
        .unwrap();
    (child, connection, chain, wallet)
}

#[test]
fn calls_cross_both_ways_and_a_capability_is_called_back() {
    let event_loop = EventLoop::start("test-node").unwrap();
    let (child, connection) = spawn_wallet_peer(&event_loop);
    let chain = Arc::new(TestChain::default());
    let loader = connection
        .remote_init()
        .make_wallet_loader(chain.clone())
        .unwrap();

    // Refusals cross with their code and message.
    match loader.load_wallet("missing") {
        Err(Error::Rejected { code, message }) => {
            assert_eq!(code, rpc_code::WALLET_NOT_FOUND);
            assert_eq!(message, "wallet \"missing\" not found");
        }
        Err(other) => panic!("expected Rejected, got {other}"),
        Ok(_) => panic!("loading a missing wallet succeeded"),
    }
    let wallet = loader.load_wallet("w1").unwrap();
    // The wallet subscribed (a ChainNotifications capability crossed to us);
    // notifying it calls back into the child.
    assert_eq!(chain.subscriber_count(), 1);
    for _ in 0..3 {
        chain.connect_block();
    }
    assert_eq!(wallet.get_balance().unwrap(), 3 * COIN);
    assert_eq!(wallet.get_new_address().unwrap(), "w1-address-3");

    // A send makes the child call our chain while our call waits for it.
    let txid = wallet.send_to_address("addr", 5 * COIN).unwrap();
    let broadcasts = chain.broadcasts();
    assert_eq!(broadcasts.len(), 1);
    assert!(broadcasts[0].starts_with(b"addr"));
    assert_eq!(txid, txid_of(&broadcasts[0]));
    // Our chain's refusal crosses twice (to the wallet and back to us).
    assert_eq!(
        wallet.send_to_address("reject-me", 1).unwrap_err(),
        Error::Rejected {
            code: rpc_code::VERIFY_REJECTED,
            message: "bad-txns-test".into()
        }
    );
    assert_eq!(
        wallet.send_to_address("addr", 0).unwrap_err(),
        Error::Rejected {
            code: rpc_code::INVALID_PARAMETER,
            message: "amount must be positive".into()
        }
    );

    // Structured results keep every field.
    let unspent = wallet.list_unspent(6).unwrap();
    assert_eq!(
        unspent.iter().map(|u| u.vout).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(unspent[1].confirmations, 8);
    assert!(unspent[1].spendable && !unspent[0].spendable);
    assert_eq!(unspent[2].address, "w1-address-3");
    let txs = wallet.list_transactions(4).unwrap();
    assert_eq!(txs.len(), 4);
    assert_eq!(txs[2].fee, Some(2));
    assert_eq!(txs[3].fee, None);
    assert_eq!(txs[3].block_hash, Some([0xbb; 32]));
    assert_eq!(txs[2].block_hash, None);
    assert_eq!(txs[3].raw, vec![3u8; 3]);
    assert_eq!(txs[3].amount, -3000);
    assert_eq!(wallet.get_transaction(&[3; 32]).unwrap(), txs[3]);

    // Dropping the wallet releases its subscription across the boundary.
    drop(wallet);
    eventually("the subscription to end", || chain.subscriber_count() == 0);

    // Closing the connection makes the child exit by itself.
    connection.close();
    let status = child
        .wait_exit(PROMPTLY)
        .expect("the child exits when its connection closes");
    assert!(status.success(), "{status}");
}

/// What this test process logs with `-debug=ipc` (target `ipc`), for tests
/// that count calls; each test names its event loop apart, so lines of
/// concurrent tests are told apart by process name.
fn ipc_log() -> &'static Mutex<Vec<u8>> {
    static LOG: std::sync::OnceLock<&'static Mutex<Vec<u8>>> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let log: &'static Mutex<Vec<u8>> = Box::leak(Box::default());
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("ipc=debug"))
            .with_ansi(false)
            .with_writer(move || LogWriter(log))
            .init();
        log
    })
}

struct LogWriter(&'static Mutex<Vec<u8>>);

impl Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_burst_of_notifications_crosses_in_order_in_a_few_calls() {
    let log = ipc_log();
    let event_loop = EventLoop::start("burst-node").unwrap();
    let (_child, _connection, chain, wallet) = spawn_with_wallet(&event_loop, "w1");
    let subscriber = chain.subscribers()[0].clone();
    // More than a window of full batches, so the sender also waits once.
    const BLOCKS: u32 = 300;
    for height in 1..=BLOCKS {
        subscriber.block_connected(height, &[height as u8; 80]);
    }
    subscriber.flush();
    let seen: Vec<u32> = wallet
        .list_unspent(0)
        .unwrap()
        .iter()
        .map(|u| u.vout)
        .collect();
    assert_eq!(seen, (1..=BLOCKS).collect::<Vec<_>>());
    let log = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
    let calls = log
        .lines()
        .filter(|l| l.contains("burst-node") && l.contains("ChainNotifications.notify request"))
        .count();
    assert_eq!(calls, 5, "{BLOCKS} notifications in batches of 64");
}

#[test]
fn blocks_from_crosses_in_batches() {
    let event_loop = EventLoop::start("test-wallet").unwrap();
    let (_child, connection) = spawn_process(
        &event_loop.handle(),
        Path::new(PEER),
        &[OsStr::new("-chainheight=1200")],
        Arc::new(EchoOnlyInit),
    )
    .expect("spawn the test peer");
    let chain = connection.remote_init().make_chain().unwrap();
    let block = |h: u32| vec![h as u8; 8];

    // From the middle, cut by max_blocks.
    assert_eq!(
        chain.blocks_from(1000, 150).unwrap(),
        (1000..1150).map(block).collect::<Vec<_>>()
    );
    // Cut by the tip.
    assert_eq!(
        chain.blocks_from(1100, 500).unwrap(),
        (1100..=1200).map(block).collect::<Vec<_>>()
    );
    // Past the tip: empty, not an error.
    assert_eq!(chain.blocks_from(1201, 500).unwrap(), Vec::<Vec<u8>>::new());
    assert_eq!(chain.blocks_from(0, 0).unwrap(), Vec::<Vec<u8>>::new());

    // A rescan as the wallet does it: 1201 blocks in 3 batches.
    let (mut height, mut batches, mut seen) = (0u32, 0, Vec::new());
    loop {
        let batch = chain.blocks_from(height, 500).unwrap();
        if batch.is_empty() {
            break;
        }
        batches += 1;
        height += batch.len() as u32;
        seen.extend(batch);
    }
    assert_eq!(batches, 3);
    assert_eq!(seen, (0..=1200).map(block).collect::<Vec<_>>());
}

#[test]
fn many_concurrent_calls_and_pipelined_calls() {
    let event_loop = EventLoop::start("test-node").unwrap();
    let (_child, connection, _chain, wallet) = spawn_with_wallet(&event_loop, "busy");
    let echo = Arc::new(connection.remote_init().make_echo().unwrap());
    let threads: Vec<_> = (0..8u8)
        .map(|t| {
            let (wallet, echo) = (wallet.clone(), echo.clone());
            thread::spawn(move || {
                for i in 0..100u8 {
                    let data = [t, i, t ^ i];
                    assert_eq!(echo.echo(&data).unwrap(), data);
                    assert_eq!(
                        wallet.list_transactions(u32::from(i % 5)).unwrap().len(),
                        usize::from(i % 5)
                    );
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    // 100 calls in flight from one thread.
    let pending: Vec<_> = (0..100u32)
        .map(|i| echo.echo_async(&i.to_le_bytes()))
        .collect();
    let replies = futures::executor::block_on(futures::future::join_all(pending));
    for (i, reply) in replies.into_iter().enumerate() {
        assert_eq!(reply.unwrap(), (i as u32).to_le_bytes());
    }
}

/// Calls made by a task on the event loop itself (no thread hop): one at a
/// time and 100 in flight, each answered with its own bytes; once the peer
/// is gone they fail with `Disconnected` instead of waiting.
#[test]
fn calls_from_the_loop_thread_are_answered_and_fail_on_disconnect() {
    let event_loop = EventLoop::start("test-node").unwrap();
    let (child, connection) = spawn_wallet_peer(&event_loop);
    let echo = connection.remote_init().make_echo().unwrap();
    let on_loop = echo.clone();
    let replies = event_loop
        .handle()
        .run_blocking(move || async move {
            let mut replies = Vec::new();
            for i in 0..10u32 {
                replies.push(on_loop.echo_on_loop(&i.to_le_bytes()).await);
            }
            let pending = (10..110u32).map(|i| on_loop.echo_on_loop(&i.to_le_bytes()));
            replies.extend(futures::future::join_all(pending).await);
            replies
        })
        .expect("the loop runs");
    assert_eq!(replies.len(), 110);
    for (i, reply) in replies.into_iter().enumerate() {
        assert_eq!(reply.unwrap(), (i as u32).to_le_bytes());
    }
    child.kill();
    assert!(connection.wait_closed(PROMPTLY).is_some());
    let after = event_loop
        .handle()
        .run_blocking(move || async move { echo.echo_on_loop(b"late").await })
        .expect("the loop runs");
    assert!(matches!(after, Err(Error::Disconnected(..))), "{after:?}");
}

/// The node's HTTP handlers are tasks of the loop thread's runtime, not of
/// its `LocalSet`: wallet calls they start are sent from right there and
/// answered, one at a time and together, a send (which calls back into our
/// chain) included; once the peer is gone they fail with `Disconnected`.
#[test]
fn async_calls_from_a_runtime_task_on_the_loop_thread_are_answered() {
    let event_loop = EventLoop::start("test-node").unwrap();
    let (child, connection, chain, wallet) = spawn_with_wallet(&event_loop, "handler");
    for _ in 0..2 {
        chain.connect_block();
    }
    let in_task = wallet.clone();
    let on_loop = event_loop.handle();
    let (balance, addresses, txid) = event_loop
        .handle()
        .run_blocking(move || async move {
            tokio::spawn(async move {
                assert!(on_loop.is_loop_thread());
                let wallet = in_task.as_async().expect("a remote wallet is async");
                let balance = wallet.get_balance().await;
                let both = futures::future::join(wallet.get_new_address(), wallet.get_balance());
                let txid = wallet.send_to_address("addr", COIN).await;
                (balance, both.await, txid)
            })
            .await
            .expect("the task ran")
        })
        .expect("the loop runs");
    assert_eq!(balance.unwrap(), 2 * COIN);
    assert_eq!(addresses.0.unwrap(), "handler-address-2");
    assert_eq!(addresses.1.unwrap(), 2 * COIN);
    assert_eq!(txid.unwrap(), txid_of(&chain.broadcasts()[0]));

    child.kill();
    assert!(connection.wait_closed(PROMPTLY).is_some());
    let after = event_loop
        .handle()
        .run_blocking(move || async move {
            tokio::spawn(async move { wallet.as_async().unwrap().get_balance().await }).await
        })
        .expect("the loop runs")
        .expect("the task ran");
    assert!(matches!(after, Err(Error::Disconnected(..))), "{after:?}");
}

#[test]
fn killing_the_child_mid_call_fails_calls_and_reaps_it() {
    let event_loop = EventLoop::start("test-node").unwrap();
    let (child, connection, chain, wallet) = spawn_with_wallet(&event_loop, "doomed");
    chain.set_hold(true);
    let in_flight = {
        let wallet = wallet.clone();
        thread::spawn(move || wallet.send_to_address("addr", COIN))
    };
    assert!(
        chain.wait_broadcast_started(PROMPTLY),
        "the wallet never called broadcast"
    );
    child.kill();

    let outcome = within_deadline("the in-flight call", move || in_flight.join().unwrap());
    match outcome {
        Err(Error::Disconnected(what, why)) => {
            assert_eq!(what, "Wallet");
            assert!(why.contains("kestrel-ipc-testpeer"), "{why}");
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    let later = within_deadline("a later call", move || wallet.get_balance());
    assert!(matches!(later, Err(Error::Disconnected(..))), "{later:?}");
    assert!(connection.wait_closed(PROMPTLY).is_some());

    let status = child
        .wait_exit(PROMPTLY)
        .expect("the killed child is reaped");
    assert!(!status.success());
    assert!(
        !Path::new(&format!("/proc/{}", child.pid())).exists(),
        "the child is still a zombie"
    );
    chain.set_hold(false);
}

/// A `kestrel-ipc-testpeer -ipcbind` process with its stdout lines on a
/// channel and its stderr in a file.
struct BindPeer {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: PathBuf,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl BindPeer {
    fn start(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("regtest/sockets/node.sock");
        let stderr = dir.path().join("stderr.log");
        let mut child = Command::new(PEER)
            .arg("-ipcbind=unix")
            .args(extra)
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let stdout = lines_of(child.stdout.take().unwrap());
        let peer = Self {
            child,
            stdout,
            stderr,
            socket,
            _dir: dir,
        };
        let first = peer.next_line();
        assert!(first.starts_with("listening on"), "{first}");
        peer
    }

    fn next_line(&self) -> String {
        self.stdout
            .recv_timeout(PROMPTLY)
            .expect("a line from the test peer")
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap()
    }

    fn interrupt(&self) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + PROMPTLY;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the -ipcbind process did not exit"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for BindPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines_of(output: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (line_tx, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(|l| l.ok()) {
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

#[test]
fn listener_survives_garbage_and_abrupt_close() {
    let mut peer = BindPeer::start(&["-debug=ipc"]);
    let dir_mode = std::fs::metadata(peer.socket.parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700);
    let socket_meta = std::fs::symlink_metadata(&peer.socket).unwrap();
    assert!(socket_meta.file_type().is_socket());
    assert_eq!(socket_meta.permissions().mode() & 0o777, 0o600);

    // Garbage: the server drops that connection (we read EOF) ...
    let mut garbage = std::os::unix::net::UnixStream::connect(&peer.socket).unwrap();
    garbage.set_read_timeout(Some(PROMPTLY)).unwrap();
    garbage.write_all(&[0xff; 64]).unwrap();
    let mut rest = Vec::new();
    let read = garbage.read_to_end(&mut rest);
    assert!(
        read.is_ok() || rest.is_empty(),
        "the server kept the garbage connection open"
    );
    // ... an abrupt close ...
    drop(std::os::unix::net::UnixStream::connect(&peer.socket).unwrap());

    // ... and a real client is still served.
    let event_loop = EventLoop::start("test-client").unwrap();
    let connection =
        connect_unix(&event_loop.handle(), &peer.socket, Arc::new(EchoOnlyInit)).unwrap();
    let chain = connection.remote_init().make_chain().unwrap();
    assert_eq!(chain.tip().unwrap().height, 0);
    assert_eq!(chain.estimate_fee_per_kb().unwrap(), 1000);

    peer.interrupt();
    assert!(peer.wait_exit().success());
    let log = peer.stderr();
    assert!(
        log.contains("IPC connection to client #1") && log.contains("failed"),
        "{log}"
    );
}

#[test]
fn debug_ipc_logs_each_request_and_response_as_text() {
    let mut peer = BindPeer::start(&["-debug=ipc", "-chainheight=2"]);
    let event_loop = EventLoop::start("test-client").unwrap();
    let connection =
        connect_unix(&event_loop.handle(), &peer.socket, Arc::new(EchoOnlyInit)).unwrap();
    let chain = connection.remote_init().make_chain().unwrap();
    assert_eq!(chain.block_at(0).unwrap(), Some(vec![0u8; 8]));
    assert_eq!(chain.block_at(4242).unwrap(), None);
    assert_eq!(
        chain.blocks_from(1, 10).unwrap(),
        vec![vec![1u8; 8], vec![2u8; 8]]
    );
    peer.interrupt();
    peer.wait_exit();
    let log = peer.stderr();
    let pid = peer.child.id();
    let request = log
        .lines()
        .find(|l| l.contains("Chain.blockAt request") && l.contains("height = 4242"))
        .unwrap_or_else(|| panic!("no blockAt request line in:\n{log}"));
    assert!(
        request.contains("kestrel-ipc-testpeer") && request.contains(&format!("pid={pid}")),
        "{request}"
    );
    assert!(request.contains("server"), "{request}");
    let response = log
        .lines()
        .find(|l| {
            l.contains("Chain.blockAt response") && l.contains("block = 0x\"0000000000000000\"")
        })
        .unwrap_or_else(|| panic!("no blockAt response line in:\n{log}"));
    assert!(response.contains(&format!("pid={pid}")), "{response}");
    let request = log
        .lines()
        .find(|l| l.contains("Chain.blocksFrom request"))
        .unwrap_or_else(|| panic!("no blocksFrom request line in:\n{log}"));
    assert!(
        request.contains("height = 1") && request.contains("maxBlocks = 10"),
        "{request}"
    );
    let response = log
        .lines()
        .find(|l| l.contains("Chain.blocksFrom response"))
        .unwrap_or_else(|| panic!("no blocksFrom response line in:\n{log}"));
    assert!(
        response.contains(r#"blocks = [0x"0101010101010101", 0x"0202020202020202"]"#),
        "{response}"
    );
}

#[test]
fn sigint_with_a_client_attached_exits_promptly_and_the_client_notices() {
    let mut server = BindPeer::start(&[]);
    let mut client = Command::new(PEER)
        .arg(format!("-ipcconnect=unix:{}", server.socket.display()))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let client_lines = lines_of(client.stdout.take().unwrap());
    let attached = client_lines
        .recv_timeout(PROMPTLY)
        .expect("the client attached");
    assert_eq!(attached, "attached tip=0");

    server.interrupt();
    assert_eq!(server.next_line(), "shutdown complete (Interrupt)");
    assert!(server.wait_exit().success());
    assert!(!server.socket.exists(), "the socket file was left behind");

    let lost = client_lines
        .recv_timeout(PROMPTLY)
        .expect("the client noticed");
    assert!(lost.starts_with("lost: Chain is not available"), "{lost}");
    let status = within_deadline("the client's exit", move || client.wait().unwrap());
    assert!(status.success());
}

#[test]
fn bad_ipcfd_is_refused_with_a_clear_error() {
    let output = Command::new(PEER).arg("-ipcfd=99").output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("-ipcfd=99") && stderr.contains("not an open socket"),
        "{stderr}"
    );
}

#[test]
fn wallet_reads_are_answered_while_every_pool_thread_waits_on_the_chain() {
    let event_loop = EventLoop::start("test-node").unwrap();
    let (_child, _connection, chain, wallet) = spawn_with_wallet(&event_loop, "busy");
    chain.connect_block();
    eventually("the wallet to see the block", || {
        wallet.get_balance() == Ok(COIN)
    });

    // Every pool thread of the wallet process runs a send that waits in our
    // chain's broadcast.
    chain.set_hold(true);
    let sends: Vec<_> = (0..kestrel_ipc::DEFAULT_BLOCKING_THREADS)
        .map(|_| {
            let wallet = wallet.clone();
            thread::spawn(move || wallet.send_to_address("addr", COIN))
        })
        .collect();
    eventually("every pool thread to wait in broadcast", || {
        chain.broadcasts().len() == kestrel_ipc::DEFAULT_BLOCKING_THREADS
    });

    // A call that needs the pool waits; the reads are answered on the loop.
    let queued = {
        let wallet = wallet.clone();
        thread::spawn(move || wallet.get_new_address())
    };
    let reads = within_deadline("reads while the pool is busy", {
        let wallet = wallet.clone();
        move || {
            (
                wallet.get_balance(),
                wallet.list_unspent(0).map(|u| u.len()),
                wallet.list_transactions(3).map(|t| t.len()),
                wallet.get_transaction(&[2; 32]).map(|t| t.confirmations),
            )
        }
    });
    assert_eq!(reads, (Ok(COIN), Ok(1), Ok(3), Ok(2)));
    assert!(
        !queued.is_finished(),
        "getNewAddress was answered while every pool thread was busy: the pool was not saturated"
    );

    chain.set_hold(false);
    for send in sends {
        assert!(send.join().unwrap().is_ok());
    }
    let address = within_deadline("the queued call", move || queued.join().unwrap());
    assert_eq!(address, Ok("busy-address-1".to_string()));
}

#[test]
fn a_fee_estimate_is_answered_while_every_pool_thread_waits_in_broadcast() {
    const POOL: usize = 2;
    let event_loop = EventLoop::with_blocking_threads("test-node", POOL).unwrap();
    let (_child, _connection, chain, wallet) = spawn_with_wallet(&event_loop, "fees");
    let send = |address: String| {
        let wallet = wallet.clone();
        thread::spawn(move || wallet.send_to_address(&address, COIN))
    };

    // Every pool thread of this (the node's) side waits in a held broadcast.
    chain.set_hold(true);
    let mut sends: Vec<_> = (0..POOL).map(|i| send(format!("held-{i}"))).collect();
    eventually("every pool thread to wait in broadcast", || {
        chain.broadcasts().len() == POOL
    });

    // One more send: its fee estimate is answered on the loop; its
    // broadcast waits for a pool thread.
    sends.push(send("queued".into()));
    eventually("the next send's fee estimate", || {
        chain.fee_estimates() == POOL + 1
    });
    assert_eq!(
        chain.broadcasts().len(),
        POOL,
        "a broadcast ran while every pool thread was busy: the pool was not saturated"
    );

    chain.set_hold(false);
    for send in sends {
        assert!(send.join().unwrap().is_ok());
    }
    assert_eq!(chain.broadcasts().len(), POOL + 1);
}
