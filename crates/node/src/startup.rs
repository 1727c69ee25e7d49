//! The node's life: lock the datadir, open the chain, start the wallet,
//! serve RPC until `stop` or SIGTERM/SIGINT, then shut down cleanly. How the
//! wallet is had is a parameter ([`WalletProvider`]), so `kestreld` (wallet
//! in-process) and the multiprocess `kestrel-node` (wallet in a child
//! process) share all of it.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use kestrel_chain::ChainState;
use kestrel_interfaces::{Chain, Node};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

use kestrel_common::args::{help_text, Args, OptionSpec};
use kestrel_common::config::{self, NodeConfig};
use kestrel_common::datadir::{wallet_path, DEFAULT_WALLET};
use kestrel_rpc::auth::{CookieFile, RpcAuth};
use kestrel_rpc::methods::{EchoIpc, RpcContext};
use kestrel_rpc::shutdown::Shutdown;
use kestrel_rpc::wallet_slot::WalletSlot;

use crate::lock::DataDirLock;
use crate::node_interface::NodeHandle;
use crate::rpc_chain::RpcChain;

/// How the node gets (and lets go of) its wallet.
pub trait WalletProvider {
    /// Starts the wallet against the open chain and puts it in `slot` (now,
    /// or later for a wallet that attaches on its own). `node` is what the
    /// node offers other processes (a gui). An error stops the node's
    /// startup.
    fn start(
        &mut self,
        chain: Arc<dyn Chain>,
        node: Arc<dyn Node>,
        slot: &WalletSlot,
    ) -> anyhow::Result<()>;
    /// `echoipc`'s round trip.
    fn echo_ipc(&self) -> EchoIpc;
    /// At shutdown, after the RPC server stopped: flush and release the
    /// wallet (and reap any process it runs in).
    fn stop(&mut self, slot: &WalletSlot) -> anyhow::Result<()>;
    /// Where the RPC server's HTTP side runs, once the wallet started:
    /// `None` (the default), on the node's own runtime. A wallet in another
    /// process offers its IPC event loop, so that a wallet RPC's call
    /// starts and is answered on the thread that serves the HTTP request,
    /// with no other thread to wake on the way.
    fn rpc_host(&self) -> Option<RpcHost> {
        None
    }
}

/// The RPC server, made and run to its end on the thread that runs it.
pub type RpcServe = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = anyhow::Result<()>>>> + Send>;
/// Runs an [`RpcServe`] on some thread and returns its outcome.
pub type RpcHost = Box<dyn FnOnce(RpcServe) -> anyhow::Result<()>>;

/// `kestreld`'s wallet: a [`kestrel_wallet::WalletState`] in this process.
pub struct InProcessWallet {
    path: PathBuf,
}

impl InProcessWallet {
    /// The datadir's own wallet ([`DEFAULT_WALLET`]).
    pub fn in_net_dir(net_dir: &Path) -> InProcessWallet {
        InProcessWallet {
            path: wallet_path(net_dir, DEFAULT_WALLET).expect("the default wallet name is valid"),
        }
    }
}

impl WalletProvider for InProcessWallet {
    fn start(
        &mut self,
        chain: Arc<dyn Chain>,
        _node: Arc<dyn Node>,
        slot: &WalletSlot,
    ) -> anyhow::Result<()> {
        let wallet = kestrel_wallet::WalletState::load_or_create(&self.path, chain)
            .with_context(|| format!("Cannot load the wallet {}", self.path.display()))?;
        tracing::info!(target: "wallet", "wallet loaded from {}", self.path.display());
        slot.set(wallet);
        Ok(())
    }

    fn echo_ipc(&self) -> EchoIpc {
        // No process boundary to cross in the monolithic node.
        Arc::new(|message: &str| Ok(message.to_string()))
    }

    fn stop(&mut self, slot: &WalletSlot) -> anyhow::Result<()> {
        // The wallet writes its file on every change; dropping it
        // unsubscribes it from the chain.
        drop(slot.take());
        Ok(())
    }
}

/// Runs a node with `config` until it is stopped.
pub fn run_node(config: &NodeConfig, wallet: &mut dyn WalletProvider) -> anyhow::Result<()> {
    let started = Instant::now();
    let net_dir = config.datadir.create_net_dir()?;
    let _lock = DataDirLock::acquire(&net_dir)?;
    kestrel_common::logging::init(&config.log, &config.datadir)?;
    tracing::info!(
        "Kestrel node starting, data directory {}",
        net_dir.display()
    );

    let chain = ChainState::open(&config.datadir.blocks_dir()).context("Cannot open the chain")?;
    let slot = WalletSlot::default();
    let result = serve_until_stopped(config, &chain, &slot, wallet, started);
    if let Err(e) = wallet.stop(&slot) {
        tracing::error!("stopping the wallet: {e:#}");
    }
    chain.shutdown();
    match &result {
        Ok(()) => tracing::info!("Shutdown: done"),
        Err(e) => tracing::error!("{e:#}"),
    }
    result
}

