//! IPC round trips of a 64-byte Echo, from one run, against baselines from
//! the same run: a raw socketpair ping-pong between two processes, bare
//! capnp-rpc between two processes (none of our layers), ours (kestrel-ipc
//! exactly as the node and wallet use it) with `-debug=ipc` off and on, and
//! with idle time between calls as a node's RPC handlers have it, and the
//! same call in-process. Once with the processes free, once with both
//! pinned to one core.
//!
//! `cargo bench -p kestrel-ipc --bench ipc` (with the depends cargo config).
//! The bench re-executes itself for the child processes
//! (`--child <raw|bare|ours> [-debug=ipc] -ipcfd=N`) and for the pinned
//! suite (`--suite pinned`).

use std::future::Future;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use capnp::capability::Rc;
use capnp_rpc::rpc_twoparty_capnp::Side;
use capnp_rpc::{twoparty, RpcSystem};
use futures::stream::{FuturesUnordered, StreamExt};
use kestrel_ipc::schema::echo_capnp::echo;
use kestrel_ipc::{parse_ipcfd, serve_fd, spawn_process, EchoOnlyInit, EventLoop};
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter};

const MESSAGE: [u8; 64] = [0x5a; 64];
const WARMUP: usize = 2_000;
const SEQUENTIAL: usize = 20_000;
const PIPELINED: usize = 100_000;
const IN_FLIGHT: usize = 100;
/// Calls of a node's RPC handlers come with idle time between them, in
/// which the threads sleep and caches cool: one row times that case.
const IDLE_BETWEEN_CALLS: Duration = Duration::from_micros(200);

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag_value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if let Some(role) = flag_value("--child") {
        let fd = args
            .iter()
            .find_map(|a| a.strip_prefix("-ipcfd="))
            .ok_or_else(|| anyhow::anyhow!("--child needs -ipcfd=N"))?;
        let fd = parse_ipcfd(fd)?;
        let debug = args.iter().any(|a| a == "-debug=ipc");
        return run_child(&role, fd, debug);
    }
    match flag_value("--suite").as_deref() {
        Some("pinned") => {
            // Inherited by every thread and child process created from here.
            let mut one_core = rustix::thread::CpuSet::new();
            one_core.set(0);
            rustix::thread::sched_setaffinity(None, &one_core)?;
            run_suite("pinned to one core")
        }
        Some(other) => anyhow::bail!("unknown --suite {other}; use --suite pinned or none"),
        None => {
            run_suite("free")?;
            let status = Command::new(std::env::current_exe()?)
                .args(["--suite", "pinned"])
                .status()?;
            anyhow::ensure!(status.success(), "the pinned suite failed: {status}");
            Ok(())
        }
    }
}

/// Timings of one variant.
struct Figures {
    mean: Duration,
    p50: Duration,
    p99: Duration,
    /// `None` where the API has no pipelined form.
    calls_per_sec: Option<f64>,
}

