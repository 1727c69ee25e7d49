//! `kestrel-wallet`: the wallet process.
//!
//! - `-ipcfd=N` (spawned by `kestrel-node`): serves [`WalletInit`] on the
//!   inherited socket. The node passes its chain to `makeWalletLoader` and
//!   loads the datadir's own wallet; the process exits when the node closes
//!   the connection (or dies: the child gets SIGTERM then).
//! - `-ipcconnect=unix[:path]`: an *attached* wallet, as Bitcoin Core's
//!   separate wallet process. It attaches to a running `kestrel-node
//!   -ipcbind`, takes the node's chain through `Init.makeChain`, loads a
//!   wallet of its own datadir, follows the chain through notifications,
//!   and prints a receiving address and every balance change. It keeps a
//!   second set of keys in sync with a node without restarting the node;
//!   it serves no RPC (the node's RPC talks to the node's own wallet). It
//!   runs until SIGINT/SIGTERM or until the node goes away.
//!
//! The rule for sharing a datadir with the node: the node's own wallet is
//! `<datadir>/regtest/wallet.json` and the wallet file is locked by the
//! process that has it loaded, so an attached wallet on the node's datadir
//! names another one with `-wallet=<name>` (or uses its own `-datadir`);
//! otherwise it stops with an error saying so.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use kestrel_interfaces::{rpc_code, Chain, Error, Result, Wallet};
use kestrel_ipc::{
    connect_unix, parse_ipcfd, parse_ipcspin, parse_unix_address, serve_fd, EventLoop, Init,
    LoopOptions, ShutdownReason, ShutdownSignal, WalletLoader,
};
use kestrel_wallet::{FileError, WalletError, WalletState};

use super::wait_for_signal_or_close;
use kestrel_common::amount::format_amount;
use kestrel_common::args::{help_text, Args, OptionSpec};
use kestrel_common::config::{self, reject_positionals, ConfigError};
use kestrel_common::datadir::{wallet_path, DataDir, DEFAULT_WALLET};
use kestrel_common::logging::LogConfig;
use kestrel_common::options::{COMMON_OPTIONS, LOG_OPTIONS, WALLET_PROCESS_OPTIONS};

/// This process's name in `-debug=ipc` lines and messages.
pub const WALLET_PROCESS: &str = "kestrel-wallet";

/// The option sets `kestrel-wallet` accepts.
pub const WALLET_OPTION_SETS: &[&[OptionSpec]] =
    &[COMMON_OPTIONS, LOG_OPTIONS, WALLET_PROCESS_OPTIONS];

const USAGE: &str = "Usage: kestrel-wallet -datadir=<dir> -ipcconnect=unix[:<path>] [-wallet=<name>] [options]\n\n\
Attaches a wallet to a running kestrel-node -ipcbind=unix, follows the node's chain and reports the\n\
wallet's balance until SIGINT/SIGTERM or until the node stops. kestrel-node also runs this program\n\
itself, with -ipcfd, as its own wallet.";

/// How the wallet process was asked to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalletMode {
    /// `-ipcfd=N`: serve the node that spawned us.
    Spawned(std::os::fd::RawFd),
    /// `-ipcconnect`: attach to the node listening at this socket, with the
    /// wallet of this name.
    Attached { socket: PathBuf, wallet: String },
}

/// Everything `kestrel-wallet` runs with.
#[derive(Debug, Clone)]
pub struct WalletProcessConfig {
    pub datadir: DataDir,
    pub log: LogConfig,
    pub mode: WalletMode,
    /// `-ipcspin`.
    pub ipc_spin: Duration,
}

impl WalletProcessConfig {
    /// `-ipcfd` wins over `-ipcconnect` (which a shared config file may
    /// hold): only a spawning node sets it.
    pub fn from_args(args: &Args, datadir: DataDir) -> anyhow::Result<WalletProcessConfig> {
        reject_positionals(args)?;
        let mode = match (args.value("ipcfd"), args.value("ipcconnect")) {
            (Some(fd), _) => WalletMode::Spawned(parse_ipcfd(fd)?),
            (None, Some(address)) => {
                if args.value("datadir").is_none() {
                    return Err(ConfigError::Invalid(
                        "kestrel-wallet -ipcconnect needs -datadir=<dir>: the data directory whose wallet to load (the node's, with -wallet=<name>, or one of its own)".into(),
                    )
                    .into());
                }
                let wallet = args.value("wallet").unwrap_or(DEFAULT_WALLET).to_string();
                wallet_path(&datadir.net_dir(), &wallet)?;
                // Relative paths are in the datadir, as for -ipcbind.
                let socket = parse_unix_address("-ipcconnect", address)?.resolve(&datadir.root);
                WalletMode::Attached { socket, wallet }
            }
            (None, None) => {
                return Err(ConfigError::Invalid(
                    "kestrel-wallet needs -ipcconnect=unix[:<path>] to attach to a node started with -ipcbind=unix (kestrel-node starts its own wallet with -ipcfd)".into(),
                )
                .into())
            }
        };
        Ok(WalletProcessConfig {
            datadir,
            log: LogConfig::from_args(args)?,
            mode,
            ipc_spin: parse_ipcspin(args.value("ipcspin"))?,
        })
    }
}

