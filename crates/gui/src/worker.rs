//! Runs the gui's [`Command`]s against the node, off the UI thread, one at
//! a time, through the `Node` interface and the wallet it hands out.

use std::sync::mpsc::{Receiver, Sender};

use kestrel_interfaces::{Node, Result};

use crate::app::{Command, Outcome, RECENT_TRANSACTIONS};

/// What one command comes to.
pub fn execute(node: &dyn Node, command: &Command) -> Outcome {
    let (what, result) = match command {
        Command::Refresh => ("Refresh", refresh(node)),
        Command::Mine { blocks } => ("Mining", mine(node, *blocks)),
        Command::NewAddress => (
            "New address",
            node.wallet()
                .and_then(|wallet| wallet.get_new_address())
                .map(Outcome::NewAddress),
        ),
        Command::Send { address, amount } => (
            "Send",
            node.wallet()
                .and_then(|wallet| wallet.send_to_address(address, *amount))
                .map(|txid| Outcome::Sent { txid }),
        ),
        Command::Quit => unreachable!("the UI handles Quit itself"),
    };
    result.unwrap_or_else(|e| Outcome::Failed {
        what: what.to_string(),
        error: e.to_string(),
    })
}

fn refresh(node: &dyn Node) -> Result<Outcome> {
    let info = node.info()?;
    let wallet = node.wallet()?;
    Ok(Outcome::Refreshed {
        info,
        balance: wallet.get_balance()?,
        transactions: wallet.list_transactions(RECENT_TRANSACTIONS)?,
    })
}

/// Mines to a fresh address of the node's wallet.
fn mine(node: &dyn Node, blocks: u32) -> Result<Outcome> {
    let address = node.wallet()?.get_new_address()?;
    node.generate(blocks, &address)?;
    Ok(Outcome::Mined {
        blocks,
        height: node.info()?.tip.height,
    })
}

/// Executes commands until `commands` closes. Refreshes that queued up
/// while a command ran (a notification per mined block) become one, run
/// after the other commands waiting.
pub fn serve(node: &dyn Node, commands: Receiver<Command>, outcomes: Sender<Outcome>) {
    while let Ok(first) = commands.recv() {
        let mut batch = vec![first];
        batch.extend(commands.try_iter());
        let refresh = batch.contains(&Command::Refresh);
        batch.retain(|c| *c != Command::Refresh);
        if refresh {
            batch.push(Command::Refresh);
        }
        for command in &batch {
            if outcomes.send(execute(node, command)).is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{mpsc, Arc, Mutex};

    use kestrel_interfaces::{
        rpc_code, Amount, ChainNotifications, Error, Hash256, NodeInfo, Subscription, Tip, Unspent,
        Wallet, WalletTx,
    };

    /// A node whose wallet pays out of a balance and whose mining adds 50
    /// coins per block; it records every call.
    #[derive(Default)]
    struct FakeNode {
        calls: Arc<Mutex<Vec<String>>>,
        height: Mutex<u32>,
    }

    struct FakeWallet(Arc<Mutex<Vec<String>>>);

    impl Node for FakeNode {
        fn info(&self) -> Result<NodeInfo> {
            self.calls.lock().unwrap().push("info".into());
            Ok(NodeInfo {
                tip: Tip {
                    height: *self.height.lock().unwrap(),
                    hash: [0; 32],
                },
                mempool_size: 0,
                mempool_bytes: 0,
            })
        }
        fn generate(&self, count: u32, address: &str) -> Result<Vec<Hash256>> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("generate {count} {address}"));
            *self.height.lock().unwrap() += count;
            Ok(vec![[0; 32]; count as usize])
        }
        fn wallet(&self) -> Result<Arc<dyn Wallet>> {
            Ok(Arc::new(FakeWallet(self.calls.clone())))
        }
        fn handle_notifications(
            &self,
            _notifications: Arc<dyn ChainNotifications>,
        ) -> Result<Box<dyn Subscription>> {
            unreachable!("the worker does not subscribe")
        }
        fn stop(&self) -> Result<()> {
            Ok(())
        }
    }

    impl Wallet for FakeWallet {
        fn get_new_address(&self) -> Result<String> {
            Ok("kr1new".into())
        }
        fn get_balance(&self) -> Result<Amount> {
            self.0.lock().unwrap().push("getBalance".into());
            Ok(7)
        }
        fn send_to_address(&self, address: &str, amount: Amount) -> Result<Hash256> {
            if amount > 7 {
                return Err(Error::Rejected {
                    code: rpc_code::WALLET_INSUFFICIENT_FUNDS,
                    message: "Insufficient funds".into(),
                });
            }
            self.0
                .lock()
                .unwrap()
                .push(format!("send {amount} {address}"));
            Ok([5; 32])
        }
        fn list_unspent(&self, _min_confirmations: u32) -> Result<Vec<Unspent>> {
            Ok(Vec::new())
        }
        fn get_transaction(&self, _txid: &Hash256) -> Result<WalletTx> {
            unreachable!()
        }
        fn list_transactions(&self, count: u32) -> Result<Vec<WalletTx>> {
            assert_eq!(count, RECENT_TRANSACTIONS);
            Ok(Vec::new())
        }
    }

    #[test]
    fn commands_become_outcomes() {
        let node = FakeNode::default();
        assert_eq!(
            execute(&node, &Command::Mine { blocks: 3 }),
            Outcome::Mined {
                blocks: 3,
                height: 3
            }
        );
        assert!(node
            .calls
            .lock()
            .unwrap()
            .contains(&"generate 3 kr1new".to_string()));
        assert_eq!(
            execute(&node, &Command::NewAddress),
            Outcome::NewAddress("kr1new".into())
        );
        assert_eq!(
            execute(
                &node,
                &Command::Send {
                    address: "kr1x".into(),
                    amount: 8
                }
            ),
            Outcome::Failed {
                what: "Send".into(),
                error: "Insufficient funds".into()
            }
        );
        match execute(&node, &Command::Refresh) {
            Outcome::Refreshed { info, balance, .. } => {
                assert_eq!((info.tip.height, balance), (3, 7))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn queued_refreshes_run_once_after_the_rest() {
        let node = FakeNode::default();
        let (commands, queue) = mpsc::channel();
        let (outcomes, results) = mpsc::channel();
        for _ in 0..5 {
            commands.send(Command::Refresh).unwrap();
        }
        commands
            .send(Command::Send {
                address: "kr1x".into(),
                amount: 1,
            })
            .unwrap();
        drop(commands);
        serve(&node, queue, outcomes);
        let results: Vec<_> = results.try_iter().collect();
        assert_eq!(results.len(), 2, "{results:?}");
        assert_eq!(results[0], Outcome::Sent { txid: [5; 32] });
        assert!(matches!(results[1], Outcome::Refreshed { .. }));
        let calls = node.calls.lock().unwrap();
        assert_eq!(calls.iter().filter(|c| *c == "getBalance").count(), 1);
    }
}
