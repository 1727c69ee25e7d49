//! `cargo xtask build`: the workspace's executables against a depends
//! prefix, with the `multiprocess` feature set the way the prefix was built.

use anyhow::{Context, Result};
use clap::Args;
use kestrel_depends::install::Manifest;
use xshell::Shell;

use crate::sccache::{self, SccacheOptions};
use crate::{cargo_with_prefix, workspace_root, BUILD_TRIPLE};

/// Packages that make up the node's executables.
const PRODUCT_PACKAGES: &[&str] = &["kestrel-node", "kestrel-cli"];

/// Cargo arguments selecting the product's executables: the node and cli,
/// and with `multiprocess` the feature and the gui that needs it.
pub fn product_args(multiprocess: bool) -> Vec<&'static str> {
    let mut args = Vec::new();
    for package in PRODUCT_PACKAGES {
        args.extend(["--package", package]);
    }
    if multiprocess {
        args.extend([
            "--features",
            "kestrel-node/multiprocess",
            "--package",
            "kestrel-gui",
        ]);
    }
    args
}

#[derive(Args)]
pub struct BuildCmd {
    /// Host triple whose depends prefix to build against.
    #[arg(long, default_value = BUILD_TRIPLE)]
    pub host: String,
    /// Optimized build (what releases and benchmarks use).
    #[arg(long)]
    pub release: bool,
    #[command(flatten)]
    pub sccache: SccacheOptions,
}

impl BuildCmd {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let prefix = workspace_root().join("depends").join(&self.host);
        let manifest = Manifest::read(&prefix).with_context(|| {
            format!(
                "no depends prefix for {host} at {}: run `cargo xtask depends --host {host}` first",
                prefix.display(),
                host = self.host
            )
        })?;
        let server = self.sccache.start(sh)?;
        cargo_with_prefix(sh, "build", &self.host)
            .args(product_args(manifest.multiprocess))
            .args(self.release.then_some("--release"))
            .run()?;
        sccache::finish(server)
    }
}
