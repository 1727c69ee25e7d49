//! The fetch stage: put a recipe's source archive into the source cache,
//! verified against its pinned SHA-256.
//!
//! Order (SPEC "Fetch order"): the cache, the remote cache (if one is
//! configured: sources are blobs named by their pinned sha256), the recipe's
//! upstream URLs, the fallback URL, then `mirror://` URLs. Every candidate streams into a temp
//! file in the cache dir while being hashed; only a matching file is fsynced
//! and renamed to its final name, so the cache never holds unverified bytes.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::mirror::{self, MirrorError, Mirrors};
use crate::remote::{Miss, RemoteStore};

/// A dead host must fail the candidate, not hang the run.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A stalled transfer (no byte for this long) fails the candidate.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
const BUFFER_SIZE: usize = 64 * 1024;
/// Progress events are emitted at most once per this many bytes (and at the end).
const PROGRESS_STEP: u64 = 256 * 1024;

/// What to fetch: a recipe's source archive.
#[derive(Debug, Clone, Copy)]
pub struct SourceSpec<'a> {
    /// File name in the cache and under the fallback URL.
    pub file_name: &'a str,
    /// Pinned SHA-256, lowercase hex.
    pub sha256: &'a str,
    /// Upstream and `mirror://` URLs, in the recipe's order.
    pub urls: &'a [String],
}

#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// The source cache: `depends/sources/` or `$SOURCES_PATH`.
    pub sources_dir: PathBuf,
    /// `--fallback-url` / `$FALLBACK_DOWNLOAD_PATH`: files are fetched as `<base>/<file_name>`.
    pub fallback_url: Option<String>,
    /// Resolves `mirror://<scheme>/<path>`.
    pub mirrors: Mirrors,
    /// Use the cache only.
    pub offline: bool,
}

/// What [`fetch`] is doing, for progress display.
#[derive(Debug)]
pub enum FetchEvent<'a> {
    /// The cache already holds the verified file; no network used.
    Cached { path: &'a Path },
    /// The cached file had the wrong hash and was deleted.
    CorruptCacheRemoved {
        path: &'a Path,
        expected: &'a str,
        actual: &'a str,
    },
    /// Starting a download from `url`.
    Trying { url: &'a str },
    /// `bytes` of `total` (if the server said) received from `url`.
    Progress {
        url: &'a str,
        bytes: u64,
        total: Option<u64>,
    },
    /// `url` failed or gave wrong bytes; the next candidate follows.
    Rejected { url: &'a str, reason: &'a Rejection },
    /// The verified file is in the cache at `path`.
    Stored { path: &'a Path },
}

/// Why one candidate URL did not give the file.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    #[error(transparent)]
    MirrorNotConfigured(MirrorError),
    #[error(transparent)]
    Store(Miss),
    #[error("request failed: {0}")]
    Request(ureq::Error),
    #[error(
        "download broke off after {received}{} bytes: {error}",
        .expected.map(|n| format!(" of {n}")).unwrap_or_default()
    )]
    Interrupted {
        received: u64,
        expected: Option<u64>,
        error: io::Error,
    },
    #[error(
        "sha256 mismatch for {file_name} from {url}: expected {expected}, got {actual} \
         (the downloaded bytes were deleted)"
    )]
    HashMismatch {
        file_name: String,
        url: String,
        expected: String,
        actual: String,
    },
}

/// One failed candidate, kept for the final error.
#[derive(Debug)]
pub struct Attempt {
    pub url: String,
    pub reason: Rejection,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "invalid source file name `{0}`: it must be a plain file name (no `/`, not `.` or `..`)"
    )]
    BadFileName(String),
    #[error("invalid sha256 `{sha256}` for {file_name}: expected 64 lowercase hex digits")]
    BadHash { file_name: String, sha256: String },
    #[error("bad source URL for {file_name}: {error}")]
    BadUrl {
        file_name: String,
        error: MirrorError,
    },
    #[error(
        "{file_name} is not in the source cache {}{} and downloads are off (--offline): \
         run `cargo xtask depends download` on a machine with network access, or put the \
         file into the cache dir (SOURCES_PATH)",
        .sources_dir.display(),
        if *.corrupt_copy_removed { " (a corrupt copy was deleted)" } else { "" }
    )]
    OfflineMissing {
        file_name: String,
        sources_dir: PathBuf,
        corrupt_copy_removed: bool,
    },
    #[error("could not fetch {file_name} (sha256 {sha256}): {}", AttemptList(.attempts))]
    AllFailed {
        file_name: String,
        sha256: String,
        attempts: Vec<Attempt>,
    },
    #[error("{action} {}: {error}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        error: io::Error,
    },
}

struct AttemptList<'a>(&'a [Attempt]);

