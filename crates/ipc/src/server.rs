//! Server side: Cap'n Proto servers around the kestrel-interfaces objects of
//! this process. They run on the event loop, but every trait call (sync,
//! possibly blocking: a wallet's send may wait on the chain across IPC) runs
//! on the bounded blocking pool and is awaited, so the loop never blocks.

use std::cell::RefCell;
use std::sync::Arc;

use capnp::capability::Rc;
use kestrel_interfaces::{Chain, ChainNotifications, Node, Subscription, Wallet};

use crate::convert::{
    read_chain_events, read_hash, write_data_list, write_hashes, write_node_info, write_tip,
    write_unspent, write_wallet_tx,
};
use crate::error::write_rejected;
use crate::log::{CallLog, Side};
use crate::proxy::{ChainProxy, Link, NotificationsProxy, ProxyCore};
use crate::schema::chain_capnp::{chain, chain_notifications};
use crate::schema::common_capnp::handler;
use crate::schema::echo_capnp::echo;
use crate::schema::init_capnp::init;
use crate::schema::node_capnp::node;
use crate::schema::wallet_capnp::{wallet, wallet_loader};
use crate::{Init, WalletLoader};

/// Runs a trait call on the blocking pool.
async fn on_pool<T: Send + 'static>(call: impl FnOnce() -> T + Send + 'static) -> capnp::Result<T> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| capnp::Error::failed(format!("the call failed in the callee: {e}")))
}

/// Ends a call: writes its outcome into `$results` (`Ok` through `$write`,
/// `Err` into the `rejected` field), logs them under `-debug=ipc` and
/// returns `Ok(())`.
macro_rules! respond {
    ($server:ident, $method:literal, $results:ident, $outcome:expr, |$out:ident, $value:ident| $write:expr) => {{
        let mut $out = $results.get();
        match $outcome {
            Ok($value) => $write,
            Err(e) => write_rejected($out.reborrow().init_rejected(), &e),
        }
        $server.log.response($method, $out.into_reader());
        Ok(())
    }};
}

pub(crate) struct InitServer {
    init: Arc<dyn Init>,
    link: Link,
    log: CallLog,
}

impl InitServer {
    pub(crate) fn new(init: Arc<dyn Init>, link: &Link) -> Self {
        Self {
            init,
            log: CallLog::new(link.handle.process_name_arc(), "Init", Side::Server),
            link: link.clone(),
        }
    }
}

impl init::Server for InitServer {
    async fn make_echo(
        self: Rc<Self>,
        params: init::MakeEchoParams,
        mut results: init::MakeEchoResults,
    ) -> capnp::Result<()> {
        self.log.request("makeEcho", params.get()?);
        let mut out = results.get();
        out.set_echo(capnp_rpc::new_client(EchoServer::new(&self.link)));
        self.log.response("makeEcho", out.into_reader());
        Ok(())
    }

    async fn make_chain(
        self: Rc<Self>,
        params: init::MakeChainParams,
        mut results: init::MakeChainResults,
    ) -> capnp::Result<()> {
        self.log.request("makeChain", params.get()?);
        let init = self.init.clone();
        let outcome = on_pool(move || init.make_chain()).await?;
        respond!(self, "makeChain", results, outcome, |out, chain| out
            .set_chain(capnp_rpc::new_client(ChainServer::new(
                chain, &self.link
            ))))
    }

    async fn make_wallet_loader(
        self: Rc<Self>,
        params: init::MakeWalletLoaderParams,
        mut results: init::MakeWalletLoaderResults,
    ) -> capnp::Result<()> {
        let params = params.get()?;
        self.log.request("makeWalletLoader", params);
        let chain = ChainProxy::new(ProxyCore::new(params.get_chain()?, &self.link, "Chain"));
        let init = self.init.clone();
        let outcome = on_pool(move || init.make_wallet_loader(Arc::new(chain))).await?;
        respond!(self, "makeWalletLoader", results, outcome, |out, loader| {
            out.set_wallet_loader(capnp_rpc::new_client(WalletLoaderServer::new(
                loader, &self.link,
            )))
        })
    }

