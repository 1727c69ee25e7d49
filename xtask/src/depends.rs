//! `cargo xtask depends`.

use std::path::PathBuf;

use anyhow::{ensure, Result};
use clap::{Args, Subcommand, ValueEnum};
use kestrel_depends::progress::Progress;
use kestrel_depends::remote::{Mode, RemoteConfig, RemoteSettings};
use kestrel_depends::{Config, Depends};

use crate::{workspace_root, BUILD_TRIPLE};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = false)]
pub struct DependsCmd {
    #[command(subcommand)]
    action: Option<Action>,
    #[command(flatten)]
    options: DependsOptions,
}

#[derive(Subcommand)]
enum Action {
    /// Fetch and verify every source of the package set; build nothing
    /// (like depends' `make download`).
    Download,
    /// Remove the host's prefix, built archives, scratch trees and logs.
    Clean {
        /// Also empty the source cache.
        #[arg(long)]
        sources: bool,
    },
    /// Print a package's or the host's variable (like `make print-VAR`):
    /// `print native_capnp build_id`, `print host cc`.
    Print {
        /// A package name, or `host`.
        subject: String,
        var: String,
    },
    /// Run one cmake package's configure/build/install from the step file
    /// the builder wrote (the builder runs this in a child process).
    #[command(hide = true)]
    CmakeStep { file: PathBuf },
}

/// Options shared by `depends` and its subcommands.
#[derive(Args)]
pub struct DependsOptions {
    /// Host triple to build for (default: this machine's).
    #[arg(long, global = true, default_value = BUILD_TRIPLE)]
    pub host: String,
    /// Include the IPC packages (Cap'n Proto). The default; MULTIPROCESS=0
    /// in the environment turns it off.
    #[arg(long, global = true, overrides_with = "no_multiprocess")]
    multiprocess: bool,
    /// Leave out the IPC packages (monolithic build only).
    #[arg(long, global = true)]
    no_multiprocess: bool,
    /// Include the opt-in C++ IPC set: Cap'n Proto's C++ libraries for the
    /// host and the depends cmake (also CXX_IPC=1).
    #[arg(long, global = true)]
    cxx_ipc: bool,
    /// Parallel make jobs (default: number of cores).
    #[arg(short = 'j', long, global = true)]
    jobs: Option<usize>,
    /// Use the source cache only; never download.
    #[arg(long, global = true)]
    offline: bool,
    /// Mirror tried after the recipe's upstream URLs, as <URL>/<file name>.
    #[arg(long, global = true, env = "FALLBACK_DOWNLOAD_PATH")]
    fallback_url: Option<String>,
    /// The source cache directory (default: depends/sources).
    #[arg(long, global = true, env = "SOURCES_PATH")]
    sources_path: Option<PathBuf>,
    /// The built-archive cache directory (default: depends/built).
    #[arg(long, global = true, env = "BASE_CACHE")]
    base_cache: Option<PathBuf>,
    #[command(flatten)]
    pub remote: RemoteOptions,
}

/// Where a shared remote cache is and whether this client may write to it
/// (what depends and sccache share).
#[derive(Args)]
pub struct StoreOptions {
    /// A remote cache shared by a team or CI fleet: file:///dir,
    /// webdav+http(s)://[user:password@]host:port/path or s3://bucket/prefix.
    #[arg(long, global = true, env = "KESTREL_REMOTE_CACHE")]
    remote_cache: Option<String>,
    /// The S3 server for s3:// (default: AWS). Credentials come from
    /// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY only.
    #[arg(long, global = true, env = "KESTREL_REMOTE_CACHE_ENDPOINT")]
    remote_cache_endpoint: Option<String>,
    /// read-only (default) never writes; read-write publishes what this run
    /// builds. Also KESTREL_REMOTE_CACHE_RW_MODE=READ_WRITE.
    #[arg(long, global = true, value_enum)]
    remote_cache_mode: Option<RemoteMode>,
}

/// The remote cache for depends: the store, and which signatures to
/// require and make.
#[derive(Args)]
pub struct RemoteOptions {
    #[command(flatten)]
    pub store: StoreOptions,
    /// Accept only manifests signed by a key in KESTREL_CACHE_TRUSTED_KEYS.
    #[arg(long, global = true)]
    require_signed: bool,
    /// Trusted publishers' public keys (hex, comma or space separated).
    #[arg(
        long,
        global = true,
        env = "KESTREL_CACHE_TRUSTED_KEYS",
        hide_env_values = true
    )]
    trusted_keys: Option<String>,
    /// Sign published manifests with this secret key file
    /// (`cargo xtask cache keygen`).
    #[arg(long, global = true, env = "KESTREL_CACHE_SECRET_KEY")]
    cache_secret_key: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum RemoteMode {
    ReadOnly,
    ReadWrite,
}

impl StoreOptions {
    /// The store named, if one is, without signatures.
    pub fn config(&self) -> Result<Option<RemoteConfig>> {
        self.config_with(|settings| settings)
    }

