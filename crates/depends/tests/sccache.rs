//! sccache on the remote cache's store (a directory, nginx WebDAV, s3s-fs
//! S3): a fixture crate built from checkouts at different paths fills the
//! store and gets hits from it; and the wrapper stays out of depends build
//! ids. The pinned sccache comes from `ci/install-prerequisites.sh`.

#[path = "support/child.rs"]
mod child;
#[path = "support/stores.rs"]
mod stores;
#[path = "support/tree.rs"]
mod tree;

use std::fs;
use std::path::Path;
use std::process::Command;

use child::{in_child, rerun_in_child};
use kestrel_depends::remote::Mode;
use kestrel_depends::sccache::{store_env, Sccache, Server, Stats, VERSION};
use stores::{Kind, Store, ALL};
use tree::Tree;

/// The pinned sccache in the workspace's `target/tools`.
fn sccache() -> Sccache {
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tools");
    Sccache::installed(&tools).unwrap().unwrap_or_else(|| {
        panic!(
            "sccache {VERSION} is not in {}: run ci/install-prerequisites.sh",
            tools.display()
        )
    })
}

/// A copy of the fixture crate in a new directory whose name starts with
/// `prefix` (so two checkouts differ in path and its length).
fn checkout(prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sccache_fixture");
    fs::create_dir(dir.path().join("src")).unwrap();
    for file in ["Cargo.toml", "Cargo.lock", "src/lib.rs"] {
        fs::copy(fixture.join(file), dir.path().join(file)).unwrap();
    }
    dir
}

/// `cargo build` of the checkout into `target_dir`, its own path remapped
/// as the depends cargo config remaps a checkout's.
fn cargo_build(checkout: &Path, target_dir: &str) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--offline", "--target-dir"])
        .arg(checkout.join(target_dir))
        .arg("--config")
        .arg(format!(
            "build.rustflags=[\"--remap-path-prefix={}=.\"]",
            checkout.display()
        ))
        .current_dir(checkout)
        // Not CARGO_TARGET_DIR: rustc inherits it, and sccache hashes
        // every CARGO_* variable, so a path in one misses everything.
        .env_remove("CARGO_TARGET_DIR");
    command
}

fn succeeded(what: &str, out: std::process::Output) {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds the checkout through a server of its own on `store` (a machine
/// of its own), with the wrapper xtask uses, and returns the server's
/// counts.
fn build(store: &Store, mode: Mode, checkout: &Path) -> Stats {
    let server = Server::start(&sccache(), &store.config(mode), checkout).unwrap();
    let wrapper = Path::new(env!("CARGO_BIN_EXE_kestrel-rustc-wrapper"));
    let out = cargo_build(checkout, "target")
        .envs(server.cargo_env(wrapper, checkout))
        .output()
        .unwrap();
    succeeded(&format!("{:?}", store.kind), out);
    server.stop().unwrap()
}

/// The bytes of the one `lib<name>-*.rlib` under `target`.
fn rlib(target: &Path, name: &str) -> Vec<u8> {
    let deps = target.join("debug/deps");
    let found: Vec<_> = fs::read_dir(&deps)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let file = p.file_name().unwrap().to_string_lossy();
            file.starts_with(&format!("lib{name}-")) && file.ends_with(".rlib")
        })
        .collect();
    assert_eq!(found.len(), 1, "{found:?} in {}", deps.display());
    fs::read(&found[0]).unwrap()
}

/// The store's requests that write, so far (None for the directory).
fn writes(store: &Store) -> Option<usize> {
    let log = store.access_log()?;
    Some(
        log.lines()
            .filter(|l| {
                ["PUT", "MKCOL", "DELETE", "MOVE", "COPY"]
                    .iter()
                    .any(|w| l.contains(w))
            })
            .count(),
    )
}