    async fn make_node(
        self: Rc<Self>,
        params: init::MakeNodeParams,
        mut results: init::MakeNodeResults,
    ) -> capnp::Result<()> {
        self.log.request("makeNode", params.get()?);
        let init = self.init.clone();
        let outcome = on_pool(move || init.make_node()).await?;
        respond!(self, "makeNode", results, outcome, |out, node| out
            .set_node(capnp_rpc::new_client(NodeServer::new(
                node, &self.link
            ))))
    }
}

/// Returns what it is given, on the loop itself: it cannot block.
pub(crate) struct EchoServer {
    log: CallLog,
}

impl EchoServer {
    pub(crate) fn new(link: &Link) -> Self {
        Self {
            log: CallLog::new(link.handle.process_name_arc(), "Echo", Side::Server),
        }
    }
}

impl echo::Server for EchoServer {
    async fn echo(
        self: Rc<Self>,
        params: echo::EchoParams,
        mut results: echo::EchoResults,
    ) -> capnp::Result<()> {
        let params = params.get()?;
        self.log.request("echo", params);
        let mut out = results.get();
        out.set_data(params.get_data()?);
        self.log.response("echo", out.into_reader());
        Ok(())
    }
}

pub(crate) struct ChainServer {
    chain: Arc<dyn Chain>,
    link: Link,
    log: CallLog,
}

impl ChainServer {
    pub(crate) fn new(chain: Arc<dyn Chain>, link: &Link) -> Self {
        Self {
            chain,
            log: CallLog::new(link.handle.process_name_arc(), "Chain", Side::Server),
            link: link.clone(),
        }
    }
}

impl chain::Server for ChainServer {
    async fn tip(
        self: Rc<Self>,
        params: chain::TipParams,
        mut results: chain::TipResults,
    ) -> capnp::Result<()> {
        self.log.request("tip", params.get()?);
        let chain = self.chain.clone();
        let outcome = on_pool(move || chain.tip()).await?;
        respond!(self, "tip", results, outcome, |out, tip| write_tip(
            out.reborrow().init_tip(),
            &tip
        ))
    }

    async fn block_at(
        self: Rc<Self>,
        params: chain::BlockAtParams,
        mut results: chain::BlockAtResults,
    ) -> capnp::Result<()> {
        let params = params.get()?;
        self.log.request("blockAt", params);
        let height = params.get_height();
        let chain = self.chain.clone();
        let outcome = on_pool(move || chain.block_at(height)).await?;
        respond!(
            self,
            "blockAt",
            results,
            outcome,
            |out, block| if let Some(block) = block {
                out.set_block(&block)
            }
        )
    }

    async fn blocks_from(
        self: Rc<Self>,
        params: chain::BlocksFromParams,
        mut results: chain::BlocksFromResults,
    ) -> capnp::Result<()> {
        let params = params.get()?;
        self.log.request("blocksFrom", params);
        let (height, max_blocks) = (params.get_height(), params.get_max_blocks());
        let chain = self.chain.clone();
        let outcome = on_pool(move || chain.blocks_from(height, max_blocks)).await?;
        respond!(self, "blocksFrom", results, outcome, |out, blocks| {
            write_data_list(out.reborrow().init_blocks(blocks.len() as u32), &blocks)
        })
    }

    async fn mempool(
        self: Rc<Self>,
        params: chain::MempoolParams,
        mut results: chain::MempoolResults,
    ) -> capnp::Result<()> {
        self.log.request("mempool", params.get()?);
        let chain = self.chain.clone();
        let outcome = on_pool(move || chain.mempool()).await?;
        respond!(self, "mempool", results, outcome, |out, txs| {
            write_data_list(out.reborrow().init_txs(txs.len() as u32), &txs)
        })
    }

