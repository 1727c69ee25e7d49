//! `Chain`: what a wallet asks of the node (tip, blocks, mempool,
//! broadcast, fee estimate, notifications), as a proxy in the wallet's
//! process and a server around the node's chain.

use std::sync::Arc;

use capnp::capability::Rc;
use kestrel_interfaces::{Amount, Chain, ChainNotifications, Hash256, Result, Subscription, Tip};

use crate::convert::{read_data_list, read_hash, read_tip, write_data_list, write_tip};
use crate::link::{call_remote, serve_on_pool, Link, ProxyCore};
use crate::log::{CallLog, Side};
use crate::notifications::{handle_notifications, serve_handle_notifications};
use crate::schema::chain_capnp::chain;

/// `Chain` of the far process (the node, seen from a wallet).
pub struct ChainProxy {
    core: Arc<ProxyCore<chain::Client>>,
}

impl ChainProxy {
    pub(crate) fn new(core: Arc<ProxyCore<chain::Client>>) -> Self {
        Self { core }
    }
}

impl Chain for ChainProxy {
    fn tip(&self) -> Result<Tip> {
        call_remote!(self, "tip", tip_request, |core,
                                                r: chain::tip_results::Reader<
            '_,
        >| {
            read_tip(r.get_tip()?)
        })
    }

    fn block_at(&self, height: u32) -> Result<Option<Vec<u8>>> {
        call_remote!(
            self,
            "blockAt",
            block_at_request,
            |mut params| params.set_height(height),
            |core, r: chain::block_at_results::Reader<'_>| {
                capnp::Result::Ok(match r.has_block() {
                    true => Some(r.get_block()?.to_vec()),
                    false => None,
                })
            }
        )
    }

    fn blocks_from(&self, height: u32, max_blocks: u32) -> Result<Vec<Vec<u8>>> {
        call_remote!(
            self,
            "blocksFrom",
            blocks_from_request,
            |mut params| {
                params.set_height(height);
                params.set_max_blocks(max_blocks)
            },
            |core, r: chain::blocks_from_results::Reader<'_>| read_data_list(r.get_blocks()?)
        )
    }

    fn mempool(&self) -> Result<Vec<Vec<u8>>> {
        call_remote!(
            self,
            "mempool",
            mempool_request,
            |core, r: chain::mempool_results::Reader<'_>| { read_data_list(r.get_txs()?) }
        )
    }

    fn broadcast(&self, tx: &[u8]) -> Result<Hash256> {
        let tx = tx.to_vec();
        call_remote!(
            self,
            "broadcast",
            broadcast_request,
            |mut params| params.set_tx(&tx),
            |core, r: chain::broadcast_results::Reader<'_>| read_hash("txid", r.get_txid()?)
        )
    }

    fn estimate_fee_per_kb(&self) -> Result<Amount> {
        call_remote!(
            self,
            "estimateFee",
            estimate_fee_request,
            |core, r: chain::estimate_fee_results::Reader<'_>| capnp::Result::Ok(
                r.get_fee_per_kb()
            )
        )
    }

    fn register_notifications(
        &self,
        notifications: Arc<dyn ChainNotifications>,
    ) -> Result<Box<dyn Subscription>> {
        handle_notifications!(
            self,
            notifications,
            chain::handle_notifications_results::Reader<'_>
        )
    }
}

/// The node's chain, served to a wallet.
pub(crate) struct ChainServer {
    chain: Arc<dyn Chain>,
    link: Link,
    log: CallLog,
}

impl ChainServer {
    pub(crate) fn new(chain: Arc<dyn Chain>, link: &Link) -> Self {
        Self {
            chain,
            log: link.call_log("Chain", Side::Server),
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
        let chain = self.chain.clone();
        serve_on_pool!(
            self,
            "tip",
            params,
            results,
            |_p| move || chain.tip(),
            |out, tip| { write_tip(out.reborrow().init_tip(), &tip) }
        )
    }

    async fn block_at(
        self: Rc<Self>,
        params: chain::BlockAtParams,
        mut results: chain::BlockAtResults,
    ) -> capnp::Result<()> {
        let chain = self.chain.clone();
        serve_on_pool!(
            self,
            "blockAt",
            params,
            results,
            |p| {
                let height = p.get_height();
                move || chain.block_at(height)
            },
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
        let chain = self.chain.clone();
        serve_on_pool!(
            self,
            "blocksFrom",
            params,
            results,
            |p| {
                let (height, max_blocks) = (p.get_height(), p.get_max_blocks());
                move || chain.blocks_from(height, max_blocks)
            },
            |out, blocks| write_data_list(out.reborrow().init_blocks(blocks.len() as u32), &blocks)
        )
    }

    async fn mempool(
        self: Rc<Self>,
        params: chain::MempoolParams,
        mut results: chain::MempoolResults,
    ) -> capnp::Result<()> {
        let chain = self.chain.clone();
        serve_on_pool!(
            self,
            "mempool",
            params,
            results,
            |_p| move || chain.mempool(),
            |out, txs| { write_data_list(out.reborrow().init_txs(txs.len() as u32), &txs) }
        )
    }

    async fn broadcast(
        self: Rc<Self>,
        params: chain::BroadcastParams,
        mut results: chain::BroadcastResults,
    ) -> capnp::Result<()> {
        let chain = self.chain.clone();
        serve_on_pool!(
            self,
            "broadcast",
            params,
            results,
            |p| {
                let tx = p.get_tx()?.to_vec();
                move || chain.broadcast(&tx)
            },
            |out, txid| out.set_txid(&txid)
        )
    }

    async fn estimate_fee(
        self: Rc<Self>,
        params: chain::EstimateFeeParams,
        mut results: chain::EstimateFeeResults,
    ) -> capnp::Result<()> {
        let chain = self.chain.clone();
        serve_on_pool!(
            in_place_if self.chain.fee_estimate_never_waits();
            self,
            "estimateFee",
            params,
            results,
            |_p| move || chain.estimate_fee_per_kb(),
            |out, fee| out.set_fee_per_kb(fee)
        )
    }

    async fn handle_notifications(
        self: Rc<Self>,
        params: chain::HandleNotificationsParams,
        mut results: chain::HandleNotificationsResults,
    ) -> capnp::Result<()> {
        let chain = self.chain.clone();
        serve_handle_notifications!(self, params, results, move |n| chain
            .register_notifications(n))
    }
}
