//! `--sccache` for `cargo xtask build` and `cargo xtask test`: cargo's
//! compiles go through sccache on the remote cache's store
//! (`kestrel_depends::sccache`).

use std::ffi::OsString;
use std::path::Path;

use anyhow::{Context, Result};
use clap::Args;
use kestrel_depends::sccache::{wrapper, Sccache, Server};
use xshell::Shell;

use crate::depends::StoreOptions;
use crate::{cargo_program, workspace_root};

#[derive(Args)]
pub struct SccacheOptions {
    /// Compile through sccache on the remote cache's store (installs the
    /// pinned sccache into target/tools on first use).
    #[arg(long)]
    sccache: bool,
    #[command(flatten)]
    store: StoreOptions,
}

/// The pinned sccache of this checkout, installed on first use.
pub fn ensure_installed() -> Result<Sccache> {
    Ok(Sccache::ensure_installed(
        &workspace_root().join("target/tools"),
        &cargo_program(),
    )?)
}

/// What cargo in `checkout` needs to compile through `server`, with this
/// program as the rustc wrapper between them (see
/// `kestrel_depends::sccache::wrapper`; `main` dispatches on the name).
pub fn cargo_env(server: &Server, checkout: &Path) -> Result<Vec<(String, OsString)>> {
    // Not /proc/self/exe: cargo runs the wrapper, not this process.
    let this_program = std::env::current_exe().context("cannot find this program's path")?;
    let tools = workspace_root().join("target/tools");
    let wrapper = wrapper::install(&tools, &this_program).with_context(|| {
        format!(
            "cannot make {}/{} (the rustc wrapper for --sccache)",
            tools.display(),
            wrapper::NAME
        )
    })?;
    Ok(server.cargo_env(&wrapper, checkout))
}

impl SccacheOptions {
    /// With `--sccache`: a server on the store, and every command `sh`
    /// runs from now on compiling through it.
    pub fn start(&self, sh: &Shell) -> Result<Option<Server>> {
        if !self.sccache {
            return Ok(None);
        }
        let store = self.store.config()?.context(
            "--sccache shares compiles through the remote cache: name it with \
             --remote-cache URL or KESTREL_REMOTE_CACHE (file:///dir for a directory)",
        )?;
        let server = Server::start(&ensure_installed()?, &store, &workspace_root())?;
        for (name, value) in cargo_env(&server, &workspace_root())? {
            sh.set_var(name, value);
        }
        eprintln!("sccache: compiling through {}", store.url);
        Ok(Some(server))
    }
}

/// Stops `server` and prints what it did.
pub fn finish(server: Option<Server>) -> Result<()> {
    if let Some(server) = server {
        println!("sccache: {}", server.stop()?);
    }
    Ok(())
}
