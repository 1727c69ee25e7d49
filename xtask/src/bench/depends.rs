//! `cargo xtask bench depends`: what the pipeline costs against doing the
//! same by hand, each pair timed in the same run.
//!
//! - A no-op run of the whole tree (the C++ IPC set included) against
//!   stat-ing its outputs; aim: under 0.3 s through `cargo xtask depends`.
//! - Cold, each in a private tree with the real recipes and the verified
//!   source cache (so nothing is downloaded): the default set (what the
//!   README's command builds: `native_capnp`) against the tarball's own
//!   configure + make; `native_cmake` against its own `./bootstrap` + make;
//!   the `capnp` host library (with `native_cmake`'s archive from the run
//!   before, as a second run would have it) against its CMake build by
//!   hand. Aim: at most 1.05x each.
//! - `native_capnp` and `native_cmake` (independent) in one run against the
//!   two runs above one after the other; aim: at most 0.6x.
//! - The cold wall time of the default set and of the opt-in set.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use kestrel_depends::install::Manifest;
use kestrel_depends::pipeline::RunReport;
use kestrel_depends::progress::Progress;
use kestrel_depends::{Config, Depends};
use xshell::{cmd, Shell};

use super::cache::verdict;
use super::{median, ms, run_quiet};
use crate::{cargo_program, depends::cmake_driver, workspace_root, BUILD_TRIPLE};

/// A no-op `cargo xtask depends` must stay under this.
const NOOP_AIM: Duration = Duration::from_millis(300);
/// A cold package build through the pipeline against the same build by hand.
const COLD_RATIO_AIM: f64 = 1.05;
/// Two independent packages in one run against one after the other.
const PARALLEL_RATIO_AIM: f64 = 0.6;

pub fn bench_depends(sh: &Shell, noop_runs: u32, cold: bool) -> Result<()> {
    let mut config = Config::new(&workspace_root(), BUILD_TRIPLE, BUILD_TRIPLE);
    config.cxx_ipc = true;
    config.cmake_driver = cmake_driver()?;
    bench_noop(sh, &config, noop_runs)?;
    if cold {
        bench_cold(sh, &config)?;
    }
    Ok(())
}

