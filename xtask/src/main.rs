//! `cargo xtask`: the project's automation as plain Rust. Thin: the logic
//! lives in `crates/depends` and the crates it drives.

mod bench;
mod build;
mod cmd;
mod depends;
mod reproducible;
mod test;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The triple of this machine, fixed when xtask was compiled.
pub const BUILD_TRIPLE: &str = env!("KESTREL_BUILD_TRIPLE");

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Kestrel's build, test and release automation"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fetch, verify and build the native dependencies for a host into
    /// depends/<host>/ and write its toolchain files.
    Depends(depends::DependsCmd),
    /// Build the workspace against depends/<host>/ (multiprocess when the
    /// prefix was built with it).
    Build(build::BuildCmd),
    /// Lints, unit and integration tests, then the functional suite against
    /// the monolithic and the multiprocess build. Closes with the counts.
    Test(test::TestCmd),
    /// Build depends and the release executables twice (two checkouts of
    /// HEAD, different paths/umask/TZ/locale, the second without network),
    /// compare the bytes and write SHA256SUMS.
    VerifyReproducible(reproducible::VerifyReproducibleCmd),
    /// Benchmarks that print ratios against a baseline from the same run.
    Bench(bench::BenchCmd),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .with_target(false)
        .init();
    let result = match Cli::parse().command {
        Command::Depends(cmd) => cmd.run(),
        Command::Build(cmd) => cmd.run(),
        Command::Test(cmd) => cmd.run(),
        Command::VerifyReproducible(cmd) => cmd.run(),
        Command::Bench(cmd) => cmd.run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (xtask lives in `<root>/xtask`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_owned()
}