fn figures(mut round_trips: Vec<Duration>, pipelined_elapsed: Option<Duration>) -> Figures {
    round_trips.sort();
    let total: Duration = round_trips.iter().sum();
    Figures {
        mean: total / round_trips.len() as u32,
        p50: round_trips[round_trips.len() / 2],
        p99: round_trips[round_trips.len() * 99 / 100],
        calls_per_sec: pipelined_elapsed.map(|e| PIPELINED as f64 / e.as_secs_f64()),
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn run_suite(name: &str) -> anyhow::Result<()> {
    let log_filter = install_log_sink()?;
    println!(
        "\n== IPC Echo of {} bytes, processes {name} ==",
        MESSAGE.len()
    );
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>14}",
        "variant", "mean us", "p50 us", "p99 us", "pipelined/s"
    );
    let print = |label: &str, f: &Figures| {
        println!(
            "{label:<34} {:>9.2} {:>9.2} {:>9.2} {:>14}",
            us(f.mean),
            us(f.p50),
            us(f.p99),
            f.calls_per_sec.map_or("-".into(), |c| format!("{c:.0}"))
        );
    };
    let raw = bench_raw()?;
    print("1 raw socketpair ping-pong", &raw);
    let bare = bench_bare()?;
    print("2 bare capnp-rpc", &bare);
    let ours = bench_ours(false, Duration::ZERO)?;
    print("3 kestrel-ipc, -debug=ipc off", &ours);
    log_filter.modify(|filter| *filter = EnvFilter::new("ipc=debug"))?;
    let ours_debug = bench_ours(true, Duration::ZERO)?;
    log_filter.modify(|filter| *filter = EnvFilter::new("off"))?;
    print("3 kestrel-ipc, -debug=ipc on", &ours_debug);
    let ours_idle = bench_ours(false, IDLE_BETWEEN_CALLS)?;
    print(
        &format!(
            "3 kestrel-ipc, {} us idle between",
            IDLE_BETWEEN_CALLS.as_micros()
        ),
        &ours_idle,
    );
    let trait_call = bench_trait_call()?;
    print("3b kestrel-ipc Chain call (pool)", &trait_call);
    let local = bench_in_process();
    print("4 in-process call", &local);
    println!(
        "ratios (mean round trip): 3/2 = {:.2}  3/1 = {:.2}  3(debug)/3 = {:.2}",
        us(ours.mean) / us(bare.mean),
        us(ours.mean) / us(raw.mean),
        us(ours_debug.mean) / us(ours.mean),
    );
    if let (Some(ours), Some(bare), Some(raw)) =
        (ours.calls_per_sec, bare.calls_per_sec, raw.calls_per_sec)
    {
        println!(
            "ratios (pipelined calls/s): 3/2 = {:.2}  3/1 = {:.2}",
            ours / bare,
            ours / raw
        );
    }
    Ok(())
}

/// `-debug=ipc` in this process: off until a run turns it on; the text goes
/// to /dev/null so the figure is the cost of producing it.
fn install_log_sink() -> anyhow::Result<reload::Handle<EnvFilter, tracing_subscriber::Registry>> {
    let (filter, handle) = reload::Layer::new(EnvFilter::new("off"));
    let sink = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(sink)),
        )
        .try_init()?;
    Ok(handle)
}

/// Spawns this bench as a child serving `role` on its end of a socketpair.
fn spawn_child(role: &str, extra: &[&str]) -> anyhow::Result<(Child, UnixStream)> {
    let (ours, theirs) = UnixStream::pair()?;
    let fd = theirs.as_raw_fd();
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(["--child", role])
        .args(extra)
        .arg(format!("-ipcfd={fd}"));
    // SAFETY: only fcntl between fork and exec.
    unsafe {
        command.pre_exec(move || {
            let fd = rustix::fd::BorrowedFd::borrow_raw(fd);
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
            Ok(())
        });
    }
    let child = command.spawn()?;
    Ok((child, ours))
}

fn bench_raw() -> anyhow::Result<Figures> {
    let (mut child, mut stream) = spawn_child("raw", &[])?;
    let mut reply = [0u8; 64];
    let mut round_trip = |stream: &mut UnixStream| -> std::io::Result<()> {
        stream.write_all(&MESSAGE)?;
        stream.read_exact(&mut reply)
    };
    for _ in 0..WARMUP {
        round_trip(&mut stream)?;
    }
    let mut times = Vec::with_capacity(SEQUENTIAL);
    for _ in 0..SEQUENTIAL {
        let start = Instant::now();
        round_trip(&mut stream)?;
        times.push(start.elapsed());
    }
    let start = Instant::now();
    for _ in 0..IN_FLIGHT {
        stream.write_all(&MESSAGE)?;
    }
    for sent in IN_FLIGHT..PIPELINED + IN_FLIGHT {
        stream.read_exact(&mut reply)?;
        if sent < PIPELINED {
            stream.write_all(&MESSAGE)?;
        }
    }
    let elapsed = start.elapsed();
    drop(stream);
    child.wait()?;
    Ok(figures(times, Some(elapsed)))
}