#[test]
fn a_build_fills_the_store_and_a_checkout_elsewhere_hits_its_registry_dependency() {
    for kind in ALL {
        let store = Store::start(kind);
        let first = checkout("first-");
        let cold = build(&store, Mode::ReadWrite, first.path());
        // hex and the fixture: both looked up, both missed, both stored.
        assert_eq!(
            (cold.hits, cold.misses, cold.writes),
            (0, 2, 2),
            "{kind:?}: {cold}"
        );
        assert_eq!(cold.write_errors, 0, "{kind:?}: {cold}");
        assert!(
            !store.objects("sccache").is_empty(),
            "{kind:?}: nothing stored"
        );
        let written = writes(&store);
        if let Some(n) = written {
            assert!(n > 0, "{kind:?}: the server log shows no write");
        }

        // Another machine, another path, read-only: hex hits (the wrapper
        // left the checkout's remap out of its key); the fixture misses,
        // because sccache hashes its absolute directory.
        let second = checkout("a-second-checkout-at-a-longer-path-");
        let warm = build(&store, Mode::ReadOnly, second.path());
        assert_eq!(
            (warm.hits, warm.misses, warm.writes),
            (1, 1, 0),
            "{kind:?}: {warm}"
        );
        // And the hex it got is the one this checkout compiles itself,
        // remap and all.
        succeeded(
            "a build without sccache",
            cargo_build(second.path(), "target-plain").output().unwrap(),
        );
        assert!(
            rlib(&second.path().join("target"), "hex")
                == rlib(&second.path().join("target-plain"), "hex"),
            "{kind:?}: hex from the store differs from hex compiled here"
        );

        // The first path again, its target dir gone: everything hits.
        fs::remove_dir_all(first.path().join("target")).unwrap();
        let same_path = build(&store, Mode::ReadOnly, first.path());
        assert_eq!(
            (same_path.hits, same_path.misses),
            (2, 0),
            "{kind:?}: {same_path}"
        );
        assert_eq!(writes(&store), written, "{kind:?}: read-only sent a write");
    }
}

#[test]
fn the_compiler_wrapper_is_not_part_of_a_depends_build_id() {
    const NAME: &str = "the_compiler_wrapper_is_not_part_of_a_depends_build_id";
    if in_child(NAME) {
        // A tree with one package, planned fresh (no compiler cache), and
        // the C compiler command the cc crate would run.
        let tree = Tree::new();
        tree.add_package("alpha", &[], "--one");
        for package in tree.depends().plan().unwrap() {
            println!("id: {} {}", package.recipe.spec.name, package.build_id);
        }
        let cc = cc::Build::new()
            .cargo_metadata(false)
            .target(tree::HOST)
            .host(tree::HOST)
            .opt_level(0)
            .get_compiler();
        println!("cc runs: {:?}", cc.to_command().get_program());
        return;
    }
    // Without a wrapper, and with RUSTC_WRAPPER=sccache and the store's
    // sccache settings, as `cargo xtask build --sccache` gives cargo.
    let store = Store::start(Kind::Dir);
    let run = |with_wrapper: bool| -> (Vec<String>, String) {
        let mut child = rerun_in_child(NAME, &["env"]);
        child.env_remove("RUSTC_WRAPPER");
        if with_wrapper {
            child
                .env("RUSTC_WRAPPER", sccache().path)
                .envs(store_env(&store.config(Mode::ReadWrite)));
        }
        let out = child.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The harness prints `test <name> ... ` before the first line.
        let lines = |marker: &str| -> Vec<String> {
            stdout
                .lines()
                .filter_map(|l| l.find(marker).map(|at| l[at..].to_owned()))
                .collect()
        };
        (lines("id: "), lines("cc runs: ").concat())
    };
    let (plain_ids, plain_cc) = run(false);
    let (wrapped_ids, wrapped_cc) = run(true);
    assert!(!plain_cc.contains("sccache"), "{plain_cc}");
    // The cc crate does take the wrapper (it would run the compiler
    // through it), yet the build ids stay the same.
    assert!(wrapped_cc.contains("sccache"), "{wrapped_cc}");
    assert_eq!(plain_ids.len(), 1, "{plain_ids:?}");
    assert_eq!(wrapped_ids, plain_ids);
}
