//! `WalletLoader` and `Wallet`: what the node asks of the wallet process
//! (load a wallet; balance, addresses, sends, lists), as proxies in the
//! node and servers around the wallet process's objects.

use std::sync::Arc;

use capnp::capability::Rc;
use kestrel_interfaces::{
    Amount, Hash256, Pending, Result, Unspent, Wallet, WalletAsync, WalletTx,
};

use crate::convert::{read_hash, read_unspent, read_wallet_tx, write_unspent, write_wallet_tx};
use crate::link::{call_remote, serve_on_pool, start_remote, Link, ProxyCore};
use crate::log::{CallLog, Side};
use crate::schema::wallet_capnp::{wallet, wallet_loader};

/// Loads wallets for a chain (the wallet process's side of
/// `Init.makeWalletLoader`).
pub trait WalletLoader: Send + Sync {
    fn load_wallet(&self, name: &str) -> Result<Arc<dyn Wallet>>;
}

/// `WalletLoader` of the far process (the wallet process, seen from the node).
pub struct WalletLoaderProxy {
    core: Arc<ProxyCore<wallet_loader::Client>>,
}

impl WalletLoaderProxy {
    pub(crate) fn new(core: Arc<ProxyCore<wallet_loader::Client>>) -> Self {
        Self { core }
    }
}

impl WalletLoader for WalletLoaderProxy {
    fn load_wallet(&self, name: &str) -> Result<Arc<dyn Wallet>> {
        let name = name.to_string();
        call_remote!(
            self,
            "loadWallet",
            load_wallet_request,
            |mut params| params.set_name(name.as_str()),
            |core, r: wallet_loader::load_wallet_results::Reader<'_>| r
                .get_wallet()
                .map(|wallet| WalletProxy::shared(wallet, &core.link))
        )
    }
}

/// A wallet loader of this process, served to the node.
pub(crate) struct WalletLoaderServer {
    loader: Arc<dyn WalletLoader>,
    link: Link,
    log: CallLog,
}

impl WalletLoaderServer {
    pub(crate) fn new(loader: Arc<dyn WalletLoader>, link: &Link) -> Self {
        Self {
            loader,
            log: link.call_log("WalletLoader", Side::Server),
            link: link.clone(),
        }
    }
}

impl wallet_loader::Server for WalletLoaderServer {
    async fn load_wallet(
        self: Rc<Self>,
        params: wallet_loader::LoadWalletParams,
        mut results: wallet_loader::LoadWalletResults,
    ) -> capnp::Result<()> {
        let loader = self.loader.clone();
        serve_on_pool!(
            self,
            "loadWallet",
            params,
            results,
            |p| {
                let name = p.get_name()?.to_string()?;
                move || loader.load_wallet(&name)
            },
            |out, wallet| out.set_wallet(serve(wallet, &self.link))
        )
    }
}

/// Serves `wallet` of this process to the far one.
pub(crate) fn serve(wallet: Arc<dyn Wallet>, link: &Link) -> wallet::Client {
    capnp_rpc::new_client(WalletServer::new(wallet, link))
}

/// `Wallet` of the far process.
pub struct WalletProxy {
    core: Arc<ProxyCore<wallet::Client>>,
}

impl WalletProxy {
    /// Must be called on the loop thread.
    pub(crate) fn shared(client: wallet::Client, link: &Link) -> Arc<dyn Wallet> {
        Arc::new(WalletProxy {
            core: ProxyCore::new(client, link, "Wallet"),
        })
    }
}

/// The node's wallet RPCs await these (no thread waits); the sync
/// [`Wallet`] calls below block on them.
impl WalletAsync for WalletProxy {
    fn get_new_address(&self) -> Pending<String> {
        Box::pin(start_remote!(
            self,
            "getNewAddress",
            get_new_address_request,
            |core, r: wallet::get_new_address_results::Reader<'_>| r
                .get_address()?
                .to_string()
                .map_err(capnp::Error::from)
        ))
    }

    fn get_balance(&self) -> Pending<Amount> {
        Box::pin(start_remote!(
            self,
            "getBalance",
            get_balance_request,
            |core, r: wallet::get_balance_results::Reader<'_>| capnp::Result::Ok(r.get_balance())
        ))
    }

    fn send_to_address(&self, address: &str, amount: Amount) -> Pending<Hash256> {
        let address = address.to_string();
        Box::pin(start_remote!(
            self,
            "sendToAddress",
            send_to_address_request,
            |mut params| {
                params.set_address(address.as_str());
                params.set_amount(amount)
            },
            |core, r: wallet::send_to_address_results::Reader<'_>| read_hash("txid", r.get_txid()?)
        ))
    }

    fn list_unspent(&self, min_confirmations: u32) -> Pending<Vec<Unspent>> {
        Box::pin(start_remote!(
            self,
            "listUnspent",
            list_unspent_request,
            |mut params| params.set_min_confirmations(min_confirmations),
            |core, r: wallet::list_unspent_results::Reader<'_>| r
                .get_unspent()?
                .iter()
                .map(read_unspent)
                .collect::<capnp::Result<Vec<_>>>()
        ))
    }

    fn get_transaction(&self, txid: &Hash256) -> Pending<WalletTx> {
        let txid = *txid;
        Box::pin(start_remote!(
            self,
            "getTransaction",
            get_transaction_request,
            |mut params| params.set_txid(&txid),
            |core, r: wallet::get_transaction_results::Reader<'_>| read_wallet_tx(r.get_tx()?)
        ))
    }

