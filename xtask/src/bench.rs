//! `cargo xtask bench`: benchmarks that print ratios against a baseline
//! measured in the same run.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use kestrel_depends::install::Manifest;
use kestrel_depends::progress::Progress;
use kestrel_depends::{Config, Depends};

use crate::cmd::{self, copy_tree, run_quiet};
use crate::{workspace_root, BUILD_TRIPLE};

#[derive(Args)]
pub struct BenchCmd {
    #[command(subcommand)]
    what: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// No-op `depends` against stat-ing its outputs; a cold native_capnp
    /// build against the tarball's own configure + make by hand.
    Depends {
        /// Repetitions of each no-op measurement.
        #[arg(long, default_value_t = 20)]
        noop_runs: u32,
        /// Skip the cold build comparison (it takes minutes).
        #[arg(long)]
        no_cold: bool,
    },
    /// IPC round trips and pipelined throughput: raw socketpair, bare
    /// capnp-rpc, kestrel-ipc (debug off/on), in-process; free and pinned.
    Ipc,
    /// Wallet RPC latency (getbalance, sendtoaddress) of kestrel-node as a
    /// ratio to kestreld, both started by the same run.
    Rpc,
}

impl BenchCmd {
    pub fn run(self) -> Result<()> {
        match self.what {
            Bench::Depends { noop_runs, no_cold } => bench_depends(noop_runs, !no_cold),
            Bench::Ipc => cargo_bench("kestrel-ipc", "ipc", &[]),
            Bench::Rpc => cargo_bench(
                "kestrel-node",
                "rpc_latency",
                &["kestrel-node/multiprocess"],
            ),
        }
    }
}

fn bench_depends(noop_runs: u32, cold: bool) -> Result<()> {
    let root = workspace_root();
    let config = Config::new(&root, BUILD_TRIPLE, BUILD_TRIPLE);
    let prefix = config.prefix();
    Depends::load(config.clone(), Progress::quiet())?.run()?;

    println!("== no-op depends ({noop_runs} runs each, median) ==");
    let stat = median(noop_runs, || {
        let manifest = Manifest::read(&prefix).context("no manifest")?;
        anyhow::ensure!(manifest.files_present(&prefix));
        Ok(())
    })?;
    let in_process = median(noop_runs, || {
        let report = Depends::load(config.clone(), Progress::quiet())?.run()?;
        anyhow::ensure!(report.up_to_date, "not a no-op: {report:?}");
        Ok(())
    })?;
    let exe = std::env::current_exe()?;
    let xtask_process = median(noop_runs, || {
        run_quiet(Command::new(&exe).args(["depends", "--host", BUILD_TRIPLE]))
    })?;
    let via_cargo = median(noop_runs.min(10), || {
        run_quiet(cmd::cargo(&root).args(["xtask", "depends", "--host", BUILD_TRIPLE]))
    })?;
    let row = |name: &str, d: Duration| {
        println!(
            "{name:<34} {:>9.3} ms  {:>7.1}x stat",
            ms(d),
            d.as_secs_f64() / stat.as_secs_f64()
        )
    };
    row("stat of the outputs (baseline)", stat);
    row("Depends::run in process", in_process);
    row("xtask depends (process)", xtask_process);
    row("cargo xtask depends", via_cargo);

    if cold {
        bench_cold(&root, &config)?;
    }
    Ok(())
}

/// One cold build of native_capnp through the pipeline, against the same
/// tarball built by hand with its own configure + make.
fn bench_cold(root: &Path, config: &Config) -> Result<()> {
    println!("\n== cold native_capnp build, {} jobs ==", config.jobs);
    let scratch = tempfile::tempdir()?;
    let depends = Depends::load(config.clone(), Progress::quiet())?;
    let recipe = depends.book.get("native_capnp")?;
    let tarball = config.sources_dir.join(&recipe.spec.source.file_name);

    // By hand: what a person would type, extraction included.
    let by_hand_dir = scratch.path().join("by-hand");
    std::fs::create_dir_all(&by_hand_dir)?;
    let targets = recipe.spec.build.make_targets.clone();
    let options = recipe.spec.build.configure_options.clone();
    let t = Instant::now();
    run_quiet(
        Command::new("tar")
            .args(["xzf"])
            .arg(&tarball)
            .args(["--strip-components=1", "-C"])
            .arg(&by_hand_dir),
    )?;
    run_quiet(
        Command::new("sh")
            .arg("./configure")
            .args(&options)
            .current_dir(&by_hand_dir),
    )?;
    run_quiet(
        Command::new("make")
            .arg(format!("-j{}", config.jobs))
            .args(&targets)
            .current_dir(&by_hand_dir),
    )?;
    let by_hand = t.elapsed();

    // A private tree with the real recipes and toolchains and the verified
    // source cache, so the pipeline does everything but download.
    let tree = scratch.path().join("tree");
    copy_tree(
        &root.join("depends/packages"),
        &tree.join("depends/packages"),
    )?;
    copy_tree(&root.join("toolchains"), &tree.join("toolchains"))?;
    let mut cold_config = config.clone();
    cold_config.root = tree.clone();
    let t = Instant::now();
    let report = Depends::load(cold_config, Progress::quiet())?.run()?;
    let pipeline = t.elapsed();
    anyhow::ensure!(
        report.built.iter().any(|p| p == "native_capnp"),
        "cold run built nothing: {report:?}"
    );

    println!(
        "tar + configure + make by hand (baseline) {:>8.1} s",
        by_hand.as_secs_f64()
    );
    println!(
        "cargo xtask depends, cold                 {:>8.1} s  {:.3}x by hand",
        pipeline.as_secs_f64(),
        pipeline.as_secs_f64() / by_hand.as_secs_f64()
    );
    Ok(())
}

/// Runs a crate's `harness = false` bench against the depends prefix of the
/// build machine (the multiprocess crates need its `capnp`).
fn cargo_bench(package: &str, bench: &str, features: &[&str]) -> Result<()> {
    let root = workspace_root();
    Depends::load(
        Config::new(&root, BUILD_TRIPLE, BUILD_TRIPLE),
        Progress::for_stderr(),
    )?
    .run()?;
    let cargo_config = root
        .join("depends")
        .join(BUILD_TRIPLE)
        .join("cargo-config.toml");
    let status = cmd::cargo(&root)
        .arg("bench")
        .arg("--config")
        .arg(&cargo_config)
        .args(["--package", package, "--bench", bench])
        .args(features.iter().flat_map(|f| ["--features", f]))
        .status()
        .context("running cargo bench")?;
    if !status.success() {
        bail!("cargo bench -p {package} --bench {bench} failed ({status})");
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
