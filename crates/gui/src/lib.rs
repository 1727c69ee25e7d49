//! `kestrel-gui`: a terminal front end of the multiprocess node, as
//! Bitcoin Core's `bitcoin-gui`. It spawns `kestrel-node` over a socketpair
//! (or attaches to one with `-ipcconnect`) and reaches the node only
//! through the `Node` interface and the wallet that hands out.
//!
//! [`app`] is the model and its key handling, [`view`] draws it, [`worker`]
//! runs the model's commands against a `Node`; those three are plain code,
//! tested without a terminal or a node. [`session`] and [`run`] wire them
//! to IPC and the terminal.

pub mod app;
pub mod log_tail;
pub mod options;
pub mod run;
pub mod session;
pub mod view;
pub mod worker;

use std::process::ExitCode;

/// The `main` of `kestrel-gui`: `argv` without the program name.
pub fn gui_main<I: IntoIterator<Item = String>>(argv: I) -> ExitCode {
    let result = match options::GuiOptions::parse(argv) {
        Ok(None) => {
            println!("{}", options::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Some(options)) => run::run(&options),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kestrel-gui: Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
