//! `cargo xtask bench`: benchmarks that print ratios against a baseline
//! measured in the same run.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use kestrel_depends::progress::Progress;
use xshell::{Cmd, Shell};

mod cache;
mod compiles;
mod depends;

use crate::functional::{FLAVORS, SHARED_SUITE};
use crate::{build_machine_depends, cargo_with_prefix, step, BUILD_TRIPLE};

/// The multiprocess build's functional suite may take at most this many
/// times the monolithic build's: the split must stay cheap from outside.
const FUNCTIONAL_RATIO_AIM: f64 = 1.25;

#[derive(Args)]
pub struct BenchCmd {
    #[command(subcommand)]
    what: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// No-op `depends` (C++ IPC set included) against stat-ing its outputs;
    /// cold native_capnp, native_cmake and capnp builds against their own
    /// builds by hand; two independent packages in one run against one
    /// after the other; the cold time of the default and opt-in sets.
    Depends {
        /// Repetitions of each no-op measurement.
        #[arg(long, default_value_t = 20)]
        noop_runs: u32,
        /// Skip the cold build comparison (it takes minutes).
        #[arg(long)]
        no_cold: bool,
    },
    /// A second checkout with a warm remote cache against the cold build
    /// that filled it; a no-op run with a remote cache configured against
    /// one without (and that it makes no request).
    Cache {
        /// Repetitions of each no-op measurement.
        #[arg(long, default_value_t = 10)]
        noop_runs: u32,
        /// Only these rows (default: all).
        #[arg(long, value_enum)]
        only: Option<CacheRows>,
    },
    /// IPC round trips and pipelined throughput: raw socketpair, bare
    /// capnp-rpc, kestrel-ipc (debug off/on), in-process; free and pinned.
    Ipc,
    /// Wallet RPC latency (getbalance, sendtoaddress) of kestrel-node as a
    /// ratio to kestreld, both started by the same run; free and pinned.
    Rpc,
    /// Wall time of the shared functional suite per build (the median of
    /// several runs: one run is about a second, mostly noise), and the
    /// multiprocess / monolithic ratio against its aim.
    Functional {
        /// Timed runs of the suite per build.
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
}

/// The parts of `bench cache`: depends through the store, and the product
/// build through sccache (several cold builds' worth of minutes).
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CacheRows {
    Depends,
    Sccache,
}

impl BenchCmd {
    pub fn run(self, sh: &Shell) -> Result<()> {
        match self.what {
            Bench::Depends { noop_runs, no_cold } => {
                depends::bench_depends(sh, noop_runs, !no_cold)
            }
            Bench::Cache { noop_runs, only } => {
                // Both parts open stores in this process.
                if !kestrel_depends::remote::HAS_CLIENT {
                    return Err(kestrel_depends::remote::ClientMissing.into());
                }
                if only != Some(CacheRows::Sccache) {
                    cache::bench_cache(sh, noop_runs)?;
                }
                if only != Some(CacheRows::Depends) {
                    compiles::bench_sccache(sh)?;
                }
                Ok(())
            }
            Bench::Ipc => cargo_bench(sh, "kestrel-ipc", "ipc", &["kestrel-ipc/test-peer"]),
            Bench::Rpc => cargo_bench(
                sh,
                "kestrel-node",
                "rpc_latency",
                &["kestrel-node/multiprocess", "kestrel-ipc/test-peer"],
            ),
            Bench::Functional { runs } => bench_functional(sh, runs),
        }
    }
}

/// `cmd` run for its time only: not echoed, output discarded, a failure
/// still an error.
fn run_quiet(cmd: Cmd<'_>) -> Result<()> {
    Ok(cmd.quiet().ignore_stdout().ignore_stderr().run()?)
}

/// Runs a crate's `harness = false` bench against the depends prefix of the
/// build machine (the multiprocess crates need its `capnp`).
fn cargo_bench(sh: &Shell, package: &str, bench: &str, features: &[&str]) -> Result<()> {
    build_machine_depends(Progress::for_stderr())?;
    cargo_with_prefix(sh, "bench", BUILD_TRIPLE)
        .args(["--package", package, "--bench", bench])
        .args(features.iter().flat_map(|f| ["--features", f]))
        .run()?;
    Ok(())
}

/// The shared functional suite, `runs` times per build, each build's node
/// and suite compiled first so the times are the tests alone.
fn bench_functional(sh: &Shell, runs: usize) -> Result<()> {
    build_machine_depends(Progress::for_stderr())?;
    let mut medians = Vec::new();
    for flavor in FLAVORS {
        step(&format!("{} build", flavor.name));
        flavor.build(sh)?;
        flavor.suite(sh, SHARED_SUITE).arg("--no-run").run()?;
        let wall = median(runs as u32, || {
            let out = flavor
                .suite(sh, SHARED_SUITE)
                .quiet()
                .ignore_status()
                .output()?;
            if !out.status.success() {
                print!("{}", String::from_utf8_lossy(&out.stdout));
                eprint!("{}", String::from_utf8_lossy(&out.stderr));
                bail!(
                    "the functional suite failed against the {} build; fix it before timing it",
                    flavor.name
                );
            }
            Ok(())
        })?;
        medians.push((flavor.name, wall));
    }

    println!("\n== shared functional suite, median of {runs} runs per build ==");
    for (name, wall) in &medians {
        println!("{name:<12} {:>7.2} s", wall.as_secs_f64());
    }
    let wall = |build: &str| {
        medians
            .iter()
            .find(|(name, _)| *name == build)
            .map(|(_, wall)| wall.as_secs_f64())
    };
    if let (Some(mono), Some(multi)) = (wall("monolithic"), wall("multiprocess")) {
        let ratio = multi / mono;
        println!(
            "multiprocess / monolithic: {ratio:.2}x ({} the {FUNCTIONAL_RATIO_AIM}x aim)",
            if ratio <= FUNCTIONAL_RATIO_AIM {
                "within"
            } else {
                "ABOVE"
            }
        );
    }
    Ok(())
}

fn median(runs: u32, mut f: impl FnMut() -> Result<()>) -> Result<Duration> {
    let mut times = Vec::with_capacity(runs as usize);
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed());
    }
    times.sort();
    Ok(times[times.len() / 2])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
