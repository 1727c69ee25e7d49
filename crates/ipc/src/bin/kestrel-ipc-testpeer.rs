//! Test fixture for kestrel-ipc's integration tests: a second process that
//! speaks the IPC exactly as kestrel-wallet / kestrel-node will, backed by
//! small in-memory fakes of Chain and Wallet.
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

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kestrel_interfaces::{
    rpc_code, take_blocks, Amount, Chain, ChainNotifications, Error, Hash256, Result, Subscription,
    Tip, Unspent, Wallet, WalletTx, BLOCKS_FROM_MAX_BYTES, COIN,
};
use kestrel_ipc::{
    connect_unix, serve_fd, EchoOnlyInit, EventLoop, Init, IpcListener, IpcOption, ShutdownSignal,
    WalletLoader,
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
    let init = Arc::new(PeerInit { chain_height });
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

struct PeerInit {
    chain_height: u32,
}

impl Init for PeerInit {
    fn make_chain(&self) -> Result<Arc<dyn Chain>> {
        Ok(Arc::new(FakeChain {
            height: Mutex::new(self.chain_height),
        }))
    }

    fn make_wallet_loader(&self, chain: Arc<dyn Chain>) -> Result<Arc<dyn WalletLoader>> {
        Ok(Arc::new(FakeWalletLoader { chain }))
    }
}

/// A chain of `height` empty blocks whose block `h` is `[h as u8; 8]`.
struct FakeChain {
    height: Mutex<u32>,
}

impl Chain for FakeChain {
    fn tip(&self) -> Result<Tip> {
        let height = *self.height.lock().unwrap();
        Ok(Tip {
            height,
            hash: [height as u8; 32],
        })
    }
    fn block_at(&self, height: u32) -> Result<Option<Vec<u8>>> {
        Ok((height <= *self.height.lock().unwrap()).then(|| vec![height as u8; 8]))
    }
    fn blocks_from(&self, height: u32, max_blocks: u32) -> Result<Vec<Vec<u8>>> {
        let tip = *self.height.lock().unwrap();
        Ok(take_blocks(
            (height..=tip).map(|h| vec![h as u8; 8]),
            max_blocks,
            BLOCKS_FROM_MAX_BYTES,
        ))
    }
    fn mempool(&self) -> Result<Vec<Vec<u8>>> {
        Ok(Vec::new())
    }
    fn broadcast(&self, _tx: &[u8]) -> Result<Hash256> {
        Err(Error::Rejected {
            code: rpc_code::VERIFY_REJECTED,
            message: "the test peer's chain accepts no transactions".into(),
        })
    }
    fn estimate_fee_per_kb(&self) -> Result<Amount> {
        Ok(1000)
    }
    fn register_notifications(
        &self,
        _: Arc<dyn ChainNotifications>,
    ) -> Result<Box<dyn Subscription>> {
        Err(Error::Rejected {
            code: rpc_code::MISC_ERROR,
            message: "the test peer's chain has no notifications".into(),
        })
    }
}

struct FakeWalletLoader {
    chain: Arc<dyn Chain>,
}

impl WalletLoader for FakeWalletLoader {
    fn load_wallet(&self, name: &str) -> Result<Arc<dyn Wallet>> {
        if name == "missing" {
            return Err(Error::Rejected {
                code: rpc_code::WALLET_NOT_FOUND,
                message: format!("wallet \"{name}\" not found"),
            });
        }
        let seen = Arc::new(SeenBlocks::default());
        let subscription = self.chain.register_notifications(seen.clone())?;
        Ok(Arc::new(FakeWallet {
            name: name.to_string(),
            chain: self.chain.clone(),
            seen,
            _subscription: Mutex::new(subscription),
        }))
    }
}

/// Blocks the chain notified this wallet of, in order.
#[derive(Default)]
struct SeenBlocks {
    heights: Mutex<Vec<u32>>,
}

impl ChainNotifications for SeenBlocks {
    fn block_connected(&self, height: u32, _block: &[u8]) {
        self.heights.lock().unwrap().push(height);
    }
    fn transaction_added_to_mempool(&self, _tx: &[u8]) {}
}

/// Balance: one coin per notified block. Sends go to the chain's broadcast.
struct FakeWallet {
    name: String,
    chain: Arc<dyn Chain>,
    seen: Arc<SeenBlocks>,
    _subscription: Mutex<Box<dyn Subscription>>,
}

impl FakeWallet {
    fn tx(&self, n: u32) -> WalletTx {
        WalletTx {
            txid: [n as u8; 32],
            amount: -(n as i64) * 1000,
            fee: n.is_multiple_of(2).then_some(n as u64),
            confirmations: n,
            block_hash: (!n.is_multiple_of(2)).then_some([0xbb; 32]),
            raw: vec![n as u8; n as usize],
        }
    }
}

impl Wallet for FakeWallet {
    fn get_new_address(&self) -> Result<String> {
        Ok(format!(
            "{}-address-{}",
            self.name,
            self.seen.heights.lock().unwrap().len()
        ))
    }
    fn get_balance(&self) -> Result<Amount> {
        Ok(self.seen.heights.lock().unwrap().len() as u64 * COIN)
    }
    fn send_to_address(&self, address: &str, amount: Amount) -> Result<Hash256> {
        if amount == 0 {
            return Err(Error::Rejected {
                code: rpc_code::INVALID_PARAMETER,
                message: "amount must be positive".into(),
            });
        }
        let mut tx = address.as_bytes().to_vec();
        tx.extend_from_slice(&amount.to_le_bytes());
        self.chain.broadcast(&tx)
    }
    fn list_unspent(&self, min_confirmations: u32) -> Result<Vec<Unspent>> {
        let heights = self.seen.heights.lock().unwrap();
        Ok(heights
            .iter()
            .map(|&h| Unspent {
                txid: [h as u8; 32],
                vout: h,
                address: format!("{}-address-{h}", self.name),
                amount: COIN,
                confirmations: min_confirmations + h,
                spendable: h.is_multiple_of(2),
            })
            .collect())
    }
    fn get_transaction(&self, txid: &Hash256) -> Result<WalletTx> {
        Ok(self.tx(u32::from(txid[0])))
    }
    fn list_transactions(&self, count: u32) -> Result<Vec<WalletTx>> {
        Ok((0..count).map(|n| self.tx(n)).collect())
    }
}
