//! The wallet: receive, send with change, the mempool, balances after
//! mining, and its errors.

use kestrel_functional::{Amount, TestFramework};
use serde_json::json;

#[test]
fn send_with_change_and_receive() {
    let test = TestFramework::start(1);
    let node = &test.nodes[0];
    let mining = node.getnewaddress();
    node.generatetoaddress(101, &mining);
    assert_eq!(node.getbalance(), Amount::coins(50));

    let receiving = node.getnewaddress();
    assert_ne!(receiving, mining);
    let txid = node.sendtoaddress(&receiving, Amount::coins(10));

    assert_eq!(node.getrawmempool(), std::slice::from_ref(&txid));
    let mempool = node.getmempoolinfo();
    assert!(mempool.loaded);
    assert_eq!(mempool.size, 1);
    assert!(mempool.bytes > 0);
    let unconfirmed = node.gettransaction(&txid);
    assert_eq!(unconfirmed.txid, txid);
    assert_eq!(unconfirmed.confirmations, 0);
    assert_eq!(unconfirmed.blockhash, None);
    let fee = -unconfirmed.fee.expect("a send of the wallet has a fee");
    assert!(fee > Amount::ZERO, "fee {fee}");
    // Paying itself, the wallet's balance changes by the fee only.
    assert_eq!(unconfirmed.amount, -fee);

    // The confirming block (height 102) pays an immature coinbase and
    // matures the one of block 2.
    let block = node.generatetoaddress(1, &mining).remove(0);
    assert!(node.getrawmempool().is_empty());
    assert_eq!(node.getmempoolinfo().size, 0);
    let confirmed = node.gettransaction(&txid);
    assert_eq!(confirmed.confirmations, 1);
    assert_eq!(confirmed.blockhash.as_deref(), Some(block.as_str()));
    let mined = node.getblock(&block);
    assert!(mined["tx"].as_array().unwrap().contains(&json!(txid)));

    // The first 50-coin coinbase became the payment and the change.
    assert_eq!(node.getbalance(), Amount::coins(100) - fee);
    let outputs: Vec<_> = node
        .listunspent()
        .into_iter()
        .filter(|u| u.txid == txid)
        .collect();
    assert_eq!(outputs.len(), 2, "{outputs:?}");
    let payment = outputs.iter().find(|u| u.address == receiving).unwrap();
    assert_eq!(payment.amount, Amount::coins(10));
    let change = outputs.iter().find(|u| u.address != receiving).unwrap();
    assert_eq!(change.amount, Amount::coins(40) - fee);
    assert_ne!(change.address, mining);
    assert!(outputs.iter().all(|u| u.spendable && u.confirmations == 1));
    let spendable: Amount = node
        .listunspent()
        .iter()
        .filter(|u| u.spendable)
        .map(|u| u.amount)
        .sum();
    assert_eq!(spendable, node.getbalance());

    // Everything it has cannot pay for itself and a fee.
    let err = node
        .call(
            "sendtoaddress",
            json!([receiving, node.getbalance().to_json()]),
        )
        .unwrap_err();
    assert_eq!(err.code, -6, "{err}");
}

#[test]
fn send_errors() {
    let test = TestFramework::start(1);
    let node = &test.nodes[0];
    let address = node.getnewaddress();
    let send = |to: &str, amount: serde_json::Value| {
        node.call("sendtoaddress", json!([to, amount]))
            .unwrap_err()
            .code
    };

    // An empty wallet has nothing to send.
    assert_eq!(send(&address, json!(1)), -6);
    node.generatetoaddress(101, &address);
    assert_eq!(send(&address, json!(51)), -6);
    assert_eq!(send("notanaddress", json!(1)), -5);
    assert_eq!(send(&address, json!(0)), -3);
    assert_eq!(send(&address, json!(0.000000001)), -3);
    assert_eq!(send(&address, json!("lots")), -3);
    assert_eq!(
        node.call("gettransaction", json!(["11".repeat(32)]))
            .unwrap_err()
            .code,
        -5
    );
    // None of the failures spent anything.
    assert_eq!(node.getbalance(), Amount::coins(50));
    assert!(node.getrawmempool().is_empty());
}

#[test]
fn send_spends_unconfirmed_change() {
    let test = TestFramework::start(1);
    let node = &test.nodes[0];
    let mining = node.getnewaddress();
    node.generatetoaddress(101, &mining);
    let receiving = node.getnewaddress();

    // One mature coin: the second send can only spend the first's change.
    let first = node.sendtoaddress(&receiving, Amount::coins(10));
    let second = node.sendtoaddress(&receiving, Amount::coins(10));
    let mut mempool = node.getrawmempool();
    mempool.sort();
    let mut expected = vec![first.clone(), second.clone()];
    expected.sort();
    assert_eq!(mempool, expected);

    let block = node.generatetoaddress(1, &mining).remove(0);
    let mined = node.getblock(&block);
    for txid in [&first, &second] {
        assert!(mined["tx"].as_array().unwrap().contains(&json!(txid)));
        assert_eq!(node.gettransaction(txid).confirmations, 1);
    }
    let fees =
        -(node.gettransaction(&first).fee.unwrap() + node.gettransaction(&second).fee.unwrap());
    // Block 102 matured block 2's coinbase.
    assert_eq!(node.getbalance(), Amount::coins(100) - fees);
}
