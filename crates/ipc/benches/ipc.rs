//! IPC round trips of a 64-byte Echo, from one run, against baselines from
//! the same run: the same Echo between two C++ Cap'n Proto processes (the
//! floor), a raw socketpair ping-pong between two processes, bare
//! capnp-rpc between two processes (none of our layers) as its examples set
//! it up and in its best set-up (buffered halves over the socket registered
//! for readability only, as kestrel-ipc does; the baseline) and with both
//! vats on one thread over an in-memory pipe (2m: no syscall and no
//! switch, the pipelined rate no socket set-up can pass on one core) and
//! on two threads (2m2: the same on two cores), ours
//! (kestrel-ipc exactly as the node and wallet use it) called by a task on
//! the event loop as the bare rows call (row 3) and by another thread as
//! sync code calls (row 3t: the hop to the loop and back) and by a task of
//! the loop thread's runtime as `kestrel-node`'s HTTP handlers call (3h), with
//! `-debug=ipc` on, with idle time between calls as a node's RPC handlers
//! have it (bare too), and the same call in-process. Once with the
//! processes free, once with both pinned to one core. Each row also gives,
//! per sequential call, the CPU time of both processes and how many times
//! one of their threads was put on a CPU (every thread, from
//! /proc/<pid>/task/*/schedstat: time and run count; each wake-up is one),
//! and, where the socket is kestrel-ipc's (its stream counts them under
//! feature `test-peer`), this process's `recv` + `send` calls per
//! pipelined call.
//!
//! `cargo bench -p kestrel-ipc --bench ipc` (with the depends cargo config).
//! The bench re-executes itself for the child processes
//! (`--child <raw|bare|bare-best|ours> [-debug=ipc] -ipcfd=N`) and for the pinned
//! suite (`--suite pinned`).

use std::future::Future;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use capnp_rpc::rpc_twoparty_capnp::Side;
use capnp_rpc::{twoparty, RpcSystem};
use futures::stream::{FuturesUnordered, StreamExt};
use kestrel_common::logging::{self, DebugLog, LogConfig};
use kestrel_ipc::schema::echo_capnp::echo;
use kestrel_ipc::test_peer::{bare, socket_syscalls, spawn_with_socket};
use kestrel_ipc::{parse_ipcfd, serve_fd, spawn_process, EchoOnlyInit, EventLoop, LoopOptions};
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter};

// Beside this file, not in benches/ (cargo would take it for a bench).
#[path = "ipc/cxx_row.rs"]
mod cxx_row;

const MESSAGE: [u8; 64] = [0x5a; 64];
const WARMUP: usize = 2_000;
const SEQUENTIAL: usize = 20_000;
const PIPELINED: usize = 100_000;
const IN_FLIGHT: usize = 100;
/// Calls of a node's RPC handlers come with idle time between them, in
/// which the threads sleep and caches cool: one row times that case.
const IDLE_BETWEEN_CALLS: Duration = Duration::from_micros(200);
/// The bounded poll before a loop sleeps, in the rows that try it (`3s`).
const SPIN: Duration = Duration::from_micros(50);

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
        let spin = match args.iter().find_map(|a| a.strip_prefix("-ipcspin=")) {
            Some(us) => Duration::from_micros(us.parse()?),
            None => Duration::ZERO,
        };
        return run_child(&role, fd, debug, spin);
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
    /// CPU time of both processes per sequential call.
    cpu_per_call: Duration,
    /// Threads of both processes put on a CPU per sequential call.
    runs_per_call: f64,
    /// `None` where the API has no pipelined form.
    calls_per_sec: Option<f64>,
    /// This process's `recv` + `send` per pipelined call, where the socket
    /// is kestrel-ipc's (which counts them).
    syscalls_per_call: Option<f64>,
}

/// What was measured of one variant: the sequential round trips and the
/// CPU both processes spent on them, the pipelined run if any.
#[derive(Default)]
struct Measured {
    round_trips: Vec<Duration>,
    cpu: CpuUse,
    pipelined: Option<Pipelined>,
}

struct Pipelined {
    elapsed: Duration,
    syscalls: Option<u64>,
}