/// A no-op run of the whole tree against stat-ing what it installed.
fn bench_noop(sh: &Shell, config: &Config, runs: u32) -> Result<()> {
    let prefix = config.prefix();
    Depends::load(config.clone(), Progress::for_stderr())?.run()?;
    let packages = Manifest::read(&prefix)
        .context("no manifest after a run")?
        .packages
        .len();
    println!(
        "== no-op depends, {packages} packages with the C++ IPC set ({runs} runs each, median) =="
    );
    let stat = median(runs, || {
        let manifest = Manifest::read(&prefix).context("no manifest")?;
        ensure!(manifest.files_present(&prefix));
        Ok(())
    })?;
    let in_process = median(runs, || {
        let report = Depends::load(config.clone(), Progress::quiet())?.run()?;
        ensure!(report.up_to_date, "not a no-op: {report:?}");
        Ok(())
    })?;
    let exe = std::env::current_exe()?;
    let xtask_process = median(runs, || {
        run_quiet(cmd!(sh, "{exe} depends --host {BUILD_TRIPLE} --cxx-ipc"))
    })?;
    let cargo = cargo_program();
    let via_cargo = median(runs.min(10), || {
        run_quiet(cmd!(
            sh,
            "{cargo} xtask depends --host {BUILD_TRIPLE} --cxx-ipc"
        ))
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
    row("cargo xtask depends --cxx-ipc", via_cargo);
    println!(
        "aim: cargo xtask depends under {} ms: {}",
        NOOP_AIM.as_millis(),
        verdict(via_cargo < NOOP_AIM)
    );
    Ok(())
}

/// A private depends tree in `dir`: the workspace's toolchain files and
/// the recipes named (all when `None`) with their patches, an empty
/// archive cache, the workspace's verified source cache.
pub fn private_tree(sh: &Shell, dir: &Path, recipes: Option<&[&str]>) -> Result<Config> {
    let root = workspace_root();
    let packages = dir.join("depends/packages");
    sh.create_dir(&packages)?;
    let toolchains = root.join("toolchains");
    run_quiet(cmd!(sh, "cp -R {toolchains} {dir}/toolchains"))?;
    let from = root.join("depends/packages");
    match recipes {
        None => run_quiet(cmd!(sh, "cp -R {from}/. {packages}"))?,
        Some(names) => {
            for name in names {
                let recipe = from.join(format!("{name}.toml"));
                sh.copy_file(&recipe, &packages)
                    .with_context(|| format!("copying {}", recipe.display()))?;
            }
        }
    }
    let patches = root.join("depends/patches");
    if patches.is_dir() {
        run_quiet(cmd!(sh, "cp -R {patches} {dir}/depends/patches"))?;
    }
    let mut config = Config::new(dir, BUILD_TRIPLE, BUILD_TRIPLE);
    config.sources_dir = root.join("depends/sources");
    config.cmake_driver = cmake_driver()?;
    Ok(config)
}

/// One timed run of `config` that must build exactly `expected`.
fn timed_run(config: Config, expected: &[&str]) -> Result<Duration> {
    let t = Instant::now();
    let report: RunReport = Depends::load(config, Progress::quiet())?.run()?;
    let took = t.elapsed();
    let mut built = report.built.clone();
    built.sort();
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    ensure!(
        built == want,
        "a cold run was to build {want:?} but built {built:?} ({report:?})"
    );
    Ok(took)
}

/// `f` run in a fresh directory `dir`, timed.
fn by_hand(sh: &Shell, dir: &Path, f: impl FnOnce() -> Result<()>) -> Result<Duration> {
    sh.create_dir(dir)?;
    let _dir = sh.push_dir(dir);
    let t = Instant::now();
    f()?;
    Ok(t.elapsed())
}

fn pair(what: &str, hand: Duration, pipeline: Duration) -> bool {
    let ratio = pipeline.as_secs_f64() / hand.as_secs_f64();
    let met = ratio <= COLD_RATIO_AIM;
    println!(
        "{what:<18} by hand {:>7.1} s   pipeline {:>7.1} s   {ratio:.3}x by hand (aim <= {COLD_RATIO_AIM}x: {})",
        hand.as_secs_f64(),
        pipeline.as_secs_f64(),
        verdict(met)
    );
    met
}

/// Cold builds through the pipeline against the same builds by hand.
fn bench_cold(sh: &Shell, config: &Config) -> Result<()> {
    let jobs = config.jobs;
    println!("\n== cold builds, {jobs} jobs (sources from the verified cache) ==");
    let depends = Depends::load(config.clone(), Progress::quiet())?;
    let tarball = |name: &str| -> Result<PathBuf> {
        let recipe = depends.book.get(name)?;
        Ok(config.sources_dir.join(&recipe.spec.source.file_name))
    };
    let make_jobs = format!("-j{jobs}");
    let scratch = tempfile::tempdir()?;
    let s = scratch.path();

    // The default set: what the README's `cargo xtask depends` builds.
    eprintln!("cold: native_capnp by hand, then the default set through the pipeline");
    let capnp_tarball = tarball("native_capnp")?;
    let recipe = &depends.book.get("native_capnp")?.spec.build;
    let (options, targets) = (&recipe.configure_options, &recipe.make_targets);
    let capnp_hand = by_hand(sh, &s.join("capnp-by-hand"), || {
        run_quiet(cmd!(sh, "tar xzf {capnp_tarball} --strip-components=1"))?;
        run_quiet(cmd!(sh, "sh ./configure {options...}"))?;
        run_quiet(cmd!(sh, "make {make_jobs} {targets...}"))
    })?;
    let default_set = timed_run(
        private_tree(sh, &s.join("default"), None)?,
        &["native_capnp"],
    )?;
    sh.remove_path(s.join("default"))?;

    // native_cmake: its own bootstrap and make, with the recipe's options.
    eprintln!("cold: native_cmake by hand, then through the pipeline");
    let cmake_tarball = tarball("native_cmake")?;
    let recipe = &depends.book.get("native_cmake")?.spec.build;
    let hand_prefix = s.join("cmake-by-hand-prefix");
    let bootstrap: Vec<String> = recipe
        .configure_command
        .iter()
        .map(|a| {
            a.replace("{prefix}", &hand_prefix.display().to_string())
                .replace("{jobs}", &jobs.to_string())
        })
        .collect();
    let targets = &recipe.make_targets;
    let cmake_hand = by_hand(sh, &s.join("cmake-by-hand"), || {
        run_quiet(cmd!(sh, "tar xzf {cmake_tarball} --strip-components=1"))?;
        let (program, args) = bootstrap
            .split_first()
            .context("native_cmake has no configure_command")?;
        run_quiet(cmd!(sh, "{program} {args...}"))?;
        run_quiet(cmd!(sh, "make {make_jobs} {targets...}"))
    })?;
    sh.remove_path(s.join("cmake-by-hand"))?;
    let mut cmake_tree = private_tree(sh, &s.join("cmake"), Some(&["native_cmake"]))?;
    cmake_tree.cxx_ipc = true;
    let cmake_cold = timed_run(cmake_tree.clone(), &["native_cmake"])?;

    // capnp (host library): its CMake build by hand with the depends cmake
    // just built, against the pipeline with native_cmake's archive cached.
    eprintln!("cold: the capnp library by hand with the depends cmake, then through the pipeline");
    let cmake = cmake_tree.prefix().join("native/bin/cmake");
    ensure!(
        cmake.is_file(),
        "no {} after native_cmake's run",
        cmake.display()
    );
    let recipe = &depends.book.get("capnp")?.spec.build;
    let defines: Vec<String> = recipe
        .defines
        .iter()
        .map(|(k, v)| format!("-D{k}={v}"))
        .collect();
    let lib_dir = s.join("capnp-lib-by-hand");
    let (stage, jobs_arg) = (lib_dir.join("stage"), jobs.to_string());
    let lib_hand = by_hand(sh, &lib_dir, || {
        run_quiet(cmd!(sh, "tar xzf {capnp_tarball} --strip-components=1"))?;
        run_quiet(cmd!(
            sh,
            "{cmake} -S . -B build -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr/local {defines...}"
        ))?;
        run_quiet(cmd!(sh, "{cmake} --build build --parallel {jobs_arg}"))?;
        run_quiet(cmd!(sh, "{cmake} --install build").env("DESTDIR", &stage))
    })?;
    sh.remove_path(&lib_dir)?;
    let mut lib_tree = private_tree(sh, &s.join("lib"), Some(&["native_cmake", "capnp"]))?;
    lib_tree.cxx_ipc = true;
    let built = cmake_tree.base_cache.clone();
    let into = lib_tree.base_cache.clone();
    run_quiet(cmd!(sh, "cp -R {built} {into}"))?;
    let lib_cold = timed_run(lib_tree, &["capnp"])?;
    sh.remove_path(s.join("lib"))?;
    sh.remove_path(s.join("cmake"))?;

    // native_capnp and native_cmake (neither needs the other) in one run.
    eprintln!("cold: native_capnp and native_cmake in one run");
    let mut both = private_tree(sh, &s.join("both"), Some(&["native_capnp", "native_cmake"]))?;
    both.cxx_ipc = true;
    let parallel = timed_run(both, &["native_capnp", "native_cmake"])?;
    sh.remove_path(s.join("both"))?;

    let mut met = pair("native_capnp", capnp_hand, default_set);
    met &= pair("native_cmake", cmake_hand, cmake_cold);
    met &= pair("capnp (library)", lib_hand, lib_cold);
    let serial = default_set + cmake_cold;
    let ratio = parallel.as_secs_f64() / serial.as_secs_f64();
    println!(
        "native_capnp + native_cmake: one after the other {:.1} s, in one run {:.1} s: {ratio:.3}x (aim <= {PARALLEL_RATIO_AIM}x: {})",
        serial.as_secs_f64(),
        parallel.as_secs_f64(),
        verdict(ratio <= PARALLEL_RATIO_AIM)
    );
    met &= ratio <= PARALLEL_RATIO_AIM;
    println!(
        "cold wall time, default set (cargo xtask depends): {:.1} s",
        default_set.as_secs_f64()
    );
    println!(
        "cold wall time, opt-in C++ IPC set (cargo xtask depends --cxx-ipc): {:.1} s \
         (the two-package run, then the capnp library's run)",
        (parallel + lib_cold).as_secs_f64()
    );
    if !met {
        println!("some aims were not met (above); the machine's other load counts in every figure");
    }
    Ok(())
}
