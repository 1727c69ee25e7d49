//! `cargo xtask build`: the workspace's executables against a depends
//! prefix, with the `multiprocess` feature set the way the prefix was built.

use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::Args;
use kestrel_depends::install::Manifest;

use crate::{workspace_root, BUILD_TRIPLE};

/// Packages that make up the node's executables.
pub const PRODUCT_PACKAGES: &[&str] = &["kestrel-node", "kestrel-cli"];

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
        for package in PRODUCT_PACKAGES {
            cmd.args(["--package", package]);
        }
        if manifest.multiprocess {
            cmd.args(["--features", "kestrel-node/multiprocess"]);
            cmd.args(["--package", "kestrel-gui"]);
        }
        if self.release {
            cmd.arg("--release");
        }
        Ok(cmd)
    }
}
