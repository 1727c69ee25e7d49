//! The remote cache against real stores (a directory, nginx WebDAV, s3s-fs
//! S3): whole `depends` runs over small packages built on the spot, with
//! the store's objects corrupted, cut, raced, signed, or unreachable.

#[path = "support/child.rs"]
mod child;
#[path = "support/stores.rs"]
mod stores;
#[path = "support/tree.rs"]
mod tree;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use child::{in_child, rerun_in_child};
use kestrel_depends::host::{IdentifiedCompilers, Output};
use kestrel_depends::pipeline::RunReport;
use kestrel_depends::progress::Progress;
use kestrel_depends::remote::layout::{self, BuildManifest};
use kestrel_depends::remote::{signing, Mode, RemoteConfig, StoreUrl};
use kestrel_depends::{Config, Depends};
use stores::{Kind, Store, ALL};
use tree::{Tree, HOST};

/// A checkout with package `alpha`; every checkout made by this is the
/// same build (same recipe, source, toolchain files, compilers).
fn checkout() -> Tree {
    let tree = Tree::new();
    tree.add_package("alpha", &[], "--one");
    tree
}

fn with_remote(tree: &Tree, remote: RemoteConfig) -> Config {
    let mut config = tree.config();
    config.remote = Some(remote);
    config
}

/// Runs depends with `config`, returning the result and every log line.
fn run_logged(config: Config) -> (anyhow::Result<RunReport>, String) {
    logged(|progress| Depends::load(config, progress)?.run())
}

/// Runs `f` with a progress that records its lines, and returns them.
fn logged<T>(f: impl FnOnce(Progress) -> T) -> (T, String) {
    let (progress, recording) = Progress::recording();
    let out = f(progress);
    (out, recording.text())
}

fn warnings(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains("WARN")).collect()
}

/// Whether the run's log shows `package` being configured or made.
fn built_in(log: &str, package: &str) -> bool {
    log.contains(&format!("{package}: configure")) || log.contains(&format!("{package}: make"))
}

fn manifests(store: &Store) -> Vec<String> {
    store.objects(&format!("v1/{HOST}/alpha"))
}

/// The manifest `alpha`'s publisher wrote.
fn alpha_manifest(store: &Store) -> (String, BuildManifest) {
    let keys: Vec<String> = manifests(store)
        .into_iter()
        .filter(|k| k.ends_with(".json"))
        .collect();
    assert_eq!(keys.len(), 1, "{:?}: {keys:?}", store.kind);
    let bytes = fs::read(store.object_file(&keys[0])).unwrap();
    (keys[0].clone(), serde_json::from_slice(&bytes).unwrap())
}

/// A first checkout builds `alpha` and publishes it.
fn publish_alpha(store: &Store) -> Tree {
    let tree = checkout();
    let (report, log) = run_logged(with_remote(&tree, store.config(Mode::ReadWrite)));
    assert_eq!(report.unwrap().built, ["alpha"], "{:?}: {log}", store.kind);
    assert!(built_in(&log, "alpha"), "{log}");
    assert!(log.contains("alpha: published to"), "{log}");
    tree
}

/// A store of `kind` that `alpha` was published to, and the file holding
/// alpha's archive blob.
fn store_with_alpha(kind: Kind) -> (Store, PathBuf) {
    let store = Store::start(kind);
    publish_alpha(&store);
    let (_, manifest) = alpha_manifest(&store);
    let blob = store.object_file(&layout::blob_path(&manifest.archive.sha256));
    (store, blob)
}

#[test]
fn cold_miss_publishes_and_a_second_checkout_hits_without_building() {
    for kind in ALL {
        let store = Store::start(kind);
        publish_alpha(&store);
        let (key, manifest) = alpha_manifest(&store);
        assert!(key.ends_with(&format!("{}.json", manifest.build_id)));
        assert_eq!(manifest.package, "alpha");
        assert!(manifest.inputs["recipe"]
            .as_str()
            .unwrap()
            .contains("--one"));
        let blob = store.object_file(&layout::blob_path(&manifest.archive.sha256));
        assert_eq!(fs::metadata(&blob).unwrap().len(), manifest.archive.size);

        let second = checkout();
        let (report, log) = run_logged(with_remote(&second, store.config(Mode::ReadOnly)));
        let report = report.unwrap();
        assert_eq!(report.downloaded, ["alpha"], "{kind:?}: {log}");
        assert!(report.built.is_empty(), "{kind:?}: {log}");
        assert!(
            !built_in(&log, "alpha"),
            "{kind:?}: configure/make ran: {log}"
        );
        let out = Command::new(second.prefix().join("native/bin/alpha"))
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"hi\n");
    }
}

