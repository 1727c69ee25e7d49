//! The node as a gui sees it ([`kestrel_interfaces::Node`]): the same chain,
//! wallet slot and shutdown request as the RPC, so a gui and `kestrel-cli`
//! see one node. `kestrel-node` offers it through `Init.makeNode`.

use std::sync::Arc;

use kestrel_interfaces::{
    Chain, ChainNotifications, Error, Hash256, Node, NodeInfo, Result, Subscription, Wallet,
};
use kestrel_rpc::node_chain::NodeChain;
use kestrel_rpc::shutdown::Shutdown;
use kestrel_rpc::wallet_slot::WalletSlot;

use crate::rpc_chain::RpcChain;

pub struct NodeHandle {
    chain: RpcChain,
    wallet: WalletSlot,
    shutdown: Shutdown,
}

impl NodeHandle {
    pub fn new(chain: RpcChain, wallet: WalletSlot, shutdown: Shutdown) -> NodeHandle {
        NodeHandle {
            chain,
            wallet,
            shutdown,
        }
    }
}

fn rejected(e: kestrel_rpc::RpcError) -> Error {
    Error::Rejected {
        code: e.code,
        message: e.message,
    }
}

impl Node for NodeHandle {
    fn info(&self) -> Result<NodeInfo> {
        let mempool = self.chain.mempool();
        Ok(NodeInfo {
            tip: self.chain.tip(),
            mempool_size: mempool.len() as u32,
            mempool_bytes: mempool.iter().map(|entry| entry.size as u64).sum(),
        })
    }

    fn generate(&self, count: u32, address: &str) -> Result<Vec<Hash256>> {
        self.chain
            .generate_to_address(address, count)
            .map_err(rejected)
    }

    fn wallet(&self) -> Result<Arc<dyn Wallet>> {
        // As for an RPC: the wallet has seen every block mined before.
        self.chain.sync_notifications();
        self.wallet.get().map_err(rejected)
    }

    fn handle_notifications(
        &self,
        notifications: Arc<dyn ChainNotifications>,
    ) -> Result<Box<dyn Subscription>> {
        self.chain.0.register_notifications(notifications)
    }

    fn stop(&self) -> Result<()> {
        tracing::info!("shutdown requested through the Node interface");
        self.shutdown.request();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kestrel_chain::{ChainState, PrivateKey};
    use kestrel_rpc::test_support::FakeWallet;
    use kestrel_rpc::WALLET_NOT_FOUND;

    #[test]
    fn sees_the_chain_the_wallet_slot_and_requests_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let chain = ChainState::open(dir.path()).unwrap();
        let slot = WalletSlot::default();
        let shutdown = Shutdown::default();
        let node = NodeHandle::new(RpcChain(chain.clone()), slot.clone(), shutdown.clone());

        let address = PrivateKey::generate().unwrap().address().to_string();
        let hashes = node.generate(2, &address).unwrap();
        let info = node.info().unwrap();
        assert_eq!(info.tip.height, 2);
        assert_eq!(info.tip.hash, hashes[1]);
        assert_eq!((info.mempool_size, info.mempool_bytes), (0, 0));
        match node.generate(1, "not-an-address") {
            Err(Error::Rejected { code, .. }) => {
                assert_eq!(code, kestrel_rpc::INVALID_ADDRESS_OR_KEY)
            }
            other => panic!("{other:?}"),
        }

        match node.wallet() {
            Err(Error::Rejected { code, .. }) => assert_eq!(code, WALLET_NOT_FOUND),
            other => panic!("{:?}", other.map(|_| ())),
        }
        slot.set(Arc::new(FakeWallet::new(7)));
        assert_eq!(node.wallet().unwrap().get_balance(), Ok(7));

        assert!(!shutdown.is_requested());
        node.stop().unwrap();
        assert!(shutdown.is_requested());
        chain.shutdown();
    }
}