impl Measured {
    fn figures(mut self) -> Figures {
        let round_trips = &mut self.round_trips;
        round_trips.sort();
        let total: Duration = round_trips.iter().sum();
        let calls = round_trips.len() as u32;
        Figures {
            mean: total / calls,
            p50: round_trips[round_trips.len() / 2],
            p99: round_trips[round_trips.len() * 99 / 100],
            cpu_per_call: self.cpu.time / calls,
            runs_per_call: self.cpu.runs as f64 / f64::from(calls),
            calls_per_sec: self
                .pipelined
                .as_ref()
                .map(|p| PIPELINED as f64 / p.elapsed.as_secs_f64()),
            syscalls_per_call: self
                .pipelined
                .and_then(|p| p.syscalls)
                .map(|n| n as f64 / PIPELINED as f64),
        }
    }
}

/// CPU use so far of this process and `child` (if any), every thread of
/// each.
#[derive(Clone, Copy)]
struct CpuClock {
    child: Option<u32>,
}

impl CpuClock {
    fn now(&self) -> CpuUse {
        let child = self.child.map(|pid| process_cpu(&pid.to_string()));
        process_cpu("self") + child.unwrap_or_default()
    }
}

/// Time on a CPU and the number of times a thread was put on one (each
/// wake-up of a sleeping thread is one: the thread hops of a call).
#[derive(Clone, Copy, Default)]
struct CpuUse {
    time: Duration,
    runs: u64,
}

impl std::ops::Add for CpuUse {
    type Output = CpuUse;
    fn add(self, other: CpuUse) -> CpuUse {
        CpuUse {
            time: self.time + other.time,
            runs: self.runs + other.runs,
        }
    }
}

impl std::ops::Sub for CpuUse {
    type Output = CpuUse;
    fn sub(self, earlier: CpuUse) -> CpuUse {
        CpuUse {
            time: self.time.saturating_sub(earlier.time),
            runs: self.runs.saturating_sub(earlier.runs),
        }
    }
}

/// Sum over the threads of `pid` of their schedstat: the first field (ns on
/// a CPU) and the third (times run on a CPU).
fn process_cpu(pid: &str) -> CpuUse {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten();
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| {
            let mut fields = stat.split_whitespace().map(str::parse::<u64>);
            let nanos = fields.next()?.ok()?;
            let runs = fields.nth(1)?.ok()?;
            Some(CpuUse {
                time: Duration::from_nanos(nanos),
                runs,
            })
        })
        .fold(CpuUse::default(), |sum, thread| sum + thread)
}