#[test]
fn a_flipped_byte_is_a_miss_and_overwrites_nothing() {
    for kind in ALL {
        let (store, blob) = store_with_alpha(kind);
        let mut bytes = fs::read(&blob).unwrap();
        bytes[100] ^= 1;
        fs::write(&blob, &bytes).unwrap();

        let second = checkout();
        let (report, log) = run_logged(with_remote(&second, store.config(Mode::ReadWrite)));
        assert_eq!(report.unwrap().built, ["alpha"], "{kind:?}: {log}");
        let warns = warnings(&log);
        assert_eq!(warns.len(), 1, "{kind:?}: {log}");
        assert!(
            warns[0].contains("sha256") && warns[0].contains("miss"),
            "{log}"
        );
        // The corrupt blob stays as it was (blobs are never replaced), and
        // the checkout holds only what it built itself.
        assert_eq!(fs::read(&blob).unwrap(), bytes);
        let built: Vec<_> = fs::read_dir(second.root().join("depends/built").join(HOST))
            .unwrap()
            .collect();
        assert_eq!(built.len(), 1);
    }
}

#[test]
fn a_truncated_blob_and_a_missing_blob_are_misses() {
    for kind in ALL {
        let (store, blob) = store_with_alpha(kind);
        let bytes = fs::read(&blob).unwrap();
        fs::write(&blob, &bytes[..bytes.len() / 2]).unwrap();
        let second = checkout();
        let (report, log) = run_logged(with_remote(&second, store.config(Mode::ReadOnly)));
        assert_eq!(report.unwrap().built, ["alpha"], "{kind:?}: {log}");
        assert!(log.contains("bytes, expected"), "{kind:?}: {log}");

        fs::remove_file(&blob).unwrap();
        let third = checkout();
        let (report, log) = run_logged(with_remote(&third, store.config(Mode::ReadOnly)));
        assert_eq!(report.unwrap().built, ["alpha"], "{kind:?}: {log}");
        assert!(log.contains("is not in the store"), "{kind:?}: {log}");
        assert_eq!(warnings(&log).len(), 1, "{kind:?}: {log}");
    }
}

#[test]
fn two_publishers_at_once_both_succeed_and_one_manifest_remains() {
    for kind in ALL {
        let store = Store::start(kind);
        let (a, b) = (checkout(), checkout());
        let reports: Vec<_> = std::thread::scope(|s| {
            [&a, &b]
                .map(|tree| {
                    let config = with_remote(tree, store.config(Mode::ReadWrite));
                    s.spawn(move || run_logged(config))
                })
                .map(|h| h.join().unwrap())
                .into_iter()
                .collect()
        });
        for (report, log) in reports {
            assert_eq!(report.unwrap().built, ["alpha"], "{kind:?}: {log}");
        }
        alpha_manifest(&store);
    }
}

#[test]
fn same_build_id_with_other_bytes_warns_not_reproducible_and_keeps_the_stored() {
    for kind in ALL {
        let store = Store::start(kind);
        publish_alpha(&store);
        let (key, mut manifest) = alpha_manifest(&store);
        let ours = manifest.archive.sha256.clone();
        // Another machine made other bytes for the same build id (its blob
        // is not there, so this checkout builds and then publishes).
        manifest.archive.sha256 = "f".repeat(64);
        let stored = manifest.to_bytes();
        fs::write(store.object_file(&key), &stored).unwrap();

        let second = checkout();
        let (report, log) = run_logged(with_remote(&second, store.config(Mode::ReadWrite)));
        assert_eq!(report.unwrap().built, ["alpha"], "{kind:?}: {log}");
        let line = log
            .lines()
            .find(|l| l.contains("not reproducible"))
            .unwrap_or_else(|| panic!("{kind:?}: {log}"));
        assert!(
            line.contains(&"f".repeat(64)) && line.contains(&ours),
            "{line}"
        );
        assert_eq!(fs::read(store.object_file(&key)).unwrap(), stored);
    }
}

