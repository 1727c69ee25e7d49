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
  # Events in chain order, in batches: the node sends the events that
  # queued up while it was busy as one call (mining 100 blocks is a few
  # calls, not 100), and the callee handles a batch's events one by one,
  # in order, before the next batch.
  notify @0 (events :List(ChainEvent)) -> ();
}

struct ChainEvent {
  union {
    blockConnected :group {
      # `block` (serialized) was connected at `height`; it is the new tip.
      height @0 :UInt32;
      block @1 :Data;
    }
    transactionAddedToMempool @2 :Data;
    # A serialized transaction entered the mempool.
  }
}
