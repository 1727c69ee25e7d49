//! The remote cache's part of a depends run: look a build up before
//! building it, publish it after.

use std::path::Path;

use anyhow::{Context, Result};

use super::layout::{BlobRef, BuildManifest};
use super::{Mode, Published, RemoteStore};
use crate::fetch;
use crate::pipeline::Depends;
use crate::plan::{self, PlannedPackage};

impl Depends {
    /// The remote store if this run has used it (a no-op run has not).
    pub fn remote_used(&self) -> Option<&RemoteStore> {
        self.remote.get().and_then(Option::as_ref)
    }

    /// The remote store, opened on first use.
    pub fn remote(&self) -> Option<&RemoteStore> {
        self.remote
            .get_or_init(|| {
                let config = self.config.remote.clone()?;
                RemoteStore::open(config)
                    .map_err(|e| self.progress.warn(&format!("{e}; building locally")))
                    .ok()
            })
            .as_ref()
    }

    /// Gets `pkg`'s archive from the remote cache into `archive`; false
    /// (after one warning line naming the cause) if it is not to be had.
    pub(crate) fn download_build(&self, pkg: &PlannedPackage, archive: &Path) -> bool {
        let Some(store) = self.remote() else {
            return false;
        };
        let name = pkg.name().as_str();
        self.progress
            .step(name, &format!("look up in {}", store.url()));
        let url = store.url().to_string();
        let mut on_bytes = |done, total| self.progress.bytes(name, &url, done, total);
        match store.fetch_build(
            &self.config.host,
            name,
            &pkg.build_id,
            archive,
            &mut on_bytes,
        ) {
            Ok(manifest) => {
                self.progress.println(&format!(
                    "{name}: downloaded from {} ({} bytes, sha256 {})",
                    store.url(),
                    manifest.archive.size,
                    manifest.archive.sha256
                ));
                true
            }
            Err(miss) => {
                if miss.is_news() {
                    self.progress.warn(&format!(
                        "{name}: remote cache miss: {miss}; building locally"
                    ));
                }
                false
            }
        }
    }

    /// Publishes a fresh build to a read-write remote cache; a store that
    /// fails is warned about, never fails the run.
    pub(crate) fn publish_build(&self, pkg: &PlannedPackage, archive: &Path) -> Result<()> {
        let Some(store) = self.remote().filter(|s| s.mode() == Mode::ReadWrite) else {
            return Ok(());
        };
        let name = pkg.name().as_str();
        let manifest = BuildManifest {
            host: self.config.host.clone(),
            package: name.to_owned(),
            version: pkg.recipe.spec.version.clone(),
            build_id: pkg.build_id.clone(),
            builder_version: plan::BUILDER_VERSION,
            archive: BlobRef {
                sha256: fetch::sha256_file(archive)
                    .with_context(|| format!("hashing {}", archive.display()))?,
                size: std::fs::metadata(archive)
                    .with_context(|| format!("reading {}", archive.display()))?
                    .len(),
            },
            inputs: pkg.inputs.clone(),
        };
        match store.publish_build(&manifest, archive) {
            Ok(Published::Stored) => self
                .progress
                .println(&format!("{name}: published to {}", store.url())),
            Ok(Published::AlreadyThere) => {}
            Ok(Published::NotReproducible { stored, local }) => self.progress.warn(&format!(
                "{name}: not reproducible: {} already holds build {} with archive sha256                  {stored}, this build made {local}; keeping the stored one",
                store.url(),
                pkg.build_id
            )),
            Err(miss) => self.progress.warn(&format!(
                "{name}: not published to {}: {miss}",
                store.url()
            )),
        }
        Ok(())
    }
}