/// What the wallet process offers on its connection: wallets of its
/// datadir for a chain the caller passes.
pub struct WalletInit {
    net_dir: PathBuf,
}

impl WalletInit {
    pub fn new(net_dir: &Path) -> WalletInit {
        WalletInit {
            net_dir: net_dir.to_path_buf(),
        }
    }
}

impl Init for WalletInit {
    fn make_wallet_loader(&self, chain: Arc<dyn Chain>) -> Result<Arc<dyn WalletLoader>> {
        Ok(Arc::new(DatadirWallets {
            net_dir: self.net_dir.clone(),
            chain,
        }))
    }
}

/// Loads the wallets of one datadir against one chain.
pub struct DatadirWallets {
    net_dir: PathBuf,
    chain: Arc<dyn Chain>,
}

impl DatadirWallets {
    pub fn new(net_dir: &Path, chain: Arc<dyn Chain>) -> DatadirWallets {
        DatadirWallets {
            net_dir: net_dir.to_path_buf(),
            chain,
        }
    }

    /// Loads (or creates) wallet `name`; a busy file says how to pick
    /// another.
    pub fn load(&self, name: &str) -> Result<Arc<WalletState>> {
        let path = wallet_path(&self.net_dir, name).map_err(|e| Error::Rejected {
            code: rpc_code::INVALID_PARAMETER,
            message: e.to_string(),
        })?;
        let wallet = WalletState::load_or_create(&path, self.chain.clone()).map_err(|e| {
            let message = match e {
                WalletError::File(FileError::Locked(_)) => format!(
                    "Wallet file {} is in use by another process: the wallet kestrel-node runs for this datadir, or another kestrel-wallet. Give this wallet its own name with -wallet=<name> or its own -datadir.",
                    path.display()
                ),
                other => format!("Cannot load the wallet {}: {other}", path.display()),
            };
            Error::Rejected {
                code: rpc_code::WALLET_ERROR,
                message,
            }
        })?;
        tracing::info!(target: "wallet", "wallet loaded from {}", path.display());
        Ok(wallet)
    }
}

impl WalletLoader for DatadirWallets {
    fn load_wallet(&self, name: &str) -> Result<Arc<dyn Wallet>> {
        Ok(self.load(name)?)
    }
}