    async fn broadcast(
        self: Rc<Self>,
        params: chain::BroadcastParams,
        mut results: chain::BroadcastResults,
    ) -> capnp::Result<()> {
        let params = params.get()?;
        self.log.request("broadcast", params);
        let tx = params.get_tx()?.to_vec();
        let chain = self.chain.clone();
        let outcome = on_pool(move || chain.broadcast(&tx)).await?;
        respond!(self, "broadcast", results, outcome, |out, txid| out
            .set_txid(&txid))
    }

    async fn estimate_fee(
        self: Rc<Self>,
        params: chain::EstimateFeeParams,
        mut results: chain::EstimateFeeResults,
    ) -> capnp::Result<()> {
        self.log.request("estimateFee", params.get()?);
        let chain = self.chain.clone();
        let outcome = on_pool(move || chain.estimate_fee_per_kb()).await?;
        respond!(self, "estimateFee", results, outcome, |out, fee| out
            .set_fee_per_kb(fee))
    }

    async fn handle_notifications(
        self: Rc<Self>,
        params: chain::HandleNotificationsParams,
        mut results: chain::HandleNotificationsResults,
    ) -> capnp::Result<()> {
        let params = params.get()?;
        self.log.request("handleNotifications", params);
        let chain = self.chain.clone();
        let outcome = subscribe_remote(&self.link, params.get_notifications()?, move |n| {
            chain.register_notifications(n)
        })
        .await?;
        respond!(
            self,
            "handleNotifications",
            results,
            outcome,
            |out, handler| out.set_handler(handler)
        )
    }
}

/// Subscribes the far process's `notifications` with `register` (run on
/// the pool); the `Handler` the far process keeps to stay subscribed.
async fn subscribe_remote(
    link: &Link,
    notifications: chain_notifications::Client,
    register: impl FnOnce(Arc<dyn ChainNotifications>) -> kestrel_interfaces::Result<Box<dyn Subscription>>
        + Send
        + 'static,
) -> capnp::Result<kestrel_interfaces::Result<handler::Client>> {
    let notifications =
        NotificationsProxy::new(ProxyCore::new(notifications, link, "ChainNotifications"));
    let outcome = on_pool(move || register(Arc::new(notifications))).await?;
    Ok(outcome.map(|subscription| {
        capnp_rpc::new_client(HandlerServer {
            subscription: RefCell::new(Some(subscription)),
        })
    }))
}

/// The node of this process, served to a gui.
pub(crate) struct NodeServer {
    node: Arc<dyn Node>,
    link: Link,
    log: CallLog,
}

impl NodeServer {
    pub(crate) fn new(node: Arc<dyn Node>, link: &Link) -> Self {
        Self {
            node,
            log: CallLog::new(link.handle.process_name_arc(), "Node", Side::Server),
            link: link.clone(),
        }
    }
}

impl node::Server for NodeServer {
    async fn info(
        self: Rc<Self>,
        params: node::InfoParams,
        mut results: node::InfoResults,
    ) -> capnp::Result<()> {
        self.log.request("info", params.get()?);
        let node = self.node.clone();
        let outcome = on_pool(move || node.info()).await?;
        respond!(self, "info", results, outcome, |out, info| write_node_info(
            out.reborrow().init_info(),
            &info
        ))
    }

    async fn generate(
        self: Rc<Self>,
        params: node::GenerateParams,
        mut results: node::GenerateResults,
    ) -> capnp::Result<()> {
        let params = params.get()?;
        self.log.request("generate", params);
        let count = params.get_count();
        let address = params.get_address()?.to_string()?;
        let node = self.node.clone();
        let outcome = on_pool(move || node.generate(count, &address)).await?;
        respond!(self, "generate", results, outcome, |out, hashes| {
            write_hashes(out.reborrow().init_hashes(hashes.len() as u32), &hashes)
        })
    }

    async fn wallet(
        self: Rc<Self>,
        params: node::WalletParams,
        mut results: node::WalletResults,
    ) -> capnp::Result<()> {
        self.log.request("wallet", params.get()?);
        let node = self.node.clone();
        let outcome = on_pool(move || node.wallet()).await?;
        respond!(self, "wallet", results, outcome, |out, wallet| out
            .set_wallet(capnp_rpc::new_client(WalletServer::new(
                wallet, &self.link
            ))))
    }