    /// The store named, if one is, with `more` settings.
    fn config_with<'a>(
        &'a self,
        more: impl FnOnce(RemoteSettings<'a>) -> RemoteSettings<'a>,
    ) -> Result<Option<RemoteConfig>> {
        let Some(url) = &self.remote_cache else {
            return Ok(None);
        };
        let mode = match self.remote_cache_mode {
            Some(RemoteMode::ReadOnly) => Mode::ReadOnly,
            Some(RemoteMode::ReadWrite) => Mode::ReadWrite,
            None => Mode::from_env_value(
                std::env::var("KESTREL_REMOTE_CACHE_RW_MODE")
                    .ok()
                    .as_deref(),
            )
            .map_err(anyhow::Error::msg)?,
        };
        let settings = more(RemoteSettings {
            url,
            endpoint: self.remote_cache_endpoint.as_deref(),
            mode,
            ..RemoteSettings::default()
        });
        Ok(Some(RemoteConfig::from_settings(&settings)?))
    }
}

impl RemoteOptions {
    /// The remote cache to use, if one is named.
    pub fn config(&self) -> Result<Option<RemoteConfig>> {
        self.store.config_with(|settings| RemoteSettings {
            require_signed: self.require_signed,
            trusted_keys: self.trusted_keys.as_deref(),
            secret_key: self.cache_secret_key.as_deref(),
            ..settings
        })
    }
}

impl DependsOptions {
    /// MULTIPROCESS from the flags, else the environment, else on.
    pub fn multiprocess(&self) -> Result<bool> {
        if self.multiprocess {
            return Ok(true);
        }
        if self.no_multiprocess {
            return Ok(false);
        }
        match std::env::var("MULTIPROCESS").as_deref() {
            Err(_) | Ok("") | Ok("1") => Ok(true),
            Ok("0") => Ok(false),
            Ok(other) => {
                anyhow::bail!("MULTIPROCESS={other:?} is not understood: use 1 or 0")
            }
        }
    }

    /// CXX_IPC from the flag, else the environment, else off.
    pub fn cxx_ipc(&self) -> Result<bool> {
        if self.cxx_ipc {
            return Ok(true);
        }
        match std::env::var("CXX_IPC").as_deref() {
            Err(_) | Ok("") | Ok("0") => Ok(false),
            Ok("1") => Ok(true),
            Ok(other) => anyhow::bail!("CXX_IPC={other:?} is not understood: use 1 or 0"),
        }
    }

    pub fn config(&self) -> Result<Config> {
        let root = workspace_root();
        let mut config = Config::new(&root, &self.host, BUILD_TRIPLE);
        config.multiprocess = self.multiprocess()?;
        config.cxx_ipc = self.cxx_ipc()?;
        config.cmake_driver = cmake_driver()?;
        if let Some(jobs) = self.jobs {
            config.jobs = jobs;
        }
        config.offline = self.offline;
        config.fallback_url = self.fallback_url.clone();
        if let Some(dir) = &self.sources_path {
            config.sources_dir = dir.clone();
        }
        if let Some(dir) = &self.base_cache {
            config.base_cache = dir.clone();
        }
        config.remote = self.remote.config()?;
        Ok(config)
    }
}

/// This program's hidden `depends cmake-step`, which the builder runs for
/// each cmake package.
pub fn cmake_driver() -> Result<Vec<std::ffi::OsString>> {
    // Not `current_exe()`'s path: a `cargo xtask` started meanwhile (bench
    // depends' no-op row, a second terminal) may relink target/debug/xtask,
    // and that path then names a deleted file ("cannot start .../xtask
    // (deleted)"). The builder spawns the step from this process, where
    // /proc/self/exe still reaches the running executable.
    let this_executable = std::path::Path::new("/proc/self/exe");
    ensure!(
        this_executable.exists(),
        "cmake packages are built by running this executable again through /proc/self/exe, which this system lacks (depends supports Linux hosts only)"
    );
    Ok(vec![
        this_executable.into(),
        "depends".into(),
        "cmake-step".into(),
    ])
}

impl DependsCmd {
    pub fn run(self) -> Result<()> {
        if let Some(Action::CmakeStep { file }) = &self.action {
            std::process::exit(kestrel_depends::cmake_step::main([file.clone().into()]));
        }
        let depends = Depends::load(self.options.config()?, Progress::for_stderr())?;
        match self.action {
            None => {
                let report = depends.run()?;
                let prefix = depends.config.prefix();
                if report.up_to_date {
                    println!("depends/{} is up to date", depends.config.host);
                } else {
                    println!(
                        "depends/{}: built [{}], reused [{}], downloaded [{}]",
                        depends.config.host,
                        report.built.join(", "),
                        report.reused.join(", "),
                        report.downloaded.join(", ")
                    );
                }
                if let Some(store) = depends.remote_used() {
                    let stats = store.stats();
                    println!(
                        "remote cache {}: {} hits, {} misses, {} bytes down, {} bytes up",
                        store.url(),
                        stats.hits,
                        stats.misses,
                        stats.bytes_down,
                        stats.bytes_up
                    );
                }
                println!(
                    "use: cargo build --config {}/cargo-config.toml   (or: cargo xtask build --host {})",
                    prefix.display(),
                    depends.config.host
                );
            }
            Some(Action::Download) => {
                for path in depends.download()? {
                    println!("{}", path.display());
                }
            }
            Some(Action::Clean { sources }) => {
                for dir in depends.clean(sources)? {
                    println!("removed {}", dir.display());
                }
            }
            Some(Action::Print { subject, var }) => println!("{}", depends.print(&subject, &var)?),
            Some(Action::CmakeStep { .. }) => unreachable!("handled before loading"),
        }
        Ok(())
    }
}
