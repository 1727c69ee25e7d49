//! Append-only block file.
//!
//! `blocks.dat` holds every block after genesis in height order, one record
//! each: magic `KBLK`, payload length (u32 LE), the first 4 bytes of the
//! payload's double SHA-256, then the serialized block. Appends are fsynced
//! before the caller reports success. On open, the first record that is
//! incomplete, fails its checksum, does not decode, or does not connect ends
//! the chain: everything from there on is copied to a side file
//! (`blocks.dat.discarded-<offset>`, so nothing is lost) and the block file
//! is truncated, with a warning. That is how a write torn by a crash or
//! `kill -9` heals.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use atomic_write_file::AtomicWriteFile;

use crate::hash::sha256d;
use crate::primitives::{Block, MAX_BLOCK_SIZE};

const MAGIC: [u8; 4] = *b"KBLK";
const RECORD_HEADER_SIZE: usize = 12;
pub(crate) const BLOCK_FILE: &str = "blocks.dat";

/// Failure to open or write the chain's files.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{0} is in use by another process (is another node running on this datadir?)")]
    Locked(PathBuf),
}

fn io_error<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// A block read back from the file and where its record starts.
pub(crate) struct StoredBlock {
    pub offset: u64,
    pub block: Block,
}

pub(crate) struct BlockStore {
    file: File,
    path: PathBuf,
    len: u64,
}

impl BlockStore {
    /// Opens (creating if needed) and locks the block file in `dir`, and
    /// reads every well-formed record; a bad tail is discarded.
    pub(crate) fn open(dir: &Path) -> Result<(BlockStore, Vec<StoredBlock>), StoreError> {
        fs::create_dir_all(dir).map_err(io_error("creating directory", dir))?;
        let path = dir.join(BLOCK_FILE);
        let created = !path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_error("opening", &path))?;
        if file.try_lock().is_err() {
            return Err(StoreError::Locked(path));
        }
        if created {
            sync_dir(dir)?;
        }
        let mut data = Vec::new();
        file.read_to_end(&mut data)
            .map_err(io_error("reading", &path))?;

        let mut blocks = Vec::new();
        let mut offset = 0usize;
        let mut bad_tail = None;
        while offset < data.len() {
            match parse_record(&data[offset..]) {
                Ok((block, record_len)) => {
                    blocks.push(StoredBlock {
                        offset: offset as u64,
                        block,
                    });
                    offset += record_len;
                }
                Err(reason) => {
                    bad_tail = Some(reason);
                    break;
                }
            }
        }
        let mut store = BlockStore {
            file,
            path,
            len: data.len() as u64,
        };
        if let Some(reason) = bad_tail {
            store.discard_from(offset as u64, &reason)?;
        }
        Ok((store, blocks))
    }

    /// Moves the bytes from `offset` to the end into a side file and
    /// truncates the block file there.
    pub(crate) fn discard_from(&mut self, offset: u64, reason: &str) -> Result<(), StoreError> {
        let mut tail = Vec::new();
        self.file
            .seek(SeekFrom::Start(offset))
            .and_then(|_| self.file.read_to_end(&mut tail))
            .map_err(io_error("reading", &self.path))?;
        let side = self
            .path
            .with_file_name(format!("{BLOCK_FILE}.discarded-{offset}"));
        write_file_atomically(&side, &tail)?;
        self.truncate(offset)?;
        tracing::warn!(
            "block file {}: {reason} at offset {offset}; discarded the last {} bytes (saved in {}) and continuing from the blocks before it",
            self.path.display(),
            tail.len(),
            side.display()
        );
        Ok(())
    }

    /// Appends one record per block and fsyncs once.
    pub(crate) fn append(&mut self, blocks: &[Block]) -> Result<(), StoreError> {
        let mut data = Vec::new();
        for block in blocks {
            let payload = block.serialize();
            data.extend_from_slice(&MAGIC);
            data.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            data.extend_from_slice(&sha256d(&payload)[..4]);
            data.extend_from_slice(&payload);
        }
        let result = self
            .file
            .seek(SeekFrom::Start(self.len))
            .and_then(|_| self.file.write_all(&data))
            .and_then(|_| self.file.sync_data());
        match result {
            Ok(()) => {
                self.len += data.len() as u64;
                Ok(())
            }
            Err(source) => {
                // Best effort: drop the partial write now; if this fails
                // too, the checksum catches it on the next open.
                let _ = self.truncate(self.len);
                Err(StoreError::Io {
                    action: "appending to",
                    path: self.path.clone(),
                    source,
                })
            }
        }
    }

    fn truncate(&mut self, len: u64) -> Result<(), StoreError> {
        self.file
            .set_len(len)
            .and_then(|_| self.file.sync_all())
            .map_err(io_error("truncating", &self.path))?;
        self.len = len;
        Ok(())
    }
}

/// One record at the start of `data`: the block and the record's length,
/// or why it is unusable.
fn parse_record(data: &[u8]) -> Result<(Block, usize), String> {
    if data.len() < RECORD_HEADER_SIZE {
        return Err(format!(
            "incomplete record header ({} of {RECORD_HEADER_SIZE} bytes)",
            data.len()
        ));
    }
    if data[..4] != MAGIC {
        return Err("bad record magic".to_string());
    }
    let len = u32::from_le_bytes([data[4], data[5], data[6], data[7]]) as usize;
    if len > MAX_BLOCK_SIZE {
        return Err(format!("record length {len} exceeds the block size limit"));
    }
    let Some(payload) = data.get(RECORD_HEADER_SIZE..RECORD_HEADER_SIZE + len) else {
        return Err(format!(
            "incomplete record ({} of {len} payload bytes)",
            data.len() - RECORD_HEADER_SIZE
        ));
    };
    if sha256d(payload)[..4] != data[8..12] {
        return Err("record checksum mismatch".to_string());
    }
    let block = Block::deserialize(payload).map_err(|e| format!("undecodable block: {e}"))?;
    Ok((block, RECORD_HEADER_SIZE + len))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("syncing directory", dir))
}

/// Writes `data` to `path` via a temporary file, fsync, rename and an
/// fsync of the directory.
fn write_file_atomically(path: &Path, data: &[u8]) -> Result<(), StoreError> {
    let mut file = AtomicWriteFile::open(path).map_err(io_error("creating", path))?;
    file.write_all(data).map_err(io_error("writing", path))?;
    file.commit().map_err(io_error("replacing", path))
}
