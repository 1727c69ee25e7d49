//! `cargo xtask bench cache`: what a remote cache saves a second machine,
//! and that a no-op run with one configured costs nothing extra.

use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{ensure, Result};
use kestrel_depends::progress::Progress;
use kestrel_depends::remote::{Mode, RemoteConfig, StoreUrl};
use kestrel_depends::{Config, Depends};
use xshell::{cmd, Shell};

use super::{median, ms, run_quiet};
use crate::{depends::cmake_driver, workspace_root, BUILD_TRIPLE};

/// The aims for a second machine with a warm store.
const WARM_SECONDS_AIM: f64 = 3.0;
const WARM_SPEEDUP_AIM: f64 = 20.0;

pub fn bench_cache(sh: &Shell, noop_runs: u32) -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let store = scratch.path().join("store");
    sh.create_dir(&store)?;
    let remote = |mode| {
        let mut config = RemoteConfig::new(StoreUrl::Dir(store.clone()));
        config.mode = mode;
        config
    };

    // The first machine: cold, with the verified source cache (so the
    // baseline is building, not downloading), publishing as it builds.
    let mut first = checkout(sh, &scratch.path().join("first"))?;
    first.sources_dir = workspace_root().join("depends/sources");
    first.remote = Some(remote(Mode::ReadWrite));
    let t = Instant::now();
    let cold_report = Depends::load(first, Progress::quiet())?.run()?;
    let cold = t.elapsed();
    ensure!(
        !cold_report.built.is_empty(),
        "the cold run built nothing: {cold_report:?}"
    );

    // The second machine: another path, empty caches, the store warm.
    let mut second = checkout(sh, &scratch.path().join("second"))?;
    second.remote = Some(remote(Mode::ReadOnly));
    let t = Instant::now();
    let report = Depends::load(second.clone(), Progress::quiet())?.run()?;
    let warm = t.elapsed();
    ensure!(
        report.built.is_empty() && !report.downloaded.is_empty(),
        "the second machine did not get everything from the store: {report:?}"
    );

    println!("== second machine, warm remote cache (file store) ==");
    println!(
        "cold build, publishing (baseline) {:>8.2} s  built [{}]",
        cold.as_secs_f64(),
        cold_report.built.join(", ")
    );
    let speedup = cold.as_secs_f64() / warm.as_secs_f64();
    println!(
        "warm store, nothing built         {:>8.2} s  {speedup:.1}x faster (aims: under {WARM_SECONDS_AIM} s: {}, at least {WARM_SPEEDUP_AIM}x: {})",
        warm.as_secs_f64(),
        verdict(warm.as_secs_f64() < WARM_SECONDS_AIM),
        verdict(speedup >= WARM_SPEEDUP_AIM),
    );

    // No-op: the remote cache points at a listener that counts connections.
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("webdav+http://{}/", listener.local_addr()?);
    let connections = Arc::new(AtomicU64::new(0));
    {
        let connections = connections.clone();
        std::thread::spawn(move || {
            for _ in listener.incoming() {
                connections.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
    let mut with_remote = second.clone();
    with_remote.remote = Some(RemoteConfig::new(StoreUrl::parse(&url)?));
    let mut without = second;
    without.remote = None;
    let noop = |config: &Config| {
        median(noop_runs, || {
            let report = Depends::load(config.clone(), Progress::quiet())?.run()?;
            ensure!(report.up_to_date, "not a no-op: {report:?}");
            Ok(())
        })
    };
    let baseline = noop(&without)?;
    let configured = noop(&with_remote)?;
    let requests = connections.load(Ordering::SeqCst);
    println!("\n== no-op depends ({noop_runs} runs each, median) ==");
    println!("without a remote cache (baseline) {:>8.3} ms", ms(baseline));
    println!(
        "with a remote cache configured    {:>8.3} ms  {:.2}x, {requests} connections to the store",
        ms(configured),
        configured.as_secs_f64() / baseline.as_secs_f64()
    );
    ensure!(
        requests == 0,
        "a no-op run contacted the remote cache {requests} times"
    );
    Ok(())
}

/// A checkout's depends tree: the workspace's recipes and toolchain files.
fn checkout(sh: &Shell, tree: &Path) -> Result<Config> {
    sh.create_dir(tree.join("depends"))?;
    run_quiet(cmd!(sh, "cp -R depends/packages {tree}/depends/packages"))?;
    run_quiet(cmd!(sh, "cp -R toolchains {tree}/toolchains"))?;
    let mut config = Config::new(tree, BUILD_TRIPLE, BUILD_TRIPLE);
    config.cmake_driver = cmake_driver()?;
    Ok(config)
}

pub(super) fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT met"
    }
}
