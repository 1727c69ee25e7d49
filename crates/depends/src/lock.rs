//! One `depends` run at a time per tree: an exclusive lock on
//! `depends/.lock`, released when the process exits (even on kill -9,
//! because the kernel drops the lock with the file descriptor).

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

pub struct TreeLock {
    _file: File,
}

impl TreeLock {
    /// Takes the lock, calling `waiting` once first if another run holds it.
    pub fn acquire(depends_dir: &Path, waiting: impl FnOnce(&Path)) -> io::Result<TreeLock> {
        std::fs::create_dir_all(depends_dir)?;
        let path: PathBuf = depends_dir.join(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                waiting(&path);
                file.lock()?;
            }
            Err(TryLockError::Error(e)) => return Err(e),
        }
        Ok(TreeLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn second_holder_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = TreeLock::acquire(dir.path(), |_| panic!("nobody holds it yet")).unwrap();
        let (tx, rx) = mpsc::channel();
        let path = dir.path().to_owned();
        let waiter = std::thread::spawn(move || {
            let _second = TreeLock::acquire(&path, |_| tx.send("waiting").unwrap()).unwrap();
            "acquired"
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok("waiting"));
        drop(first);
        assert_eq!(waiter.join().unwrap(), "acquired");
    }
}
