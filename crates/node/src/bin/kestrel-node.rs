//! `kestrel-node`: the node with its wallet in a `kestrel-wallet` process.

use std::process::ExitCode;

use kestrel_common::options::{COMMON_OPTIONS, LOG_OPTIONS, NODE_IPC_OPTIONS, NODE_OPTIONS};
use kestrel_node::multiprocess::node::SpawnedWallet;
use kestrel_node::startup::node_main;

fn main() -> ExitCode {
    node_main(
        "Usage: kestrel-node [options]\n\nRuns a Kestrel regtest node with its wallet in a kestrel-wallet process (a drop-in for kestreld).",
        &[COMMON_OPTIONS, LOG_OPTIONS, NODE_OPTIONS, NODE_IPC_OPTIONS],
        std::env::args().skip(1),
        Box::new(|args, config| {
            let node = std::env::current_exe()?;
            Ok(Box::new(SpawnedWallet::new(&node, args, config)?))
        }),
    )
}
