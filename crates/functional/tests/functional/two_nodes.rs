//! Two nodes in one test. Nodes have no P2P, so they share only the regtest
//! genesis: what one mines, sends or owns, the other never sees.

use kestrel_functional::{sync_blocks, Amount, CallError, RpcAuth, TestFramework};
use serde_json::json;

#[test]
fn two_nodes_keep_separate_chains_and_wallets() {
    let test = TestFramework::start(2);
    let (a, b) = (&test.nodes[0], &test.nodes[1]);
    assert_ne!(a.rpc_port(), b.rpc_port());
    // Same regtest genesis on both.
    sync_blocks(&[a, b]);

    let mining = a.getnewaddress();
    a.generatetoaddress(101, &mining);
    assert_eq!(b.getblockcount(), 0);

    // A pays an address of B's wallet: valid everywhere, but only A's
    // chain carries the payment.
    let b_address = b.getnewaddress();
    let txid = a.sendtoaddress(&b_address, Amount::coins(7));
    assert_eq!(a.getrawmempool(), std::slice::from_ref(&txid));
    assert!(b.getrawmempool().is_empty());
    // Even the block's coinbase pays B, on A's chain only.
    a.generatetoaddress(1, &b_address);

    let sent = a.gettransaction(&txid);
    let fee = -sent.fee.expect("own send");
    assert_eq!(sent.amount, -(Amount::coins(7) + fee));
    // Block 102 matured block 2's coinbase: two coinbases less the send.
    assert_eq!(a.getbalance(), Amount::coins(100) - Amount::coins(7) - fee);
    // B's wallet never heard of it.
    assert_eq!(b.getbalance(), Amount::ZERO);
    assert!(b.listunspent().is_empty());
    assert_eq!(
        b.call("gettransaction", json!([txid])).unwrap_err().code,
        -5
    );
    assert_eq!(b.getblockcount(), 0);

    // Each node has its own cookie: A's does not open B.
    let a_cookie = std::fs::read_to_string(a.cookie_path()).unwrap();
    let err = b
        .rpc_with_credentials(Some(RpcAuth::from_cookie(&a_cookie).unwrap()))
        .call("getblockcount", &[])
        .unwrap_err();
    assert!(matches!(err, CallError::Unauthorized), "{err}");
}
