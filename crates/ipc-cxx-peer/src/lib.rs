//! The C++ Cap'n Proto peer (`cxx/`, built by `build.rs` against the
//! depends C++ IPC set) and how to drive it: its path, and the C++ row of
//! `bench ipc` (Echo between two C++ processes over a socketpair).
//!
//! The peer speaks `schema/*.capnp` as `capnpc-c++` compiles it, so what it
//! exchanges with `kestrel-node` shows that our Rust Cap'n Proto is wire
//! compatible with the C++ one Bitcoin Core's processes use.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// The `kestrel-cxx-peer` executable, or why it was not built (a prefix
/// without the C++ IPC set, with the command that adds it).
pub fn executable() -> Result<&'static Path, &'static str> {
    match (
        option_env!("KESTREL_CXX_PEER"),
        option_env!("KESTREL_CXX_PEER_MISSING"),
    ) {
        (Some(path), _) => Ok(Path::new(path)),
        (None, Some(missing)) => Err(missing),
        (None, None) => Err("build.rs set neither KESTREL_CXX_PEER nor why it is missing"),
    }
}

/// The same calls as the Rust rows of `bench ipc` make.
#[derive(Debug, Clone, Copy)]
pub struct EchoBench {
    pub warmup: usize,
    pub sequential: usize,
    pub pipelined: usize,
    pub in_flight: usize,
    pub message_size: usize,
}

/// What the C++ client measured of its C++ server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EchoFigures {
    pub mean: Duration,
    pub p50: Duration,
    pub p99: Duration,
    /// CPU time of both processes (every thread) per sequential call.
    pub cpu_per_call: Duration,
    /// Times one of their threads was put on a CPU per sequential call.
    pub runs_per_call: f64,
    pub calls_per_sec: f64,
}

impl EchoBench {
    /// Runs `kestrel-cxx-peer bench`, which spawns its own server; both
    /// inherit this process's CPU affinity.
    pub fn run(&self) -> Result<EchoFigures> {
        let peer = executable().map_err(anyhow::Error::msg)?;
        let counts = [
            self.warmup,
            self.sequential,
            self.pipelined,
            self.in_flight,
            self.message_size,
        ];
        let output = Command::new(peer)
            .arg("bench")
            .args(counts.map(|n| n.to_string()))
            .output()
            .with_context(|| format!("cannot run {}", peer.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!(
                "{} bench failed ({}): {}{}",
                peer.display(),
                output.status,
                stdout,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        parse_figures(&stdout)
    }
}

/// The `figures name=value ...` line the C++ bench prints.
pub fn parse_figures(output: &str) -> Result<EchoFigures> {
    let line = output
        .lines()
        .find_map(|line| line.strip_prefix("figures "))
        .with_context(|| format!("no `figures` line in the C++ bench's output: {output:?}"))?;
    let field = |name: &str| -> Result<f64> {
        let value = line
            .split_whitespace()
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .with_context(|| format!("no {name} in `figures {line}`"))?;
        value
            .parse()
            .with_context(|| format!("{name}={value} in `figures {line}` is not a number"))
    };
    let nanos = |name: &str| field(name).map(|n| Duration::from_nanos(n as u64));
    Ok(EchoFigures {
        mean: nanos("mean_ns")?,
        p50: nanos("p50_ns")?,
        p99: nanos("p99_ns")?,
        cpu_per_call: nanos("cpu_ns_per_call")?,
        runs_per_call: field("runs_per_call")?,
        calls_per_sec: field("pipelined_per_s")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_line_is_read_by_name() {
        let out = "noise\nfigures mean_ns=21500 p50_ns=21000 p99_ns=40000 cpu_ns_per_call=22000 runs_per_call=4.000 pipelined_per_s=314000\n";
        let figures = parse_figures(out).unwrap();
        assert_eq!(figures.mean, Duration::from_nanos(21_500));
        assert_eq!(figures.p50, Duration::from_nanos(21_000));
        assert_eq!(figures.p99, Duration::from_micros(40));
        assert_eq!(figures.cpu_per_call, Duration::from_micros(22));
        assert_eq!(figures.runs_per_call, 4.0);
        assert_eq!(figures.calls_per_sec, 314_000.0);
    }

    #[test]
    fn a_missing_or_bad_field_is_named() {
        let err = parse_figures(
            "figures mean_ns=1 p50_ns=1 p99_ns=1 cpu_ns_per_call=1 runs_per_call=2\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("pipelined_per_s"), "{err}");
        let err = parse_figures("figures mean_ns=x").unwrap_err();
        assert!(err.to_string().contains("mean_ns=x"), "{err}");
        let err = parse_figures("nothing here").unwrap_err();
        assert!(err.to_string().contains("no `figures` line"), "{err}");
    }
}
