//! Rust compiles shared through the remote cache's store, by sccache: its
//! configuration from a [`RemoteConfig`], the pinned sccache installed into
//! a project-local directory, and one sccache server per run.
//!
//! sccache keeps its objects under `sccache/` beside the depends layout's
//! `v1/`, so neither reads the other's keys. It is never part of a depends
//! build: nothing here touches the environment the depends pipeline (or the
//! `cc` crate it asks for compilers) sees.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize;

use crate::remote::{Mode, RemoteConfig, StoreUrl};

pub mod wrapper;

/// The sccache this project is tested with (`cargo install --locked`).
pub const VERSION: &str = "0.19.0";
/// Only the backends the remote cache's URLs need (a directory is
/// sccache's built-in disk cache): a fraction of the default build.
const FEATURES: &str = "webdav,s3";
/// The key prefix of sccache's objects inside the store.
const STORE_PREFIX: &str = "sccache";
/// A server whose xtask was killed exits after this long without work.
const IDLE_TIMEOUT_SECONDS: &str = "600";
/// Inherited variables that would steer the server somewhere else:
/// another cache, another config file, other credentials.
const INHERITED_PREFIXES: &[&str] = &["SCCACHE_", "AWS_"];
/// sccache's own logging, passed on for debugging.
const KEPT: &[&str] = &["SCCACHE_LOG", "SCCACHE_ERROR_LOG"];
#[derive(Debug, thiserror::Error)]
pub enum SccacheError {
    #[error(
        "installing sccache {VERSION} failed ({0}): run the command above by hand to see why, \
         or install it there yourself"
    )]
    Install(String),
    #[error("cannot run {path}: {error}")]
    Run {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "{path} is not sccache {VERSION} (it says {said:?}): remove its directory and run again"
    )]
    WrongVersion { path: PathBuf, said: String },
    #[error(
        "the sccache server for {store} did not start: {detail}\n\
         (check the store's URL, endpoint and credentials; SCCACHE_LOG=debug shows more)"
    )]
    Start { store: String, detail: String },
    #[error("sccache --show-stats gave no stats: {0}")]
    Stats(String),
}

/// The sccache executable.
#[derive(Debug, Clone)]
pub struct Sccache {
    pub path: PathBuf,
}

impl Sccache {
    /// Where the pinned version lives under `tools_dir`.
    pub fn root(tools_dir: &Path) -> PathBuf {
        tools_dir.join(format!("sccache-{VERSION}"))
    }

    /// The pinned sccache under `tools_dir`, if it is installed there.
    pub fn installed(tools_dir: &Path) -> Result<Option<Sccache>, SccacheError> {
        let path = Sccache::root(tools_dir).join("bin/sccache");
        if !path.exists() {
            return Ok(None);
        }
        let out = run(Command::new(&path).arg("--version"), &path)?;
        let said = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if said != format!("sccache {VERSION}") {
            return Err(SccacheError::WrongVersion { path, said });
        }
        Ok(Some(Sccache { path }))
    }

    /// The pinned sccache under `tools_dir`, built there with `cargo`
    /// (`cargo install --locked`, only the features the store needs) if it
    /// is not yet: several CPU-minutes, once per checkout.
    pub fn ensure_installed(tools_dir: &Path, cargo: &OsStr) -> Result<Sccache, SccacheError> {
        if let Some(sccache) = Sccache::installed(tools_dir)? {
            return Ok(sccache);
        }
        let root = Sccache::root(tools_dir);
        let mut install = Command::new(cargo);
        install
            .args(["install", "--locked", "sccache", "--version", VERSION])
            .args(["--no-default-features", "--features", FEATURES])
            .arg("--root")
            .arg(&root)
            // A wrapper named sccache that is not installed yet would fail
            // the build of sccache itself.
            .env_remove("RUSTC_WRAPPER");
        eprintln!(
            "installing sccache {VERSION} into {} (first use of --sccache; it compiles for a few \
             CPU-minutes, once):\n  {install:?}",
            root.display()
        );
        let status = install.status().map_err(|e| SccacheError::Run {
            path: cargo.into(),
            error: e,
        })?;
        if !status.success() {
            return Err(SccacheError::Install(status.to_string()));
        }
        Sccache::installed(tools_dir)?
            .ok_or_else(|| SccacheError::Install("no sccache binary after the install".into()))
    }
}

