//! Comparing two builds for reproducibility: two depends manifests, two
//! directory trees (built archives, release binaries), and the
//! `SHA256SUMS` file a release publishes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::path::Path;

use crate::install::{hash_tree, FileRecord, Manifest};
use crate::toolchain_files::{CARGO_FILE, CMAKE_FILE};

/// Files of a depends prefix that name the checkout's absolute path by
/// design (they point later builds at *this* checkout), so they differ
/// between two checkouts and are left out of the comparison.
pub const PATH_BEARING_FILES: &[&str] = &[CMAKE_FILE, CARGO_FILE];

/// One file that is not the same in both builds. `None` on a side means the
/// file is missing there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub path: String,
    pub left: Option<FileRecord>,
    pub right: Option<FileRecord>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |r: &Option<FileRecord>| match r {
            Some(r) => format!("{} ({} bytes)", r.sha256, r.size),
            None => "missing".to_owned(),
        };
        write!(
            f,
            "{}\n  first:  {}\n  second: {}",
            self.path,
            side(&self.left),
            side(&self.right)
        )
    }
}

/// Every path whose record differs between `left` and `right`, or that only
/// one side has, in path order; paths in `excluded` are skipped.
pub fn compare_files(
    left: &BTreeMap<String, FileRecord>,
    right: &BTreeMap<String, FileRecord>,
    excluded: &[&str],
) -> Vec<Difference> {
    let paths: BTreeSet<&String> = left.keys().chain(right.keys()).collect();
    paths
        .into_iter()
        .filter(|path| !excluded.contains(&path.as_str()))
        .filter_map(|path| {
            let (l, r) = (left.get(path), right.get(path));
            (l != r).then(|| Difference {
                path: path.clone(),
                left: l.cloned(),
                right: r.cloned(),
            })
        })
        .collect()
}

/// Differences between the files of two depends manifests, leaving out
/// [`PATH_BEARING_FILES`]. Build ids need no check here: they name the
/// archives in `depends/built/<host>/`, which [`compare_trees`] compares.
pub fn compare_manifests(left: &Manifest, right: &Manifest) -> Vec<Difference> {
    compare_files(&left.files, &right.files, PATH_BEARING_FILES)
}

/// Hashes every regular file under both roots and compares them.
pub fn compare_trees(left: &Path, right: &Path) -> io::Result<Vec<Difference>> {
    Ok(compare_files(&hash_tree(left)?, &hash_tree(right)?, &[]))
}

/// The files in `sha256sum` format (`<hex>  <path>`), path order, so that
/// `sha256sum -c` checks them and two releases compare with `diff`.
pub fn sha256sums(files: &BTreeMap<String, FileRecord>) -> String {
    files
        .iter()
        .map(|(path, record)| format!("{}  {path}\n", record.sha256))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::InstalledPackage;
    use std::fs;
    use std::process::Command;

    fn record(sha: &str, size: u64) -> FileRecord {
        FileRecord {
            sha256: sha.to_owned(),
            size,
        }
    }

    fn files(entries: &[(&str, &str)]) -> BTreeMap<String, FileRecord> {
        entries
            .iter()
            .map(|(p, sha)| (p.to_string(), record(sha, 1)))
            .collect()
    }

    #[test]
    fn identical_sets_have_no_differences() {
        let a = files(&[("bin/capnp", "aa"), ("include/c++.capnp", "bb")]);
        assert_eq!(compare_files(&a, &a.clone(), &[]), vec![]);
    }

    #[test]
    fn a_changed_file_is_reported_with_both_hashes() {
        let a = files(&[("bin/capnp", "aa"), ("bin/capnpc-c++", "cc")]);
        let b = files(&[("bin/capnp", "ab"), ("bin/capnpc-c++", "cc")]);
        let diffs = compare_files(&a, &b, &[]);
        assert_eq!(
            diffs,
            vec![Difference {
                path: "bin/capnp".into(),
                left: Some(record("aa", 1)),
                right: Some(record("ab", 1)),
            }]
        );
        let shown = diffs[0].to_string();
        assert!(shown.contains("bin/capnp") && shown.contains("aa") && shown.contains("ab"));
    }

    #[test]
    fn a_file_on_one_side_only_is_reported_missing() {
        let a = files(&[("x", "11"), ("only-left", "22")]);
        let b = files(&[("x", "11"), ("only-right", "33")]);
        let diffs = compare_files(&a, &b, &[]);
        assert_eq!(diffs.len(), 2);
        assert_eq!(diffs[0].path, "only-left");
        assert_eq!(diffs[0].right, None);
        assert_eq!(diffs[1].path, "only-right");
        assert_eq!(diffs[1].left, None);
        assert!(diffs[1].to_string().contains("first:  missing"));
    }

    #[test]
    fn same_hash_different_size_is_a_difference() {
        let mut a = files(&[("x", "11")]);
        let b = a.clone();
        a.get_mut("x").unwrap().size = 2;
        assert_eq!(compare_files(&a, &b, &[]).len(), 1);
    }

    fn manifest(files: BTreeMap<String, FileRecord>) -> Manifest {
        Manifest {
            host: "x86_64-unknown-linux-gnu".into(),
            multiprocess: true,
            packages: vec![InstalledPackage {
                name: "native_capnp".into(),
                version: "1.1.0".into(),
                build_id: "id".into(),
            }],
            files,
        }
    }

    #[test]
    fn manifests_ignore_only_the_path_bearing_toolchain_files() {
        let a = manifest(files(&[
            ("toolchain.cmake", "1"),
            ("cargo-config.toml", "2"),
            ("native/bin/capnp", "3"),
        ]));
        let mut b = a.clone();
        b.files.insert("toolchain.cmake".into(), record("9", 1));
        b.files.insert("cargo-config.toml".into(), record("8", 1));
        assert_eq!(compare_manifests(&a, &b), vec![]);
        b.files.insert("native/bin/capnp".into(), record("7", 1));
        let diffs = compare_manifests(&a, &b);
        assert_eq!(diffs.len(), 1);
        assert_eq!(diffs[0].path, "native/bin/capnp");
    }

    #[test]
    fn trees_compare_by_content_not_by_location() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for root in [a.path(), b.path()] {
            fs::create_dir_all(root.join("multiprocess")).unwrap();
            fs::write(root.join("multiprocess/kestrel-node"), b"same").unwrap();
        }
        assert_eq!(compare_trees(a.path(), b.path()).unwrap(), vec![]);
        fs::write(b.path().join("multiprocess/kestrel-node"), b"other").unwrap();
        let diffs = compare_trees(a.path(), b.path()).unwrap();
        assert_eq!(diffs.len(), 1);
        assert_eq!(diffs[0].path, "multiprocess/kestrel-node");
        assert_eq!(diffs[0].right.as_ref().unwrap().size, 5);
    }

    #[test]
    fn sha256sums_is_checked_by_sha256sum() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("monolithic")).unwrap();
        fs::write(dir.path().join("monolithic/kestreld"), b"node").unwrap();
        fs::write(dir.path().join("kestrel-cli"), b"cli").unwrap();
        let sums = sha256sums(&hash_tree(dir.path()).unwrap());
        fs::write(dir.path().join("SHA256SUMS"), &sums).unwrap();
        let check = |expect_ok: bool| {
            let out = Command::new("sha256sum")
                .args(["--check", "--strict", "SHA256SUMS"])
                .current_dir(dir.path())
                .output()
                .unwrap();
            assert_eq!(
                out.status.success(),
                expect_ok,
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        check(true);
        fs::write(dir.path().join("monolithic/kestreld"), b"tampered").unwrap();
        check(false);
    }
}
