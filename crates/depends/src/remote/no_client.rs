//! What stands in for the store client in a build without the
//! `store-client` feature (what `cargo xtask` runs unless a remote cache is
//! used): the same API, and no store is ever opened. A run that needs the
//! store stops first with [`super::ClientMissing`] (`Depends::run`), so
//! nothing here is reached but [`RemoteStore::open`].

use std::convert::Infallible;
use std::path::Path;

use super::inventory::{Checked, HostInventory};
use super::layout::BuildManifest;
use super::{Miss, Mode, Published, RemoteConfig, Stats, StoreUrl};

/// Never made: [`RemoteStore::open`] always fails here.
#[derive(Debug)]
pub struct RemoteStore {
    never: Infallible,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{0}")]
    NoClient(super::ClientMissing),
}

impl RemoteStore {
    pub fn open(_config: RemoteConfig) -> Result<RemoteStore, OpenError> {
        Err(OpenError::NoClient(super::ClientMissing))
    }

    pub fn url(&self) -> &StoreUrl {
        match self.never {}
    }

    pub fn mode(&self) -> Mode {
        match self.never {}
    }

    pub fn stats(&self) -> Stats {
        match self.never {}
    }

    pub fn fetch_build(
        &self,
        _host: &str,
        _package: &str,
        _build_id: &str,
        _dest: &Path,
        _on_bytes: &mut dyn FnMut(u64, Option<u64>),
    ) -> Result<BuildManifest, Miss> {
        match self.never {}
    }

    pub fn fetch_source(
        &self,
        _sha256: &str,
        _dest: &Path,
        _on_bytes: &mut dyn FnMut(u64, Option<u64>),
    ) -> Result<(), Miss> {
        match self.never {}
    }

    pub fn publish_build(
        &self,
        _manifest: &BuildManifest,
        _archive: &Path,
    ) -> Result<Published, Miss> {
        match self.never {}
    }

    pub fn publish_blob(&self, _sha256: &str, _path: &Path) -> Result<(), Miss> {
        match self.never {}
    }

    pub fn manifests(&self, _host: &str) -> Result<Vec<String>, Miss> {
        match self.never {}
    }

    pub fn verify_host(&self, _host: &str) -> Result<Vec<Checked>, Miss> {
        match self.never {}
    }

    pub fn inventory(&self, _host: &str) -> Result<HostInventory, Miss> {
        match self.never {}
    }
}
