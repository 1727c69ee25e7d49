@0xc0cf7f1d21fc4b0d;
# What a wallet asks of the node (interfaces::Chain). Blocks and
# transactions cross as their consensus serialization.

using Common = import "common.capnp";

interface Chain {
  tip @0 () -> (tip :Common.Tip, rejected :Common.Rejected);
  blockAt @1 (height :UInt32) -> (block :Data, rejected :Common.Rejected);
  # `block` is null when the active chain has no block at `height`.
  mempool @2 () -> (txs :List(Data), rejected :Common.Rejected);
  broadcast @3 (tx :Data) -> (txid :Data, rejected :Common.Rejected);
  estimateFee @4 () -> (feePerKb :UInt64, rejected :Common.Rejected);
  handleNotifications @5 (notifications :ChainNotifications)
      -> (handler :Common.Handler, rejected :Common.Rejected);
  # The node calls back into `notifications` (a capability the wallet
  # passed) until `handler` is disconnected or released.
  blocksFrom @6 (height :UInt32, maxBlocks :UInt32)
      -> (blocks :List(Data), rejected :Common.Rejected);
  # Consecutive blocks of the active chain from `height`: at most
  # `maxBlocks`, fewer at the tip or past 4 MiB; empty past the tip. A
  # rescan asks for blocks in batches, one round trip each.
}

interface ChainNotifications {
  # Called in chain order; the node waits for each call to return before
  # making the next, so one subscriber never sees two at once.
  blockConnected @0 (height :UInt32, block :Data) -> ();
  transactionAddedToMempool @1 (tx :Data) -> ();
}
