//! `cargo xtask`: the project's automation as plain Rust, in the cargo-xtask
//! style: commands run through `xshell` (`cmd!`, one `Shell` rooted at the
//! workspace). Thin: the logic lives in `crates/depends` and the crates it
//! drives.

mod bench;
mod build;
mod cache;
mod depends;
mod functional;
mod reproducible;
mod sccache;
mod tee;
mod test;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kestrel_depends::pipeline::RunReport;
use kestrel_depends::progress::Progress;
use kestrel_depends::remote::ClientMissing;
use kestrel_depends::sccache::wrapper;
use kestrel_depends::{Config, Depends};
use xshell::{Cmd, Shell};

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
    Depends(Box<depends::DependsCmd>),
    /// Build the workspace against depends/<host>/ (multiprocess when the
    /// prefix was built with it).
    Build(build::BuildCmd),
    /// Prerequisites, lints, unit and integration tests, then the
    /// functional suite against the monolithic and the multiprocess build.
    /// Streams every step and closes with the counts.
    Test(test::TestCmd),
    /// Build depends and the release executables twice (two checkouts of
    /// HEAD, different paths/umask/TZ/locale, the second without network),
    /// compare the bytes and write SHA256SUMS.
    VerifyReproducible(reproducible::VerifyReproducibleCmd),
    /// Benchmarks that print ratios against a baseline from the same run.
    Bench(bench::BenchCmd),
    /// The remote cache by hand: push, pull, verify, stats, keygen.
    Cache(Box<cache::CacheCmd>),
}

fn main() -> ExitCode {
    // Run by cargo as the rustc wrapper of `--sccache` (a symlink by that
    // name): neither logs nor parses a command line of its own.
    let mut args = std::env::args_os();
    let program = args.next().map(PathBuf::from).unwrap_or_default();
    if program.file_name() == Some(wrapper::NAME.as_ref()) {
        std::process::exit(wrapper::main(args));
    }
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
    let command = Cli::parse().command;
    let result = Shell::new().map_err(anyhow::Error::from).and_then(|sh| {
        sh.change_dir(workspace_root());
        match command {
            Command::Depends(cmd) => cmd.run(),
            Command::Build(cmd) => cmd.run(&sh),
            Command::Test(cmd) => cmd.run(&sh),
            Command::VerifyReproducible(cmd) => cmd.run(&sh),
            Command::Bench(cmd) => cmd.run(&sh),
            Command::Cache(cmd) => cmd.run(),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.chain().any(|cause| cause.is::<ClientMissing>()) => rerun_with_store_client(),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Set in the xtask that [`rerun_with_store_client`] runs.
const RERUN_VAR: &str = "KESTREL_XTASK_WITH_STORE_CLIENT";

/// Runs this command again in the xtask built with the remote cache's
/// store client (`--features store-client`: cargo compiles it on the first
/// use of a store, into `target/store-client`, and finds it up to date
/// after), and exits as it does.
/// The README's path never compiles OpenDAL; a command stops for this
/// before it has changed anything (`ClientMissing`).
fn rerun_with_store_client() -> ExitCode {
    if std::env::var_os(RERUN_VAR).is_some() {
        eprintln!("error: {ClientMissing} (and this is the xtask run with it: a bug)");
        return ExitCode::FAILURE;
    }
    eprintln!(
        "xtask: this command uses the remote cache: running the xtask built with its store \
         client (`--features store-client`; compiled once, on first use)"
    );
    let status = std::process::Command::new(cargo_program())
        .args([
            "run",
            "--quiet",
            "--package",
            "xtask",
            "--features",
            "store-client",
        ])
        // Its own target dir: built into target/debug it would replace the
        // xtask binary that is running (`cargo xtask test` runs store
        // commands while its later steps still spawn its own executable).
        .arg("--target-dir")
        .arg(workspace_root().join("target").join("store-client"))
        .arg("--")
        .args(std::env::args_os().skip(1))
        .current_dir(workspace_root())
        .env(RERUN_VAR, "1")
        .status();
    match status {
        Ok(status) => match status.code() {
            Some(0) => ExitCode::SUCCESS,
            Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            None => ExitCode::FAILURE,
        },
        Err(e) => {
            eprintln!("error: cannot run cargo to build xtask with the store client: {e}");
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

/// The `cargo` that runs xtask (`CARGO`), else the one on `PATH`.
pub fn cargo_program() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// `cargo <subcommand> --config depends/<host>/cargo-config.toml`: cargo
/// pointed at the host's depends prefix (the multiprocess crates need its
/// `capnp`).
pub fn cargo_with_prefix<'a>(sh: &'a Shell, subcommand: &str, host: &str) -> Cmd<'a> {
    cargo_with_prefix_in(sh, subcommand, &workspace_root(), host)
}

/// [`cargo_with_prefix`] for the checkout at `root`.
pub fn cargo_with_prefix_in<'a>(
    sh: &'a Shell,
    subcommand: &str,
    root: &Path,
    host: &str,
) -> Cmd<'a> {
    let cargo = cargo_program();
    let config = root.join("depends").join(host).join("cargo-config.toml");
    xshell::cmd!(sh, "{cargo} {subcommand} --config {config}")
}

/// The multiprocess depends prefix for this machine with the C++ IPC set
/// (the cmake tests run the depends cmake), built if it is not up to date
/// (what the test and bench steps build against).
pub fn build_machine_depends(progress: Progress) -> anyhow::Result<RunReport> {
    cxx_ipc_depends(BUILD_TRIPLE, progress)
}

/// The multiprocess depends prefix with the C++ IPC set for `host`, built
/// if it is not up to date. A cross host reuses the build machine's
/// native packages.
pub fn cxx_ipc_depends(host: &str, progress: Progress) -> anyhow::Result<RunReport> {
    let mut config = Config::new(&workspace_root(), host, BUILD_TRIPLE);
    config.cxx_ipc = true;
    config.cmake_driver = depends::cmake_driver()?;
    Depends::load(config, progress)?.run()
}

/// A heading between the steps of a long command.
pub fn step(what: &str) {
    println!("\n== {what} ==");
}
