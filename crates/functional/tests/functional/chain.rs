//! Mining and chain queries, and coinbase maturity.

use kestrel_functional::{Amount, TestFramework};
use serde_json::json;

#[test]
fn mining_and_chain_queries() {
    let test = TestFramework::start(1);
    let node = &test.nodes[0];
    assert_eq!(node.getblockcount(), 0);
    let genesis = node.getblockhash(0);
    assert_eq!(node.getbestblockhash(), genesis);

    let address = node.getnewaddress();
    let hashes = node.generatetoaddress(3, &address);
    assert_eq!(hashes.len(), 3);
    assert_eq!(node.getblockcount(), 3);
    assert_eq!(node.getbestblockhash(), hashes[2]);
    for (height, hash) in (1..).zip(&hashes) {
        assert_eq!(&node.getblockhash(height), hash);
    }
    assert_ne!(hashes[0], genesis);

    let block = node.getblock(&hashes[1]);
    assert_eq!(block["hash"], json!(hashes[1]));
    assert_eq!(block["height"], json!(2));
    assert_eq!(block["confirmations"], json!(2));
    assert_eq!(block["previousblockhash"], json!(hashes[0]));
    assert_eq!(block["nextblockhash"], json!(hashes[2]));
    // Only the coinbase: nothing else was in the mempool.
    assert_eq!(block["tx"].as_array().map(Vec::len), Some(1), "{block}");
    assert_eq!(block["nTx"], json!(1));

    let tip = node.getblock(&hashes[2]);
    assert_eq!(tip["confirmations"], json!(1));
    assert!(tip.get("nextblockhash").is_none(), "{tip}");
    assert!(node.getblock(&genesis).get("previousblockhash").is_none());

    // Verbosity 0: the serialized block, as long as verbosity 1 says.
    let raw = node.getblock_hex(&hashes[2]);
    assert!(raw.bytes().all(|b| b.is_ascii_hexdigit()), "{raw}");
    assert_eq!(json!(raw.len() / 2), tip["size"]);
    assert_eq!(
        node.expect("getblock", json!([hashes[2], false])),
        json!(raw)
    );

    // Past the tip there is nothing.
    assert_eq!(node.call("getblockhash", json!([4])).unwrap_err().code, -8);
    // A zero-block request mines nothing.
    assert!(node.generatetoaddress(0, &address).is_empty());
    assert_eq!(node.getblockcount(), 3);
}

#[test]
fn coinbase_matures_after_100_confirmations() {
    let test = TestFramework::start(1);
    let node = &test.nodes[0];
    let address = node.getnewaddress();

    node.generatetoaddress(100, &address);
    assert_eq!(node.getbalance(), Amount::ZERO);
    let unspent = node.expect("listunspent", json!([0]));
    let unspent = unspent.as_array().unwrap();
    assert_eq!(unspent.len(), 100, "every coinbase is listed");
    assert!(unspent.iter().all(|u| u["spendable"] == json!(false)));

    node.generatetoaddress(1, &address);
    assert_eq!(node.getbalance(), Amount::coins(50));
    let spendable: Vec<_> = node
        .listunspent()
        .into_iter()
        .filter(|u| u.spendable)
        .collect();
    assert_eq!(spendable.len(), 1);
    assert_eq!(spendable[0].amount, Amount::coins(50));
    assert_eq!(spendable[0].confirmations, 101);
    assert_eq!(spendable[0].address, address);
}
