//! Gzipped tar archives: a safe unpacker for untrusted source archives and a
//! deterministic packer for built packages.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use atomic_write_file::AtomicWriteFile;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::{Compression, GzBuilder};
use tar::{EntryType, Header, HeaderMode};

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("refusing archive {archive}: entry {entry:?} {why}")]
    Unsafe {
        archive: PathBuf,
        entry: String,
        why: &'static str,
    },
    #[error("corrupt or unreadable archive {archive}: {source} (delete it and run again)")]
    Corrupt { archive: PathBuf, source: io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

/// Unpacks `archive` into `dest`, dropping the first `strip_components`
/// path components of every entry (source tarballs wrap their tree in one
/// directory). Refuses absolute paths, `..`, links that point outside
/// `dest`, and device or fifo entries, before writing anything for them.
pub fn unpack(archive: &Path, dest: &Path, strip_components: usize) -> Result<(), ArchiveError> {
    let corrupt = |source| ArchiveError::Corrupt {
        archive: archive.to_owned(),
        source,
    };
    let file = File::open(archive).map_err(corrupt)?;
    let mut tar = tar::Archive::new(GzDecoder::new(BufReader::new(file)));
    tar.set_preserve_permissions(true);
    // Source trees need their mtimes: autotools rebuilds generated files
    // that look older than their inputs (and needs aclocal to do so).
    tar.set_preserve_mtime(true);
    fs::create_dir_all(dest).map_err(|source| ArchiveError::Write {
        path: dest.to_owned(),
        source,
    })?;
    for entry in tar.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let raw = entry.path().map_err(corrupt)?.into_owned();
        let unsafe_entry = |why| ArchiveError::Unsafe {
            archive: archive.to_owned(),
            entry: raw.display().to_string(),
            why,
        };
        let relative = safe_relative(&raw).ok_or_else(|| unsafe_entry("leaves the tree"))?;
        let kept: PathBuf = relative.components().skip(strip_components).collect();
        let kind = entry.header().entry_type();
        match kind {
            EntryType::Regular | EntryType::Directory | EntryType::GNUSparse => {}
            EntryType::Symlink | EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(corrupt)?
                    .ok_or_else(|| unsafe_entry("is a link without a target"))?;
                // Hard link targets are archive paths; symlink targets are
                // relative to the link's own directory.
                let base = if kind == EntryType::Link {
                    PathBuf::new()
                } else {
                    relative.parent().map(Path::to_owned).unwrap_or_default()
                };
                if target.is_absolute() || safe_relative(&base.join(&target)).is_none() {
                    return Err(unsafe_entry("links outside the tree"));
                }
            }
            // pax/GNU metadata records are consumed by the tar crate itself.
            EntryType::XGlobalHeader | EntryType::XHeader => continue,
            _ => return Err(unsafe_entry("is a device, fifo or unknown entry type")),
        }
        if kept.as_os_str().is_empty() {
            continue;
        }
        let out = dest.join(&kept);
        if let Some(parent) = out.parent() {
            fs::create_dir_all(parent).map_err(|source| ArchiveError::Write {
                path: parent.to_owned(),
                source,
            })?;
        }
        if kind == EntryType::Link {
            // Hard links name the archive path of their target, which moves
            // with --strip-components.
            let target = entry.link_name().map_err(corrupt)?.unwrap_or_default();
            let target: PathBuf = target.components().skip(strip_components).collect();
            fs::hard_link(dest.join(target), &out).map_err(|source| ArchiveError::Write {
                path: out.clone(),
                source,
            })?;
            continue;
        }
        entry.unpack(&out).map_err(corrupt)?;
    }
    Ok(())
}

/// Reads the whole archive without writing anything: a truncated or
/// corrupt cache archive is found before it is relied on.
pub fn verify(archive: &Path) -> Result<(), ArchiveError> {
    let corrupt = |source| ArchiveError::Corrupt {
        archive: archive.to_owned(),
        source,
    };
    let file = File::open(archive).map_err(corrupt)?;
    let mut tar = tar::Archive::new(GzDecoder::new(BufReader::new(file)));
    for entry in tar.entries().map_err(corrupt)? {
        io::copy(&mut entry.map_err(corrupt)?, &mut io::sink()).map_err(corrupt)?;
    }
    Ok(())
}

/// The path as plain relative components, or None if it is absolute or
/// climbs out with `..` at any point.
fn safe_relative(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(c) => out.push(c),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Packs the tree under `root` into `out` so that the same tree always gives
/// the same bytes: entries sorted by path, fixed mtime, uid/gid 0, no user
/// names, modes reduced to 0755/0644, a gzip header without name or time.
/// Writes a temp file beside `out` and renames it into place (synced, and
/// the directory too).
pub fn pack_deterministic(root: &Path, out: &Path) -> Result<(), ArchiveError> {
    let write_err = |source| ArchiveError::Write {
        path: out.to_owned(),
        source,
    };
    let dir = out.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(write_err)?;
    let tmp = AtomicWriteFile::open(out).map_err(write_err)?;
    {
        let gz: GzEncoder<BufWriter<&AtomicWriteFile>> = GzBuilder::new()
            .mtime(0)
            .operating_system(3) // Unix, regardless of the packing machine
            .write(BufWriter::new(&tmp), Compression::default());
        let mut builder = tar::Builder::new(gz);
        builder.mode(HeaderMode::Deterministic);
        builder.follow_symlinks(false);
        for path in sorted_tree(root).map_err(write_err)? {
            let rel = path.strip_prefix(root).expect("walk stays under root");
            append_entry(&mut builder, &path, rel).map_err(write_err)?;
        }
        let gz = builder.into_inner().map_err(write_err)?;
        gz.finish().map_err(write_err)?.flush().map_err(write_err)?;
    }
    tmp.commit().map_err(write_err)
}

fn append_entry<W: Write>(
    builder: &mut tar::Builder<W>,
    path: &Path,
    rel: &Path,
) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    let mut header = Header::new_gnu();
    header.set_metadata_in_mode(&meta, HeaderMode::Deterministic);
    if meta.file_type().is_symlink() {
        header.set_entry_type(EntryType::Symlink);
        header.set_size(0);
        builder.append_link(&mut header, rel, fs::read_link(path)?)
    } else if meta.is_dir() {
        header.set_mode(0o755);
        builder.append_data(&mut header, rel, io::empty())
    } else {
        let executable = meta.permissions().mode() & 0o111 != 0;
        header.set_mode(if executable { 0o755 } else { 0o644 });
        builder.append_data(&mut header, rel, File::open(path)?)
    }
}

