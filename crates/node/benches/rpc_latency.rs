//! Wallet RPC latency of `kestrel-node` (wallet in a `kestrel-wallet`
//! process, every wallet call crossing IPC) against `kestreld` (wallet
//! in-process), measured in the same run.
//!
//! Both nodes start on temp datadirs and mine 101 blocks to their wallet;
//! then `getbalance` and `sendtoaddress` are called N times each,
//! sequentially, alternating between the two nodes call by call so both see
//! the same machine noise. Prints mean/p50/p99 per node and the ratios
//! kestrel-node / kestreld against each method's aim (issue 16: getbalance
//! at most 1.3x, sendtoaddress at most 1.2x, by the mean). Once with the
//! processes free, then once with this bench and both nodes (and their
//! wallet processes) pinned to one core: on these VMs waking an idle vCPU
//! costs more than a round trip, so the pinned figures are the ones that
//! mean the same on every machine. Beside latency it prints CPU per call:
//! every thread of the node and of its child processes, from
//! `/proc/<pid>/task/<tid>/schedstat`, over each method's calls (including
//! the blocks mined between sends, which both nodes mine alike).
//!
//! Beside them, the library's floor, in the same run: `kestreld` plus one
//! round trip of bare capnp-rpc in its best set-up
//! ([`kestrel_ipc::test_peer::bare`], a child process serving Echo of 64
//! bytes) for every IPC call the method makes in `kestrel-node`, made
//! right after each of another run of `kestreld` calls, as the node makes
//! its calls right after its HTTP work: capnp-rpc's best set-up in the
//! node's situation (idle between calls, caches cooled by the work around
//! them; back to back, as `bench ipc` times it, a round trip is cheaper).
//! An aim under the floor is below the library's floor.
//!
//! `cargo bench --config depends/<host>/cargo-config.toml -p kestrel-node
//! --features multiprocess,kestrel-ipc/test-peer --bench rpc_latency
//! [-- --calls=N]` (`cargo xtask bench rpc`)

use std::os::fd::FromRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use kestrel_chain::PrivateKey;
use kestrel_functional::node_process::NodeProcess;
use kestrel_functional::process;
use kestrel_ipc::test_peer::{bare, spawn_with_socket};
use kestrel_rpc::client::RpcClient;
use serde_json::{json, Value};

const DEFAULT_CALLS: usize = 500;
/// Sends chain unconfirmed change; a block every so often keeps the
/// mempool small. Mined between timed calls, never inside one.
const SENDS_PER_BLOCK: usize = 50;
/// The floor's Echo (as `bench ipc`'s).
const ECHO: [u8; 64] = [0x5a; 64];

struct Bench {
    name: &'static str,
    node: NodeProcess,
    client: RpcClient,
    _datadir: tempfile::TempDir,
}

impl Bench {
    fn start(name: &'static str, binary: &str) -> Bench {
        let datadir = tempfile::tempdir().expect("temp datadir");
        let node = NodeProcess::start(Path::new(binary), datadir.path(), &[], None)
            .unwrap_or_else(|e| panic!("{name} does not start: {e}"));
        let client = node.client().expect("RPC client");
        let bench = Bench {
            name,
            node,
            client,
            _datadir: datadir,
        };
        let address = bench.call("getnewaddress", &[]);
        bench.call("generatetoaddress", &[json!(101), address]);
        bench
    }

    fn call(&self, method: &str, params: &[Value]) -> Value {
        self.client
            .call(method, params)
            .unwrap_or_else(|e| panic!("{} {method} failed: {e}", self.name))
    }

    fn timed(&self, method: &str, params: &[Value]) -> Duration {
        let started = Instant::now();
        self.call(method, params);
        started.elapsed()
    }

    /// CPU time used so far by the node and its descendants (the wallet
    /// process of `kestrel-node`), every thread.
    fn cpu_time(&self) -> Duration {
        let root = self.node.pid() as i32;
        let descendants = process::descendants(root).into_iter().map(|p| p.pid);
        std::iter::once(root)
            .chain(descendants)
            .map(process::cpu_time)
            .sum()
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = self.client.call("stop", &[]);
        let _ = self.node.wait();
    }
}

struct Stats {
    mean: Duration,
    p50: Duration,
    p99: Duration,
}

impl Stats {
    fn of(mut samples: Vec<Duration>) -> Stats {
        samples.sort();
        let rank = |percent: usize| samples[(samples.len() - 1) * percent / 100];
        Stats {
            mean: samples.iter().sum::<Duration>() / samples.len() as u32,
            p50: rank(50),
            p99: rank(99),
        }
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

/// `cargo test --benches` runs this without `--bench`: a smoke run then.
const SMOKE_CALLS: usize = 5;

fn calls_from_args() -> usize {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        return SMOKE_CALLS;
    }
    for arg in args {
        if let Some(n) = arg.strip_prefix("--calls=") {
            match n.parse::<usize>() {
                Ok(n) if n > 0 => return n,
                _ => {
                    eprintln!("--calls={n}: expected a positive number of calls");
                    std::process::exit(2);
                }
            }
        }
    }
    DEFAULT_CALLS
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--bare-echo") {
        let fd = args
            .iter()
            .find_map(|a| a.strip_prefix("-ipcfd="))
            .expect("--bare-echo needs -ipcfd=N");
        let fd = kestrel_ipc::parse_ipcfd(fd).expect("-ipcfd=N");
        // SAFETY: the parent handed this process the fd to own.
        let stream = unsafe { UnixStream::from_raw_fd(fd) };
        bare::serve(stream).expect("the bare Echo server failed");
        return;
    }
    if args.iter().any(|a| a == "--pinned") {
        // Inherited by the nodes and their wallet processes.
        let mut one_core = rustix::thread::CpuSet::new();
        one_core.set(0);
        rustix::thread::sched_setaffinity(None, &one_core).expect("pinning to core 0");
        run("pinned to one core");
        return;
    }
    run("processes free");
    let status = std::process::Command::new(std::env::current_exe().expect("this bench"))
        .args(&args)
        .arg("--pinned")
        .status()
        .expect("the pinned run starts");
    assert!(status.success(), "the pinned run failed: {status}");
}

