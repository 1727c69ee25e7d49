//! `cargo xtask test`: everything CI checks, in the order a failure is
//! cheapest to find, ending with the functional suite once per build. Every
//! step's output streams live; the closing line counts cargo's `test
//! result:` lines.

mod results;

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Args;
use kestrel_depends::progress::Progress;
use xshell::{cmd, Cmd, Shell};

use crate::functional::{FLAVORS, SHARED_SUITE};
use crate::sccache::{self, SccacheOptions};
use crate::tee::run_teed;
use crate::{
    build_machine_depends, cargo_program, cargo_with_prefix, cxx_ipc_depends, step, BUILD_TRIPLE,
};
use results::Counts;

#[derive(Args)]
pub struct TestCmd {
    /// Skip `cargo fmt --check` and clippy (for a quick local re-run).
    #[arg(long)]
    pub no_lint: bool,
    #[command(flatten)]
    pub sccache: SccacheOptions,
}

/// Features for linting and testing every crate: the multiprocess build,
/// the gui's end-to-end test (it drives the real binaries in tmux) and the
/// IPC test peer (a second process for kestrel-ipc's own tests).
const MULTIPROCESS_TEST_FEATURES: &str =
    "kestrel-node/multiprocess,kestrel-gui/e2e,kestrel-ipc/test-peer";

/// The host of the cross build CI checks (its test runs the result under
/// qemu).
const CROSS_HOST: &str = "aarch64-unknown-linux-gnu";

/// The steps run so far and how long each took.
#[derive(Default)]
struct Steps(Vec<(String, Duration)>);

impl Steps {
    /// Runs one step under its heading and records its wall time.
    fn run<T>(&mut self, name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        step(name);
        let started = Instant::now();
        let result = f();
        self.0.push((name.to_owned(), started.elapsed()));
        result
    }
}

impl TestCmd {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let started = Instant::now();
        let mut steps = Steps::default();
        let mut total = Counts::default();
        let mut functional = Vec::new();

        // The tools only tests need (tmux, cmake, ...): installed here so
        // the README's one test command works on a fresh machine. The
        // script checks before it installs, so this is quick once done.
        // sccache is installed in process, not by the script's `cargo
        // xtask` line: that cargo, started from here with this run's
        // environment, may relink target/debug/xtask, the executable this
        // run still spawns (the cmake step).
        steps.run("prerequisites (ci/install-prerequisites.sh)", || {
            cmd!(sh, "bash ci/install-prerequisites.sh")
                .env("KESTREL_SCCACHE_BY_XTASK", "1")
                .run()?;
            crate::sccache::ensure_installed()?;
            Ok(())
        })?;
        let server = self.sccache.start(sh)?;
        steps.run(
            "depends (multiprocess, C++ IPC) for the build machine",
            || {
                let report = build_machine_depends(Progress::for_stderr())?;
                if report.up_to_date {
                    println!("depends: up to date");
                } else {
                    println!("depends: built [{}]", report.built.join(", "));
                }
                Ok(())
            },
        )?;
        // After the build machine's run, whose native packages (cmake,
        // capnp) it reuses: only the host capnp library is built.
        steps.run(
            &format!("depends (C++ IPC) for {CROSS_HOST}, the real cross build"),
            || {
                let report = cxx_ipc_depends(CROSS_HOST, Progress::for_stderr())?;
                println!("depends {CROSS_HOST}: built [{}]", report.built.join(", "));
                Ok(())
            },
        )?;
        let cargo = |subcommand: &str| cargo_with_prefix(sh, subcommand, BUILD_TRIPLE);

        if !self.no_lint {
            steps.run("cargo fmt --check", || {
                let cargo = cargo_program();
                Ok(cmd!(sh, "{cargo} fmt --all -- --check").run()?)
            })?;
            steps.run(
                "cargo clippy (all crates, multiprocess) -D warnings",
                || {
                    let features = MULTIPROCESS_TEST_FEATURES;
                    Ok(cargo("clippy")
                        .args(["--workspace", "--all-targets", "--features", features])
                        .args(["--", "-D", "warnings"])
                        .run()?)
                },
            )?;
            // xtask as `cargo xtask` builds it: without the store client
            // (the workspace run above has it), so its stand-in is linted.
            steps.run(
                "cargo clippy -p xtask (no store client) -D warnings",
                || {
                    let cargo = cargo_program();
                    Ok(cmd!(sh, "{cargo} clippy --package xtask -- -D warnings").run()?)
                },
            )?;
        }

        total += steps.run("unit, integration and tidy tests", || {
            run_tests(
                cargo("test")
                    .args(["--workspace", "--exclude", "kestrel-functional"])
                    .args(["--features", MULTIPROCESS_TEST_FEATURES]),
                &[],
            )
        })?;
        total += steps.run(
            "the depends-built capnp and C++ libraries (also aarch64, under qemu), the depends CMake reading toolchain.cmake and building a cmake package",
            || {
                run_tests(
                    cargo("test").args(["--package", "kestrel-depends"]).args([
                        "--test",
                        "native_capnp",
                        "--test",
                        "cmake_toolchain",
                        "--test",
                        "capnp_library",
                        "--test",
                        "pipeline",
                        "--test",
                        "aarch64_capnp",
                    ]),
                    &["--ignored"],
                )
            },
        )?;

        for flavor in FLAVORS {
            steps.run(&format!("build: {} node", flavor.name), || flavor.build(sh))?;
            let counts = steps.run(&format!("functional suite, {} build", flavor.name), || {
                let targets = [SHARED_SUITE, flavor.own_targets].concat();
                run_tests(flavor.suite(sh, &targets), &[])
            })?;
            functional.push((flavor.name, counts.clone()));
            total += counts;
        }

        sccache::finish(server)?;
        println!("\n== summary ==");
        for (name, took) in &steps.0 {
            println!("{:>8.1} s  {name}", took.as_secs_f64());
        }
        for (name, counts) in &functional {
            println!(
                "functional {name:<12} {:>3} passed, {} failed",
                counts.passed, counts.failed
            );
        }
        for target in &total.failed_targets {
            println!("failed: {target}");
        }
        println!("total time {:.0} s", started.elapsed().as_secs_f64());
        println!("{} passed, {} failed", total.passed, total.failed);
        if total.failed > 0 {
            bail!("{} tests failed", total.failed);
        }
        Ok(())
    }
}

/// Runs a `cargo test` (`test_args` go to the test binaries) with its
/// output streaming live and returns the counts read from it. Every test
/// binary runs (`--no-fail-fast`), so a failing one costs only its own
/// failures. A run that fails without any failure to count (it did not
/// compile) is an error.
fn run_tests(cmd: Cmd<'_>, test_args: &[&str]) -> Result<Counts> {
    let cmd = cmd.arg("--no-fail-fast").arg("--").args(test_args);
    let shown = cmd.to_string();
    let teed = run_teed(cmd, &mut std::io::stdout())?;
    let counts = Counts::parse(&teed.output);
    if !teed.status.success() && counts.failed == 0 {
        bail!(
            "`{shown}` failed ({}) before reporting a test failure",
            teed.status
        );
    }
    Ok(counts)
}