/// `recv` + `send` calls of this process on kestrel-ipc sockets so far.
fn syscalls_now() -> u64 {
    let (recvs, sends) = socket_syscalls();
    recvs + sends
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn run_suite(name: &str) -> anyhow::Result<()> {
    let log_filter = install_log_sink("off")?;
    println!(
        "\n== IPC Echo of {} bytes, processes {name} ==",
        MESSAGE.len()
    );
    println!(
        "{:<40} {:>8} {:>8} {:>8} {:>8} {:>9} {:>12} {:>9}",
        "variant", "mean us", "p50 us", "p99 us", "cpu us", "runs/call", "pipelined/s", "sys/call"
    );
    let print = |label: &str, f: &Figures| {
        println!(
            "{label:<40} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>9.2} {:>12} {:>9}",
            us(f.mean),
            us(f.p50),
            us(f.p99),
            us(f.cpu_per_call),
            f.runs_per_call,
            f.calls_per_sec.map_or("-".into(), |c| format!("{c:.0}")),
            f.syscalls_per_call
                .map_or("-".into(), |c| format!("{c:.2}"))
        );
    };
    let cxx = cxx_row::bench_cxx();
    match &cxx {
        Ok(cxx) => print("0 C++ Cap'n Proto (floor)", cxx),
        Err(e) => println!("0 C++ Cap'n Proto: NOT MEASURED: {e:#}"),
    }
    let raw = bench_raw()?;
    print("1 raw socketpair ping-pong", &raw);
    let plain = bench_bare("bare", Duration::ZERO)?;
    print("2 bare capnp-rpc, plain halves", &plain);
    let bare = bench_bare("bare-best", Duration::ZERO)?;
    print("2 bare capnp-rpc, best (baseline)", &bare);
    let bare_in_memory = bench_bare_in_memory(Vats::OneThread)?;
    print("2m bare, one thread, in memory (ceiling)", &bare_in_memory);
    let bare_two_threads = bench_bare_in_memory(Vats::TwoThreads)?;
    print("2m2 bare, two threads, in memory", &bare_two_threads);
    let bare_idle = bench_bare("bare-best", IDLE_BETWEEN_CALLS)?;
    print(
        &format!(
            "2 bare best, {} us idle between",
            IDLE_BETWEEN_CALLS.as_micros()
        ),
        &bare_idle,
    );
    let no_spin = Duration::ZERO;
    let ours = bench_ours(Caller::Loop, false, Duration::ZERO, no_spin)?;
    print("3 kestrel-ipc, caller on the loop", &ours);
    let ours_thread = bench_ours(Caller::Thread, false, Duration::ZERO, no_spin)?;
    print("3t kestrel-ipc, sync caller thread", &ours_thread);
    let ours_handler = bench_ours(Caller::Handler, false, Duration::ZERO, no_spin)?;
    print("3h kestrel-ipc, runtime task on the loop", &ours_handler);
    log_filter.modify(|filter| *filter = EnvFilter::new("ipc=debug"))?;
    let ours_debug = bench_ours(Caller::Loop, true, Duration::ZERO, no_spin)?;
    log_filter.modify(|filter| *filter = EnvFilter::new("off"))?;
    print("3 kestrel-ipc, on the loop, -debug=ipc", &ours_debug);
    let idle_label = format!("{} us idle", IDLE_BETWEEN_CALLS.as_micros());
    let ours_idle = bench_ours(Caller::Loop, false, IDLE_BETWEEN_CALLS, no_spin)?;
    print(&format!("3 kestrel-ipc, on loop, {idle_label}"), &ours_idle);
    let spin_label = format!("-ipcspin={}", SPIN.as_micros());
    let ours_spin = bench_ours(Caller::Loop, false, Duration::ZERO, SPIN)?;
    print(
        &format!("3s kestrel-ipc, on loop, {spin_label}"),
        &ours_spin,
    );
    let ours_spin_idle = bench_ours(Caller::Loop, false, IDLE_BETWEEN_CALLS, SPIN)?;
    print(&format!("3s {spin_label}, {idle_label}"), &ours_spin_idle);
    println!(
        "idle, CPU of both processes per second: {:.0} us without spin, {:.0} us with {spin_label}",
        us(idle_cpu(no_spin)?),
        us(idle_cpu(SPIN)?)
    );
    let trait_call = bench_trait_call()?;
    print("3b kestrel-ipc Chain call (pool)", &trait_call);
    let local = bench_in_process();
    print("4 in-process call", &local);
    let mut ratios: Vec<(&str, &Figures, &Figures)> = vec![
        ("3/2best", &ours, &bare),
        ("3t/2best", &ours_thread, &bare),
        ("2m/2best", &bare_in_memory, &bare),
        ("2m2/2best", &bare_two_threads, &bare),
        ("3/2plain", &ours, &plain),
        ("3/1", &ours, &raw),
        ("3t/3", &ours_thread, &ours),
        ("3h/3", &ours_handler, &ours),
        ("3(debug)/3", &ours_debug, &ours),
        ("3idle/2idle", &ours_idle, &bare_idle),
        ("3s/3", &ours_spin, &ours),
        ("3s idle/3idle", &ours_spin_idle, &ours_idle),
    ];
    if let Ok(cxx) = &cxx {
        ratios.extend([
            ("2best/0", &bare, cxx),
            ("3/0", &ours, cxx),
            ("3t/0", &ours_thread, cxx),
        ]);
    }
    type Metric = fn(&Figures) -> Option<f64>;
    let metrics: [(&str, Metric); 4] = [
        ("mean round trip", |f| Some(us(f.mean))),
        ("p50 round trip", |f| Some(us(f.p50))),
        ("cpu per call", |f| Some(us(f.cpu_per_call))),
        ("pipelined calls/s", |f| f.calls_per_sec),
    ];
    for (metric, value) in metrics {
        let line: Vec<String> = ratios
            .iter()
            .filter_map(|(name, a, b)| Some(format!("{name} = {:.2}", value(a)? / value(b)?)))
            .collect();
        println!("ratios ({metric}): {}", line.join("  "));
    }
    Ok(())
}

/// `-debug=ipc` in this process, as `directives` say until the handle
/// changes them; lines are written as the node writes them, to /dev/null,
/// so the figure is the cost of producing them.
fn install_log_sink(
    directives: &str,
) -> anyhow::Result<reload::Handle<EnvFilter, tracing_subscriber::Registry>> {
    let (filter, handle) = reload::Layer::new(EnvFilter::new(directives));
    tracing_subscriber::registry()
        .with(filter)
        .with(logging::line_layer(null_sink()?, false, true))
        .try_init()?;
    Ok(handle)
}

/// Where the bench's processes write their log lines: nowhere, so a figure
/// is the cost of producing them.
fn null_sink() -> std::io::Result<Arc<std::fs::File>> {
    Ok(Arc::new(
        std::fs::OpenOptions::new().write(true).open("/dev/null")?,
    ))
}

/// Spawns this bench as a child serving `role` on its end of a socketpair.
fn spawn_child(role: &str) -> anyhow::Result<(Child, UnixStream)> {
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["--child", role]);
    Ok(spawn_with_socket(&mut command)?)
}