/// Keeps `IN_FLIGHT` calls of `call` going until `PIPELINED` completed.
async fn pipelined<Fut, E>(mut call: impl FnMut() -> Fut) -> Result<Duration, E>
where
    Fut: Future<Output = Result<(), E>>,
{
    let start = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    let mut started = 0;
    while started < IN_FLIGHT {
        in_flight.push(call());
        started += 1;
    }
    while let Some(done) = in_flight.next().await {
        done?;
        if started < PIPELINED {
            in_flight.push(call());
            started += 1;
        }
    }
    Ok(start.elapsed())
}

fn bench_bare() -> anyhow::Result<Figures> {
    let (mut child, stream) = spawn_child("bare", &[])?;
    stream.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    let figures = local.block_on(&runtime, async move {
        let (read, write) = tokio::net::UnixStream::from_std(stream)?.into_split();
        let network = twoparty::VatNetwork::new(
            read.compat(),
            write.compat_write(),
            Side::Client,
            Default::default(),
        );
        let mut rpc = RpcSystem::new(Box::new(network), None);
        let client: echo::Client = rpc.bootstrap(Side::Server);
        let disconnect = rpc.get_disconnector();
        tokio::task::spawn_local(rpc);
        let call = || {
            let mut request = client.echo_request();
            request.get().set_data(&MESSAGE);
            async move {
                let response = request.send().promise.await?;
                anyhow::ensure!(response.get()?.get_data()?.len() == MESSAGE.len());
                Ok(())
            }
        };
        for _ in 0..WARMUP {
            call().await?;
        }
        let mut times = Vec::with_capacity(SEQUENTIAL);
        for _ in 0..SEQUENTIAL {
            let start = Instant::now();
            call().await?;
            times.push(start.elapsed());
        }
        let elapsed = pipelined(call).await?;
        drop(client);
        disconnect.await?;
        anyhow::Ok(figures(times, Some(elapsed)))
    })?;
    child.wait()?;
    Ok(figures)
}

/// Sequential calls `idle` apart (back to back when zero, and then the
/// pipelined run too).
fn bench_ours(debug: bool, idle: Duration) -> anyhow::Result<Figures> {
    let event_loop = EventLoop::start("kestrel-ipc-bench")?;
    let exe = std::env::current_exe()?;
    let mut args = vec!["--child".as_ref(), "ours".as_ref()];
    if debug {
        args.push("-debug=ipc".as_ref());
    }
    let (child, connection) =
        spawn_process(&event_loop.handle(), &exe, &args, Arc::new(EchoOnlyInit))?;
    let echo = connection.remote_init().make_echo()?;
    let call = || {
        let reply = echo.echo_async(&MESSAGE);
        async move {
            anyhow::ensure!(reply.await?.len() == MESSAGE.len());
            Ok(())
        }
    };
    for _ in 0..WARMUP {
        echo.echo(&MESSAGE)?;
    }
    let calls = if idle.is_zero() {
        SEQUENTIAL
    } else {
        SEQUENTIAL / 4
    };
    let mut times = Vec::with_capacity(calls);
    for _ in 0..calls {
        if !idle.is_zero() {
            std::thread::sleep(idle);
        }
        let start = Instant::now();
        let reply = echo.echo(&MESSAGE)?;
        times.push(start.elapsed());
        anyhow::ensure!(reply.len() == MESSAGE.len());
    }
    let elapsed = if idle.is_zero() {
        Some(futures::executor::block_on(pipelined(call))?)
    } else {
        None
    };
    drop(echo);
    connection.close();
    child
        .wait_exit(Duration::from_secs(10))
        .ok_or_else(|| anyhow::anyhow!("the bench child did not exit"))?;
    Ok(figures(times, elapsed))
}

