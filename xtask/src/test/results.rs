//! Test counts read from what `cargo test` printed (its stderr and the test
//! binaries' stdout, merged in order): each binary starts with cargo's
//! `Running ...` (or `Doc-tests ...`) line and ends with libtest's `test
//! result:` line.

use std::ops::AddAssign;

/// What one or more `cargo test` runs reported.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    pub passed: u32,
    pub failed: u32,
    pub ignored: u32,
    /// Test binaries that failed, as cargo named them when it started them.
    /// One that ended without a `test result:` line (it crashed or was
    /// killed) counts as one failed test.
    pub failed_targets: Vec<String>,
}

impl AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.ignored += other.ignored;
        self.failed_targets.extend(other.failed_targets);
    }
}

impl Counts {
    /// Sums every `test result: ok. 3 passed; 0 failed; 1 ignored; ...`
    /// line, and notes every binary that failed or never reported.
    pub fn parse(output: &str) -> Counts {
        let mut counts = Counts::default();
        // The binary cargo started last and that has not reported yet.
        let mut running: Option<String> = None;
        for line in output.lines() {
            let line = strip_ansi(line);
            let status = line.trim_start();
            let started = status
                .strip_prefix("Running ")
                .map(str::to_owned)
                .or_else(|| {
                    status
                        .strip_prefix("Doc-tests ")
                        .map(|c| format!("doc-tests {c}"))
                });
            if let Some(target) = started {
                counts.no_result(running.replace(target));
            } else if line.starts_with("test result:") {
                let (passed, failed, ignored) = result_line(&line);
                counts.passed += passed;
                counts.failed += failed;
                counts.ignored += ignored;
                let target = running.take();
                if failed > 0 {
                    counts
                        .failed_targets
                        .push(target.unwrap_or_else(|| "a test binary".to_owned()));
                }
            }
        }
        counts.no_result(running);
        counts
    }

    /// A started binary whose result line never came.
    fn no_result(&mut self, target: Option<String>) {
        if let Some(target) = target {
            self.failed += 1;
            self.failed_targets
                .push(format!("{target}: ended without a test result"));
        }
    }
}

/// (passed, failed, ignored) of one `test result:` line.
fn result_line(line: &str) -> (u32, u32, u32) {
    let (mut passed, mut failed, mut ignored) = (0, 0, 0);
    for part in line.split(';') {
        let mut words = part.split_whitespace().rev();
        let (Some(kind), Some(n)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(n) = n.parse::<u32>() else { continue };
        match kind {
            "passed" => passed += n,
            "failed" => failed += n,
            "ignored" => ignored += n,
            _ => {}
        }
    }
    (passed, failed, ignored)
}

/// `line` without terminal colour sequences (`ESC [ ... letter`), which
/// cargo and libtest print when told to colour a pipe.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIB: &str = "     Running unittests src/lib.rs (target/debug/deps/kestrel_chain-1)";
    const TESTS: &str = "     Running tests/chain.rs (target/debug/deps/chain-2)";

    #[test]
    fn counts_sum_every_result_line() {
        let out = format!(
            "{LIB}\n\nrunning 3 tests\ntest a ... ok\n\
             test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.1s\n\
             {TESTS}\n\nrunning 3 tests\n\
             test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1s\n\
             error: test failed, to rerun pass `--test chain`\n\
             \x20  Doc-tests kestrel_chain\n\nrunning 0 tests\n\
             test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.0s\n"
        );
        assert_eq!(
            Counts::parse(&out),
            Counts {
                passed: 5,
                failed: 1,
                ignored: 1,
                failed_targets: vec!["tests/chain.rs (target/debug/deps/chain-2)".to_owned()],
            }
        );
    }

    #[test]
    fn a_binary_that_crashed_before_its_result_counts_as_one_failure() {
        let out = format!(
            "{LIB}\n\nrunning 2 tests\n\
             error: test failed, to rerun pass `--lib`\n\nCaused by:\n  \
             process didn't exit successfully: `kestrel_chain-1` (signal: 11, SIGSEGV)\n\
             {TESTS}\n\nrunning 1 test\n\
             test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.0s\n\
             {TESTS}\n\nrunning 1 test\n"
        );
        let counts = Counts::parse(&out);
        assert_eq!((counts.passed, counts.failed), (1, 2));
        assert_eq!(
            counts.failed_targets,
            [
                "unittests src/lib.rs (target/debug/deps/kestrel_chain-1): ended without a test result",
                "tests/chain.rs (target/debug/deps/chain-2): ended without a test result",
            ]
        );
    }

    #[test]
    fn coloured_output_counts_the_same() {
        let out = "\x1b[1m\x1b[92m     Running\x1b[0m tests/chain.rs (chain-2)\n\
                   test result: \x1b[31mFAILED\x1b[0m. 4 passed; 2 failed; 0 ignored; 0 measured\n";
        let counts = Counts::parse(out);
        assert_eq!((counts.passed, counts.failed), (4, 2));
        assert_eq!(counts.failed_targets, ["tests/chain.rs (chain-2)"]);
    }

    #[test]
    fn lines_that_only_look_alike_count_nothing() {
        // A test's own output, indented or mid-line, is not a result.
        let out = "running 1 test\n  test result: ok. 9 passed\nsaid test result: 7 failed\n\
                   test result: ok. 1 passed; 0 failed; x ignored\n";
        let counts = Counts::parse(out);
        assert_eq!((counts.passed, counts.failed, counts.ignored), (1, 0, 0));
        assert!(counts.failed_targets.is_empty());
    }

    #[test]
    fn counts_add_up_across_runs() {
        let mut total = Counts {
            passed: 1,
            failed: 1,
            ignored: 0,
            failed_targets: vec!["a".into()],
        };
        total += Counts {
            passed: 2,
            failed: 3,
            ignored: 4,
            failed_targets: vec!["b".into()],
        };
        assert_eq!(
            total,
            Counts {
                passed: 3,
                failed: 4,
                ignored: 4,
                failed_targets: vec!["a".into(), "b".into()],
            }
        );
    }
}