fn run(how: &str) {
    let calls = calls_from_args();
    let baseline = Bench::start("kestreld", env!("CARGO_BIN_EXE_kestreld"));
    let multiprocess = Bench::start("kestrel-node", env!("CARGO_BIN_EXE_kestrel-node"));
    let benches = [&baseline, &multiprocess];
    let payee = json!(PrivateKey::generate().unwrap().address().to_string());

    let (mut echo_server, stream) = spawn_with_socket(
        std::process::Command::new(std::env::current_exe().expect("this bench")).arg("--bare-echo"),
    )
    .expect("the bare Echo server starts");
    let echo = bare::Client::connect(stream).expect("connecting to the bare Echo server");

    // Per method: kestreld's samples, kestrel-node's; then, for the floor,
    // kestreld's again and the bare round trips made after each of them.
    let mut samples: [[Vec<Duration>; 4]; 2] = Default::default();
    let mut cpu = [[Duration::ZERO; 2]; 2];
    // (method, params, aim for kestrel-node / kestreld by the mean, IPC
    // calls it makes in kestrel-node: sendtoaddress is the wallet's call,
    // its broadcast to the chain, and the mempool notification back, as its
    // -debug=ipc lines show; its estimateFee comes once per tip, in the
    // untimed first call, as the bench mines no blocks)
    let methods: [(&str, Vec<Value>, f64, u32); 2] = [
        ("getbalance", vec![], 1.3, 1),
        ("sendtoaddress", vec![payee.clone(), json!(0.001)], 1.2, 3),
    ];
    for (m, (method, params, _, ipc_calls)) in methods.iter().enumerate() {
        // One untimed call each: first-call effects are not latency.
        for bench in benches {
            bench.call(method, params);
        }
        echo.echo(&ECHO).expect("bare Echo");
        let call = |bench: &Bench, i: usize| {
            let elapsed = bench.timed(method, params);
            if *method == "sendtoaddress" && (i + 1).is_multiple_of(SENDS_PER_BLOCK) {
                bench.call("generatetoaddress", &[json!(1), payee.clone()]);
            }
            elapsed
        };
        let cpu_before = benches.map(Bench::cpu_time);
        for i in 0..calls {
            for (b, bench) in benches.iter().enumerate() {
                samples[m][b].push(call(bench, i));
            }
        }
        for (b, bench) in benches.iter().enumerate() {
            cpu[m][b] = (bench.cpu_time() - cpu_before[b]) / calls as u32;
        }
        // Apart from the run above, which a third process would disturb.
        for i in 0..calls {
            samples[m][2].push(call(&baseline, i));
            let started = Instant::now();
            for _ in 0..*ipc_calls {
                echo.echo(&ECHO).expect("bare Echo");
            }
            samples[m][3].push(started.elapsed());
        }
    }
    drop(echo);
    echo_server.wait().expect("the bare Echo server ends");

    println!("\nwallet RPC latency, {how}, {calls} sequential calls per method and node (us)");
    println!(
        "{:<14} {:<13} {:>9} {:>9} {:>9} {:>9}",
        "method", "node", "mean", "p50", "p99", "cpu/call"
    );
    let mut all_met = true;
    for (m, (method, _, aim, ipc_calls)) in methods.iter().enumerate() {
        let stats: Vec<Stats> = samples[m].iter().cloned().map(Stats::of).collect();
        for ((bench, s), cpu) in benches.iter().zip(&stats).zip(cpu[m]) {
            println!(
                "{method:<14} {:<13} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
                bench.name,
                micros(s.mean),
                micros(s.p50),
                micros(s.p99),
                micros(cpu)
            );
        }
        let (base, ours) = (&stats[0], &stats[1]);
        let mean = ratio(ours.mean, base.mean);
        let met = mean <= *aim;
        all_met &= met;
        println!(
            "{method:<14} kestrel-node / kestreld: mean {mean:.3}x, p50 {:.2}x, p99 {:.2}x, cpu/call {:.2}x (aim: mean <= {aim}x: {})",
            ratio(ours.p50, base.p50),
            ratio(ours.p99, base.p99),
            ratio(cpu[m][1], cpu[m][0]),
            if met { "met" } else { "NOT met" }
        );
        let (floor_base, round_trips) = (&stats[2], &stats[3]);
        let floor = ratio(floor_base.mean + round_trips.mean, floor_base.mean);
        println!(
            "{method:<14} floor: kestreld ({:.1} us) then {ipc_calls} bare capnp-rpc round trip(s) ({:.1} us each) = {floor:.3}x kestreld{}",
            micros(floor_base.mean),
            micros(round_trips.mean) / f64::from(*ipc_calls),
            if floor > *aim { ", above the aim: the aim is below the library's floor" } else { "" }
        );
    }
    if !all_met {
        println!("some aims were not met (above)");
    }
}