#[test]
fn read_only_mode_sends_no_write() {
    for kind in ALL {
        let store = Store::start(kind);
        let tree = checkout();
        let (report, log) = run_logged(with_remote(&tree, store.config(Mode::ReadOnly)));
        assert_eq!(report.unwrap().built, ["alpha"], "{kind:?}: {log}");
        assert!(store.objects("v1").is_empty(), "{kind:?}");
        let writes = ["PUT", "MKCOL", "DELETE", "MOVE", "COPY", "POST"];
        if let Some(requests) = store.access_log() {
            assert!(!requests.is_empty(), "{kind:?}: the store was not asked");
            for write in writes {
                assert!(
                    !requests.contains(write),
                    "{kind:?} got {write}: {requests}"
                );
            }
            // The log does show writes: a read-write client's appear.
            publish_alpha(&store);
            let requests = store.access_log().unwrap();
            assert!(requests.contains("PUT"), "{kind:?}: {requests}");
        }
    }
}

#[test]
fn wrong_credentials_are_misses_and_a_warning_and_the_run_succeeds() {
    let store = Store::start(Kind::S3);
    publish_alpha(&store);
    for mode in [Mode::ReadOnly, Mode::ReadWrite] {
        let tree = checkout();
        let mut config = store.config(mode);
        config.s3_credentials = Some((stores::ACCESS_KEY.into(), "wrong".into()));
        let (report, log) = run_logged(with_remote(&tree, config));
        assert_eq!(report.unwrap().built, ["alpha"], "{mode:?}: {log}");
        let warns = warnings(&log);
        assert!(
            warns[0].contains("denied access") && warns[0].contains("AWS_SECRET_ACCESS_KEY"),
            "{log}"
        );
        if mode == Mode::ReadWrite {
            assert!(warns.iter().any(|w| w.contains("not published")), "{log}");
        }
    }
}

#[test]
fn a_store_that_is_down_costs_at_most_a_few_seconds() {
    let port = stores::free_port();
    for url in [
        format!("webdav+http://127.0.0.1:{port}/"),
        "s3://cache/".to_owned(),
    ] {
        let baseline = checkout();
        let start = Instant::now();
        baseline.run();
        let without = start.elapsed();

        let tree = checkout();
        let mut remote = RemoteConfig::new(StoreUrl::parse(&url).unwrap());
        remote.endpoint = Some(format!("http://127.0.0.1:{port}"));
        remote.mode = Mode::ReadWrite;
        let start = Instant::now();
        let (report, log) = run_logged(with_remote(&tree, remote));
        let with = start.elapsed();
        assert_eq!(report.unwrap().built, ["alpha"], "{url}: {log}");
        assert!(log.contains("not using the store again"), "{url}: {log}");
        assert!(
            with < without + Duration::from_secs(3),
            "{url}: {with:?} with the store down, {without:?} without"
        );
    }
}

#[test]
fn required_signatures_reject_unsigned_and_unknown_keys() {
    for kind in ALL {
        let store = Store::start(kind);
        let publisher_key = signing::generate().unwrap();
        let tree = checkout();
        let mut config = store.config(Mode::ReadWrite);
        config.signing_key = Some(publisher_key.clone());
        let (report, log) = run_logged(with_remote(&tree, config));
        assert_eq!(report.unwrap().built, ["alpha"], "{kind:?}: {log}");
        let (key, _) = alpha_manifest(&store);
        assert!(store.object_file(&layout::signature_path(&key)).is_file());

        let requiring = |trusted: &signing::SigningKey| {
            let mut config = store.config(Mode::ReadOnly);
            config.require_signed = true;
            config.trusted_keys = vec![trusted.verifying_key()];
            let tree = checkout();
            let (report, log) = run_logged(with_remote(&tree, config));
            (report.unwrap(), log)
        };
        let (report, log) = requiring(&signing::generate().unwrap());
        assert_eq!(report.built, ["alpha"], "{kind:?}: {log}");
        assert!(log.contains("not in KESTREL_CACHE_TRUSTED_KEYS"), "{log}");

        let (report, log) = requiring(&publisher_key);
        assert_eq!(report.downloaded, ["alpha"], "{kind:?}: {log}");

        fs::remove_file(store.object_file(&layout::signature_path(&key))).unwrap();
        let (report, log) = requiring(&publisher_key);
        assert_eq!(report.built, ["alpha"], "{kind:?}: {log}");
        assert!(log.contains("unsigned"), "{log}");
    }
}

