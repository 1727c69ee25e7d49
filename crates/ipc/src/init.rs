//! `Init`: the first object each end of a connection offers, from which the
//! other end obtains everything else (echo, chain, wallet loader, node).

use std::sync::Arc;

use capnp::capability::Rc;
use kestrel_interfaces::{rpc_code, Chain, Error, Node, Result};

use crate::chain::{ChainProxy, ChainServer};
use crate::echo::{EchoProxy, EchoServer};
use crate::link::{call_remote, send_logged, serve_on_pool, Link, ProxyCore};
use crate::log::{CallLog, Side};
use crate::node::{NodeProxy, NodeServer};
use crate::schema::init_capnp::init;
use crate::wallet::{WalletLoader, WalletLoaderProxy, WalletLoaderServer};

/// What a process offers on each connection, first. `makeEcho` is always
/// offered; the rest default to a refusal naming what is missing.
pub trait Init: Send + Sync {
    /// The node's chain, for wallets that attach with `-ipcconnect`.
    fn make_chain(&self) -> Result<Arc<dyn Chain>> {
        Err(not_offered("a chain (makeChain)"))
    }

    /// A wallet loader using `chain` (a proxy for the node's chain).
    fn make_wallet_loader(&self, chain: Arc<dyn Chain>) -> Result<Arc<dyn WalletLoader>> {
        let _ = chain;
        Err(not_offered("wallets (makeWalletLoader)"))
    }

    /// The node, for a gui (spawned by it, or attached with `-ipcconnect`).
    fn make_node(&self) -> Result<Arc<dyn Node>> {
        Err(not_offered("a node (makeNode)"))
    }
}

/// An `Init` that offers only `makeEcho`: for processes that only call out.
pub struct EchoOnlyInit;

impl Init for EchoOnlyInit {}

fn not_offered(what: &str) -> Error {
    Error::Rejected {
        code: rpc_code::MISC_ERROR,
        message: format!("this process does not offer {what}"),
    }
}

/// The first object of the process at the other end of a connection.
pub struct InitProxy {
    core: Arc<ProxyCore<init::Client>>,
}

impl InitProxy {
    pub(crate) fn new(core: Arc<ProxyCore<init::Client>>) -> Self {
        Self { core }
    }

    pub fn make_echo(&self) -> Result<EchoProxy> {
        self.core.call(|core| async move {
            let mut request = core.client().make_echo_request();
            let response = send_logged!(core, "makeEcho", request);
            let results = response.get()?;
            let echo = ProxyCore::new(results.get_echo()?, &core.link, "Echo");
            Ok(Ok(EchoProxy::new(echo)))
        })
    }

    /// The far process's chain (a node offers it to wallets attaching
    /// with `-ipcconnect`).
    pub fn make_chain(&self) -> Result<ChainProxy> {
        call_remote!(
            self,
            "makeChain",
            make_chain_request,
            |core, r: init::make_chain_results::Reader<'_>| r
                .get_chain()
                .map(|chain| ChainProxy::new(ProxyCore::new(chain, &core.link, "Chain")))
        )
    }

    /// Hands `chain` to the far process (a wallet), which returns a loader
    /// for wallets that use it. Calls from those wallets into `chain` come
    /// back over this connection and run on this process's blocking pool.
    pub fn make_wallet_loader(&self, chain: Arc<dyn Chain>) -> Result<WalletLoaderProxy> {
        call_remote!(
            self,
            "makeWalletLoader",
            make_wallet_loader_request,
            |mut params| params
                .set_chain(capnp_rpc::new_client(ChainServer::new(chain, &core.link))),
            |core, r: init::make_wallet_loader_results::Reader<'_>| r.get_wallet_loader().map(
                |loader| {
                    WalletLoaderProxy::new(ProxyCore::new(loader, &core.link, "WalletLoader"))
                }
            )
        )
    }

    /// The far process's node (a node offers it to the gui).
    pub fn make_node(&self) -> Result<NodeProxy> {
        call_remote!(
            self,
            "makeNode",
            make_node_request,
            |core, r: init::make_node_results::Reader<'_>| r
                .get_node()
                .map(|node| NodeProxy::new(ProxyCore::new(node, &core.link, "Node")))
        )
    }
}

/// This process's `Init`, served to the far one.
pub(crate) struct InitServer {
    init: Arc<dyn Init>,
    link: Link,
    log: CallLog,
}

impl InitServer {
    pub(crate) fn new(init: Arc<dyn Init>, link: &Link) -> Self {
        Self {
            init,
            log: link.call_log("Init", Side::Server),
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
        let init = self.init.clone();
        serve_on_pool!(
            self,
            "makeChain",
            params,
            results,
            |_p| move || init.make_chain(),
            |out, chain| out.set_chain(capnp_rpc::new_client(ChainServer::new(chain, &self.link)))
        )
    }

    async fn make_wallet_loader(
        self: Rc<Self>,
        params: init::MakeWalletLoaderParams,
        mut results: init::MakeWalletLoaderResults,
    ) -> capnp::Result<()> {
        let init = self.init.clone();
        serve_on_pool!(
            self,
            "makeWalletLoader",
            params,
            results,
            |p| {
                let chain = ChainProxy::new(ProxyCore::new(p.get_chain()?, &self.link, "Chain"));
                move || init.make_wallet_loader(Arc::new(chain))
            },
            |out, loader| out.set_wallet_loader(capnp_rpc::new_client(WalletLoaderServer::new(
                loader, &self.link,
            )))
        )
    }

    async fn make_node(
        self: Rc<Self>,
        params: init::MakeNodeParams,
        mut results: init::MakeNodeResults,
    ) -> capnp::Result<()> {
        let init = self.init.clone();
        serve_on_pool!(
            self,
            "makeNode",
            params,
            results,
            |_p| move || init.make_node(),
            |out, node| out.set_node(capnp_rpc::new_client(NodeServer::new(node, &self.link)))
        )
    }
}
