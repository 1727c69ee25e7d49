//! The functional suite: every scenario here passes against `kestreld` and
//! against `kestrel-node` alike (the split is invisible from outside).
//! `KESTRELD` selects the binary; see the crate docs.

mod chain;
mod lifecycle;
mod restart;
mod rpc;
mod two_nodes;
mod wallet;