/// The `main` of `kestrel-wallet`.
pub fn wallet_main<I, S>(argv: I) -> ExitCode
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let config = match config::load(argv, WALLET_OPTION_SETS) {
        Ok((args, _)) if args.flag("help") => {
            println!("{}", help_text(USAGE, WALLET_OPTION_SETS));
            return ExitCode::SUCCESS;
        }
        Ok((args, datadir)) => WalletProcessConfig::from_args(&args, datadir),
        Err(e) => Err(e.into()),
    };
    match config.and_then(|config| run_wallet_process(&config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // To debug.log too, once logging is up.
            tracing::error!("{e:#}");
            eprintln!("{WALLET_PROCESS}: Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the wallet process until its node lets go of it or a signal.
pub fn run_wallet_process(config: &WalletProcessConfig) -> anyhow::Result<()> {
    let net_dir = config.datadir.create_net_dir()?;
    kestrel_common::logging::init(&config.log, &config.datadir)?;
    let event_loop =
        EventLoop::with_options(WALLET_PROCESS, LoopOptions::spinning(config.ipc_spin))?;
    let handle = event_loop.handle();
    let shutdown = ShutdownSignal::install(&handle)?;
    let init = Arc::new(WalletInit::new(&net_dir));
    let result = match &config.mode {
        WalletMode::Spawned(fd) => {
            let connection = Arc::new(serve_fd(&handle, *fd, init)?);
            tracing::info!("serving wallets to {}", connection.peer_description());
            let reason = wait_for_signal_or_close(&connection, &shutdown);
            tracing::info!(
                "wallet process stopping ({})",
                stop_cause(reason, &connection)
            );
            Ok(())
        }
        WalletMode::Attached { socket, wallet } => {
            run_attached(&handle, &shutdown, init, &net_dir, socket, wallet)
        }
    };
    // Closes the connection and drops every wallet still served.
    drop(event_loop);
    result
}

fn stop_cause(reason: ShutdownReason, connection: &kestrel_ipc::Connection) -> String {
    match reason {
        ShutdownReason::Requested => format!(
            "the connection closed: {}",
            connection.closed_reason().unwrap_or_default()
        ),
        signal => format!("{signal:?} signal"),
    }
}

fn run_attached(
    handle: &kestrel_ipc::EventLoopHandle,
    shutdown: &ShutdownSignal,
    init: Arc<WalletInit>,
    net_dir: &Path,
    socket: &Path,
    name: &str,
) -> anyhow::Result<()> {
    let connection = Arc::new(connect_unix(handle, socket, init)?);
    let chain: Arc<dyn Chain> = Arc::new(
        connection
            .remote_init()
            .make_chain()
            .context("The process at the socket does not offer a chain (is it a kestrel-node?)")?,
    );
    let wallet = DatadirWallets::new(net_dir, chain.clone()).load(name)?;
    let balance = wallet.get_balance()?;
    wallet.observe_blocks(balance_report(balance));
    let label = if name.is_empty() { "(default)" } else { name };
    let tip = chain.tip()?;
    let address = wallet.get_new_address()?;
    let attached = format!(
        "wallet {label} attached to the node at unix:{}: height {}, balance {}, receive address {address}",
        socket.display(),
        tip.height,
        format_amount(balance as i64),
    );
    tracing::info!("{attached}");
    println!("{WALLET_PROCESS}: {attached}");
    let reason = wait_for_signal_or_close(&connection, shutdown);
    let message = match reason {
        ShutdownReason::Requested => format!(
            "the node at unix:{} went away ({}); wallet {label} is saved, exiting",
            socket.display(),
            connection.closed_reason().unwrap_or_default()
        ),
        signal => format!("{signal:?} signal received; wallet {label} is saved, exiting"),
    };
    tracing::info!("{message}");
    println!("{WALLET_PROCESS}: {message}");
    Ok(())
}

/// Prints the attached wallet's balance whenever a block changes it,
/// starting from `balance`.
fn balance_report(balance: u64) -> impl Fn(u32, u64) + Send + Sync {
    let last = Mutex::new(balance);
    move |height, balance| {
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        if *last != balance {
            *last = balance;
            let line = format!("height {height}: balance {}", format_amount(balance as i64));
            tracing::info!(target: "wallet", "{line}");
            println!("{WALLET_PROCESS}: {line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kestrel_chain::ChainState;

    fn wallet_config(argv: &[&str]) -> anyhow::Result<WalletProcessConfig> {
        let (args, datadir) = config::load(argv.iter().copied(), WALLET_OPTION_SETS)?;
        WalletProcessConfig::from_args(&args, datadir)
    }

    #[test]
    fn modes_from_the_command_line() {
        let dir = tempfile::tempdir().unwrap();
        let datadir = format!("-datadir={}", dir.path().display());
        let config = wallet_config(&[&datadir, "-ipcconnect=unix", "-wallet=w1"]).unwrap();
        assert_eq!(
            config.mode,
            WalletMode::Attached {
                socket: dir.path().join("regtest/sockets/node.sock"),
                wallet: "w1".into()
            }
        );
        // A shared config file may name -ipcconnect; a spawning node's -ipcfd
        // wins over it.
        std::fs::write(dir.path().join("kestrel.conf"), "ipcconnect=unix:n.sock\n").unwrap();
        let config = wallet_config(&[&datadir]).unwrap();
        assert_eq!(
            config.mode,
            WalletMode::Attached {
                socket: dir.path().join("n.sock"),
                wallet: DEFAULT_WALLET.into()
            }
        );
        let config = wallet_config(&[&datadir, "-ipcfd=7"]).unwrap();
        assert_eq!(config.mode, WalletMode::Spawned(7));
    }

    #[test]
    fn ipcfd_comes_only_from_the_command_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kestrel.conf"), "ipcfd=7\n").unwrap();
        let err = wallet_config(&[&format!("-datadir={}", dir.path().display())])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("-ipcfd can only be given on the command line"),
            "{err}"
        );
    }

    #[test]
    fn a_wallet_loaded_elsewhere_is_refused_with_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        let chain = ChainState::open(&dir.path().join("blocks")).unwrap();
        let wallets = DatadirWallets::new(dir.path(), chain.clone());
        let first = wallets.load(DEFAULT_WALLET).unwrap();
        let err = wallets.load(DEFAULT_WALLET).err().unwrap();
        match err {
            Error::Rejected { code, message } => {
                assert_eq!(code, rpc_code::WALLET_ERROR);
                assert!(
                    message.contains("wallet.json is in use") && message.contains("-wallet=<name>"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
        // Another name is another file, loaded side by side.
        wallets.load("second").unwrap();
        assert!(dir.path().join("wallets/second.json").exists());
        let err = wallets.load("../second").err().unwrap();
        assert!(
            matches!(
                err,
                Error::Rejected {
                    code: rpc_code::INVALID_PARAMETER,
                    ..
                }
            ),
            "{err:?}"
        );
        drop(first);
        chain.shutdown();
    }
}
