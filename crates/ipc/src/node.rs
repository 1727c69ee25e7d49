//! `Node`: what the gui asks of the node (info, mining, its wallet, chain
//! notifications, stop), as a proxy in the gui and a server around the
//! node.

use std::sync::Arc;

use capnp::capability::Rc;
use kestrel_interfaces::{
    ChainNotifications, Hash256, Node, NodeInfo, Result, Subscription, Wallet,
};

use crate::convert::{read_hashes, read_node_info, write_hashes, write_node_info};
use crate::link::{call_remote, serve_on_pool, Link, ProxyCore};
use crate::log::{CallLog, Side};
use crate::notifications::{handle_notifications, serve_handle_notifications};
use crate::schema::node_capnp::node;
use crate::wallet::WalletProxy;

/// `Node` of the far process (the node, seen from the gui).
pub struct NodeProxy {
    core: Arc<ProxyCore<node::Client>>,
}

impl NodeProxy {
    pub(crate) fn new(core: Arc<ProxyCore<node::Client>>) -> Self {
        Self { core }
    }
}

impl Node for NodeProxy {
    fn info(&self) -> Result<NodeInfo> {
        call_remote!(
            self,
            "info",
            info_request,
            |core, r: node::info_results::Reader<'_>| { read_node_info(r.get_info()?) }
        )
    }

    fn generate(&self, count: u32, address: &str) -> Result<Vec<Hash256>> {
        let address = address.to_string();
        call_remote!(
            self,
            "generate",
            generate_request,
            |mut params| {
                params.set_count(count);
                params.set_address(address.as_str())
            },
            |core, r: node::generate_results::Reader<'_>| read_hashes("hashes", r.get_hashes()?)
        )
    }

    fn wallet(&self) -> Result<Arc<dyn Wallet>> {
        call_remote!(
            self,
            "wallet",
            wallet_request,
            |core, r: node::wallet_results::Reader<'_>| r
                .get_wallet()
                .map(|wallet| WalletProxy::shared(wallet, &core.link))
        )
    }

    fn handle_notifications(
        &self,
        notifications: Arc<dyn ChainNotifications>,
    ) -> Result<Box<dyn Subscription>> {
        handle_notifications!(
            self,
            notifications,
            node::handle_notifications_results::Reader<'_>
        )
    }

    fn stop(&self) -> Result<()> {
        call_remote!(
            self,
            "stop",
            stop_request,
            |core, _r: node::stop_results::Reader<'_>| capnp::Result::Ok(())
        )
    }
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
            log: link.call_log("Node", Side::Server),
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
        let node = self.node.clone();
        serve_on_pool!(
            self,
            "info",
            params,
            results,
            |_p| move || node.info(),
            |out, info| { write_node_info(out.reborrow().init_info(), &info) }
        )
    }

    async fn generate(
        self: Rc<Self>,
        params: node::GenerateParams,
        mut results: node::GenerateResults,
    ) -> capnp::Result<()> {
        let node = self.node.clone();
        serve_on_pool!(
            self,
            "generate",
            params,
            results,
            |p| {
                let count = p.get_count();
                let address = p.get_address()?.to_string()?;
                move || node.generate(count, &address)
            },
            |out, hashes| write_hashes(out.reborrow().init_hashes(hashes.len() as u32), &hashes)
        )
    }

    async fn wallet(
        self: Rc<Self>,
        params: node::WalletParams,
        mut results: node::WalletResults,
    ) -> capnp::Result<()> {
        let node = self.node.clone();
        serve_on_pool!(
            self,
            "wallet",
            params,
            results,
            |_p| move || node.wallet(),
            |out, wallet| { out.set_wallet(crate::wallet::serve(wallet, &self.link)) }
        )
    }

    async fn handle_notifications(
        self: Rc<Self>,
        params: node::HandleNotificationsParams,
        mut results: node::HandleNotificationsResults,
    ) -> capnp::Result<()> {
        let node = self.node.clone();
        serve_handle_notifications!(self, params, results, move |n| node.handle_notifications(n))
    }

    async fn stop(
        self: Rc<Self>,
        params: node::StopParams,
        mut results: node::StopResults,
    ) -> capnp::Result<()> {
        let node = self.node.clone();
        serve_on_pool!(
            self,
            "stop",
            params,
            results,
            |_p| move || node.stop(),
            |_out, ()| ()
        )
    }
}