    fn list_transactions(&self, count: u32) -> Pending<Vec<WalletTx>> {
        Box::pin(start_remote!(
            self,
            "listTransactions",
            list_transactions_request,
            |mut params| params.set_count(count),
            |core, r: wallet::list_transactions_results::Reader<'_>| r
                .get_txs()?
                .iter()
                .map(read_wallet_tx)
                .collect::<capnp::Result<Vec<_>>>()
        ))
    }
}

impl Wallet for WalletProxy {
    fn get_new_address(&self) -> Result<String> {
        self.core.wait(WalletAsync::get_new_address(self))
    }

    fn get_balance(&self) -> Result<Amount> {
        self.core.wait(WalletAsync::get_balance(self))
    }

    fn send_to_address(&self, address: &str, amount: Amount) -> Result<Hash256> {
        self.core
            .wait(WalletAsync::send_to_address(self, address, amount))
    }

    fn list_unspent(&self, min_confirmations: u32) -> Result<Vec<Unspent>> {
        self.core
            .wait(WalletAsync::list_unspent(self, min_confirmations))
    }

    fn get_transaction(&self, txid: &Hash256) -> Result<WalletTx> {
        self.core.wait(WalletAsync::get_transaction(self, txid))
    }

    fn list_transactions(&self, count: u32) -> Result<Vec<WalletTx>> {
        self.core.wait(WalletAsync::list_transactions(self, count))
    }

    fn as_async(&self) -> Option<&dyn WalletAsync> {
        Some(self)
    }
}

/// A wallet of this process, served to the node (or, through the node, to
/// a gui).
struct WalletServer {
    wallet: Arc<dyn Wallet>,
    /// Reads are answered on the loop ([`Wallet::reads_never_wait`]); the
    /// rest (sends wait on the chain, new addresses write the wallet file)
    /// on the pool.
    reads_in_place: bool,
    log: CallLog,
}

impl WalletServer {
    fn new(wallet: Arc<dyn Wallet>, link: &Link) -> Self {
        Self {
            reads_in_place: wallet.reads_never_wait(),
            wallet,
            log: link.call_log("Wallet", Side::Server),
        }
    }
}

impl wallet::Server for WalletServer {
    async fn get_new_address(
        self: Rc<Self>,
        params: wallet::GetNewAddressParams,
        mut results: wallet::GetNewAddressResults,
    ) -> capnp::Result<()> {
        let wallet = self.wallet.clone();
        serve_on_pool!(
            self,
            "getNewAddress",
            params,
            results,
            |_p| move || wallet.get_new_address(),
            |out, address| out.set_address(address.as_str())
        )
    }

    async fn get_balance(
        self: Rc<Self>,
        params: wallet::GetBalanceParams,
        mut results: wallet::GetBalanceResults,
    ) -> capnp::Result<()> {
        let wallet = self.wallet.clone();
        serve_on_pool!(
            in_place_if self.reads_in_place;
            self,
            "getBalance",
            params,
            results,
            |_p| move || wallet.get_balance(),
            |out, balance| out.set_balance(balance)
        )
    }

    async fn send_to_address(
        self: Rc<Self>,
        params: wallet::SendToAddressParams,
        mut results: wallet::SendToAddressResults,
    ) -> capnp::Result<()> {
        let wallet = self.wallet.clone();
        serve_on_pool!(
            self,
            "sendToAddress",
            params,
            results,
            |p| {
                let address = p.get_address()?.to_string()?;
                let amount = p.get_amount();
                move || wallet.send_to_address(&address, amount)
            },
            |out, txid| out.set_txid(&txid)
        )
    }

    async fn list_unspent(
        self: Rc<Self>,
        params: wallet::ListUnspentParams,
        mut results: wallet::ListUnspentResults,
    ) -> capnp::Result<()> {
        let wallet = self.wallet.clone();
        serve_on_pool!(
            in_place_if self.reads_in_place;
            self,
            "listUnspent",
            params,
            results,
            |p| {
                let min_confirmations = p.get_min_confirmations();
                move || wallet.list_unspent(min_confirmations)
            },
            |out, unspent| {
                let mut list = out.reborrow().init_unspent(unspent.len() as u32);
                for (i, entry) in unspent.iter().enumerate() {
                    write_unspent(list.reborrow().get(i as u32), entry);
                }
            }
        )
    }

    async fn get_transaction(
        self: Rc<Self>,
        params: wallet::GetTransactionParams,
        mut results: wallet::GetTransactionResults,
    ) -> capnp::Result<()> {
        let wallet = self.wallet.clone();
        serve_on_pool!(
            in_place_if self.reads_in_place;
            self,
            "getTransaction",
            params,
            results,
            |p| {
                let txid = read_hash("txid", p.get_txid()?)?;
                move || wallet.get_transaction(&txid)
            },
            |out, tx| write_wallet_tx(out.reborrow().init_tx(), &tx)
        )
    }

    async fn list_transactions(
        self: Rc<Self>,
        params: wallet::ListTransactionsParams,
        mut results: wallet::ListTransactionsResults,
    ) -> capnp::Result<()> {
        let wallet = self.wallet.clone();
        serve_on_pool!(
            in_place_if self.reads_in_place;
            self,
            "listTransactions",
            params,
            results,
            |p| {
                let count = p.get_count();
                move || wallet.list_transactions(count)
            },
            |out, txs| {
                let mut list = out.reborrow().init_txs(txs.len() as u32);
                for (i, tx) in txs.iter().enumerate() {
                    write_wallet_tx(list.reborrow().get(i as u32), tx);
                }
            }
        )
    }
}