    async fn handle_notifications(
        self: Rc<Self>,
        params: node::HandleNotificationsParams,
        mut results: node::HandleNotificationsResults,
    ) -> capnp::Result<()> {
        let params = params.get()?;
        self.log.request("handleNotifications", params);
        let node = self.node.clone();
        let outcome = subscribe_remote(&self.link, params.get_notifications()?, move |n| {
            node.handle_notifications(n)
        })
        .await?;
        respond!(
            self,
            "handleNotifications",
            results,
            outcome,
            |out, handler| out.set_handler(handler)
        )
    }

    async fn stop(
        self: Rc<Self>,
        params: node::StopParams,
        mut results: node::StopResults,
    ) -> capnp::Result<()> {
        self.log.request("stop", params.get()?);
        let node = self.node.clone();
        let outcome = on_pool(move || node.stop()).await?;
        let mut out = results.get();
        if let Err(e) = outcome {
            write_rejected(out.reborrow().init_rejected(), &e);
        }
        self.log.response("stop", out.into_reader());
        Ok(())
    }
}

/// A subscription of the far process, ended by `disconnect` or by the far
/// side releasing the capability (which includes losing the connection).
struct HandlerServer {
    subscription: RefCell<Option<Box<dyn Subscription>>>,
}

impl HandlerServer {
    /// Unsubscribing may wait on the chain's locks, so it runs on the pool.
    fn end(&self) {
        if let Some(subscription) = self.subscription.borrow_mut().take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                tokio::task::spawn_blocking(move || drop(subscription));
            }
        }
    }
}

impl handler::Server for HandlerServer {
    async fn disconnect(
        self: Rc<Self>,
        _: handler::DisconnectParams,
        _: handler::DisconnectResults,
    ) -> capnp::Result<()> {
        self.end();
        Ok(())
    }
}

impl Drop for HandlerServer {
    fn drop(&mut self) {
        self.end();
    }
}

/// The notifications object a wallet of this process passed to a remote
/// chain.
pub(crate) struct NotificationsServer {
    notifications: Arc<dyn ChainNotifications>,
    log: CallLog,
    /// The connection's [`Link::notification_turn`]: a fair (FIFO) lock
    /// that hands notifications to the pool one at a time, in the order
    /// they arrived.
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl NotificationsServer {
    pub(crate) fn new(notifications: Arc<dyn ChainNotifications>, link: &Link) -> Self {
        Self {
            notifications,
            log: CallLog::new(
                link.handle.process_name_arc(),
                "ChainNotifications",
                Side::Server,
            ),
            turn: link.notification_turn.clone(),
        }
    }
}

impl chain_notifications::Server for NotificationsServer {
    async fn notify(
        self: Rc<Self>,
        params: chain_notifications::NotifyParams,
        mut results: chain_notifications::NotifyResults,
    ) -> capnp::Result<()> {
        let params = params.get()?;
        self.log.request("notify", params);
        let events = read_chain_events(params.get_events()?)?;
        let notifications = self.notifications.clone();
        let _turn = self.turn.lock().await;
        on_pool(move || {
            for event in &events {
                event.deliver(notifications.as_ref());
            }
        })
        .await?;
        self.log.response("notify", results.get().into_reader());
        Ok(())
    }
}

pub(crate) struct WalletLoaderServer {
    loader: Arc<dyn WalletLoader>,
    link: Link,
    log: CallLog,
}

impl WalletLoaderServer {
    pub(crate) fn new(loader: Arc<dyn WalletLoader>, link: &Link) -> Self {
        Self {
            loader,
            log: CallLog::new(link.handle.process_name_arc(), "WalletLoader", Side::Server),
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
        let params = params.get()?;
        self.log.request("loadWallet", params);
        let name = params.get_name()?.to_string()?;
        let loader = self.loader.clone();
        let outcome = on_pool(move || loader.load_wallet(&name)).await?;
        respond!(self, "loadWallet", results, outcome, |out, wallet| out
            .set_wallet(capnp_rpc::new_client(WalletServer::new(
                wallet, &self.link
            ))))
    }
}

pub(crate) struct WalletServer {
    wallet: Arc<dyn Wallet>,
    log: CallLog,
}

impl WalletServer {
    pub(crate) fn new(wallet: Arc<dyn Wallet>, link: &Link) -> Self {
        Self {
            wallet,
            log: CallLog::new(link.handle.process_name_arc(), "Wallet", Side::Server),
        }
    }
}

impl wallet::Server for WalletServer {
    async fn get_new_address(
        self: Rc<Self>,
        params: wallet::GetNewAddressParams,
        mut results: wallet::GetNewAddressResults,
    ) -> capnp::Result<()> {
        self.log.request("getNewAddress", params.get()?);
        let wallet = self.wallet.clone();
        let outcome = on_pool(move || wallet.get_new_address()).await?;
        respond!(self, "getNewAddress", results, outcome, |out, address| out
            .set_address(address.as_str()))
    }

