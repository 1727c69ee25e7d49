//! The rustc wrapper between cargo and sccache under `--sccache`: it keeps
//! a checkout's path out of the compiles that never see it.
//!
//! Why: the depends cargo config remaps the checkout
//! (`--remap-path-prefix=<checkout>=.`) so that binaries built at any path
//! are the same, and sccache 0.19 hashes every rustc argument as it is. So
//! with that flag a registry crate compiled in one checkout never hits from
//! another. For a compile that sees no path below the checkout (its
//! directory, `CARGO_MANIFEST_DIR` and a non-empty `OUT_DIR` are elsewhere:
//! a registry crate whose build script generates no code) the flag matches
//! nothing and changes no byte rustc writes, so the wrapper leaves it out
//! and the key is the same from every checkout. Every other compile keeps
//! it.
//!
//! cargo runs one program as `RUSTC_WRAPPER`, without arguments, so the
//! wrapper's settings come in two variables that [`super::Server::cargo_env`]
//! sets. `cargo xtask` is the wrapper when it runs under [`NAME`] (a
//! symlink, [`install`]); this crate's `kestrel-rustc-wrapper` binary is the
//! same for tests and for sccache runs outside xtask.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The wrapper's program name.
pub const NAME: &str = "kestrel-rustc-wrapper";
/// The sccache the wrapper runs.
pub(super) const SCCACHE_VAR: &str = "KESTREL_SCCACHE";
/// The checkout whose remap the wrapper leaves out where it can.
pub(super) const CHECKOUT_VAR: &str = "KESTREL_SCCACHE_CHECKOUT";
const REMAP: &str = "--remap-path-prefix";

/// rustc's `args` as sccache should get them: without the remap of
/// `checkout` when none of the paths the compile `sees` (its working
/// directory, `CARGO_MANIFEST_DIR`, `OUT_DIR`) is below it, else unchanged.
pub fn checkout_independent_args(
    args: Vec<OsString>,
    checkout: &Path,
    sees: &[PathBuf],
) -> Vec<OsString> {
    // A symlinked checkout: the remap names the path as given, the working
    // directory is the resolved one.
    let resolved = checkout.canonicalize().ok();
    let below_checkout = |path: &PathBuf| {
        path.starts_with(checkout) || resolved.as_ref().is_some_and(|r| path.starts_with(r))
    };
    if sees.iter().any(below_checkout) {
        return args;
    }
    let remaps_checkout = |mapping: &str| {
        mapping
            .rsplit_once('=')
            .is_some_and(|(from, _)| Path::new(from) == checkout)
    };
    let mut kept = Vec::with_capacity(args.len());
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.to_str() {
            // `--remap-path-prefix=FROM=TO`, as the depends cargo config
            // writes it.
            Some(s)
                if s.strip_prefix(REMAP)
                    .and_then(|r| r.strip_prefix('='))
                    .is_some_and(remaps_checkout) => {}
            // `--remap-path-prefix FROM=TO`.
            Some(REMAP) => match args.next() {
                Some(value) if value.to_str().is_some_and(remaps_checkout) => {}
                value => kept.extend([arg].into_iter().chain(value)),
            },
            _ => kept.push(arg),
        }
    }
    kept
}

/// The directories a compile may read files from by path: its working
/// directory, its package's, and `OUT_DIR` when the build script left
/// anything there. Cargo sets `OUT_DIR` for every package with a build
/// script, but one that only prints `cargo:` lines leaves it empty, and
/// nothing can be included from an empty directory.
pub fn seen_paths(
    cwd: Option<PathBuf>,
    manifest_dir: Option<PathBuf>,
    out_dir: Option<PathBuf>,
) -> Vec<PathBuf> {
    let out_dir = out_dir.filter(|dir| {
        // Unreadable: assume it holds something.
        std::fs::read_dir(dir).map_or(true, |mut entries| entries.next().is_some())
    });
    [cwd, manifest_dir, out_dir].into_iter().flatten().collect()
}

