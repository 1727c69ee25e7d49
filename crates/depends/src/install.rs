//! Puts built packages into `depends/<host>/` and records what is there.
//!
//! The new tree is assembled beside the old one and swapped in by rename,
//! so a failed or interrupted install leaves the previous prefix usable.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::archive::{self, ArchiveError};

pub const MANIFEST_FILE: &str = "manifest.json";

/// `depends/<host>/manifest.json`: what the prefix was built from and the
/// SHA-256 of every file in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub host: String,
    pub multiprocess: bool,
    pub packages: Vec<InstalledPackage>,
    /// Relative path -> file record, for every file except the manifest.
    pub files: BTreeMap<String, FileRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledPackage {
    pub name: String,
    pub version: String,
    pub build_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("installing into {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

impl Manifest {
    pub fn read(prefix: &Path) -> Option<Manifest> {
        let bytes = fs::read(prefix.join(MANIFEST_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// True when every recorded file is still there with its recorded size:
    /// the no-op check, which stats and does not hash.
    pub fn files_present(&self, prefix: &Path) -> bool {
        self.files.iter().all(|(rel, rec)| {
            fs::metadata(prefix.join(rel)).is_ok_and(|m| m.is_file() && m.len() == rec.size)
        })
    }
}

/// Builds the prefix from `archives` (in dependency order) and `extra_files`
/// (name, contents), writes the manifest, and swaps it in at `prefix`.
pub fn install(
    prefix: &Path,
    archives: &[PathBuf],
    extra_files: &[(&str, String)],
    host: &str,
    multiprocess: bool,
    packages: Vec<InstalledPackage>,
) -> Result<Manifest, InstallError> {
    let parent = prefix.parent().expect("prefix has a parent");
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| InstallError::Io { path, source }
    };
    fs::create_dir_all(parent).map_err(io_err(parent))?;
    let staging = tempfile::Builder::new()
        .prefix(".install-")
        .tempdir_in(parent)
        .map_err(io_err(parent))?;
    for archive_path in archives {
        archive::unpack(archive_path, staging.path(), 0)?;
    }
    for (name, contents) in extra_files {
        let path = staging.path().join(name);
        fs::write(&path, contents).map_err(io_err(&path))?;
    }
    let manifest = Manifest {
        host: host.to_owned(),
        multiprocess,
        packages,
        files: hash_tree(staging.path()).map_err(io_err(staging.path()))?,
    };
    let json = serde_json::to_vec_pretty(&manifest).expect("plain data serializes");
    let manifest_path = staging.path().join(MANIFEST_FILE);
    fs::write(&manifest_path, json).map_err(io_err(&manifest_path))?;

    // Swap: old prefix aside, new one in, old one removed.
    let staging = staging.keep();
    let old = parent.join(format!(
        ".old-{}",
        prefix.file_name().unwrap_or_default().to_string_lossy()
    ));
    if old.exists() {
        fs::remove_dir_all(&old).map_err(io_err(&old))?;
    }
    if prefix.exists() {
        fs::rename(prefix, &old).map_err(io_err(prefix))?;
    }
    fs::rename(&staging, prefix).map_err(io_err(prefix))?;
    if old.exists() {
        fs::remove_dir_all(&old).map_err(io_err(&old))?;
    }
    Ok(manifest)
}

/// SHA-256 and size of every regular file under `root`, by relative path.
pub fn hash_tree(root: &Path) -> io::Result<BTreeMap<String, FileRecord>> {
    let mut files = BTreeMap::new();
    for path in archive::sorted_tree(root)? {
        let meta = fs::symlink_metadata(&path)?;
        if !meta.is_file() {
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .expect("walk stays under root")
            .to_string_lossy()
            .into_owned();
        if rel == MANIFEST_FILE {
            continue;
        }
        files.insert(
            rel,
            FileRecord {
                sha256: crate::fetch::sha256_file(&path)?,
                size: meta.len(),
            },
        );
    }
    Ok(files)
}
