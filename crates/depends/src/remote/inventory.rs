//! What a store holds for a host: its manifests, checked blob by blob
//! (`cargo xtask cache verify`) or counted (`cargo xtask cache stats`).

use super::layout::BuildManifest;
use super::Miss;
#[cfg(feature = "store-client")]
use super::{layout, RemoteStore};

/// One manifest of a host and how its check went.
#[derive(Debug)]
pub struct Checked {
    pub manifest: String,
    pub result: Result<BuildManifest, Miss>,
}

/// What the store holds for a host.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HostInventory {
    pub manifests: u64,
    pub signed: u64,
    /// The archive bytes the manifests name.
    pub archive_bytes: u64,
}

#[cfg(feature = "store-client")]
impl RemoteStore {
    /// Every manifest path stored for `host`.
    pub fn manifests(&self, host: &str) -> Result<Vec<String>, Miss> {
        let dir = format!("{}/{host}/", layout::LAYOUT_VERSION);
        let entries = match self.call(&dir, self.op.list_with(&dir).recursive(true)) {
            Err(Miss::NotFound(_)) => Vec::new(),
            other => other?,
        };
        let mut paths: Vec<String> = entries
            .iter()
            .map(|e| e.path().to_owned())
            .filter(|p| p.ends_with(".json"))
            .collect();
        paths.sort();
        Ok(paths)
    }

    /// Reads every manifest of `host` and downloads and re-hashes the blob
    /// it names (into a temp dir, then dropped).
    pub fn verify_host(&self, host: &str) -> Result<Vec<Checked>, Miss> {
        let scratch = tempfile::tempdir().map_err(|error| Miss::Local {
            dir: std::env::temp_dir(),
            error,
        })?;
        let mut out = Vec::new();
        for path in self.manifests(host)? {
            let result = self.read_manifest(&path).and_then(|manifest| {
                let dest = scratch.path().join(&manifest.archive.sha256);
                self.download_blob(
                    &manifest.archive,
                    Some(manifest.archive.size),
                    &dest,
                    &mut |_, _| {},
                )?;
                std::fs::remove_file(&dest).map_err(|error| Miss::Local {
                    dir: scratch.path().to_owned(),
                    error,
                })?;
                Ok(manifest)
            });
            out.push(Checked {
                manifest: path,
                result,
            });
        }
        Ok(out)
    }

    /// Counts what the store holds for `host`.
    pub fn inventory(&self, host: &str) -> Result<HostInventory, Miss> {
        let mut inventory = HostInventory::default();
        for path in self.manifests(host)? {
            let manifest = self.read_manifest(&path)?;
            inventory.manifests += 1;
            inventory.archive_bytes += manifest.archive.size;
            if self.exists(&layout::signature_path(&path))? {
                inventory.signed += 1;
            }
        }
        Ok(inventory)
    }

    pub(super) fn read_manifest(&self, path: &str) -> Result<BuildManifest, Miss> {
        serde_json::from_slice(&self.read_small(path)?).map_err(|e| Miss::BadManifest {
            path: path.to_owned(),
            why: e.to_string(),
        })
    }
}
