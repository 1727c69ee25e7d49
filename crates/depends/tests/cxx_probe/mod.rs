//! A small C++ program that uses kj, capnp and capnp-rpc, built against a
//! depends prefix's host `capnp` with the flags its `.pc` files give (read
//! as a `-sys` crate would, see `pkg_config`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::pkg_config::pkg_config;

const SOURCE: &str = "#include <capnp/message.h>\n\
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
    }\n";

/// What a successful probe run prints first.
pub const OUTPUT_START: &str = "probe ";

pub fn text(out: &Output) -> String {
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Compiles the probe with `cxx` against `prefix` into `dir/probe`.
pub fn build(cxx: &str, prefix: &Path, dir: &Path) -> PathBuf {
    let source = dir.join("probe.c++");
    fs::write(&source, SOURCE).unwrap();
    let flags = text(&pkg_config(
        Some(prefix),
        &["--cflags", "--libs", "--static", "capnp-rpc"],
    ));
    let exe = dir.join("probe");
    let out = Command::new(cxx)
        .arg("-std=c++20")
        .arg(&source)
        .arg("-o")
        .arg(&exe)
        .args(flags.split_whitespace())
        .arg("-pthread")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cxx}: {e}"));
    assert!(
        out.status.success(),
        "compiling against {} failed:\n{}",
        prefix.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}
