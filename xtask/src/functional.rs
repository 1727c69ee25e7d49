//! The two builds of the node that the functional suite runs against, as
//! `cargo xtask test` (once per build) and `cargo xtask bench functional`
//! (timed runs per build) drive them.

use anyhow::Result;
use xshell::{Cmd, Shell};

use crate::{cargo_with_prefix, workspace_root, BUILD_TRIPLE};

/// One build of the node the functional suite runs against.
pub struct Flavor {
    pub name: &'static str,
    features: &'static [&'static str],
    kestreld: &'static str,
    /// Targets of kestrel-functional only this build runs (the
    /// `multiprocess` target fails on purpose against `kestreld`).
    pub own_targets: &'static [&'static str],
}

/// The scenarios every build must pass alike.
pub const SHARED_SUITE: &[&str] = &["--test", "functional"];

pub const FLAVORS: &[Flavor] = &[
    Flavor {
        name: "monolithic",
        features: &[],
        kestreld: "kestreld",
        own_targets: &["--lib"],
    },
    Flavor {
        name: "multiprocess",
        features: &["kestrel-node/multiprocess"],
        kestreld: "kestrel-node",
        own_targets: &["--test", "multiprocess"],
    },
];

impl Flavor {
    /// Builds this flavor's node and `kestrel-cli` (debug, as the suite
    /// runs them).
    pub fn build(&self, sh: &Shell) -> Result<()> {
        let features = self.features.iter().flat_map(|f| ["--features", f]);
        cargo_with_prefix(sh, "build", BUILD_TRIPLE)
            .args(["--package", "kestrel-node", "--package", "kestrel-cli"])
            .args(features)
            .run()?;
        Ok(())
    }

    /// `cargo test -p kestrel-functional <targets>` against this flavor's
    /// binaries (`KESTRELD`, `KESTREL_CLI`).
    pub fn suite<'a>(&self, sh: &'a Shell, targets: &[&str]) -> Cmd<'a> {
        let bin_dir = workspace_root()
            .join("target")
            .join(BUILD_TRIPLE)
            .join("debug");
        cargo_with_prefix(sh, "test", BUILD_TRIPLE)
            .args(["--package", "kestrel-functional"])
            .args(targets)
            .env("KESTRELD", bin_dir.join(self.kestreld))
            .env("KESTREL_CLI", bin_dir.join("kestrel-cli"))
    }
}