#[test]
fn another_host_compiler_identity_or_recipe_does_not_hit() {
    let store = Store::start(Kind::Dir);
    publish_alpha(&store);
    let miss = |config: Config| {
        let (report, log) = run_logged(config);
        assert_eq!(report.unwrap().built, ["alpha"], "{log}");
        assert!(log.contains("is not in the store"), "{log}");
        assert!(built_in(&log, "alpha"), "{log}");
    };

    let recipe = Tree::new();
    recipe.add_package("alpha", &[], "--two");
    miss(with_remote(&recipe, store.config(Mode::ReadOnly)));

    let compiler = checkout();
    compiler.depends().plan().unwrap();
    // `alpha` is native: built with the build machine's tool compilers.
    let work = compiler.root().join("depends/work");
    let cache = IdentifiedCompilers::cache_path(&work, HOST, Output::Tools);
    let text = fs::read_to_string(&cache).unwrap();
    assert!(text.contains("cc: "), "{text}");
    fs::write(&cache, text.replace("cc: ", "cc (another build): ")).unwrap();
    miss(with_remote(&compiler, store.config(Mode::ReadOnly)));

    // A host package is the host's own: another host misses (and builds it
    // with its cross compiler).
    let cross = "aarch64-unknown-linux-gnu";
    let host_package = |tree: &Tree| tree.edit_recipe("alpha", "native = true", "native = false");
    let publisher = checkout();
    host_package(&publisher);
    let (report, log) = run_logged(with_remote(&publisher, store.config(Mode::ReadWrite)));
    assert_eq!(report.unwrap().built, ["alpha"], "{log}");
    let host = checkout();
    host_package(&host);
    let mut config = with_remote(&host, store.config(Mode::ReadOnly));
    config.host = cross.into();
    miss(config);

    // A native package runs on the build machine: every host built on one
    // gets it from the store under the build machine's triple.
    let native = checkout();
    let mut config = with_remote(&native, store.config(Mode::ReadOnly));
    config.host = cross.into();
    let (report, log) = run_logged(config);
    let report = report.unwrap();
    assert_eq!(report.downloaded, ["alpha"], "{log}");
    assert!(report.built.is_empty(), "{log}");
}

#[test]
fn sources_come_from_the_store_where_only_loopback_exists() {
    const NAME: &str = "sources_come_from_the_store_where_only_loopback_exists";
    if !in_child(NAME) {
        // A network namespace of its own: no route anywhere but 127.0.0.1.
        let status = rerun_in_child(
            NAME,
            &[
                "unshare",
                "--net",
                "sh",
                "-c",
                "ip link set lo up && exec \"$@\"",
                "sh",
            ],
        )
        .status()
        .expect("unshare (util-linux) and ip (iproute2) run this test");
        assert!(status.success(), "the test in the network namespace failed");
        return;
    }
    for kind in ALL {
        let store = Store::start(kind);
        let upstream = "urls = [\"https://upstream.invalid/alpha-1.0.tar.gz\", \
                        \"mirror://debian/pool/main/a/alpha/alpha-1.0.tar.gz\"]";
        let first = checkout();
        first.edit_recipe("alpha", "urls = []", upstream);
        let (report, log) = run_logged(with_remote(&first, store.config(Mode::ReadWrite)));
        report.unwrap();
        let sha = fs::read_to_string(first.root().join("depends/packages/alpha.toml"))
            .unwrap()
            .lines()
            .find_map(|l| {
                l.strip_prefix("sha256 = \"")?
                    .strip_suffix('"')
                    .map(str::to_owned)
            })
            .unwrap();
        assert!(
            store.object_file(&layout::blob_path(&sha)).is_file(),
            "{kind:?}: source not published: {log}"
        );

        let second = checkout();
        second.edit_recipe("alpha", "urls = []", upstream);
        let source = second.root().join("depends/sources/alpha-1.0.tar.gz");
        fs::remove_file(&source).unwrap();
        let mut config = with_remote(&second, store.config(Mode::ReadOnly));
        config.fallback_url = Some("https://fallback.invalid/sources".into());
        config.mirrors = kestrel_depends::mirror::Mirrors::from_env_and_apt(Path::new("/etc/apt"));
        let (paths, log) = logged(|progress| Depends::load(config, progress)?.download());
        assert_eq!(
            paths.unwrap(),
            std::slice::from_ref(&source),
            "{kind:?}: {log}"
        );
        assert_eq!(kestrel_depends::fetch::sha256_file(&source).unwrap(), sha);
        assert!(warnings(&log).is_empty(), "{kind:?}: {log}");
    }
}