fn bench_raw() -> anyhow::Result<Figures> {
    let (mut child, mut stream) = spawn_child("raw")?;
    let clock = CpuClock {
        child: Some(child.id()),
    };
    let mut reply = [0u8; 64];
    let mut round_trip = |stream: &mut UnixStream| -> std::io::Result<()> {
        stream.write_all(&MESSAGE)?;
        stream.read_exact(&mut reply)
    };
    for _ in 0..WARMUP {
        round_trip(&mut stream)?;
    }
    let mut measured = Measured::default();
    let cpu = clock.now();
    for _ in 0..SEQUENTIAL {
        let start = Instant::now();
        round_trip(&mut stream)?;
        measured.round_trips.push(start.elapsed());
    }
    measured.cpu = clock.now() - cpu;
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
    measured.pipelined = Some(Pipelined {
        elapsed: start.elapsed(),
        syscalls: Some(2 * PIPELINED as u64),
    });
    drop(stream);
    child.wait()?;
    Ok(measured.figures())
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

/// Bare capnp-rpc's network on `stream`: `bare`, the plain halves of
/// tokio's `UnixStream` (as capnp-rpc's examples do); `bare-best`, the best
/// set-up ([`bare::network`]). Must run inside the runtime.
fn bare_network(
    role: &str,
    stream: UnixStream,
    side: Side,
) -> anyhow::Result<Box<dyn capnp_rpc::VatNetwork<capnp_rpc::rpc_twoparty_capnp::Side>>> {
    if role == "bare-best" {
        return Ok(bare::network(stream, side)?);
    }
    stream.set_nonblocking(true)?;
    let (read, write) = tokio::net::UnixStream::from_std(stream)?.into_split();
    Ok(Box::new(twoparty::VatNetwork::new(
        read.compat(),
        write.compat_write(),
        side,
        Default::default(),
    )))
}

/// Sequential calls `idle` apart (back to back when zero, and then the
/// pipelined run too) through bare capnp-rpc set up as `role` says.
fn bench_bare(role: &str, idle: Duration) -> anyhow::Result<Figures> {
    let (mut child, stream) = spawn_child(role)?;
    let clock = CpuClock {
        child: Some(child.id()),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    let counted = role == "bare-best";
    let figures = local.block_on(&runtime, async move {
        let network = bare_network(role, stream, Side::Client)?;
        let mut measured = measure_bare(network, &clock, idle).await?;
        if let Some(pipelined) = &mut measured.pipelined {
            // Plain halves are tokio's sockets, which nothing counts.
            pipelined.syscalls = pipelined.syscalls.filter(|_| counted);
        }
        anyhow::Ok(measured.figures())
    })?;
    child.wait()?;
    Ok(figures)
}

/// Bare capnp-rpc's Echo of MESSAGE as the client on `network` (see
/// [`measure`]); disconnects at the end. Must run on a `LocalSet`.
async fn measure_bare(
    network: Box<dyn capnp_rpc::VatNetwork<capnp_rpc::rpc_twoparty_capnp::Side>>,
    clock: &CpuClock,
    idle: Duration,
) -> anyhow::Result<Measured> {
    let mut rpc = RpcSystem::new(network, None);
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
    let measured = measure(clock, idle, call).await?;
    drop(client);
    disconnect.await?;
    Ok(measured)
}

/// Bare capnp-rpc's Echo over an in-memory pipe: no syscall and no switch
/// between processes, so no set-up over a socket can pipeline faster. With
/// `Vats::OneThread` both vats share this thread (the ceiling on one core);
/// with `Vats::TwoThreads` the server runs on a thread of its own, so the
/// two can work at once as two free processes do (the ceiling on two).
fn bench_bare_in_memory(vats: Vats) -> anyhow::Result<Figures> {
    let clock = CpuClock { child: None };
    let (client_end, server_end) = tokio::io::duplex(bare::BUFFER);
    let serve = || {
        RpcSystem::new(
            in_memory_network(server_end, Side::Server),
            Some(bare::echo_server().client),
        )
    };
    let local = tokio::task::LocalSet::new();
    let server_thread = match vats {
        Vats::OneThread => {
            local.spawn_local(serve());
            None
        }
        Vats::TwoThreads => Some(std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            tokio::task::LocalSet::new().block_on(&runtime, serve())?;
            anyhow::Ok(())
        })),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let measured = local.block_on(&runtime, async move {
        measure_bare(
            in_memory_network(client_end, Side::Client),
            &clock,
            Duration::ZERO,
        )
        .await
    })?;
    if let Some(server_thread) = server_thread {
        server_thread
            .join()
            .map_err(|_| anyhow::anyhow!("the server thread panicked"))??;
    }
    Ok(measured.figures())
}

/// Where the vats of [`bench_bare_in_memory`] run.
#[derive(Clone, Copy)]
enum Vats {
    OneThread,
    TwoThreads,
}

fn in_memory_network(
    end: tokio::io::DuplexStream,
    side: Side,
) -> Box<dyn capnp_rpc::VatNetwork<capnp_rpc::rpc_twoparty_capnp::Side>> {
    let (read, write) = tokio::io::split(end);
    Box::new(twoparty::VatNetwork::new(
        read.compat(),
        write.compat_write(),
        side,
        Default::default(),
    ))
}

/// Fewer calls when idle time separates them.
fn sequential_calls(idle: Duration) -> usize {
    if idle.is_zero() {
        SEQUENTIAL
    } else {
        SEQUENTIAL / 4
    }
}

/// Who makes kestrel-ipc's calls.
#[derive(Clone, Copy)]
enum Caller {
    /// A task on the IPC event loop (`echo_on_loop`): no thread hop, as in
    /// the bare rows.
    Loop,
    /// Another thread, waiting for each call (`echo_async`, what the
    /// blocking `echo` of the node's RPC handlers does), and for the
    /// pipelined run keeping calls in flight: each call hops to the loop
    /// and back.
    Thread,
    /// A task of the loop thread's runtime, not of its `LocalSet`, awaiting
    /// `echo_async`: where `kestrel-node`'s HTTP handlers await their
    /// wallet calls.
    Handler,
}

/// Sequential calls `idle` apart, and when back to back the pipelined run.
async fn measure<Fut>(
    clock: &CpuClock,
    idle: Duration,
    call: impl FnMut() -> Fut + Copy,
) -> anyhow::Result<Measured>
where
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut measured = time_sequential(clock, idle, call).await?;
    if idle.is_zero() {
        measured.pipelined = Some(time_pipelined(call).await?);
    }
    Ok(measured)
}

