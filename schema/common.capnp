@0xb52acc3afe52499d;
# Types shared by every Kestrel interface (kestrel-interfaces' DTOs).

struct Rejected {
  # The far side understood a call and refused it: interfaces::Error::Rejected.
  # Every result that can fail carries one; it is absent (null) on success.
  # A broken connection is not a Rejected: it arrives as a Cap'n Proto
  # disconnect and becomes interfaces::Error::Disconnected.
  code @0 :Int32;     # bitcoind-style JSON-RPC error code
  message @1 :Text;
}

struct Tip {
  height @0 :UInt32;
  hash @1 :Data;      # 32 bytes, internal byte order
}

interface Handler {
  # Keeps a subscription alive. `disconnect` (or releasing the capability,
  # e.g. when the connection drops) unsubscribes.
  disconnect @0 () -> ();
}
