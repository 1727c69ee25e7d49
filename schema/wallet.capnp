@0xd3e84b4395e43280;
# What the node (its RPC) and the gui ask of a wallet (interfaces::Wallet).

using Common = import "common.capnp";

struct Unspent {
  txid @0 :Data;
  vout @1 :UInt32;
  address @2 :Text;
  amount @3 :UInt64;
  confirmations @4 :UInt32;
  spendable @5 :Bool;
}

struct WalletTx {
  txid @0 :Data;
  amount @1 :Int64;
  fee :union {
    unknown @2 :Void;  # the wallet did not pay this transaction's fee
    paid @3 :UInt64;
  }
  confirmations @4 :UInt32;
  blockHash @5 :Data;  # null while unconfirmed
  raw @6 :Data;
}

interface WalletLoader {
  loadWallet @0 (name :Text) -> (wallet :Wallet, rejected :Common.Rejected);
}

interface Wallet {
  getNewAddress @0 () -> (address :Text, rejected :Common.Rejected);
  getBalance @1 () -> (balance :UInt64, rejected :Common.Rejected);
  sendToAddress @2 (address :Text, amount :UInt64)
      -> (txid :Data, rejected :Common.Rejected);
  listUnspent @3 (minConfirmations :UInt32)
      -> (unspent :List(Unspent), rejected :Common.Rejected);
  getTransaction @4 (txid :Data) -> (tx :WalletTx, rejected :Common.Rejected);
  listTransactions @5 (count :UInt32)
      -> (txs :List(WalletTx), rejected :Common.Rejected);
}