/// sccache's settings for `store`: the same directory, WebDAV server or S3
/// bucket (under `sccache/`), read-only unless the store is read-write.
/// Every URL form the remote cache accepts has an sccache backend; S3
/// credentials are the remote cache's (none: anonymous).
pub fn store_env(store: &RemoteConfig) -> Vec<(&'static str, String)> {
    let rw_mode = match store.mode {
        Mode::ReadOnly => "READ_ONLY",
        Mode::ReadWrite => "READ_WRITE",
    }
    .to_owned();
    let below = |root: &str| {
        let root = root.trim_matches('/');
        if root.is_empty() {
            STORE_PREFIX.to_owned()
        } else {
            format!("{root}/{STORE_PREFIX}")
        }
    };
    let mut env = Vec::new();
    match &store.url {
        StoreUrl::Dir(dir) => {
            env.push((
                "SCCACHE_DIR",
                dir.join(STORE_PREFIX).to_string_lossy().into_owned(),
            ));
            env.push(("SCCACHE_LOCAL_RW_MODE", rw_mode));
        }
        StoreUrl::WebDav {
            endpoint,
            root,
            user,
            password,
        } => {
            env.push(("SCCACHE_WEBDAV_ENDPOINT", endpoint.clone()));
            env.push(("SCCACHE_WEBDAV_KEY_PREFIX", below(root)));
            if let Some(user) = user {
                env.push(("SCCACHE_WEBDAV_USERNAME", user.clone()));
            }
            if let Some(password) = password {
                env.push(("SCCACHE_WEBDAV_PASSWORD", password.clone()));
            }
            env.push(("SCCACHE_WEBDAV_RW_MODE", rw_mode));
        }
        StoreUrl::S3 { bucket, prefix } => {
            env.push(("SCCACHE_BUCKET", bucket.clone()));
            env.push(("SCCACHE_S3_KEY_PREFIX", below(prefix)));
            if let Some(endpoint) = &store.endpoint {
                env.push(("SCCACHE_ENDPOINT", endpoint.clone()));
            }
            let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
            env.push(("SCCACHE_REGION", region));
            match &store.s3_credentials {
                Some((id, secret)) => {
                    env.push(("AWS_ACCESS_KEY_ID", id.clone()));
                    env.push(("AWS_SECRET_ACCESS_KEY", secret.clone()));
                }
                None => env.push(("SCCACHE_S3_NO_CREDENTIALS", "true".into())),
            }
            env.push(("SCCACHE_S3_RW_MODE", rw_mode));
        }
    }
    env
}

/// One sccache server for one run, on a port of its own (so it never
/// serves another run's configuration), stopped when dropped.
pub struct Server {
    sccache: Sccache,
    store: String,
    /// What the server runs with, and what its clients need to find it.
    env: Vec<(String, OsString)>,
    stopped: bool,
}