/// Sequential calls `idle` apart (back to back when zero, and then the
/// pipelined run too), made by `caller`.
fn bench_ours(
    caller: Caller,
    debug: bool,
    idle: Duration,
    spin: Duration,
) -> anyhow::Result<Figures> {
    let ours = Ours::start(debug, spin)?;
    let (event_loop, child, connection, clock) =
        (&ours.event_loop, &ours.child, &ours.connection, ours.clock);
    let echo = connection.remote_init().make_echo()?;
    let checked = |reply: kestrel_interfaces::Result<Vec<u8>>| {
        anyhow::ensure!(reply?.len() == MESSAGE.len());
        Ok(())
    };
    let measured = match caller {
        Caller::Loop => {
            let echo = echo.clone();
            event_loop
                .handle()
                .run_blocking(move || async move {
                    let call = || {
                        let reply = echo.echo_on_loop(&MESSAGE);
                        async move { checked(reply.await) }
                    };
                    measure(&clock, idle, call).await
                })
                .ok_or_else(|| anyhow::anyhow!("the IPC event loop stopped"))??
        }
        Caller::Handler => {
            let echo = echo.clone();
            event_loop
                .handle()
                .run_blocking(move || async move {
                    tokio::spawn(async move {
                        let call = || {
                            let reply = echo.echo_async(&MESSAGE);
                            async move { checked(reply.await) }
                        };
                        measure(&clock, idle, call).await
                    })
                    .await?
                })
                .ok_or_else(|| anyhow::anyhow!("the IPC event loop stopped"))??
        }
        Caller::Thread => {
            let call = || {
                let reply = echo.echo_async(&MESSAGE);
                async move { checked(reply.await) }
            };
            // Awaiting each call in turn from this thread is what the
            // blocking `echo` does.
            futures::executor::block_on(measure(&clock, idle, call))?
        }
    };
    drop(echo);
    connection.close();
    child
        .wait_exit(Duration::from_secs(10))
        .ok_or_else(|| anyhow::anyhow!("the bench child did not exit"))?;
    Ok(measured.figures())
}