    async fn get_balance(
        self: Rc<Self>,
        params: wallet::GetBalanceParams,
        mut results: wallet::GetBalanceResults,
    ) -> capnp::Result<()> {
        self.log.request("getBalance", params.get()?);
        let wallet = self.wallet.clone();
        let outcome = on_pool(move || wallet.get_balance()).await?;
        respond!(self, "getBalance", results, outcome, |out, balance| out
            .set_balance(balance))
    }

    async fn send_to_address(
        self: Rc<Self>,
        params: wallet::SendToAddressParams,
        mut results: wallet::SendToAddressResults,
    ) -> capnp::Result<()> {
        let params = params.get()?;
        self.log.request("sendToAddress", params);
        let address = params.get_address()?.to_string()?;
        let amount = params.get_amount();
        let wallet = self.wallet.clone();
        let outcome = on_pool(move || wallet.send_to_address(&address, amount)).await?;
        respond!(self, "sendToAddress", results, outcome, |out, txid| out
            .set_txid(&txid))
    }

    async fn list_unspent(
        self: Rc<Self>,
        params: wallet::ListUnspentParams,
        mut results: wallet::ListUnspentResults,
    ) -> capnp::Result<()> {
        let params = params.get()?;
        self.log.request("listUnspent", params);
        let min_confirmations = params.get_min_confirmations();
        let wallet = self.wallet.clone();
        let outcome = on_pool(move || wallet.list_unspent(min_confirmations)).await?;
        respond!(self, "listUnspent", results, outcome, |out, unspent| {
            let mut list = out.reborrow().init_unspent(unspent.len() as u32);
            for (i, entry) in unspent.iter().enumerate() {
                write_unspent(list.reborrow().get(i as u32), entry);
            }
        })
    }

    async fn get_transaction(
        self: Rc<Self>,
        params: wallet::GetTransactionParams,
        mut results: wallet::GetTransactionResults,
    ) -> capnp::Result<()> {
        let params = params.get()?;
        self.log.request("getTransaction", params);
        let txid = read_hash("txid", params.get_txid()?)?;
        let wallet = self.wallet.clone();
        let outcome = on_pool(move || wallet.get_transaction(&txid)).await?;
        respond!(self, "getTransaction", results, outcome, |out, tx| {
            write_wallet_tx(out.reborrow().init_tx(), &tx)
        })
    }

    async fn list_transactions(
        self: Rc<Self>,
        params: wallet::ListTransactionsParams,
        mut results: wallet::ListTransactionsResults,
    ) -> capnp::Result<()> {
        let params = params.get()?;
        self.log.request("listTransactions", params);
        let count = params.get_count();
        let wallet = self.wallet.clone();
        let outcome = on_pool(move || wallet.list_transactions(count)).await?;
        respond!(self, "listTransactions", results, outcome, |out, txs| {
            let mut list = out.reborrow().init_txs(txs.len() as u32);
            for (i, tx) in txs.iter().enumerate() {
                write_wallet_tx(list.reborrow().get(i as u32), tx);
            }
        })
    }
}