impl Server {
    /// Starts sccache's server against `store`. `basedir` is the checkout:
    /// sccache makes paths below it relative where it can (C/C++ only in
    /// this version; Rust compiles hash absolute paths, see
    /// ARCHITECTURE.md).
    pub fn start(
        sccache: &Sccache,
        store: &RemoteConfig,
        basedir: &Path,
    ) -> Result<Server, SccacheError> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| SccacheError::Start {
                store: store.url.to_string(),
                detail: format!("no free port on 127.0.0.1: {e}"),
            })?
            .port();
        let mut env: Vec<(String, OsString)> = store_env(store)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into()))
            .collect();
        env.extend([
            ("SCCACHE_SERVER_PORT".into(), port.to_string().into()),
            ("SCCACHE_IDLE_TIMEOUT".into(), IDLE_TIMEOUT_SECONDS.into()),
            // No user config file: the store is the one named here.
            ("SCCACHE_CONF".into(), "/dev/null".into()),
            ("SCCACHE_BASEDIRS".into(), basedir.into()),
        ]);
        let server = Server {
            sccache: sccache.clone(),
            store: store.url.to_string(),
            env,
            stopped: false,
        };
        let out = run(server.command().arg("--start-server"), &sccache.path)?;
        if !out.status.success() {
            return Err(SccacheError::Start {
                store: server.store.clone(),
                detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        Ok(server)
    }

    /// What a cargo run in `checkout` needs to compile through this
    /// server, with `wrapper` (a [`wrapper`] program) between cargo and
    /// sccache.
    pub fn cargo_env(&self, wrapper: &Path, checkout: &Path) -> Vec<(String, OsString)> {
        let mut env = self.env.clone();
        env.push(("RUSTC_WRAPPER".into(), wrapper.into()));
        env.push((
            wrapper::SCCACHE_VAR.into(),
            self.sccache.path.clone().into(),
        ));
        env.push((wrapper::CHECKOUT_VAR.into(), checkout.into()));
        // Incremental compiles cannot be cached; the workspace's crates
        // are incremental in dev builds otherwise.
        env.push(("CARGO_INCREMENTAL".into(), "0".into()));
        env
    }

    /// The server's counts so far.
    pub fn stats(&self) -> Result<Stats, SccacheError> {
        let out = run(
            self.command()
                .args(["--show-stats", "--stats-format", "json"]),
            &self.sccache.path,
        )?;
        Stats::from_json(&out.stdout)
    }

    /// Stops the server and returns its final counts.
    pub fn stop(mut self) -> Result<Stats, SccacheError> {
        let stats = self.stats();
        self.stop_server();
        stats
    }

    fn stop_server(&mut self) {
        if !self.stopped {
            self.stopped = true;
            let _ = self.command().arg("--stop-server").output();
        }
    }

    /// sccache with the server's environment and none of the inherited one
    /// that would steer it elsewhere.
    fn command(&self) -> Command {
        let mut command = Command::new(&self.sccache.path);
        for name in removed_vars() {
            command.env_remove(name);
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_server();
    }
}

/// Inherited variables the server must not see (see `INHERITED_PREFIXES`).
fn removed_vars() -> Vec<String> {
    std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| !KEPT.contains(&k.as_str()))
        .filter(|k| INHERITED_PREFIXES.iter().any(|p| k.starts_with(p)))
        .collect()
}

fn run(command: &mut Command, path: &Path) -> Result<Output, SccacheError> {
    command.output().map_err(|error| SccacheError::Run {
        path: path.to_owned(),
        error,
    })
}

/// A server's counts (`sccache --show-stats --stats-format json`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub compile_requests: u64,
    /// Compiles sccache handled (looked up): hits plus misses.
    pub hits: u64,
    pub misses: u64,
    /// Objects written to the store.
    pub writes: u64,
    pub write_errors: u64,
    pub read_errors: u64,
    /// Why compiles were not looked up at all (`crate-type`, `incremental`,
    /// ...), with counts.
    pub not_cached: BTreeMap<String, u64>,
    /// Where sccache says its cache is.
    pub location: String,
}

#[derive(Deserialize)]
struct Info {
    stats: InfoStats,
    cache_location: String,
}

#[derive(Deserialize)]
struct InfoStats {
    compile_requests: u64,
    cache_hits: PerLanguage,
    cache_misses: PerLanguage,
    cache_writes: u64,
    cache_write_errors: u64,
    cache_read_errors: u64,
    not_cached: BTreeMap<String, u64>,
}

#[derive(Deserialize)]
struct PerLanguage {
    counts: BTreeMap<String, u64>,
}

impl Stats {
    pub fn from_json(bytes: &[u8]) -> Result<Stats, SccacheError> {
        let info: Info = serde_json::from_slice(bytes).map_err(|e| {
            SccacheError::Stats(format!("{e}: {}", String::from_utf8_lossy(bytes).trim()))
        })?;
        let s = info.stats;
        Ok(Stats {
            compile_requests: s.compile_requests,
            hits: s.cache_hits.counts.values().sum(),
            misses: s.cache_misses.counts.values().sum(),
            writes: s.cache_writes,
            write_errors: s.cache_write_errors,
            read_errors: s.cache_read_errors,
            not_cached: s.not_cached,
            location: info.cache_location,
        })
    }