/// The Echo child of the kestrel-ipc rows and our end of its connection,
/// both loops watching their sockets for `spin` before they sleep.
struct Ours {
    event_loop: EventLoop,
    child: kestrel_ipc::ChildProcess,
    connection: kestrel_ipc::Connection,
    clock: CpuClock,
}

impl Ours {
    fn start(debug: bool, spin: Duration) -> anyhow::Result<Ours> {
        let event_loop = EventLoop::with_options("kestrel-ipc-bench", LoopOptions::spinning(spin))?;
        let exe = std::env::current_exe()?;
        let mut args = vec!["--child".to_string(), "ours".to_string()];
        if debug {
            args.push("-debug=ipc".into());
        }
        if !spin.is_zero() {
            args.push(format!("-ipcspin={}", spin.as_micros()));
        }
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
        let (child, connection) =
            spawn_process(&event_loop.handle(), &exe, &args, Arc::new(EchoOnlyInit))?;
        let clock = CpuClock {
            child: Some(child.pid()),
        };
        Ok(Ours {
            event_loop,
            child,
            connection,
            clock,
        })
    }
}

/// CPU both processes use per second of idleness after a call, the loops
/// watching their sockets for `spin` before they sleep: what a bounded
/// poll costs a node that is not being called.
fn idle_cpu(spin: Duration) -> anyhow::Result<Duration> {
    let ours = Ours::start(false, spin)?;
    let echo = ours.connection.remote_init().make_echo()?;
    anyhow::ensure!(echo.echo(&MESSAGE)?.len() == MESSAGE.len());
    let before = ours.clock.now();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let used = (ours.clock.now() - before).time;
    drop(echo);
    ours.connection.close();
    ours.child
        .wait_exit(Duration::from_secs(10))
        .ok_or_else(|| anyhow::anyhow!("the bench child did not exit"))?;
    Ok(used.div_f64(started.elapsed().as_secs_f64()))
}

/// Warms up, then times sequential calls of `call` `idle` apart, and the
/// CPU both processes spend on them.
async fn time_sequential<Fut>(
    clock: &CpuClock,
    idle: Duration,
    mut call: impl FnMut() -> Fut,
) -> anyhow::Result<Measured>
where
    Fut: Future<Output = anyhow::Result<()>>,
{
    for _ in 0..WARMUP {
        call().await?;
    }
    let mut measured = Measured::default();
    let cpu = clock.now();
    for _ in 0..sequential_calls(idle) {
        if !idle.is_zero() {
            std::thread::sleep(idle);
        }
        let start = Instant::now();
        call().await?;
        measured.round_trips.push(start.elapsed());
    }
    measured.cpu = clock.now() - cpu;
    Ok(measured)
}

/// A pipelined run of `call`, with the `recv` + `send` calls this process
/// made on kestrel-ipc's sockets meanwhile.
async fn time_pipelined<Fut>(call: impl FnMut() -> Fut) -> anyhow::Result<Pipelined>
where
    Fut: Future<Output = anyhow::Result<()>>,
{
    let syscalls = syscalls_now();
    let elapsed = pipelined(call).await?;
    Ok(Pipelined {
        elapsed,
        syscalls: Some(syscalls_now() - syscalls),
    })
}

