@0x8a8f25e030b4dd4b;
# What the gui asks of the node (interfaces::Node). The gui reaches the
# node's wallet through `wallet`, so it needs one connection only.

using Common = import "common.capnp";
using ChainNotifications = import "chain.capnp".ChainNotifications;
using Wallet = import "wallet.capnp".Wallet;

struct NodeInfo {
  tip @0 :Common.Tip;
  mempoolSize @1 :UInt32;   # transactions waiting
  mempoolBytes @2 :UInt64;  # their total serialized size
}

interface Node {
  info @0 () -> (info :NodeInfo, rejected :Common.Rejected);
  generate @1 (count :UInt32, address :Text)
      -> (hashes :List(Data), rejected :Common.Rejected);
  # Mines `count` regtest blocks paying `address`.
  wallet @2 () -> (wallet :Wallet, rejected :Common.Rejected);
  handleNotifications @3 (notifications :ChainNotifications)
      -> (handler :Common.Handler, rejected :Common.Rejected);
  # As Chain.handleNotifications: the node's own wallet is notified first.
  stop @4 () -> (rejected :Common.Rejected);
  # Asks the node to shut down; returns at once.
}
