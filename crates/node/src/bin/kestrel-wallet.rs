//! `kestrel-wallet`: the wallet process of the multiprocess node.

use std::process::ExitCode;

fn main() -> ExitCode {
    kestrel_node::multiprocess::wallet::wallet_main(std::env::args().skip(1))
}
