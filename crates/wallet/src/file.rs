//! The wallet file: its keys, as JSON, always replaced atomically.
//!
//! Coins and transactions are not stored: they are rebuilt from the chain
//! on load, so the file only has to hold what cannot be recomputed.
//!
//! The file holds private keys, so it is readable by its owner only (0600),
//! like bitcoind's wallet files under its default umask.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use atomic_write_file::unix::OpenOptionsExt as _;
use atomic_write_file::AtomicWriteFile;
use kestrel_chain::PrivateKey;
use serde::{Deserialize, Serialize};

/// Bumped on an incompatible change of the file layout.
const FORMAT_VERSION: u32 = 1;

/// Owner read/write only: the file holds private keys.
const FILE_MODE: u32 = 0o600;

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{action} wallet file {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("wallet file {path} is not valid ({reason}); restore it from a backup or move it away to start an empty wallet")]
    Invalid { path: PathBuf, reason: String },
    #[error(
        "wallet file {0} is in use by another process (is another wallet running on this datadir?)"
    )]
    Locked(PathBuf),
}

/// One key of the wallet, in creation order.
pub(crate) struct StoredKey {
    pub key: PrivateKey,
    /// Created for change rather than handed out by `get_new_address`.
    pub change: bool,
}

#[derive(Serialize, Deserialize)]
struct FileContents {
    format: u32,
    keys: Vec<KeyEntry>,
}

#[derive(Serialize, Deserialize)]
struct KeyEntry {
    /// Hex of the 32-byte secret.
    secret: String,
    change: bool,
}

/// The open wallet file, locked against a second wallet process.
pub(crate) struct WalletFile {
    path: PathBuf,
    _lock: File,
}

impl WalletFile {
    /// Opens and locks the file at `path` and reads its keys, creating an
    /// empty wallet (and its directory) if it does not exist.
    pub(crate) fn open(path: &Path) -> Result<(WalletFile, Vec<StoredKey>), FileError> {
        let io_err = |action, path: &Path| {
            let path = path.to_path_buf();
            move |source| FileError::Io {
                action,
                path,
                source,
            }
        };
        let dir = parent_dir(path);
        fs::create_dir_all(dir).map_err(io_err("creating the directory of", path))?;
        let lock_path = path.with_extension("lock");
        let lock = File::create(&lock_path).map_err(io_err("creating the lock of", path))?;
        if lock.try_lock().is_err() {
            return Err(FileError::Locked(path.to_path_buf()));
        }
        let file = WalletFile {
            path: path.to_path_buf(),
            _lock: lock,
        };
        if !path.exists() {
            file.save(&[])?;
            return Ok((file, Vec::new()));
        }
        // Files written before the mode was enforced were world-readable.
        fs::set_permissions(path, fs::Permissions::from_mode(FILE_MODE))
            .map_err(io_err("restricting to its owner (mode 0600) the", path))?;
        let text = fs::read_to_string(path).map_err(io_err("reading", path))?;
        let invalid = |reason: String| FileError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let contents: FileContents =
            serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        if contents.format != FORMAT_VERSION {
            return Err(invalid(format!(
                "format {} is not the supported format {FORMAT_VERSION}",
                contents.format
            )));
        }
        let keys = contents
            .keys
            .into_iter()
            .enumerate()
            .map(|(index, entry)| {
                PrivateKey::from_hex(&entry.secret)
                    .map(|key| StoredKey {
                        key,
                        change: entry.change,
                    })
                    .map_err(|e| invalid(format!("key {index}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok((file, keys))
    }

    /// Replaces the file with `keys`: temp file (mode 0600 from the start),
    /// fsync, rename, fsync of the directory.
    pub(crate) fn save(&self, keys: &[StoredKey]) -> Result<(), FileError> {
        let contents = FileContents {
            format: FORMAT_VERSION,
            keys: keys
                .iter()
                .map(|k| KeyEntry {
                    secret: k.key.to_hex(),
                    change: k.change,
                })
                .collect(),
        };
        let json = serde_json::to_vec_pretty(&contents).expect("wallet contents serialize");
        let io_err = |action| {
            move |source| FileError::Io {
                action,
                path: self.path.clone(),
                source,
            }
        };
        // A fresh temp file each time: nothing of an old one (a crash's
        // leftover) passes on, and the old file's mode is not copied.
        let mut file = AtomicWriteFile::options()
            .mode(FILE_MODE)
            .preserve_mode(false)
            .open(&self.path)
            .map_err(io_err("creating a temporary copy of"))?;
        file.write_all(&json)
            .map_err(io_err("writing a temporary copy of"))?;
        file.commit().map_err(io_err("replacing"))
    }
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn one_key() -> Vec<StoredKey> {
        vec![StoredKey {
            key: PrivateKey::generate().unwrap(),
            change: false,
        }]
    }

    #[test]
    fn new_and_saved_wallet_files_are_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wallet.json");
        let (file, _) = WalletFile::open(&path).unwrap();
        assert_eq!(mode(&path), FILE_MODE);
        file.save(&one_key()).unwrap();
        assert_eq!(mode(&path), FILE_MODE);
    }

    #[test]
    fn world_readable_files_are_tightened_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wallet.json");
        drop(WalletFile::open(&path).unwrap());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let (_file, keys) = WalletFile::open(&path).unwrap();
        assert!(keys.is_empty());
        assert_eq!(mode(&path), FILE_MODE);
    }

    #[test]
    fn a_stale_world_readable_temp_file_does_not_pass_on_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wallet.json");
        let (file, _) = WalletFile::open(&path).unwrap();
        let tmp = path.with_extension("json.tmp");
        fs::write(&tmp, b"left by a crash").unwrap();
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644)).unwrap();
        file.save(&one_key()).unwrap();
        assert_eq!(mode(&path), FILE_MODE);
        drop(file);
        let (_, keys) = WalletFile::open(&path).unwrap();
        assert_eq!(keys.len(), 1);
    }
}
