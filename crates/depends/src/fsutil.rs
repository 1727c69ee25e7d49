//! Small file-system helpers shared by the stages.

use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` to `path` so that readers see the old file or the whole
/// new one, never a part: temp file in the same directory, fsync, rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
