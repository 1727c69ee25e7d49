//! The fetch stage against a local HTTP server on 127.0.0.1.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use kestrel_depends::fetch::{fetch, sha256_file, FetchConfig, FetchError, FetchEvent, SourceSpec};
use kestrel_depends::mirror::{MirrorError, Mirrors};
use sha2::{Digest, Sha256};
use support::{closed_port_url, Reply, TestServer};

const FILE: &str = "widget-1.0.tar.gz";

/// Distinct, incompressible-looking bytes, large enough for several progress steps.
fn archive_bytes(seed: u8) -> Vec<u8> {
    let mut state = u32::from(seed) + 1;
    (0..700 * 1024)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as u8
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn config(sources_dir: &Path) -> FetchConfig {
    FetchConfig {
        sources_dir: sources_dir.to_owned(),
        fallback_url: None,
        mirrors: Mirrors::default(),
        offline: false,
    }
}

/// The source under test, `FILE`, expected to hash to `sha256`.
fn widget_spec<'a>(sha256: &'a str, urls: &'a [String]) -> SourceSpec<'a> {
    SourceSpec {
        file_name: FILE,
        sha256,
        urls,
    }
}

/// Runs fetch, recording every event as text.
fn fetch_logged(
    spec: &SourceSpec,
    cfg: &FetchConfig,
) -> (Result<PathBuf, FetchError>, Vec<String>) {
    let mut events = Vec::new();
    let result = fetch(spec, cfg, &mut |event| events.push(format!("{event:?}")));
    (result, events)
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn cache_hit_makes_no_request() {
    let good = archive_bytes(1);
    let sha = sha256_hex(&good);
    let server = TestServer::start(&[("/widget", Reply::Body(good.clone()))]);
    let cache = tempfile::tempdir().unwrap();
    fs::write(cache.path().join(FILE), &good).unwrap();
    let urls = [server.url("/widget")];
    let spec = widget_spec(&sha, &urls);

    let (result, events) = fetch_logged(&spec, &config(cache.path()));

    assert_eq!(result.unwrap(), cache.path().join(FILE));
    assert!(
        server.requests().is_empty(),
        "requests: {:?}",
        server.requests()
    );
    assert!(events[0].starts_with("Cached"), "events: {events:?}");
}

#[test]
fn hash_mismatch_is_rejected_and_next_url_used() {
    let good = archive_bytes(1);
    let bad = archive_bytes(2);
    let (sha, bad_sha) = (sha256_hex(&good), sha256_hex(&bad));
    let server = TestServer::start(&[
        ("/bad", Reply::Body(bad)),
        ("/good", Reply::Body(good.clone())),
    ]);
    let cache = tempfile::tempdir().unwrap();
    let urls = [server.url("/bad"), server.url("/good")];
    let spec = widget_spec(&sha, &urls);
    let mut rejections = Vec::new();

    let path = fetch(&spec, &config(cache.path()), &mut |event| {
        if let FetchEvent::Rejected { url, reason } = event {
            rejections.push((url.to_owned(), reason.to_string()));
        }
    })
    .unwrap();

    assert_eq!(fs::read(&path).unwrap(), good);
    assert_eq!(dir_entries(cache.path()), [FILE]);
    assert_eq!(server.requests(), ["/bad", "/good"]);
    assert_eq!(rejections.len(), 1);
    let (url, reason) = &rejections[0];
    assert_eq!(url, &urls[0]);
    for needle in [FILE, urls[0].as_str(), &sha, &bad_sha] {
        assert!(reason.contains(needle), "{needle} missing from: {reason}");
    }
}

#[test]
fn upstream_down_falls_back_to_fallback_url() {
    let good = archive_bytes(1);
    let sha = sha256_hex(&good);
    let server = TestServer::start(&[
        ("/broken", Reply::Status(500)),
        (&format!("/fallback/{FILE}"), Reply::Body(good.clone())),
    ]);
    let cache = tempfile::tempdir().unwrap();
    let refused = closed_port_url("/widget");
    let urls = [
        refused.clone(),
        server.url("/missing"),
        server.url("/broken"),
    ];
    let spec = widget_spec(&sha, &urls);
    let cfg = FetchConfig {
        fallback_url: Some(server.url("/fallback/")),
        ..config(cache.path())
    };

    let (result, events) = fetch_logged(&spec, &cfg);

    assert_eq!(fs::read(result.unwrap()).unwrap(), good);
    assert_eq!(
        server.requests(),
        [
            "/missing".to_owned(),
            "/broken".to_owned(),
            format!("/fallback/{FILE}")
        ]
    );
    let rejected: Vec<&String> = events
        .iter()
        .filter(|e| e.starts_with("Rejected"))
        .collect();
    assert_eq!(rejected.len(), 3, "events: {events:?}");
    assert!(rejected[0].contains(&refused), "{}", rejected[0]);
    assert!(rejected[1].contains("404"), "{}", rejected[1]);
    assert!(rejected[2].contains("500"), "{}", rejected[2]);
}

#[test]
fn truncated_download_is_rejected_and_next_candidate_used() {
    let good = archive_bytes(1);
    let sha = sha256_hex(&good);
    let truncated = Reply::Truncated {
        body: good[..1000].to_vec(),
        claimed_len: good.len(),
    };
    let server = TestServer::start(&[("/short", truncated), ("/good", Reply::Body(good.clone()))]);
    let cache = tempfile::tempdir().unwrap();
    let urls = [server.url("/short"), server.url("/good")];
    let spec = widget_spec(&sha, &urls);

    let (result, events) = fetch_logged(&spec, &config(cache.path()));

    assert_eq!(fs::read(result.unwrap()).unwrap(), good);
    assert_eq!(dir_entries(cache.path()), [FILE]);
    let rejected: Vec<&String> = events
        .iter()
        .filter(|e| e.starts_with("Rejected"))
        .collect();
    assert_eq!(rejected.len(), 1, "events: {events:?}");
    assert!(
        rejected[0].contains(&urls[0]) && rejected[0].contains("Interrupted"),
        "{}",
        rejected[0]
    );
}

#[test]
fn truncated_last_candidate_fails_clearly_and_leaves_cache_empty() {
    let good = archive_bytes(1);
    let sha = sha256_hex(&good);
    let truncated = Reply::Truncated {
        body: good[..1000].to_vec(),
        claimed_len: good.len(),
    };
    let server = TestServer::start(&[("/short", truncated)]);
    let cache = tempfile::tempdir().unwrap();
    let urls = [server.url("/short")];
    let spec = widget_spec(&sha, &urls);

    let (result, _) = fetch_logged(&spec, &config(cache.path()));

    let err = result.unwrap_err();
    assert!(
        matches!(&err, FetchError::AllFailed { attempts, .. } if attempts.len() == 1),
        "{err:?}"
    );
    let message = err.to_string();
    let broke_off = format!("broke off after 1000 of {} bytes", good.len());
    for needle in [FILE, sha.as_str(), urls[0].as_str(), broke_off.as_str()] {
        assert!(message.contains(needle), "{needle} missing from: {message}");
    }
    assert!(
        dir_entries(cache.path()).is_empty(),
        "{:?}",
        dir_entries(cache.path())
    );
}

#[test]
fn no_candidates_at_all_says_so() {
    let cache = tempfile::tempdir().unwrap();
    let sha = sha256_hex(b"x");
    let spec = widget_spec(&sha, &[]);

    let err = fetch_logged(&spec, &config(cache.path())).0.unwrap_err();

    assert!(err.to_string().contains("no URL to try"), "{err}");
}

#[test]
fn mirror_urls_resolve_against_debian_base_and_come_last() {
    let good = archive_bytes(1);
    let sha = sha256_hex(&good);
    let pool_path = "/debian/pool/main/w/widget/widget_1.0.orig.tar.gz";
    let server = TestServer::start(&[(pool_path, Reply::Body(good.clone()))]);
    let cache = tempfile::tempdir().unwrap();
    // The mirror URL is listed first but is tried after upstream and fallback.
    let urls = [
        "mirror://debian/pool/main/w/widget/widget_1.0.orig.tar.gz".to_owned(),
        server.url("/upstream"),
    ];
    let spec = widget_spec(&sha, &urls);
    let cfg = FetchConfig {
        fallback_url: Some(server.url("/fallback")),
        mirrors: Mirrors::with_debian(&server.url("/debian/")),
        ..config(cache.path())
    };

    let (result, _) = fetch_logged(&spec, &cfg);

    assert_eq!(fs::read(result.unwrap()).unwrap(), good);
    assert_eq!(
        server.requests(),
        [
            "/upstream".to_owned(),
            format!("/fallback/{FILE}"),
            pool_path.to_owned()
        ]
    );
}

#[test]
fn unconfigured_mirror_is_skipped_with_reason() {
    let cache = tempfile::tempdir().unwrap();
    let sha = sha256_hex(b"x");
    let urls = ["mirror://debian/pool/main/w/widget/widget_1.0.orig.tar.gz".to_owned()];
    let spec = widget_spec(&sha, &urls);

    let err = fetch_logged(&spec, &config(cache.path())).0.unwrap_err();

    let message = err.to_string();
    assert!(
        message.contains(&urls[0]) && message.contains("DEPENDS_MIRROR_DEBIAN"),
        "{message}"
    );
}

#[test]
fn unknown_mirror_scheme_is_a_clear_error_before_any_download() {
    let server = TestServer::start(&[]);
    let cache = tempfile::tempdir().unwrap();
    let sha = sha256_hex(b"x");
    let urls = [
        server.url("/upstream"),
        "mirror://gnu/widget/widget-1.0.tar.gz".to_owned(),
    ];
    let spec = widget_spec(&sha, &urls);

    let err = fetch_logged(&spec, &config(cache.path())).0.unwrap_err();

    assert!(
        matches!(&err, FetchError::BadUrl { error: MirrorError::UnknownScheme { scheme, .. }, .. } if scheme == "gnu"),
        "{err:?}"
    );
    assert!(err.to_string().contains("`gnu`"), "{err}");
    assert!(server.requests().is_empty());
}

#[test]
fn progress_reports_growing_byte_counts_up_to_the_total() {
    let good = archive_bytes(1);
    let sha = sha256_hex(&good);
    let server = TestServer::start(&[("/good", Reply::Body(good.clone()))]);
    let cache = tempfile::tempdir().unwrap();
    let urls = [server.url("/good")];
    let spec = widget_spec(&sha, &urls);
    let mut progress = Vec::new();

    fetch(&spec, &config(cache.path()), &mut |event| {
        if let FetchEvent::Progress { bytes, total, .. } = event {
            progress.push((bytes, total));
        }
    })
    .unwrap();

    let len = good.len() as u64;
    assert!(progress.len() > 1, "{progress:?}");
    assert!(progress.windows(2).all(|w| w[0].0 < w[1].0), "{progress:?}");
    assert!(
        progress.iter().all(|&(_, total)| total == Some(len)),
        "{progress:?}"
    );
    assert_eq!(progress.last().unwrap().0, len);
}

#[cfg(unix)]
#[test]
fn stored_file_has_the_mode_of_an_ordinary_new_file() {
    use std::os::unix::fs::PermissionsExt;
    let good = archive_bytes(1);
    let sha = sha256_hex(&good);
    let server = TestServer::start(&[("/good", Reply::Body(good.clone()))]);
    let cache = tempfile::tempdir().unwrap();
    let ordinary = cache.path().join("ordinary");
    fs::write(&ordinary, b"").unwrap();
    let urls = [server.url("/good")];
    let spec = widget_spec(&sha, &urls);

    let path = fetch_logged(&spec, &config(cache.path())).0.unwrap();

    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), mode(&ordinary));
}