impl fmt::Display for AttemptList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str(
                "no URL to try: the recipe lists none and no fallback URL \
                 (--fallback-url / FALLBACK_DOWNLOAD_PATH) is set",
            );
        }
        f.write_str("every source failed:")?;
        for attempt in self.0 {
            write!(f, "\n  {}: {}", attempt.url, attempt.reason)?;
        }
        Ok(())
    }
}

fn io_error<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> FetchError + 'a {
    move |error| FetchError::Io {
        action,
        path: path.to_owned(),
        error,
    }
}

/// Lowercase hex SHA-256 of the file at `path`.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut hasher = Sha256::new();
    io::copy(&mut File::open(path)?, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// Returns the path of the verified source archive in `cfg.sources_dir`,
/// downloading it if the cache lacks it.
pub fn fetch(
    spec: &SourceSpec,
    cfg: &FetchConfig,
    on_event: &mut dyn FnMut(FetchEvent),
) -> Result<PathBuf, FetchError> {
    fetch_with_store(spec, cfg, None, on_event)
}

/// [`fetch`], asking `store` before the URLs.
pub fn fetch_with_store(
    spec: &SourceSpec,
    cfg: &FetchConfig,
    store: Option<&RemoteStore>,
    on_event: &mut dyn FnMut(FetchEvent),
) -> Result<PathBuf, FetchError> {
    check_spec(spec)?;
    let path = cfg.sources_dir.join(spec.file_name);
    let corrupt_copy_removed = match check_cache(spec, &path, on_event)? {
        CacheState::Verified => {
            on_event(FetchEvent::Cached { path: &path });
            return Ok(path);
        }
        CacheState::Missing => false,
        CacheState::CorruptRemoved => true,
    };
    if cfg.offline {
        return Err(FetchError::OfflineMissing {
            file_name: spec.file_name.to_owned(),
            sources_dir: cfg.sources_dir.clone(),
            corrupt_copy_removed,
        });
    }
    let candidates = candidates(spec, cfg)?;
    fs::create_dir_all(&cfg.sources_dir)
        .map_err(io_error("cannot create source cache", &cfg.sources_dir))?;
    let mut attempts = Vec::new();
    if let Some(store) = store {
        let url = store.url().to_string();
        on_event(FetchEvent::Trying { url: &url });
        let mut progress = |bytes, total| {
            on_event(FetchEvent::Progress {
                url: &url,
                bytes,
                total,
            })
        };
        match store.fetch_source(spec.sha256, &path, &mut progress) {
            Ok(()) => {
                on_event(FetchEvent::Stored { path: &path });
                return Ok(path);
            }
            Err(miss) => {
                let news = miss.is_news();
                let reason = Rejection::Store(miss);
                if news {
                    on_event(FetchEvent::Rejected {
                        url: &url,
                        reason: &reason,
                    });
                }
                attempts.push(Attempt { url, reason });
            }
        }
    }
    let agent = http_agent();
    for candidate in candidates {
        let outcome = match candidate.download {
            Ok(url) => {
                on_event(FetchEvent::Trying { url: &url });
                download_verified(&agent, spec, &url, &path, on_event)?.map_err(|r| (url, r))
            }
            Err(not_configured) => Err((
                candidate.url,
                Rejection::MirrorNotConfigured(not_configured),
            )),
        };
        match outcome {
            Ok(()) => {
                on_event(FetchEvent::Stored { path: &path });
                return Ok(path);
            }
            Err((url, reason)) => {
                on_event(FetchEvent::Rejected {
                    url: &url,
                    reason: &reason,
                });
                attempts.push(Attempt { url, reason });
            }
        }
    }
    Err(FetchError::AllFailed {
        file_name: spec.file_name.to_owned(),
        sha256: spec.sha256.to_owned(),
        attempts,
    })
}

fn check_spec(spec: &SourceSpec) -> Result<(), FetchError> {
    let name = spec.file_name;
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        return Err(FetchError::BadFileName(name.to_owned()));
    }
    let sha = spec.sha256;
    if sha.len() != 64 || !sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(FetchError::BadHash {
            file_name: name.to_owned(),
            sha256: sha.to_owned(),
        });
    }
    Ok(())
}

enum CacheState {
    Verified,
    Missing,
    CorruptRemoved,
}

/// A cached file with the wrong hash is deleted so it can never be used.
fn check_cache(
    spec: &SourceSpec,
    path: &Path,
    on_event: &mut dyn FnMut(FetchEvent),
) -> Result<CacheState, FetchError> {
    let actual = match sha256_file(path) {
        Ok(actual) => actual,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(CacheState::Missing),
        Err(e) => return Err(io_error("cannot read cached source", path)(e)),
    };
    if actual == spec.sha256 {
        return Ok(CacheState::Verified);
    }
    fs::remove_file(path).map_err(io_error("cannot delete corrupt cached source", path))?;
    on_event(FetchEvent::CorruptCacheRemoved {
        path,
        expected: spec.sha256,
        actual: &actual,
    });
    Ok(CacheState::CorruptRemoved)
}

