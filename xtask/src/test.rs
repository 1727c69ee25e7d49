//! `cargo xtask test`: everything CI checks, in the order a failure is
//! cheapest to find, ending with the functional suite once per build.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use kestrel_depends::progress::Progress;
use kestrel_depends::{Config, Depends};

use crate::cmd::{run, step};
use crate::{workspace_root, BUILD_TRIPLE};

#[derive(Args)]
pub struct TestCmd {
    /// Skip `cargo fmt --check` and clippy (for a quick local re-run).
    #[arg(long)]
    pub no_lint: bool,
}

/// Test counts read from cargo's `test result:` lines.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    passed: u32,
    failed: u32,
    ignored: u32,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.ignored += other.ignored;
    }

    /// Sums every `test result: ok. 3 passed; 0 failed; 1 ignored; ...` line.
    fn parse(output: &str) -> Counts {
        let mut counts = Counts::default();
        for line in output.lines().filter(|l| l.starts_with("test result:")) {
            for part in line.split(';') {
                let mut words = part.split_whitespace().rev();
                let (Some(kind), Some(n)) = (words.next(), words.next()) else {
                    continue;
                };
                let n: u32 = n.parse().unwrap_or(0);
                match kind {
                    "passed" => counts.passed += n,
                    "failed" => counts.failed += n,
                    "ignored" => counts.ignored += n,
                    _ => {}
                }
            }
        }
        counts
    }
}

/// Features for linting and testing every crate: the multiprocess build
/// and the gui's end-to-end test (it drives the real binaries in tmux).
const MULTIPROCESS_TEST_FEATURES: &str = "kestrel-node/multiprocess,kestrel-gui/e2e";

/// One build of the node the functional suite runs against.
struct Flavor {
    name: &'static str,
    features: &'static [&'static str],
    kestreld: &'static str,
    /// Targets of kestrel-functional only this build runs, timed apart
    /// from the shared suite so the two builds' wall times compare like
    /// with like (the `multiprocess` target fails on purpose against
    /// `kestreld`).
    own_targets: &'static [&'static str],
}

/// The scenarios every build must pass alike.
const SHARED_SUITE: &[&str] = &["--test", "functional"];

/// Runs of the shared suite per build. It takes about a second, so one
/// run's wall time is mostly noise; the summary compares medians.
const SHARED_SUITE_RUNS: usize = 5;

const FLAVORS: &[Flavor] = &[
    Flavor {
        name: "monolithic",
        features: &[],
        kestreld: "kestreld",
        own_targets: &["--lib"],
    },
    Flavor {
        name: "multiprocess",
        features: &["kestrel-node/multiprocess"],
        kestreld: "kestrel-node",
        own_targets: &["--test", "multiprocess"],
    },
];

