//! The temp file a download streams into, beside its final name.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// A download's temp file: unnamed (O_TMPFILE) where the file system has
/// them, else a named temp file that is deleted when dropped.
pub enum PartFile {
    Unnamed(File),
    Named(tempfile::NamedTempFile),
}

impl PartFile {
    pub fn create(dir: &Path) -> io::Result<PartFile> {
        use rustix::fs::{Mode, OFlags};
        let flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC;
        match rustix::fs::open(dir, flags, Mode::from_raw_mode(0o644)) {
            Ok(fd) => Ok(PartFile::Unnamed(File::from(fd))),
            Err(_) => tempfile::Builder::new()
                .prefix(".remote-part-")
                .tempfile_in(dir)
                .map(PartFile::Named),
        }
    }

    pub fn file(&mut self) -> &mut File {
        match self {
            PartFile::Unnamed(file) => file,
            PartFile::Named(temp) => temp.as_file_mut(),
        }
    }

    /// Syncs the file and gives it the name `dest` (replacing what is there).
    pub fn persist(mut self, dest: &Path) -> io::Result<()> {
        self.file().sync_all()?;
        let dir = dest.parent().unwrap_or(Path::new("."));
        match self {
            PartFile::Named(temp) => {
                temp.persist(dest).map_err(|e| e.error)?;
            }
            PartFile::Unnamed(file) => {
                // linkat cannot replace a name: link under a unique temp
                // name, then rename that over `dest`.
                let name =
                    tempfile::Builder::new()
                        .prefix(".remote-link-")
                        .make_in(dir, |path| {
                            rustix::fs::linkat(
                                rustix::fs::CWD,
                                format!("/proc/self/fd/{}", file.as_raw_fd()),
                                rustix::fs::CWD,
                                path,
                                rustix::fs::AtFlags::SYMLINK_FOLLOW,
                            )
                            .map_err(io::Error::from)
                        })?;
                name.into_temp_path().persist(dest).map_err(|e| e.error)?;
            }
        }
        File::open(dir)?.sync_all()
    }
}
