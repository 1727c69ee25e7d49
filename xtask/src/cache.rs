//! `cargo xtask cache`: the remote cache by hand: push, pull, verify,
//! stats, its signing keys, and the sccache that shares compiles through
//! it.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use kestrel_depends::progress::Progress;
use kestrel_depends::remote::{signing, Mode, Stats};
use kestrel_depends::Depends;

use crate::depends::DependsOptions;

#[derive(Args)]
pub struct CacheCmd {
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    options: DependsOptions,
}

#[derive(Subcommand)]
enum Action {
    /// Publish every package of the host's set that is built locally (and
    /// its source) to the remote cache (needs read-write mode).
    Push,
    /// Download every archive of the host's set the local cache lacks,
    /// building nothing (`cargo xtask depends` then installs them).
    Pull,
    /// Download and re-hash every archive the store holds for the host;
    /// lists the bad ones and fails if there are any.
    Verify,
    /// What the store holds for the host: manifests, signed ones, bytes.
    Stats,
    /// Make an Ed25519 key pair for signing published manifests: writes the
    /// secret key (mode 0600, never overwriting) and prints the public key
    /// for the clients' KESTREL_CACHE_TRUSTED_KEYS.
    Keygen {
        /// Where to write the secret key; give it to publishers as
        /// --cache-secret-key / KESTREL_CACHE_SECRET_KEY.
        #[arg(long, default_value = "kestrel-cache.key")]
        out: PathBuf,
    },
    /// Install the pinned sccache that `--sccache` uses into target/tools
    /// (what the first `--sccache` run does otherwise); prints its path.
    InstallSccache,
}

impl CacheCmd {
    pub fn run(self) -> Result<()> {
        let depends = || Depends::load(self.options.config()?, Progress::for_stderr());
        let host = &self.options.host;
        match self.action {
            Action::Push => {
                let (pushed, left) = depends()?.push()?;
                println!(
                    "in the store: [{}]; not pushed: [{}]",
                    pushed.join(", "),
                    left.join(", ")
                );
                Ok(())
            }
            Action::Pull => {
                let (here, missing) = depends()?.pull()?;
                println!(
                    "here: [{}]; not in the store: [{}]",
                    here.join(", "),
                    missing.join(", ")
                );
                Ok(())
            }
            Action::Verify => {
                let depends = depends()?;
                let store = depends.store_for("verify", Mode::ReadOnly)?;
                let checked = store.verify_host(host)?;
                let bad: Vec<_> = checked.iter().filter(|c| c.result.is_err()).collect();
                for c in &bad {
                    println!("BAD {}: {}", c.manifest, c.result.as_ref().unwrap_err());
                }
                println!(
                    "{}: {} manifests checked, {} bad",
                    store.url(),
                    checked.len(),
                    bad.len()
                );
                anyhow::ensure!(
                    bad.is_empty(),
                    "{} bad entries in {}",
                    bad.len(),
                    store.url()
                );
                Ok(())
            }
            Action::Stats => {
                let depends = depends()?;
                let store = depends.store_for("stats", Mode::ReadOnly)?;
                let inventory = store.inventory(host)?;
                let runs = Stats::read(&depends.remote_stats_file());
                println!(
                    "this tree's runs: {} hits, {} misses, {} bytes down, {} bytes up",
                    runs.hits, runs.misses, runs.bytes_down, runs.bytes_up
                );
                println!(
                    "{} for {host}: {} builds ({} signed), {} archive bytes",
                    store.url(),
                    inventory.manifests,
                    inventory.signed,
                    inventory.archive_bytes
                );
                Ok(())
            }
            Action::Keygen { out } => {
                let key = signing::generate()?;
                // Private from the first byte.
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&out)
                    .with_context(|| {
                        format!("creating {} (remove it first to replace it)", out.display())
                    })?;
                file.write_all(signing::secret_key_text(&key).as_bytes())
                    .and_then(|()| file.sync_all())
                    .with_context(|| format!("writing {}", out.display()))?;
                eprintln!("secret key written to {}", out.display());
                println!("{}", signing::public_key_text(&key.verifying_key()));
                Ok(())
            }
            Action::InstallSccache => {
                println!("{}", crate::sccache::ensure_installed()?.path.display());
                Ok(())
            }
        }
    }
}