#[test]
fn killing_a_download_midway_leaves_nothing_in_the_cache() {
    const NAME: &str = "killing_a_download_midway_leaves_nothing_in_the_cache";
    if in_child(NAME) {
        // The child: fetch the big source from the throttled store.
        let root = std::env::var("KESTREL_TEST_TREE").unwrap();
        let url = std::env::var("KESTREL_TEST_STORE").unwrap();
        let mut config = Config::new(Path::new(&root), HOST, HOST);
        config.mirrors = Default::default();
        config.remote = Some(RemoteConfig::new(StoreUrl::parse(&url).unwrap()));
        Depends::load(config, Progress::quiet())
            .unwrap()
            .download()
            .unwrap();
        return;
    }
    let store = Store::start_throttled(Kind::WebDav, "64k");
    // A source of 2 MiB that does not compress: 30 s at 64 KiB/s.
    let first = Tree::new();
    let mut noise = vec![0u8; 2 << 20];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for byte in noise.iter_mut() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state as u8;
    }
    let noise: String = noise.iter().map(|b| format!("{b:02x}")).collect();
    let tarball = tree::tarball("big", &[("noise", &noise, 0o644)]);
    first.add_recipe(
        "big",
        &tarball,
        "native = true",
        "[build]\nstyle = \"autotools\"\n",
    );
    let mut config = first.config();
    config.remote = Some(store.config(Mode::ReadWrite));
    let (paths, log) = logged(|progress| Depends::load(config, progress)?.download());
    paths.unwrap();
    assert!(log.is_empty() || warnings(&log).is_empty(), "{log}");

    let second = Tree::new();
    fs::copy(
        first.root().join("depends/packages/big.toml"),
        second.root().join("depends/packages/big.toml"),
    )
    .unwrap();
    let sources = second.root().join("depends/sources");
    let mut child = rerun_in_child(NAME, &["env"])
        .env("KESTREL_TEST_TREE", second.root())
        .env(
            "KESTREL_TEST_STORE",
            store.config(Mode::ReadOnly).url.to_string(),
        )
        .spawn()
        .unwrap();
    // Wait until the child holds a file open in the source cache: the
    // download's unnamed temp file.
    let fd_dir = format!("/proc/{}/fd", child.id());
    let start = Instant::now();
    let downloading = || {
        fs::read_dir(&fd_dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|fd| fs::read_link(fd.path()).is_ok_and(|target| target.starts_with(&sources)))
    };
    while !downloading() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the download ended early"
        );
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no download started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    let left: Vec<_> = fs::read_dir(&sources)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left in the source cache: {left:?}");
}

#[test]
fn push_pull_verify_and_stats() {
    for kind in ALL {
        let store = Store::start(kind);
        let first = checkout();
        first.run();
        let pusher = Depends::load(
            with_remote(&first, store.config(Mode::ReadWrite)),
            Progress::quiet(),
        )
        .unwrap();
        assert_eq!(pusher.push().unwrap(), (vec!["alpha".into()], vec![]));
        let read_only = Depends::load(
            with_remote(&first, store.config(Mode::ReadOnly)),
            Progress::quiet(),
        )
        .unwrap();
        let err = read_only.push().unwrap_err().to_string();
        assert!(err.contains("read-write"), "{err}");

        let second = checkout();
        let puller = Depends::load(
            with_remote(&second, store.config(Mode::ReadOnly)),
            Progress::quiet(),
        )
        .unwrap();
        assert_eq!(puller.pull().unwrap(), (vec!["alpha".into()], vec![]));
        let (report, log) = run_logged(second.config());
        assert_eq!(report.unwrap().reused, ["alpha"], "{kind:?}: {log}");

        let store_client = puller.remote().unwrap();
        let inventory = store_client.inventory(HOST).unwrap();
        assert_eq!(inventory.manifests, 1);
        let checked = store_client.verify_host(HOST).unwrap();
        assert!(checked.iter().all(|c| c.result.is_ok()), "{checked:?}");
        let (_, manifest) = alpha_manifest(&store);
        let blob = store.object_file(&layout::blob_path(&manifest.archive.sha256));
        let mut bytes = fs::read(&blob).unwrap();
        bytes[50] ^= 0xff;
        fs::write(&blob, bytes).unwrap();
        let checked = store_client.verify_host(HOST).unwrap();
        assert_eq!(checked.len(), 1);
        let err = checked[0].result.as_ref().unwrap_err().to_string();
        assert!(err.contains("sha256"), "{err}");
    }
}
