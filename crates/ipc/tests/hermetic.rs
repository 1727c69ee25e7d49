//! The multiprocess build is hermetic: kestrel-ipc's build script runs the
//! Cap'n Proto compiler named by `CAPNP` (the depends one) and never a
//! `capnp` found on `PATH`, and without `CAPNP` it stops with a message that
//! names `cargo xtask depends`.
//!
//! Each test runs a nested `cargo check -p kestrel-ipc` with a decoy
//! `capnp` first on `PATH`. The nested cargo uses its own target dir under
//! `CARGO_TARGET_TMPDIR`: sharing ours would wait on the lock this test run
//! holds. A new `CAPNP` value makes the build script run again, so only the
//! first run compiles dependencies.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temp dir with a decoy `capnp` in `decoy/` that records that it ran
/// and fails loudly.
struct Decoy {
    dir: tempfile::TempDir,
}

impl Decoy {
    fn new() -> Decoy {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("decoy")).unwrap();
        write_script(
            &dir.path().join("decoy/capnp"),
            &format!(
                "echo \"decoy capnp ran: $*\" >> '{}'\necho 'decoy capnp on PATH was run' >&2\nexit 1",
                dir.path().join("decoy-ran").display()
            ),
        );
        Decoy { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn ran(&self) -> bool {
        self.path().join("decoy-ran").exists()
    }

    /// `cargo check -p kestrel-ipc` with the decoy first on PATH and
    /// `CAPNP` as given (`None`: unset).
    fn check_ipc(&self, capnp: Option<&Path>) -> Output {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let path = std::env::join_paths(
            std::iter::once(self.path().join("decoy"))
                .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
        )
        .unwrap();
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.current_dir(&workspace)
            .args(["check", "--package", "kestrel-ipc", "--lib"])
            .env(
                "CARGO_TARGET_DIR",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("hermetic-target"),
            )
            .env("PATH", path)
            .env_remove("CAPNP");
        if let Some(capnp) = capnp {
            cmd.env("CAPNP", capnp);
        }
        cmd.output().unwrap()
    }
}

fn write_script(path: &Path, body: &str) {
    fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// The depends-built compiler this test run was built with (cargo sets
/// `CAPNP` from `depends/<host>/cargo-config.toml`).
fn depends_capnp() -> PathBuf {
    let capnp = std::env::var_os("CAPNP").map(PathBuf::from);
    match capnp {
        Some(path) if path.is_file() => path,
        _ => panic!(
            "CAPNP does not name the depends capnp ({capnp:?}): run `cargo xtask depends`, then \
             `cargo test --config depends/<host>/cargo-config.toml -p kestrel-ipc`"
        ),
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn build_runs_the_capnp_named_by_capnp_and_never_the_one_on_path() {
    let decoy = Decoy::new();
    // A fresh prefix layout (bin/capnp + include/) around the real
    // compiler; the wrapper records that the build ran it.
    let real = depends_capnp();
    let prefix = decoy.path().join("prefix");
    fs::create_dir_all(prefix.join("bin")).unwrap();
    let include = real.parent().unwrap().parent().unwrap().join("include");
    let copied = prefix.join("include/capnp");
    fs::create_dir_all(&copied).unwrap();
    for entry in fs::read_dir(include.join("capnp")).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), copied.join(entry.file_name())).unwrap();
    }
    let wrapper = prefix.join("bin/capnp");
    let ran = decoy.path().join("depends-capnp-ran");
    write_script(
        &wrapper,
        &format!(
            "echo \"$*\" >> '{}'\nexec '{}' \"$@\"",
            ran.display(),
            real.display()
        ),
    );

    let out = decoy.check_ipc(Some(&wrapper));
    assert!(out.status.success(), "build failed:\n{}", stderr(&out));
    assert!(!decoy.ran(), "the build ran the decoy capnp on PATH");
    let calls = fs::read_to_string(&ran).expect("the build did not run CAPNP");
    assert!(calls.contains("compile"), "{calls}");
    assert!(calls.contains("--no-standard-import"), "{calls}");
}

#[test]
fn without_capnp_the_build_fails_naming_cargo_xtask_depends() {
    let decoy = Decoy::new();
    let out = decoy.check_ipc(None);
    let err = stderr(&out);
    assert!(!out.status.success(), "built without CAPNP:\n{err}");
    assert!(
        !decoy.ran(),
        "the build fell back to the decoy capnp on PATH"
    );
    assert!(err.contains("CAPNP is not set"), "{err}");
    assert!(err.contains("cargo xtask depends"), "{err}");
    assert!(!err.contains("decoy capnp"), "{err}");
}
