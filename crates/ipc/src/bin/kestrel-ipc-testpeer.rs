//! Test fixture for kestrel-ipc's integration tests and benchmark (feature
//! `test-peer`): a second process that speaks the IPC exactly as
//! kestrel-wallet / kestrel-node do, backed by the fakes of
//! `kestrel_ipc::test_peer`.
//!
//! - `-ipcfd=N` (spawned): serves Init (a wallet loader and a chain) on fd N
//!   and exits when the connection closes.
//! - `-ipcbind=unix:<path>`: serves Init there until SIGINT/SIGTERM, then
//!   shuts down and prints `shutdown complete`.
//! - `-ipcconnect=unix:<path>`: attaches, prints `attached tip=<height>`,
//!   then calls `tip` until the connection is lost and prints
//!   `lost: <error>`.
//! - `-chainheight=N`: the served chain's tip is at height N (default 0).
//! - `-debug=ipc`: IPC request/response logging on stderr.

use std::sync::Arc;
use std::time::Duration;

use kestrel_interfaces::Chain;
use kestrel_ipc::test_peer::TestPeerInit;
use kestrel_ipc::{
    connect_unix, serve_fd, EchoOnlyInit, EventLoop, IpcListener, IpcOption, ShutdownSignal,
};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-debug=ipc") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("ipc=debug"))
            .with_writer(std::io::stderr)
            .init();
    }
    let option = args
        .iter()
        .find_map(|a| IpcOption::parse(a).transpose())
        .ok_or_else(|| anyhow::anyhow!("usage: kestrel-ipc-testpeer -ipcfd=N | -ipcbind=unix:<path> | -ipcconnect=unix:<path> [-chainheight=N] [-debug=ipc]"))??;
    let chain_height = match args.iter().find_map(|a| a.strip_prefix("-chainheight=")) {
        Some(height) => height.parse()?,
        None => 0,
    };
    let init = Arc::new(TestPeerInit { chain_height });
    let event_loop = EventLoop::start("kestrel-ipc-testpeer")?;
    let handle = event_loop.handle();
    let datadir = std::env::current_dir()?;
    match option {
        IpcOption::Fd(fd) => {
            let connection = serve_fd(&handle, fd, init)?;
            while connection.wait_closed(Duration::from_secs(3600)).is_none() {}
        }
        IpcOption::Bind(address) => {
            let shutdown = ShutdownSignal::install(&handle)?;
            let listener = IpcListener::bind(&handle, &address.resolve(&datadir), init, |_| {})?;
            println!("listening on {}", listener.path().display());
            let reason = shutdown.wait();
            drop(listener);
            drop(event_loop);
            println!("shutdown complete ({reason:?})");
        }
        IpcOption::Connect(address) => {
            let connection =
                connect_unix(&handle, &address.resolve(&datadir), Arc::new(EchoOnlyInit))?;
            let chain = connection.remote_init().make_chain()?;
            println!("attached tip={}", chain.tip()?.height);
            let lost = loop {
                match chain.tip() {
                    Ok(_) => std::thread::sleep(Duration::from_millis(20)),
                    Err(e) => break e,
                }
            };
            println!("lost: {lost}");
        }
    }
    Ok(())
}
