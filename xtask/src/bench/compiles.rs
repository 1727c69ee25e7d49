//! `cargo xtask bench cache`'s sccache rows: the product build
//! (`cargo xtask build`'s cargo command) of a second checkout at another
//! path with sccache warm, against the same build with sccache cold.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use kestrel_depends::progress::Progress;
use kestrel_depends::remote::{Mode, RemoteConfig, StoreUrl};
use kestrel_depends::sccache::{Server, Stats};
use kestrel_depends::{Config, Depends};
use xshell::{cmd, Shell};

use super::cache::verdict;
use super::run_quiet;
use crate::build::product_args;
use crate::{cargo_with_prefix_in, sccache, workspace_root, BUILD_TRIPLE};

/// The aim for a second checkout with sccache warm.
const WARM_RATIO_AIM: f64 = 0.4;

/// How a build reaches sccache.
#[derive(Clone, Copy)]
enum Setup {
    /// `cargo xtask build --sccache`: the depends cargo config, through
    /// the rustc wrapper.
    Ours,
    /// sccache's best for Rust from different paths: no path-bearing
    /// flags at all (`CARGO_ENCODED_RUSTFLAGS` empty), sccache itself as
    /// cargo's wrapper. The floor our set-up is judged against.
    SccacheBest,
}

pub fn bench_sccache(sh: &Shell) -> Result<()> {
    let sccache = sccache::ensure_installed()?;
    let scratch = tempfile::tempdir()?;
    let remote = |store: &Path, mode| {
        let mut config = RemoteConfig::new(StoreUrl::Dir(store.to_owned()));
        config.mode = mode;
        config
    };
    let (store, best_store) = (
        scratch.path().join("store"),
        scratch.path().join("best-store"),
    );
    sh.create_dir(&store)?;
    sh.create_dir(&best_store)?;
    let first = checkout(sh, &scratch.path().join("first"))?;
    let second = checkout(sh, &scratch.path().join("second-checkout-at-a-longer-path"))?;

    let build = |tree: &Path, store: &Path, mode, setup| -> Result<(Duration, Stats, String)> {
        let server = Server::start(&sccache, &remote(store, mode), tree)?;
        let env = match setup {
            Setup::Ours => sccache::cargo_env(&server, tree)?,
            Setup::SccacheBest => server.cargo_env(&sccache.path, tree),
        };
        let load = loadavg();
        let t = Instant::now();
        let _dir = sh.push_dir(tree);
        let mut cargo = cargo_with_prefix_in(sh, "build", tree, BUILD_TRIPLE)
            .args(product_args(true))
            // Not CARGO_TARGET_DIR: rustc inherits it and sccache
            // hashes every CARGO_* variable (a path there misses all).
            .arg("--target-dir")
            .arg(tree.join("target"))
            .env_remove("CARGO_TARGET_DIR")
            .envs(env);
        if let Setup::SccacheBest = setup {
            cargo = cargo.env("CARGO_ENCODED_RUSTFLAGS", "");
        }
        run_quiet(cargo)?;
        let wall = t.elapsed();
        Ok((wall, server.stop()?, format!("{load} -> {}", loadavg())))
    };
    let (cold, cold_stats, cold_load) = build(&first, &store, Mode::ReadWrite, Setup::Ours)?;
    ensure!(
        cold_stats.writes > 0,
        "the cold build stored nothing: {cold_stats}"
    );
    let (warm, warm_stats, warm_load) = build(&second, &store, Mode::ReadOnly, Setup::Ours)?;
    sh.remove_path(first.join("target"))?;
    let (same, same_stats, same_load) = build(&first, &store, Mode::ReadOnly, Setup::Ours)?;
    for tree in [&first, &second] {
        sh.remove_path(tree.join("target"))?;
    }
    let (best_cold, best_cold_stats, best_cold_load) =
        build(&first, &best_store, Mode::ReadWrite, Setup::SccacheBest)?;
    let (best_warm, best_warm_stats, best_warm_load) =
        build(&second, &best_store, Mode::ReadOnly, Setup::SccacheBest)?;

    println!("\n== cargo xtask build's compile through sccache, file store (load 1/5/15 min before -> after) ==");
    println!(
        "cold store, first checkout (baseline)   {:>7.1} s         load {cold_load}\n    {cold_stats}",
        cold.as_secs_f64()
    );
    let ratio = warm.as_secs_f64() / cold.as_secs_f64();
    println!(
        "warm store, checkout at another path    {:>7.1} s  {ratio:.2}x (aim at most {WARM_RATIO_AIM}x: {})  load {warm_load}\n    {warm_stats}",
        warm.as_secs_f64(),
        verdict(ratio <= WARM_RATIO_AIM),
    );
    println!(
        "warm store, the first path again        {:>7.1} s  {:.2}x  load {same_load}\n    {same_stats}",
        same.as_secs_f64(),
        same.as_secs_f64() / cold.as_secs_f64()
    );
    println!("sccache's best set-up (no path-bearing flags, sccache as cargo's wrapper):");
    println!(
        "  cold store, first checkout            {:>7.1} s         load {best_cold_load}\n    {best_cold_stats}",
        best_cold.as_secs_f64()
    );
    let best_ratio = best_warm.as_secs_f64() / best_cold.as_secs_f64();
    println!(
        "  warm store, checkout at another path  {:>7.1} s  {best_ratio:.2}x its own cold  load {best_warm_load}\n    {best_warm_stats}",
        best_warm.as_secs_f64(),
    );
    println!(
        "another path, ours against sccache's best: {ratio:.2}x against {best_ratio:.2}x of their cold builds{}",
        if best_ratio > WARM_RATIO_AIM {
            format!(" (the aim of {WARM_RATIO_AIM}x is below sccache's own floor in this run)")
        } else {
            String::new()
        }
    );
    Ok(())
}

/// A clone of this checkout's HEAD at `dir`, with its depends prefix
/// installed from this checkout's built archives (nothing compiled).
fn checkout(sh: &Shell, dir: &Path) -> Result<std::path::PathBuf> {
    let root = workspace_root();
    run_quiet(cmd!(sh, "git clone --quiet {root} {dir}"))?;
    let mut config = Config::new(dir, BUILD_TRIPLE, BUILD_TRIPLE);
    config.sources_dir = root.join("depends/sources");
    config.base_cache = root.join("depends/built");
    Depends::load(config, Progress::quiet())?.run()?;
    Ok(dir.to_owned())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
