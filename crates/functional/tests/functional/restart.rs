//! Persistence: a clean restart keeps chain and wallet; `kill -9` keeps
//! every block the node reported mined.

use kestrel_functional::{Amount, TestFramework, TestNode, Unspent};

/// `listunspent` in a fixed order: the RPC promises none.
fn sorted_unspent(node: &TestNode) -> Vec<Unspent> {
    let mut unspent = node.listunspent();
    unspent.sort_by(|a, b| (&a.txid, a.vout).cmp(&(&b.txid, b.vout)));
    unspent
}

#[test]
fn restart_keeps_chain_and_wallet() {
    let mut test = TestFramework::start(1);
    let node = &mut test.nodes[0];
    let mining = node.getnewaddress();
    node.generatetoaddress(101, &mining);
    let receiving = node.getnewaddress();
    let txid = node.sendtoaddress(&receiving, Amount::coins(5));
    node.generatetoaddress(1, &mining);

    let height = node.getblockcount();
    let best = node.getbestblockhash();
    let balance = node.getbalance();
    let unspent = sorted_unspent(node);
    let transaction = node.gettransaction(&txid);

    node.restart();
    assert_eq!(node.getblockcount(), height);
    assert_eq!(node.getbestblockhash(), best);
    assert_eq!(node.getbalance(), balance);
    assert_eq!(sorted_unspent(node), unspent);
    assert_eq!(node.gettransaction(&txid), transaction);

    // The keys survived too: the wallet still signs a spend, and the
    // block confirming it matures the coinbase of block 3, paid to an
    // address made before the restart, so the balance gains those 50.
    let resend = node.sendtoaddress(&receiving, Amount::coins(1));
    node.generatetoaddress(1, &mining);
    let fee = -node.gettransaction(&resend).fee.expect("own send");
    assert_eq!(node.getbalance(), balance - fee + Amount::coins(50));
}

#[test]
fn kill_9_keeps_every_reported_block() {
    let mut test = TestFramework::start(1);
    let node = &mut test.nodes[0];
    let address = node.getnewaddress();
    let mut reported = Vec::new();
    for batch in [1, 4, 10] {
        reported.extend(node.generatetoaddress(batch, &address));
    }

    node.kill();
    node.start();
    assert_eq!(node.getblockcount(), reported.len() as u64);
    for (height, hash) in (1..).zip(&reported) {
        assert_eq!(&node.getblockhash(height), hash, "height {height}");
    }
    // The chain goes on from the last reported block.
    let next = node.generatetoaddress(1, &address).remove(0);
    assert_eq!(
        node.getblock(&next)["previousblockhash"],
        serde_json::json!(reported.last().unwrap())
    );
}
