//! `kestrel-gui`: the terminal front end of the multiprocess node.

use std::process::ExitCode;

fn main() -> ExitCode {
    kestrel_gui::gui_main(std::env::args().skip(1))
}