/// A URL to try: the recipe's (or fallback) URL and either the URL to
/// download or why its mirror scheme cannot be used on this machine.
struct Candidate {
    url: String,
    download: Result<String, MirrorError>,
}

/// Candidates in SPEC order. Malformed URLs fail the whole fetch up front:
/// they are recipe bugs, not network trouble.
fn candidates(spec: &SourceSpec, cfg: &FetchConfig) -> Result<Vec<Candidate>, FetchError> {
    let fallback = cfg
        .fallback_url
        .as_deref()
        .map(|base| format!("{}/{}", base.trim_end_matches('/'), spec.file_name));
    let (mirror_urls, upstream_urls): (Vec<&String>, Vec<&String>) =
        spec.urls.iter().partition(|url| mirror::is_mirror_url(url));
    upstream_urls
        .into_iter()
        .cloned()
        .chain(fallback)
        .chain(mirror_urls.into_iter().cloned())
        .map(|url| match cfg.mirrors.resolve(&url) {
            Ok(download) => Ok(Candidate {
                url,
                download: Ok(download),
            }),
            Err(e @ MirrorError::NotConfigured { .. }) => Ok(Candidate {
                url,
                download: Err(e),
            }),
            Err(error) => Err(FetchError::BadUrl {
                file_name: spec.file_name.to_owned(),
                error,
            }),
        })
        .collect()
}

fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(READ_TIMEOUT))
        .timeout_per_read(Some(READ_TIMEOUT))
        // The archive's own bytes are what the hash pins, so ask for no
        // transfer compression.
        .accept_encoding(ureq::config::AutoHeaderValue::None)
        .build()
        .new_agent()
}

/// A temp file in the cache dir itself, so the final rename stays on one
/// file system. It gets the mode of an ordinary new file (0666 less the umask),
/// not tempfile's private 0600, as the cache may be shared.
fn temp_file_in(dir: &Path, file_name: &str) -> io::Result<tempfile::NamedTempFile> {
    let prefix = format!(".{file_name}.part-");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix);
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    builder.tempfile_in(dir)
}

/// Downloads `url` into a temp file beside `dest`, hashing as it streams,
/// and renames it to `dest` only if the hash matches. The outer error is a
/// local failure (the cache cannot be written) that no other URL would fix;
/// the inner one rejects just this candidate. A rejected download leaves
/// nothing behind: the temp file is deleted when dropped.
fn download_verified(
    agent: &ureq::Agent,
    spec: &SourceSpec,
    url: &str,
    dest: &Path,
    on_event: &mut dyn FnMut(FetchEvent),
) -> Result<Result<(), Rejection>, FetchError> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let mut response = match agent.get(url).call() {
        Ok(response) => response,
        Err(e) => return Ok(Err(Rejection::Request(e))),
    };
    let total = response.body().content_length();
    let mut reader = response.body_mut().as_reader();
    let mut temp =
        temp_file_in(dir, spec.file_name).map_err(io_error("cannot create temp file in", dir))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; BUFFER_SIZE];
    let (mut received, mut reported) = (0u64, 0u64);
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => {
                return Ok(Err(Rejection::Interrupted {
                    received,
                    expected: total,
                    error,
                }))
            }
        };
        hasher.update(&buffer[..n]);
        temp.write_all(&buffer[..n])
            .map_err(io_error("cannot write", temp.path()))?;
        received += n as u64;
        if received - reported >= PROGRESS_STEP {
            reported = received;
            on_event(FetchEvent::Progress {
                url,
                bytes: received,
                total,
            });
        }
    }
    if reported != received {
        on_event(FetchEvent::Progress {
            url,
            bytes: received,
            total,
        });
    }
    let actual = hex::encode(hasher.finalize());
    if actual != spec.sha256 {
        return Ok(Err(Rejection::HashMismatch {
            file_name: spec.file_name.to_owned(),
            url: url.to_owned(),
            expected: spec.sha256.to_owned(),
            actual,
        }));
    }
    temp.as_file()
        .sync_all()
        .map_err(io_error("cannot fsync", temp.path()))?;
    temp.persist(dest)
        .map_err(|e| io_error("cannot rename download to", dest)(e.error))?;
    // The rename is durable only once the directory entry is on disk.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("cannot fsync", dir))?;
    Ok(Ok(()))
}
