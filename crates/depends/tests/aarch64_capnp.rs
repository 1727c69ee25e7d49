//! The real cross build: `cargo xtask depends --host
//! aarch64-unknown-linux-gnu --cxx-ipc` builds the host `capnp` library
//! with Debian's aarch64 cross compilers (reusing the build machine's
//! native tools), and a C++ program linked against it runs under
//! `qemu-aarch64`. `ci/install-prerequisites.sh` installs the compilers and
//! qemu; `cargo xtask test` builds the prefix and runs these with
//! `--ignored`. (Rust's aarch64 standard library is not installable here,
//! so the Rust half of a cross build is documented in depends/README.md,
//! not run.)

mod build_machine;
mod cxx_probe;
mod pkg_config;

use std::path::{Path, PathBuf};
use std::process::Command;

use cxx_probe::text;

const HOST: &str = "aarch64-unknown-linux-gnu";

fn prefix() -> PathBuf {
    build_machine::host_prefix(HOST, "lib/pkgconfig/capnp.pc", " --cxx-ipc")
}

/// The `Machine:` of every ELF header `readelf -h` finds in `path` (one per
/// member of a static library).
fn machines(path: &Path) -> Vec<String> {
    let out = text(
        &Command::new("readelf")
            .arg("-h")
            .arg(path)
            .output()
            .unwrap(),
    );
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("Machine:"))
        .map(|m| m.trim().to_owned())
        .collect()
}

#[test]
#[ignore = "needs the aarch64 depends prefix with CXX_IPC; run by `cargo xtask test`"]
fn the_libraries_are_aarch64_and_the_native_tools_the_build_machines() {
    let prefix = prefix();
    for lib in ["libkj.a", "libkj-async.a", "libcapnp.a", "libcapnp-rpc.a"] {
        let found = machines(&prefix.join("lib").join(lib));
        assert!(!found.is_empty(), "{lib}: no object in it");
        assert!(found.iter().all(|m| m == "AArch64"), "{lib}: {found:?}");
    }
    // Native tools run here: the machine of this test binary.
    let build_machine = machines(&std::env::current_exe().unwrap());
    for tool in ["native/bin/capnp", "native/bin/cmake"] {
        assert_eq!(machines(&prefix.join(tool)), build_machine, "{tool}");
    }
}

#[test]
#[ignore = "needs the aarch64 depends prefix with CXX_IPC; run by `cargo xtask test`"]
fn a_cpp_program_linked_against_it_runs_under_qemu() {
    let dir = tempfile::tempdir().unwrap();
    let exe = cxx_probe::build("aarch64-linux-gnu-g++", &prefix(), dir.path());
    assert_eq!(machines(&exe), ["AArch64"]);
    let out = Command::new("qemu-aarch64")
        .args(["-L", "/usr/aarch64-linux-gnu"])
        .arg(&exe)
        .output()
        .expect("qemu-aarch64 (ci/install-prerequisites.sh installs qemu-user)");
    let run = text(&out);
    assert!(run.starts_with(cxx_probe::OUTPUT_START), "{run}");
}