/// Every path under `root` (not root itself), depth first, sorted by name.
pub fn sorted_tree(root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let mut children: Vec<PathBuf> = fs::read_dir(&dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<io::Result<_>>()?;
        children.sort();
        // Reverse onto the stack so directories are visited in order.
        for child in children.iter().rev() {
            if fs::symlink_metadata(child)?.is_dir() {
                stack.push(child.clone());
            }
        }
        out.extend(children);
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_gz(entries: &[(&str, EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
        for (path, kind, data, link) in entries {
            let mut h = Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            // Write the raw name so unsafe paths reach the archive unchecked.
            h.as_gnu_mut().unwrap().name[..path.len()].copy_from_slice(path.as_bytes());
            if let Some(link) = link {
                h.set_link_name(link).unwrap();
            }
            h.set_cksum();
            builder.append(&h, *data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    fn write_archive(dir: &Path, bytes: &[u8]) -> PathBuf {
        let p = dir.join("a.tar.gz");
        fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn unpacks_and_strips_the_top_directory() {
        let t = tempfile::tempdir().unwrap();
        let a = write_archive(
            t.path(),
            &tar_gz(&[
                ("pkg-1.0/", EntryType::Directory, b"", None),
                ("pkg-1.0/src/a.c", EntryType::Regular, b"int a;", None),
                ("pkg-1.0/link", EntryType::Symlink, b"", Some("src/a.c")),
            ]),
        );
        let dest = t.path().join("out");
        unpack(&a, &dest, 1).unwrap();
        assert_eq!(fs::read(dest.join("src/a.c")).unwrap(), b"int a;");
        assert_eq!(fs::read(dest.join("link")).unwrap(), b"int a;");
    }

    #[test]
    fn refuses_parent_dir_entries_before_writing_them() {
        let t = tempfile::tempdir().unwrap();
        let a = write_archive(
            t.path(),
            &tar_gz(&[("pkg/../../evil", EntryType::Regular, b"x", None)]),
        );
        let err = unpack(&a, &t.path().join("out"), 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("pkg/../../evil"), "{err}");
        assert!(err.contains("leaves the tree"), "{err}");
        assert!(!t.path().join("evil").exists());
    }

    #[test]
    fn refuses_absolute_paths_and_escaping_links() {
        let t = tempfile::tempdir().unwrap();
        for entries in [
            vec![("/etc/evil", EntryType::Regular, &b"x"[..], None)],
            vec![("pkg/l", EntryType::Symlink, &b""[..], Some("/etc/passwd"))],
            vec![("pkg/l", EntryType::Symlink, &b""[..], Some("../../x"))],
            vec![("pkg/h", EntryType::Link, &b""[..], Some("../x"))],
        ] {
            let a = write_archive(t.path(), &tar_gz(&entries));
            let err = unpack(&a, &t.path().join("out"), 1).unwrap_err();
            assert!(matches!(err, ArchiveError::Unsafe { .. }), "{err}");
        }
    }

    #[test]
    fn corrupt_archive_is_a_clear_error() {
        let t = tempfile::tempdir().unwrap();
        let mut bytes = tar_gz(&[("pkg/a", EntryType::Regular, &[7u8; 4096], None)]);
        bytes.truncate(bytes.len() / 2);
        let a = write_archive(t.path(), &bytes);
        let err = unpack(&a, &t.path().join("out"), 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("corrupt"), "{err}");
    }

    #[test]
    fn packing_is_deterministic_and_round_trips() {
        let t = tempfile::tempdir().unwrap();
        let make_tree = |root: &Path, mode: u32| {
            fs::create_dir_all(root.join("bin")).unwrap();
            fs::write(root.join("bin/tool"), b"#!/bin/sh\n").unwrap();
            fs::set_permissions(root.join("bin/tool"), fs::Permissions::from_mode(mode)).unwrap();
            fs::write(root.join("data"), b"data").unwrap();
        };
        let (a, b) = (t.path().join("a"), t.path().join("longer/path/b"));
        make_tree(&a, 0o700);
        std::thread::sleep(std::time::Duration::from_millis(10));
        make_tree(&b, 0o755);
        pack_deterministic(&a, &t.path().join("a.tar.gz")).unwrap();
        pack_deterministic(&b, &t.path().join("b.tar.gz")).unwrap();
        let bytes_a = fs::read(t.path().join("a.tar.gz")).unwrap();
        assert_eq!(bytes_a, fs::read(t.path().join("b.tar.gz")).unwrap());

        let out = t.path().join("out");
        unpack(&t.path().join("a.tar.gz"), &out, 0).unwrap();
        assert_eq!(fs::read(out.join("data")).unwrap(), b"data");
        let mode = fs::metadata(out.join("bin/tool"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }
}
