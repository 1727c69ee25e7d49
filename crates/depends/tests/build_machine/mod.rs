//! The depends prefixes `cargo xtask depends` built on this machine, which
//! the ignored tests (run by `cargo xtask test`) check.

use std::path::{Path, PathBuf};

/// `depends/<this machine's triple>`, asserting that `needed` is in it;
/// `flags` are the `cargo xtask depends` flags that build it.
#[allow(dead_code)] // the cross build's tests use `host_prefix` only
pub fn prefix(needed: &str, flags: &str) -> PathBuf {
    let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    host_prefix(&triple, needed, flags)
}

/// `depends/<triple>`, asserting that `needed` is in it.
pub fn host_prefix(triple: &str, needed: &str, flags: &str) -> PathBuf {
    let prefix = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../depends")
        .join(triple);
    assert!(
        prefix.join(needed).is_file(),
        "no {needed} in {}: run `cargo xtask depends --host {triple}{flags}` first",
        prefix.display()
    );
    prefix
}
