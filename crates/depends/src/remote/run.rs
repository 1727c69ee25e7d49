//! The remote cache's part of a depends run: look a build up before
//! building it, publish it after.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::layout::{BlobRef, BuildManifest};
use super::{ClientMissing, Mode, Published, RemoteStore, HAS_CLIENT};
use crate::fetch;
use crate::pipeline::Depends;
use crate::plan::{self, PlannedPackage};

impl Depends {
    /// Where the tree's remote cache totals are kept.
    pub fn remote_stats_file(&self) -> PathBuf {
        self.config
            .depends_dir()
            .join("work/remote-cache-stats.json")
    }

    /// Adds this run's remote cache counts to the tree's totals (a file
    /// that cannot be written loses statistics only).
    pub(crate) fn record_remote_stats(&self) {
        if let Some(store) = self.remote_used() {
            let path = self.remote_stats_file();
            if let Err(e) = store.stats().add_to(&path) {
                self.progress.warn(&format!(
                    "cannot record remote cache statistics in {}: {e}",
                    path.display()
                ));
            }
        }
    }

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
            self.config.triple_of(pkg),
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
        if let Some(store) = self.remote().filter(|s| s.mode() == Mode::ReadWrite) {
            self.publish_to(store, pkg, archive)?;
        }
        Ok(())
    }

    /// Publishes one built archive; false if the store did not take it
    /// (warned about).
    fn publish_to(
        &self,
        store: &RemoteStore,
        pkg: &PlannedPackage,
        archive: &Path,
    ) -> Result<bool> {
        let name = pkg.name().as_str();
        let manifest = BuildManifest {
            host: self.config.triple_of(pkg).to_owned(),
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
        let url = store.url();
        match store.publish_build(&manifest, archive) {
            Ok(Published::Stored) => self
                .progress
                .println(&format!("{name}: published to {url}")),
            Ok(Published::AlreadyThere) => {}
            Ok(Published::NotReproducible { stored, local }) => self.progress.warn(&format!(
                "{name}: not reproducible: {url} already holds build {} with archive sha256 \
                 {stored}, this build made {local}; keeping the stored one",
                pkg.build_id
            )),
            Err(miss) => {
                self.progress
                    .warn(&format!("{name}: not published to {url}: {miss}"));
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// `cargo xtask cache push`: publishes every package of the set that is
    /// built locally, and its source; returns the packages the store holds
    /// now and those it did not take or that are not built here.
    pub fn push(&self) -> Result<(Vec<String>, Vec<String>)> {
        let _lock = self.lock()?;
        let store = self.store_for("push", Mode::ReadWrite)?;
        let (mut pushed, mut left) = (Vec::new(), Vec::new());
        for pkg in self.plan()? {
            let archive = self.config.archive_path(&pkg);
            let source = self
                .config
                .sources_dir
                .join(&pkg.recipe.spec.source.file_name);
            if source.is_file() {
                if let Err(miss) =
                    store.publish_blob(pkg.recipe.spec.source.sha256.as_str(), &source)
                {
                    self.progress
                        .warn(&format!("{}: source not published: {miss}", pkg.name()));
                }
            }
            let taken = archive.is_file() && self.publish_to(store, &pkg, &archive)?;
            if taken { &mut pushed } else { &mut left }.push(pkg.name().to_string());
        }
        self.record_remote_stats();
        Ok((pushed, left))
    }

    /// `cargo xtask cache pull`: downloads every archive of the set the
    /// local cache lacks, building nothing; returns the packages now here
    /// and those the store did not have.
    pub fn pull(&self) -> Result<(Vec<String>, Vec<String>)> {
        let _lock = self.lock()?;
        self.store_for("pull", Mode::ReadOnly)?;
        let (mut here, mut missing) = (Vec::new(), Vec::new());
        for pkg in self.plan()? {
            let archive = self.config.archive_path(&pkg);
            let got = archive.is_file() || self.download_build(&pkg, &archive);
            if got { &mut here } else { &mut missing }.push(pkg.name().to_string());
        }
        self.record_remote_stats();
        Ok((here, missing))
    }

    /// Stops a run that may need the store when this build has no store
    /// client ([`ClientMissing`]: xtask then runs the build that has one),
    /// before it has done anything.
    pub(crate) fn require_client(&self) -> Result<(), ClientMissing> {
        if self.config.remote.is_some() && !HAS_CLIENT {
            return Err(ClientMissing);
        }
        Ok(())
    }

    /// The configured store, for a command that needs one (at least `mode`).
    pub fn store_for(&self, command: &str, mode: Mode) -> Result<&RemoteStore> {
        self.require_client()?;
        let store = self.remote().with_context(|| {
            format!("cache {command} needs a remote cache: give --remote-cache URL or set KESTREL_REMOTE_CACHE")
        })?;
        if mode == Mode::ReadWrite && store.mode() != Mode::ReadWrite {
            anyhow::bail!(
                "cache {command} writes to {}: add --remote-cache-mode read-write \
                 (or KESTREL_REMOTE_CACHE_RW_MODE=READ_WRITE)",
                store.url()
            );
        }
        Ok(store)
    }
}