#[test]
fn corrupt_cache_is_replaced_from_the_network() {
    let good = archive_bytes(1);
    let sha = sha256_hex(&good);
    let server = TestServer::start(&[("/good", Reply::Body(good.clone()))]);
    let cache = tempfile::tempdir().unwrap();
    fs::write(cache.path().join(FILE), b"garbage").unwrap();
    let urls = [server.url("/good")];
    let spec = widget_spec(&sha, &urls);

    let (result, events) = fetch_logged(&spec, &config(cache.path()));

    assert_eq!(fs::read(result.unwrap()).unwrap(), good);
    assert!(
        events[0].starts_with("CorruptCacheRemoved") && events[0].contains(&sha256_hex(b"garbage")),
        "events: {events:?}"
    );
    assert_eq!(server.requests(), ["/good"]);
}

#[test]
fn offline_uses_the_cache() {
    let good = archive_bytes(1);
    let sha = sha256_hex(&good);
    let cache = tempfile::tempdir().unwrap();
    fs::write(cache.path().join(FILE), &good).unwrap();
    let urls = [closed_port_url("/widget")];
    let spec = widget_spec(&sha, &urls);
    let cfg = FetchConfig {
        offline: true,
        ..config(cache.path())
    };

    assert_eq!(
        fetch_logged(&spec, &cfg).0.unwrap(),
        cache.path().join(FILE)
    );
}