fn serve_until_stopped(
    config: &NodeConfig,
    chain: &Arc<ChainState>,
    slot: &WalletSlot,
    wallet: &mut dyn WalletProvider,
    started: Instant,
) -> anyhow::Result<()> {
    // Two workers for HTTP (unless the wallet offers a host, below); RPC
    // calls run on the blocking pool, bounded so a flood of connections
    // queues instead of spawning threads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .thread_name("kestrel-rpc")
        .enable_all()
        .build()
        .context("Cannot start the RPC runtime")?;
    let shutdown = Shutdown::default();
    let chain = RpcChain(chain.clone());
    let node = Arc::new(NodeHandle::new(
        chain.clone(),
        slot.clone(),
        shutdown.clone(),
    ));
    wallet.start(chain.0.clone(), node, slot)?;
    let ctx = Arc::new(RpcContext {
        chain: Arc::new(chain),
        wallet: slot.clone(),
        echo_ipc: wallet.echo_ipc(),
        shutdown,
        started,
        blocking_pool: Some(runtime.handle().clone()),
    });
    let (bind, port) = (config.rpc_bind, config.rpc_port);
    // Bound by tokio (SO_REUSEADDR, so a restart finds the port free),
    // then handed to whichever runtime serves.
    let listener = runtime
        .block_on(TcpListener::bind((bind, port)))
        .and_then(TcpListener::into_std)
        .with_context(|| {
            format!(
                "Unable to bind the RPC server to {bind}:{port}; is another program using -rpcport={port}?"
            )
        })?;
    let (cookie, auth) = match &config.rpc_user_password {
        Some(up) => (None, RpcAuth::new(&up.user, &up.password)),
        None => {
            let path = config.datadir.cookie_path();
            let (cookie, auth) = CookieFile::create(&path)
                .with_context(|| format!("Cannot write the RPC cookie {}", path.display()))?;
            (Some(cookie), auth)
        }
    };
    let serve: RpcServe = Box::new(move || {
        Box::pin(async move {
            let listener =
                TcpListener::from_std(listener).context("Cannot serve RPC on the socket")?;
            watch_signals(ctx.shutdown.clone())?;
            tracing::info!("RPC server listening on {bind}:{port}");
            let served = kestrel_rpc::server::serve(listener, ctx, auth).await;
            tracing::info!("RPC server stopped");
            served.context("RPC server failed")
        })
    });
    let served = match wallet.rpc_host() {
        Some(host) => host(serve),
        None => runtime.block_on(serve()),
    };
    if let Some(cookie) = cookie {
        if let Err(e) = cookie.remove() {
            tracing::warn!("cannot remove the RPC cookie: {e}");
        }
    }
    served
}

/// SIGTERM and SIGINT request shutdown.
fn watch_signals(shutdown: Shutdown) -> anyhow::Result<()> {
    let mut terminate = signal(SignalKind::terminate()).context("Cannot watch SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("Cannot watch SIGINT")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM received, shutting down"),
            _ = interrupt.recv() => tracing::info!("SIGINT received, shutting down"),
            _ = shutdown.requested() => return,
        }
        shutdown.request();
    });
    Ok(())
}

/// Makes a node's [`WalletProvider`] from its options (those of its own
/// option sets, e.g. `-ipcbind`, and the parsed config); an error is a bad
/// option, reported before anything starts.
pub type MakeWallet<'a> =
    dyn FnOnce(&Args, &NodeConfig) -> anyhow::Result<Box<dyn WalletProvider>> + 'a;

/// The `main` of a node executable: parse `argv` (without the program
/// name) against `option_sets`, print help or errors, and run the node with
/// the wallet `make_wallet` gives for the options.
pub fn node_main<I, S>(
    usage: &str,
    option_sets: &[&[OptionSpec]],
    argv: I,
    make_wallet: Box<MakeWallet<'_>>,
) -> ExitCode
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let setup = match config::load(argv, option_sets) {
        Ok((args, _)) if args.flag("help") => {
            println!("{}", help_text(usage, option_sets));
            return ExitCode::SUCCESS;
        }
        Ok((args, datadir)) => NodeConfig::from_args(&args, datadir)
            .map_err(anyhow::Error::from)
            .and_then(|config| Ok((make_wallet(&args, &config)?, config))),
        Err(e) => Err(e.into()),
    };
    let (mut wallet, config) = match setup {
        Ok(setup) => setup,
        Err(e) => {
            eprintln!("Error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    match run_node(&config, wallet.as_mut()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