/// A `Chain` trait call to the test peer's chain: the path every node and
/// wallet call takes, including the hop to the server's blocking pool.
fn bench_trait_call() -> anyhow::Result<Figures> {
    use kestrel_interfaces::Chain;
    let event_loop = EventLoop::start("kestrel-ipc-bench")?;
    let peer = std::path::Path::new(env!("CARGO_BIN_EXE_kestrel-ipc-testpeer"));
    let (child, connection) =
        spawn_process(&event_loop.handle(), peer, &[], Arc::new(EchoOnlyInit))?;
    let chain = connection.remote_init().make_chain()?;
    for _ in 0..WARMUP {
        chain.estimate_fee_per_kb()?;
    }
    let mut times = Vec::with_capacity(SEQUENTIAL);
    for _ in 0..SEQUENTIAL {
        let start = Instant::now();
        std::hint::black_box(chain.estimate_fee_per_kb()?);
        times.push(start.elapsed());
    }
    drop(chain);
    connection.close();
    child
        .wait_exit(Duration::from_secs(10))
        .ok_or_else(|| anyhow::anyhow!("the test peer did not exit"))?;
    Ok(figures(times, None))
}

/// What the monolithic build does instead: a call through a trait object
/// that copies the bytes.
fn bench_in_process() -> Figures {
    type EchoFn = dyn Fn(&[u8]) -> Vec<u8>;
    let echo: Box<EchoFn> = Box::new(|data| data.to_vec());
    let echo = std::hint::black_box(echo);
    let mut times = Vec::with_capacity(SEQUENTIAL);
    for _ in 0..SEQUENTIAL {
        let start = Instant::now();
        std::hint::black_box(echo(std::hint::black_box(&MESSAGE)));
        times.push(start.elapsed());
    }
    let start = Instant::now();
    for _ in 0..PIPELINED {
        std::hint::black_box(echo(std::hint::black_box(&MESSAGE)));
    }
    figures(times, Some(start.elapsed()))
}

fn run_child(role: &str, fd: i32, debug: bool) -> anyhow::Result<()> {
    match role {
        "raw" => {
            // SAFETY: the parent handed us this socket to own.
            let mut stream = UnixStream::from(unsafe { OwnedFd::from_raw_fd(fd) });
            let mut buf = [0u8; 64];
            while stream.read_exact(&mut buf).is_ok() {
                stream.write_all(&buf)?;
            }
            Ok(())
        }
        "bare" => {
            // SAFETY: as above.
            let stream = UnixStream::from(unsafe { OwnedFd::from_raw_fd(fd) });
            stream.set_nonblocking(true)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let local = tokio::task::LocalSet::new();
            local.block_on(&runtime, async move {
                let (read, write) = tokio::net::UnixStream::from_std(stream)?.into_split();
                let network = twoparty::VatNetwork::new(
                    read.compat(),
                    write.compat_write(),
                    Side::Server,
                    Default::default(),
                );
                let server: echo::Client = capnp_rpc::new_client(BareEcho);
                RpcSystem::new(Box::new(network), Some(server.client)).await?;
                anyhow::Ok(())
            })
        }
        "ours" => {
            if debug {
                let sink = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
                tracing_subscriber::fmt()
                    .with_env_filter(EnvFilter::new("ipc=debug"))
                    .with_ansi(false)
                    .with_writer(std::sync::Mutex::new(sink))
                    .init();
            }
            let event_loop = EventLoop::start("kestrel-ipc-bench-child")?;
            let connection = serve_fd(&event_loop.handle(), fd, Arc::new(EchoOnlyInit))?;
            while connection.wait_closed(Duration::from_secs(3600)).is_none() {}
            Ok(())
        }
        other => anyhow::bail!("unknown --child role {other}; use raw, bare or ours"),
    }
}

/// The Echo server of the bare capnp-rpc baseline.
struct BareEcho;

impl echo::Server for BareEcho {
    async fn echo(
        self: Rc<Self>,
        params: echo::EchoParams,
        mut results: echo::EchoResults,
    ) -> Result<(), capnp::Error> {
        results.get().set_data(params.get()?.get_data()?);
        Ok(())
    }
}
