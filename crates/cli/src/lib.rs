//! kestrel-cli's logic: turning the command line into a JSON-RPC call and
//! the reply into bitcoin-cli's output.