impl TestCmd {
    pub fn run(self) -> Result<()> {
        let root = workspace_root();
        let started = Instant::now();
        let mut total = Counts::default();

        step("depends (multiprocess) for the build machine");
        let config = Config::new(&root, BUILD_TRIPLE, BUILD_TRIPLE);
        let report = Depends::load(config, Progress::for_stderr())?.run()?;
        println!(
            "depends: {}",
            if report.up_to_date {
                "up to date".to_owned()
            } else {
                format!("built [{}]", report.built.join(", "))
            }
        );
        let cargo_config = root
            .join("depends")
            .join(BUILD_TRIPLE)
            .join("cargo-config.toml");
        let cargo = |args: &[&str]| -> Command {
            let mut cmd = crate::cmd::cargo(&root);
            cmd.arg(args[0]).arg("--config").arg(&cargo_config);
            cmd.args(&args[1..]);
            cmd
        };

        if !self.no_lint {
            step("cargo fmt --check");
            run(crate::cmd::cargo(&root).args(["fmt", "--all", "--", "--check"]))?;
            step("cargo clippy (all crates, multiprocess) -D warnings");
            run(&mut cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--features",
                MULTIPROCESS_TEST_FEATURES,
                "--",
                "-D",
                "warnings",
            ]))?;
        }

        step("unit and integration tests");
        total.add(run_tests(&mut cargo(&[
            "test",
            "--workspace",
            "--exclude",
            "kestrel-functional",
            "--features",
            MULTIPROCESS_TEST_FEATURES,
        ]))?);
        step("the depends-built capnp, and CMake reading toolchain.cmake");
        for target in ["native_capnp", "cmake_toolchain"] {
            total.add(run_tests(&mut cargo(&[
                "test",
                "--package",
                "kestrel-depends",
                "--test",
                target,
                "--",
                "--ignored",
            ]))?);
        }

        let bin_dir = root.join("target").join(BUILD_TRIPLE).join("debug");
        let mut walls: Vec<(&str, &str, Duration, Counts)> = Vec::new();
        for flavor in FLAVORS {
            step(&format!("functional suite, {} build", flavor.name));
            let mut build = cargo(&[
                "build",
                "--package",
                "kestrel-node",
                "--package",
                "kestrel-cli",
            ]);
            for feature in flavor.features {
                build.args(["--features", feature]);
            }
            run(&mut build)?;
            let suite = |targets: &[&str], extra: &[&str]| {
                let mut cmd = cargo(&["test", "--package", "kestrel-functional"]);
                cmd.args(targets).args(extra);
                cmd.env("KESTRELD", bin_dir.join(flavor.kestreld))
                    .env("KESTREL_CLI", bin_dir.join("kestrel-cli"));
                cmd
            };
            // Compile first so the wall times are the tests alone.
            run(&mut suite(SHARED_SUITE, &["--no-run"]))?;
            run(&mut suite(flavor.own_targets, &["--no-run"]))?;
            for (part, targets, runs) in [
                ("shared", SHARED_SUITE, SHARED_SUITE_RUNS),
                ("own", flavor.own_targets, 1),
            ] {
                let mut times = Vec::with_capacity(runs);
                let mut counts = Counts::default();
                for run in 0..runs {
                    let t = Instant::now();
                    let ran = run_tests(&mut suite(targets, &[]))?;
                    times.push(t.elapsed());
                    // Every run's failures count; its passes count once.
                    if run == 0 {
                        counts = ran;
                    } else {
                        counts.failed += ran.failed;
                    }
                }
                times.sort();
                walls.push((flavor.name, part, times[runs / 2], counts));
                total.add(counts);
            }
        }

        println!("\n== summary ==");
        for (name, part, wall, counts) in &walls {
            println!(
                "functional {name:<12} {part:<6} {:>3} passed, {} failed  wall {:.2} s{}",
                counts.passed,
                counts.failed,
                wall.as_secs_f64(),
                if *part == "shared" {
                    format!(" (median of {SHARED_SUITE_RUNS} runs)")
                } else {
                    String::new()
                }
            );
        }
        let shared = |build: &str| {
            walls
                .iter()
                .find(|(name, part, ..)| *name == build && *part == "shared")
                .map(|(_, _, wall, _)| wall.as_secs_f64())
        };
        if let (Some(mono), Some(multi)) = (shared("monolithic"), shared("multiprocess")) {
            println!(
                "shared suite wall time, multiprocess / monolithic: {:.2}x",
                multi / mono
            );
        }
        println!("total time {:.0} s", started.elapsed().as_secs_f64());
        println!("{} passed, {} failed", total.passed, total.failed);
        if total.failed > 0 {
            bail!("{} tests failed", total.failed);
        }
        Ok(())
    }
}

/// Runs a `cargo test`, echoing its output, and returns its counts. A
/// failing run still reports its counts (the summary names them) unless
/// nothing ran at all.
fn run_tests(cmd: &mut Command) -> Result<Counts> {
    let child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {cmd:?}"))?;
    let out = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    let counts = Counts::parse(&stdout);
    if !out.status.success() && counts.failed == 0 {
        bail!(
            "{cmd:?} failed ({}) before reporting a test failure",
            out.status
        );
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_sum_every_result_line() {
        let out = "running 3 tests\ntest result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.1s\n\
                   test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1s\n";
        assert_eq!(
            Counts::parse(out),
            Counts {
                passed: 5,
                failed: 1,
                ignored: 1
            }
        );
    }
}