    /// Hits among the compiles sccache looked up (0 when it looked up none).
    pub fn hit_rate(&self) -> f64 {
        let looked_up = self.hits + self.misses;
        if looked_up == 0 {
            0.0
        } else {
            self.hits as f64 / looked_up as f64
        }
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} compiles: {} hits, {} misses ({:.0}% hit), {} written",
            self.compile_requests,
            self.hits,
            self.misses,
            100.0 * self.hit_rate(),
            self.writes
        )?;
        if self.write_errors + self.read_errors > 0 {
            write!(
                f,
                ", {} write and {} read errors",
                self.write_errors, self.read_errors
            )?;
        }
        if !self.not_cached.is_empty() {
            let reasons: Vec<String> = self
                .not_cached
                .iter()
                .map(|(why, n)| format!("{why} {n}"))
                .collect();
            write!(f, "; not cacheable: {}", reasons.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str, mode: Mode) -> RemoteConfig {
        let mut config = RemoteConfig::new(StoreUrl::parse(url).unwrap());
        config.mode = mode;
        config
    }

    fn env_of(config: &RemoteConfig) -> BTreeMap<&'static str, String> {
        store_env(config).into_iter().collect()
    }

    #[test]
    fn a_directory_is_sccaches_disk_cache_below_the_store() {
        let env = env_of(&config("file:///srv/cache", Mode::ReadOnly));
        assert_eq!(env["SCCACHE_DIR"], "/srv/cache/sccache");
        assert_eq!(env["SCCACHE_LOCAL_RW_MODE"], "READ_ONLY");
        assert_eq!(env.len(), 2, "{env:?}");
    }

    #[test]
    fn webdav_keeps_the_endpoint_root_and_credentials() {
        let env = env_of(&config(
            "webdav+https://ci:pw@dav.example:8443/team/kestrel/",
            Mode::ReadWrite,
        ));
        assert_eq!(env["SCCACHE_WEBDAV_ENDPOINT"], "https://dav.example:8443");
        assert_eq!(env["SCCACHE_WEBDAV_KEY_PREFIX"], "team/kestrel/sccache");
        assert_eq!(env["SCCACHE_WEBDAV_USERNAME"], "ci");
        assert_eq!(env["SCCACHE_WEBDAV_PASSWORD"], "pw");
        assert_eq!(env["SCCACHE_WEBDAV_RW_MODE"], "READ_WRITE");
        let bare = env_of(&config("webdav+http://127.0.0.1:80/", Mode::ReadOnly));
        assert_eq!(bare["SCCACHE_WEBDAV_KEY_PREFIX"], "sccache");
        assert_eq!(bare["SCCACHE_WEBDAV_RW_MODE"], "READ_ONLY");
        assert!(!bare.contains_key("SCCACHE_WEBDAV_USERNAME"));
    }

    #[test]
    fn s3_names_bucket_prefix_endpoint_and_the_remote_caches_credentials() {
        let mut s3 = config("s3://builds/kestrel", Mode::ReadOnly);
        s3.endpoint = Some("http://127.0.0.1:9000".into());
        s3.s3_credentials = Some(("id".into(), "secret".into()));
        let env = env_of(&s3);
        assert_eq!(env["SCCACHE_BUCKET"], "builds");
        assert_eq!(env["SCCACHE_S3_KEY_PREFIX"], "kestrel/sccache");
        assert_eq!(env["SCCACHE_ENDPOINT"], "http://127.0.0.1:9000");
        assert_eq!(env["AWS_ACCESS_KEY_ID"], "id");
        assert_eq!(env["AWS_SECRET_ACCESS_KEY"], "secret");
        assert_eq!(env["SCCACHE_S3_RW_MODE"], "READ_ONLY");
        assert!(!env.contains_key("SCCACHE_S3_NO_CREDENTIALS"));

        s3.s3_credentials = None;
        s3.endpoint = None;
        let anonymous = env_of(&s3);
        assert_eq!(anonymous["SCCACHE_S3_NO_CREDENTIALS"], "true");
        assert!(!anonymous.contains_key("AWS_ACCESS_KEY_ID"));
        assert!(!anonymous.contains_key("SCCACHE_ENDPOINT"));
    }

    #[test]
    fn stats_read_sccaches_json() {
        let json = br#"{"stats":{"compile_requests":9,"requests_executed":7,
            "cache_hits":{"counts":{"Rust":4,"C/C++":1},"adv_counts":{}},
            "cache_misses":{"counts":{"Rust":2},"adv_counts":{}},
            "cache_writes":2,"cache_write_errors":0,"cache_read_errors":0,
            "not_cached":{"crate-type":2},"other":1},
            "cache_location":"WebDAV, root: /sccache/","version":"0.19.0"}"#;
        let stats = Stats::from_json(json).unwrap();
        assert_eq!((stats.hits, stats.misses, stats.writes), (5, 2, 2));
        assert_eq!(stats.not_cached["crate-type"], 2);
        assert!((stats.hit_rate() - 5.0 / 7.0).abs() < 1e-9);
        let line = stats.to_string();
        assert!(line.contains("5 hits, 2 misses (71% hit)"), "{line}");
        assert!(line.contains("not cacheable: crate-type 2"), "{line}");
        let err = Stats::from_json(b"sccache: error: no server").unwrap_err();
        assert!(err.to_string().contains("no server"), "{err}");
    }
}