/// A `Chain` trait call to the test peer's chain: the path every node and
/// wallet call takes, including the hop to the server's blocking pool.
fn bench_trait_call() -> anyhow::Result<Figures> {
    use kestrel_interfaces::Chain;
    let event_loop = EventLoop::start("kestrel-ipc-bench")?;
    let peer = std::path::Path::new(env!("CARGO_BIN_EXE_kestrel-ipc-testpeer"));
    let (child, connection) =
        spawn_process(&event_loop.handle(), peer, &[], Arc::new(EchoOnlyInit))?;
    let clock = CpuClock {
        child: Some(child.pid()),
    };
    let chain = connection.remote_init().make_chain()?;
    for _ in 0..WARMUP {
        chain.estimate_fee_per_kb()?;
    }
    let mut measured = Measured::default();
    let cpu = clock.now();
    for _ in 0..SEQUENTIAL {
        let start = Instant::now();
        std::hint::black_box(chain.estimate_fee_per_kb()?);
        measured.round_trips.push(start.elapsed());
    }
    measured.cpu = clock.now() - cpu;
    drop(chain);
    connection.close();
    child
        .wait_exit(Duration::from_secs(10))
        .ok_or_else(|| anyhow::anyhow!("the test peer did not exit"))?;
    Ok(measured.figures())
}

/// What the monolithic build does instead: a call through a trait object
/// that copies the bytes.
fn bench_in_process() -> Figures {
    type EchoFn = dyn Fn(&[u8]) -> Vec<u8>;
    let echo: Box<EchoFn> = Box::new(|data| data.to_vec());
    let echo = std::hint::black_box(echo);
    let mut measured = Measured::default();
    let cpu = process_cpu("self");
    for _ in 0..SEQUENTIAL {
        let start = Instant::now();
        std::hint::black_box(echo(std::hint::black_box(&MESSAGE)));
        measured.round_trips.push(start.elapsed());
    }
    measured.cpu = process_cpu("self") - cpu;
    let start = Instant::now();
    for _ in 0..PIPELINED {
        std::hint::black_box(echo(std::hint::black_box(&MESSAGE)));
    }
    measured.pipelined = Some(Pipelined {
        elapsed: start.elapsed(),
        syscalls: Some(0),
    });
    measured.figures()
}

fn run_child(role: &str, fd: i32, debug: bool, spin: Duration) -> anyhow::Result<()> {
    match role {
        "raw" => {
            let mut stream = stream_of(fd);
            let mut buf = [0u8; 64];
            while stream.read_exact(&mut buf).is_ok() {
                stream.write_all(&buf)?;
            }
            Ok(())
        }
        "bare-best" => bare::serve(stream_of(fd)),
        "bare" => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let local = tokio::task::LocalSet::new();
            local.block_on(&runtime, async move {
                let network = bare_network(role, stream_of(fd), Side::Server)?;
                RpcSystem::new(network, Some(bare::echo_server().client)).await?;
                anyhow::Ok(())
            })
        }
        "ours" => {
            let config = LogConfig {
                print_to_console: false,
                debug: if debug {
                    DebugLog::Categories(vec!["ipc".into()])
                } else {
                    DebugLog::None
                },
            };
            tracing::subscriber::set_global_default(logging::subscriber(&config, null_sink()?))?;
            let event_loop =
                EventLoop::with_options("kestrel-ipc-bench-child", LoopOptions::spinning(spin))?;
            let connection = serve_fd(&event_loop.handle(), fd, Arc::new(EchoOnlyInit))?;
            while connection.wait_closed(Duration::from_secs(3600)).is_none() {}
            Ok(())
        }
        other => anyhow::bail!("unknown --child role {other}; use raw, bare, bare-best or ours"),
    }
}

/// The socket the parent handed this child as `-ipcfd`.
fn stream_of(fd: i32) -> UnixStream {
    // SAFETY: the parent handed us this socket to own, and nothing else
    // in this process uses the fd.
    UnixStream::from(unsafe { OwnedFd::from_raw_fd(fd) })
}
