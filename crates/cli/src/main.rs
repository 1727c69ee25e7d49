//! `kestrel-cli`: see the library for what it does.

use std::process::ExitCode;

fn main() -> ExitCode {
    match kestrel_cli::run(std::env::args().skip(1)) {
        Ok(output) => {
            if !output.is_empty() {
                println!("{output}");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
