//! `kestreld`: the node with its wallet in-process.

use std::process::ExitCode;

use kestrel_common::options::{COMMON_OPTIONS, LOG_OPTIONS, NODE_OPTIONS};
use kestrel_node::startup::{node_main, InProcessWallet};

fn main() -> ExitCode {
    node_main(
        "Usage: kestreld [options]\n\nRuns a Kestrel regtest node with its wallet in-process.",
        &[COMMON_OPTIONS, LOG_OPTIONS, NODE_OPTIONS],
        std::env::args().skip(1),
        Box::new(|_, config| {
            Ok(Box::new(InProcessWallet::in_net_dir(
                &config.datadir.net_dir(),
            )))
        }),
    )
}
