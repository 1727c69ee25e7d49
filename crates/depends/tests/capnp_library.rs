//! The host `capnp` library (the C++ IPC set) that `cargo xtask depends
//! --cxx-ipc` built for this machine with the depends cmake: its `.pc` files
//! resolve through the prefix's `cargo-config.toml` settings alone (a system
//! `.pc` stays invisible), and a C++ program built with those flags links
//! against kj, capnp and capnp-rpc and runs. Ignored in a plain `cargo
//! test`; `cargo xtask test` builds the set and runs these with `--ignored`.

mod build_machine;
mod pkg_config;

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

use pkg_config::pkg_config;

fn prefix() -> PathBuf {
    build_machine::prefix("lib/pkgconfig/capnp.pc", " --cxx-ipc")
}

fn text(out: &Output) -> String {
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout.clone()).unwrap()
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
    let prefix = prefix();
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("probe.c++");
    fs::write(
        &source,
        "#include <capnp/message.h>\n\
         #include <capnp/schema.capnp.h>\n\
         #include <capnp/rpc-twoparty.h>\n\
         #include <kj/async-io.h>\n\
         #include <kj/debug.h>\n\
         #include <iostream>\n\
         int main() {\n\
           auto io = kj::setupAsyncIo();\n\
           capnp::MallocMessageBuilder message;\n\
           auto node = message.initRoot<capnp::schema::Node>();\n\
           node.setDisplayName(\"probe\");\n\
           auto pipe = io.provider->newTwoWayPipe();\n\
           capnp::TwoPartyVatNetwork network(*pipe.ends[0], capnp::rpc::twoparty::Side::CLIENT);\n\
           std::cout << node.getDisplayName().cStr() << ' ' << message.sizeInWords() << std::endl;\n\
           return 0;\n\
         }\n",
    )
    .unwrap();
    let flags = text(&pkg_config(
        Some(&prefix),
        &["--cflags", "--libs", "--static", "capnp-rpc"],
    ));
    let exe = dir.path().join("probe");
    let out = Command::new("c++")
        .arg("-std=c++20")
        .arg(&source)
        .arg("-o")
        .arg(&exe)
        .args(flags.split_whitespace())
        .arg("-pthread")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "compiling against the prefix failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = text(&Command::new(&exe).output().unwrap());
    assert!(run.starts_with("probe "), "{run}");
}
