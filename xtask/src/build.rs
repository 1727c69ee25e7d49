//! `cargo xtask build`: the workspace's executables against a depends
//! prefix, with the `multiprocess` feature set the way the prefix was built.

use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::Args;
use kestrel_depends::install::Manifest;

use crate::{workspace_root, BUILD_TRIPLE};

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
}

impl BuildCmd {
    pub fn run(self) -> Result<()> {
        let status = self.command()?.status().context("running cargo")?;
        if !status.success() {
            bail!("cargo build failed ({status})");
        }
        Ok(())
    }

    /// The cargo invocation for this build.
    pub fn command(&self) -> Result<Command> {
        let root = workspace_root();
        let prefix = root.join("depends").join(&self.host);
        let manifest = Manifest::read(&prefix).with_context(|| {
            format!(
                "no depends prefix for {host} at {}: run `cargo xtask depends --host {host}` first",
                prefix.display(),
                host = self.host
            )
        })?;
        let mut cmd = crate::cmd::cargo(&root);
        cmd.arg("build")
            .arg("--config")
            .arg(prefix.join("cargo-config.toml"));
        cmd.args(product_args(manifest.multiprocess));
        if self.release {
            cmd.arg("--release");
        }
        Ok(cmd)
    }
}
