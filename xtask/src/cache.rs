//! `cargo xtask cache`: the remote cache's signing keys.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use kestrel_depends::remote::signing;

#[derive(Args)]
pub struct CacheCmd {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Make an Ed25519 key pair for signing published manifests: writes the
    /// secret key (mode 0600, never overwriting) and prints the public key
    /// for the clients' KESTREL_CACHE_TRUSTED_KEYS.
    Keygen {
        /// Where to write the secret key; give it to publishers as
        /// --cache-secret-key / KESTREL_CACHE_SECRET_KEY.
        #[arg(long, default_value = "kestrel-cache.key")]
        out: PathBuf,
    },
}

impl CacheCmd {
    pub fn run(self) -> Result<()> {
        match self.action {
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
        }
    }
}
