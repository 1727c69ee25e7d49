//! The depends prefix `cargo xtask depends` built for this machine, which
//! the ignored tests (run by `cargo xtask test`) check.

use std::path::{Path, PathBuf};

/// `depends/<this machine's triple>`, asserting that `needed` is in it;
/// `flags` are the `cargo xtask depends` flags that build it.
pub fn prefix(needed: &str, flags: &str) -> PathBuf {
    let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let prefix = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../depends")
        .join(&triple);
    assert!(
        prefix.join(needed).is_file(),
        "no {needed} in {}: run `cargo xtask depends --host {triple}{flags}` first",
        prefix.display()
    );
    prefix
}