#[test]
fn offline_without_cached_file_names_file_dir_and_remedy() {
    let server = TestServer::start(&[]);
    let cache = tempfile::tempdir().unwrap();
    let sha = sha256_hex(b"x");
    let urls = [server.url("/widget")];
    let spec = widget_spec(&sha, &urls);
    let cfg = FetchConfig {
        offline: true,
        ..config(cache.path())
    };

    let message = fetch_logged(&spec, &cfg).0.unwrap_err().to_string();

    for needle in [
        FILE,
        &cache.path().display().to_string(),
        "cargo xtask depends download",
        "SOURCES_PATH",
    ] {
        assert!(message.contains(needle), "{needle} missing from: {message}");
    }
    assert!(server.requests().is_empty());
}

#[test]
fn offline_with_corrupt_cache_fails_and_removes_it() {
    let cache = tempfile::tempdir().unwrap();
    fs::write(cache.path().join(FILE), b"garbage").unwrap();
    let sha = sha256_hex(b"the real thing");
    let spec = widget_spec(&sha, &[]);
    let cfg = FetchConfig {
        offline: true,
        ..config(cache.path())
    };

    let err = fetch_logged(&spec, &cfg).0.unwrap_err();

    assert!(
        matches!(
            err,
            FetchError::OfflineMissing {
                corrupt_copy_removed: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("corrupt copy was deleted"),
        "{err}"
    );
    assert!(dir_entries(cache.path()).is_empty());
}

#[test]
fn malformed_spec_is_rejected() {
    let cache = tempfile::tempdir().unwrap();
    let sha = sha256_hex(b"x");
    let upper = sha.to_uppercase();
    let cases = [
        (
            SourceSpec {
                file_name: "../escape.tar.gz",
                sha256: &sha,
                urls: &[],
            },
            "../escape.tar.gz",
        ),
        (
            SourceSpec {
                file_name: FILE,
                sha256: &upper,
                urls: &[],
            },
            upper.as_str(),
        ),
        (
            SourceSpec {
                file_name: FILE,
                sha256: "abc",
                urls: &[],
            },
            "abc",
        ),
    ];
    for (spec, named) in cases {
        let message = fetch_logged(&spec, &config(cache.path()))
            .0
            .unwrap_err()
            .to_string();
        assert!(message.contains(named), "{named} missing from: {message}");
    }
}

#[test]
fn sha256_file_hashes_contents() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    fs::write(&path, b"abc").unwrap();
    assert_eq!(
        sha256_file(&path).unwrap(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

// Mirror resolution and apt parsing.

#[test]
fn resolve_passes_http_through_and_maps_debian() {
    let mirrors = Mirrors::with_debian("http://archive.example/debian/");
    assert_eq!(
        mirrors.resolve("https://upstream.example/a.tgz").unwrap(),
        "https://upstream.example/a.tgz"
    );
    assert_eq!(
        mirrors
            .resolve("mirror://debian/pool/main/c/capnproto/x.tar.gz")
            .unwrap(),
        "http://archive.example/debian/pool/main/c/capnproto/x.tar.gz"
    );
    assert!(matches!(
        mirrors.resolve("ftp://old.example/a.tgz"),
        Err(MirrorError::UnsupportedUrl { .. })
    ));
    assert!(matches!(
        mirrors.resolve("mirror://debian"),
        Err(MirrorError::Malformed { .. })
    ));
    assert!(matches!(
        Mirrors::default().resolve("mirror://debian/pool/x"),
        Err(MirrorError::NotConfigured { .. })
    ));
}

fn apt_root(files: &[(&str, &str)]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    fs::create_dir(root.path().join("sources.list.d")).unwrap();
    for (name, text) in files {
        fs::write(root.path().join(name), text).unwrap();
    }
    root
}

const SECURITY_STANZA: &str = "Types: deb\n\
URIs: http://security.example/debian-security\n\
Suites: bookworm-security\n\
Components: main\n\
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n";

#[test]
fn apt_deb822_picks_main_archive_not_security() {
    let sources = format!(
        "{SECURITY_STANZA}\n\
         Types: deb deb-src\n\
         # a comment inside the stanza\n\
         URIs: http://archive.example/debian/\n\
         Suites: bookworm bookworm-updates\n\
         Components: main contrib\n\
         Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    );
    let root = apt_root(&[("sources.list.d/debian.sources", &sources)]);

    let mirrors = Mirrors::from_env_value_and_apt(None, root.path());

    assert_eq!(mirrors.debian(), Some("http://archive.example/debian"));
}

#[test]
fn apt_one_line_form_with_options() {
    let list = "# deb http://commented.example/debian bookworm main\n\
                deb-src http://src.example/debian bookworm main\n\
                deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://security.example/debian-security bookworm-security main\n\
                deb [arch=amd64] http://archive.example/debian bookworm main\n";
    let root = apt_root(&[("sources.list", list)]);

    let mirrors = Mirrors::from_env_value_and_apt(None, root.path());

    assert_eq!(mirrors.debian(), Some("http://archive.example/debian"));
}

#[test]
fn apt_ignores_disabled_files_third_party_and_disabled_stanzas() {
    let root = apt_root(&[
        // Sorted before the real one, but apt ignores this extension.
        ("sources.list.d/a-old.sources.disabled", "Types: deb\nURIs: http://old.example/debian\nSuites: bookworm\nComponents: main\n"),
        ("sources.list.d/b-vendor.list", "deb https://vendor.example/apt vendor-bookworm main\n"),
        (
            "sources.list.d/c-debian.sources",
            "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n\n\
             Types: deb\nURIs: http://archive.example/debian\nSuites: bookworm\nComponents: main\n",
        ),
    ]);

    let mirrors = Mirrors::from_env_value_and_apt(None, root.path());

    assert_eq!(mirrors.debian(), Some("http://archive.example/debian"));
}

#[test]
fn apt_snapshot_style_uri_is_recognised_by_keyring() {
    let sources = "Types: deb\nURIs: http://snapshot.example/archive/20250520T000000Z\nSuites: bookworm\nComponents: main\n\
                   Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n";
    let root = apt_root(&[("sources.list.d/debian.sources", sources)]);

    let mirrors = Mirrors::from_env_value_and_apt(None, root.path());

    assert_eq!(
        mirrors.debian(),
        Some("http://snapshot.example/archive/20250520T000000Z")
    );
}

#[test]
fn env_value_overrides_apt_and_empty_env_is_unset() {
    let root = apt_root(&[(
        "sources.list",
        "deb http://archive.example/debian bookworm main\n",
    )]);

    let from_env = Mirrors::from_env_value_and_apt(Some("http://env.example/debian/"), root.path());
    let empty_env = Mirrors::from_env_value_and_apt(Some(""), root.path());
    let no_apt = Mirrors::from_env_value_and_apt(None, &root.path().join("nonexistent"));

    assert_eq!(from_env.debian(), Some("http://env.example/debian"));
    assert_eq!(empty_env.debian(), Some("http://archive.example/debian"));
    assert_eq!(no_apt.debian(), None);
}
