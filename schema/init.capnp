@0xca8b038b8e328760;
# The first object each process offers on a connection (its bootstrap
# capability), as in Bitcoin Core's src/ipc/capnp/init.capnp. Both ends of a
# connection offer one, so a node that spawns a wallet and a wallet that
# attaches with -ipcconnect meet the same way.

using Common = import "common.capnp";
using Chain = import "chain.capnp".Chain;
using WalletLoader = import "wallet.capnp".WalletLoader;
using Echo = import "echo.capnp".Echo;
using Node = import "node.capnp".Node;

interface Init {
  makeEcho @0 () -> (echo :Echo);
  makeChain @1 () -> (chain :Chain, rejected :Common.Rejected);
  makeWalletLoader @2 (chain :Chain)
      -> (walletLoader :WalletLoader, rejected :Common.Rejected);
  # The node hands its Chain to the wallet process, which returns a loader
  # for wallets that use it.
  makeNode @3 () -> (node :Node, rejected :Common.Rejected);
}
