//! One node per data directory: an exclusive lock on `<netdir>/.lock`,
//! held for the life of the process (the OS drops it if the process dies).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("Cannot obtain a lock on data directory {0}. Kestrel is probably already running; stop it first or choose another -datadir.")]
    Held(String),
    #[error("Cannot lock data directory {dir}: {source}")]
    Io { dir: String, source: std::io::Error },
}

/// Holds the lock until dropped.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    pub fn acquire(dir: &Path) -> Result<DataDirLock, LockError> {
        let io = |source| LockError::Io {
            dir: dir.display().to_string(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(".lock"))
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(DataDirLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(LockError::Held(dir.display().to_string())),
            Err(TryLockError::Error(e)) => Err(io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_fails_until_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path()).unwrap();
        let err = DataDirLock::acquire(dir.path()).unwrap_err();
        assert!(
            err.to_string().contains("probably already running"),
            "{err}"
        );
        drop(first);
        DataDirLock::acquire(dir.path()).unwrap();
    }
}
