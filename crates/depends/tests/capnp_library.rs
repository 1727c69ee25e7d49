//! The host `capnp` library (the C++ IPC set) that `cargo xtask depends
//! --cxx-ipc` built for this machine with the depends cmake: its `.pc` files
//! resolve through the prefix's `cargo-config.toml` settings alone (a system
//! `.pc` stays invisible), and a C++ program built with those flags links
//! against kj, capnp and capnp-rpc and runs. Ignored in a plain `cargo
//! test`; `cargo xtask test` builds the set and runs these with `--ignored`.

mod build_machine;
mod cxx_probe;
mod pkg_config;

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use cxx_probe::text;
use pkg_config::pkg_config;

fn prefix() -> PathBuf {
    build_machine::prefix("lib/pkgconfig/capnp.pc", " --cxx-ipc")
}

#[test]
#[ignore = "needs the depends prefix with CXX_IPC; run by `cargo xtask test`"]
fn pc_files_resolve_to_the_prefix_and_system_ones_stay_invisible() {
    let prefix = prefix();
    let canonical_prefix = fs::canonicalize(&prefix).unwrap();
    for flag in text(&pkg_config(
        Some(&prefix),
        &["--cflags", "--libs", "capnp-rpc"],
    ))
    .split_whitespace()
    {
        if let Some(dir) = flag.strip_prefix("-I").or(flag.strip_prefix("-L")) {
            let dir = fs::canonicalize(dir).unwrap_or_else(|e| panic!("{flag}: {e}"));
            assert!(
                dir.starts_with(&canonical_prefix),
                "{flag} is outside the prefix"
            );
        }
    }
    // zlib1g-dev's zlib.pc (installed by ci/install-prerequisites.sh) is
    // there for the system, not for the prefix's settings.
    assert!(pkg_config(None, &["--exists", "zlib"]).status.success());
    assert!(!pkg_config(Some(&prefix), &["--exists", "zlib"])
        .status
        .success());
}

#[test]
#[ignore = "needs the depends prefix with CXX_IPC; run by `cargo xtask test`"]
fn a_cpp_program_links_kj_capnp_and_capnp_rpc() {
    let dir = tempfile::tempdir().unwrap();
    let exe = cxx_probe::build("c++", &prefix(), dir.path());
    let run = text(&Command::new(&exe).output().unwrap());
    assert!(run.starts_with(cxx_probe::OUTPUT_START), "{run}");
}