/// The wrapper's entry point: `args` are what cargo gives a
/// `RUSTC_WRAPPER` (rustc, then its arguments). Runs sccache in this
/// process's place; returns an exit code only when it cannot.
pub fn main(args: impl IntoIterator<Item = OsString>) -> i32 {
    let mut args = args.into_iter();
    let (Some(sccache), Some(checkout)) = (
        std::env::var_os(SCCACHE_VAR),
        std::env::var_os(CHECKOUT_VAR),
    ) else {
        eprintln!(
            "{NAME}: {SCCACHE_VAR} and {CHECKOUT_VAR} are not set: it is cargo's RUSTC_WRAPPER \
             under `cargo xtask build --sccache` (or set both: the sccache to run, the checkout)"
        );
        return 2;
    };
    let Some(rustc) = args.next() else {
        eprintln!("usage: {NAME} <rustc> [<rustc arguments>...]  (as cargo runs a RUSTC_WRAPPER)");
        return 2;
    };
    let sees = seen_paths(
        std::env::current_dir().ok(),
        std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from),
        std::env::var_os("OUT_DIR").map(PathBuf::from),
    );
    let args = checkout_independent_args(args.collect(), Path::new(&checkout), &sees);
    let error = Command::new(&sccache).arg(rustc).args(args).exec();
    eprintln!(
        "{NAME}: cannot run {}: {error}",
        Path::new(&sccache).display()
    );
    127
}

/// Makes `dir/`[`NAME`] run `program` (a symlink, replaced atomically) and
/// returns its path: for a program that acts as the wrapper when run
/// under that name.
pub fn install(dir: &Path, program: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(NAME);
    let staged = dir.join(format!(".{NAME}.{}", std::process::id()));
    let _ = std::fs::remove_file(&staged);
    std::os::unix::fs::symlink(program, &staged)?;
    std::fs::rename(&staged, &path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    const CHECKOUT: &str = "/work/checkout";
    const COMPILE: &[&str] = &[
        "--crate-name",
        "hex",
        "--remap-path-prefix=/work/checkout=.",
        "--remap-path-prefix=/home/u/.cargo=/cargo",
        "--remap-path-prefix",
        "/work/checkout=.",
        "-Copt-level=3",
    ];

    #[test]
    fn a_compile_outside_the_checkout_loses_only_the_checkout_remap() {
        let registry = [PathBuf::from("/home/u/.cargo/registry/src/x/hex-0.4.3")];
        assert_eq!(
            checkout_independent_args(args(COMPILE), Path::new(CHECKOUT), &registry),
            args(&[
                "--crate-name",
                "hex",
                "--remap-path-prefix=/home/u/.cargo=/cargo",
                "-Copt-level=3",
            ])
        );
    }

    #[test]
    fn a_compile_that_sees_the_checkout_keeps_its_remap() {
        for sees in [
            // A workspace crate: cargo runs rustc in the workspace root.
            vec![PathBuf::from(CHECKOUT)],
            // A registry crate that includes generated code from OUT_DIR.
            vec![
                PathBuf::from("/home/u/.cargo/registry/src/x/serde-1.0.0"),
                PathBuf::from("/work/checkout/target/release/build/serde-1/out"),
            ],
        ] {
            assert_eq!(
                checkout_independent_args(args(COMPILE), Path::new(CHECKOUT), &sees),
                args(COMPILE),
                "{sees:?}"
            );
        }
    }

    #[test]
    fn an_empty_out_dir_is_not_seen() {
        let out_dir = tempfile::tempdir().unwrap();
        let seen = |dir: &Path| seen_paths(None, None, Some(dir.to_owned()));
        assert!(seen(out_dir.path()).is_empty());
        std::fs::write(out_dir.path().join("generated.rs"), "").unwrap();
        assert_eq!(seen(out_dir.path()), vec![out_dir.path().to_owned()]);
    }

    #[test]
    fn another_checkouts_remap_and_a_trailing_flag_are_kept() {
        let list = &[
            "--remap-path-prefix=/work/checkout-2=.",
            "--remap-path-prefix",
        ];
        assert_eq!(
            checkout_independent_args(args(list), Path::new(CHECKOUT), &[]),
            args(list)
        );
    }
}
