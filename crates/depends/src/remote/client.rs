//! The store client: OpenDAL's directory, WebDAV and S3 services over
//! reqwest with rustls on ring, run on a one-thread tokio runtime. Compiled
//! only with the `store-client` feature (`no_client.rs` stands in
//! otherwise, and xtask runs the build that has it).

use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use futures::TryStreamExt;
use opendal::{ErrorKind, Operator};
use sha2::{Digest, Sha256};

use super::layout::{self, BlobRef, BuildManifest};
use super::part_file::PartFile;
use super::{signing, Miss, Mode, Published, RemoteConfig, Stats, StoreUrl};

/// A dead or filtered host fails within this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Each request, and each chunk of a transfer, must finish within this.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

/// An open store (opening sends nothing; the first lookup does).
pub struct RemoteStore {
    config: RemoteConfig,
    pub(super) op: Operator,
    runtime: tokio::runtime::Runtime,
    /// Set by the first failure that makes the store unusable.
    off: Mutex<Option<String>>,
    hits: AtomicU64,
    misses: AtomicU64,
    bytes_down: AtomicU64,
    bytes_up: AtomicU64,
}

impl std::fmt::Debug for RemoteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RemoteStore({})", self.config.url)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot set up the remote cache {url}: {error}")]
    Service { url: String, error: opendal::Error },
    #[error("cannot start the remote cache's I/O runtime: {0}")]
    Runtime(io::Error),
    #[error("cannot set up the remote cache's HTTP client: {0}")]
    Http(reqwest::Error),
}

impl RemoteStore {
    pub fn open(config: RemoteConfig) -> Result<RemoteStore, OpenError> {
        let service_error = |error| OpenError::Service {
            url: config.url.to_string(),
            error,
        };
        let op = match &config.url {
            StoreUrl::Dir(dir) => {
                Operator::new(opendal::services::Fs::default().root(&dir.to_string_lossy()))
            }
            StoreUrl::WebDav {
                endpoint,
                root,
                user,
                password,
            } => {
                let mut dav = opendal::services::Webdav::default()
                    .endpoint(endpoint)
                    .root(root);
                if let Some(user) = user {
                    dav = dav.username(user);
                }
                if let Some(password) = password {
                    dav = dav.password(password);
                }
                Operator::new(dav)
            }
            StoreUrl::S3 { bucket, prefix } => {
                let mut s3 = opendal::services::S3::default()
                    .bucket(bucket)
                    .root(&format!("/{prefix}"))
                    .region(&std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()))
                    .disable_config_load()
                    .disable_ec2_metadata();
                if let Some(endpoint) = &config.endpoint {
                    s3 = s3.endpoint(endpoint);
                }
                s3 = match &config.s3_credentials {
                    Some((id, secret)) => s3.access_key_id(id).secret_access_key(secret),
                    None => s3.skip_signature(),
                };
                Operator::new(s3)
            }
        }
        .map_err(service_error)?
        .layer(
            opendal::layers::TimeoutLayer::new()
                .with_timeout(OPERATION_TIMEOUT)
                .with_io_timeout(OPERATION_TIMEOUT),
        );
        // reqwest is built without a crypto provider (no aws-lc); ring is
        // the process default. Installing twice is refused harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(OPERATION_TIMEOUT)
            .build()
            .map_err(OpenError::Http)?;
        let transport = opendal::HttpTransporter::new(
            opendal_http_transport_reqwest::ReqwestTransport::new(client),
        );
        let ctx = op.base_context().with_http_transport(transport);
        let op = op.with_context(ctx);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(OpenError::Runtime)?;
        Ok(RemoteStore {
            config,
            op,
            runtime,
            off: Mutex::new(None),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            bytes_down: AtomicU64::new(0),
            bytes_up: AtomicU64::new(0),
        })
    }

    pub fn url(&self) -> &StoreUrl {
        &self.config.url
    }

    pub fn mode(&self) -> Mode {
        self.config.mode
    }

    pub fn stats(&self) -> Stats {
        Stats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            bytes_down: self.bytes_down.load(Ordering::Relaxed),
            bytes_up: self.bytes_up.load(Ordering::Relaxed),
        }
    }

    /// Downloads the archive of build `build_id` of `package` for `host`
    /// into `dest` (verified, renamed into place); returns its manifest.
    pub fn fetch_build(
        &self,
        host: &str,
        package: &str,
        build_id: &str,
        dest: &Path,
        on_bytes: &mut dyn FnMut(u64, Option<u64>),
    ) -> Result<BuildManifest, Miss> {
        self.counted((|| {
            let path = layout::manifest_path(host, package, build_id);
            let bytes = self.read_small(&path)?;
            if self.config.require_signed {
                let signature = match self.read_small(&layout::signature_path(&path)) {
                    Ok(sig) => Some(sig),
                    Err(Miss::NotFound(_)) => None,
                    Err(other) => return Err(other),
                };
                signing::verify(&self.config.trusted_keys, &bytes, signature.as_deref()).map_err(
                    |error| Miss::Signature {
                        path: path.clone(),
                        error,
                    },
                )?;
            }
            let bad = |why: String| Miss::BadManifest {
                path: path.clone(),
                why,
            };
            let manifest: BuildManifest =
                serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
            if manifest.build_id != build_id || manifest.host != host || manifest.package != package
            {
                return Err(bad(format!(
                    "it describes {} {} for {}",
                    manifest.package, manifest.build_id, manifest.host
                )));
            }
            if !layout::is_sha256_hex(&manifest.archive.sha256) {
                return Err(bad(format!(
                    "archive sha256 {:?} is not 64 hex digits",
                    manifest.archive.sha256
                )));
            }
            self.download_blob(
                &manifest.archive,
                Some(manifest.archive.size),
                dest,
                on_bytes,
            )?;
            Ok(manifest)
        })())
    }

    /// Downloads the source tarball with this pinned sha256 into `dest`.
    pub fn fetch_source(
        &self,
        sha256: &str,
        dest: &Path,
        on_bytes: &mut dyn FnMut(u64, Option<u64>),
    ) -> Result<(), Miss> {
        let blob = BlobRef {
            sha256: sha256.to_owned(),
            size: 0,
        };
        self.counted(self.download_blob(&blob, None, dest, on_bytes))
    }

    /// Counts a lookup's hit or miss.
    fn counted<T>(&self, result: Result<T, Miss>) -> Result<T, Miss> {
        let counter = if result.is_ok() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        result
    }

    /// Publishes a built archive and its manifest: blob, signature,
    /// manifest, each only if absent. Needs read-write mode.
    pub fn publish_build(
        &self,
        manifest: &BuildManifest,
        archive: &Path,
    ) -> Result<Published, Miss> {
        self.publish_blob(&manifest.archive.sha256, archive)?;
        let path = layout::manifest_path(&manifest.host, &manifest.package, &manifest.build_id);
        match self.read_small(&path) {
            Ok(stored) => return Ok(compare_stored(&stored, manifest)),
            Err(Miss::NotFound(_)) => {}
            Err(other) => return Err(other),
        }
        let bytes = manifest.to_bytes();
        if let Some(key) = &self.config.signing_key {
            self.put_if_absent(&layout::signature_path(&path), signing::sign(key, &bytes))?;
        }
        if self.put_if_absent(&path, bytes)? {
            return Ok(Published::Stored);
        }
        // Another publisher got there between our look and our write.
        Ok(compare_stored(&self.read_small(&path)?, manifest))
    }

    /// Uploads the file at `path` as the blob `sha256` unless the store has it.
    pub fn publish_blob(&self, sha256: &str, path: &Path) -> Result<(), Miss> {
        let blob = layout::blob_path(sha256);
        if self.exists(&blob)? {
            return Ok(());
        }
        let bytes = fs::read(path).map_err(|error| Miss::Local {
            dir: path.to_owned(),
            error,
        })?;
        self.put_if_absent(&blob, bytes).map(|_| ())
    }

    /// The store's answer, or the miss it means; marks the store off on
    /// failures that are not about the one object.
    pub(super) fn call<T>(
        &self,
        what: &str,
        op: impl std::future::IntoFuture<Output = opendal::Result<T>>,
    ) -> Result<T, Miss> {
        self.run(op)?.map_err(|e| self.failed(what, e))
    }

    /// Runs `op` unless the store is off.
    fn run<T>(
        &self,
        op: impl std::future::IntoFuture<Output = opendal::Result<T>>,
    ) -> Result<opendal::Result<T>, Miss> {
        if self.off.lock().unwrap().is_some() {
            return Err(Miss::StoreOff);
        }
        Ok(self.runtime.block_on(op.into_future()))
    }

    fn failed(&self, what: &str, error: opendal::Error) -> Miss {
        if error.kind() == ErrorKind::NotFound {
            return Miss::NotFound(what.to_owned());
        }
        let cause = match error.kind() {
            ErrorKind::PermissionDenied => format!(
                "{} denied access to {what} (check the credentials: AWS_ACCESS_KEY_ID / \
                 AWS_SECRET_ACCESS_KEY, or the user in the WebDAV URL): {}",
                self.config.url,
                one_line(&error)
            ),
            _ => format!("{} failed on {what}: {}", self.config.url, one_line(&error)),
        };
        *self.off.lock().unwrap() = Some(cause.clone());
        Miss::StoreFailed(cause)
    }

    pub(super) fn read_small(&self, path: &str) -> Result<Vec<u8>, Miss> {
        let buffer = self.call(path, self.op.read(path))?;
        self.bytes_down
            .fetch_add(buffer.len() as u64, Ordering::Relaxed);
        Ok(buffer.to_vec())
    }

    pub(super) fn exists(&self, path: &str) -> Result<bool, Miss> {
        match self.call(path, self.op.stat(path)) {
            Ok(_) => Ok(true),
            Err(Miss::NotFound(_)) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Writes `bytes` at `path` unless something is there; Ok(false) if it
    /// was. Looks first on every service (nginx's WebDAV has no conditional
    /// PUT); where the service has a conditional write it closes the race.
    fn put_if_absent(&self, path: &str, bytes: Vec<u8>) -> Result<bool, Miss> {
        assert_eq!(
            self.config.mode,
            Mode::ReadWrite,
            "a read-only remote cache client must never write ({path})"
        );
        if self.exists(path)? {
            return Ok(false);
        }
        let conditional = self.op.info().capability().write_with_if_not_exists;
        let len = bytes.len() as u64;
        let write = self.op.write_with(path, bytes).if_not_exists(conditional);
        match self.run(write)? {
            Ok(_) => {
                self.bytes_up.fetch_add(len, Ordering::Relaxed);
                Ok(true)
            }
            // Another publisher wrote it between our look and our write.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConditionNotMatch | ErrorKind::AlreadyExists
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(self.failed(path, e)),
        }
    }

    /// Streams blob `blob` into a temp file in `dest`'s directory, hashing
    /// as it goes; renames it to `dest` only if sha256 (and `size`, when
    /// known) match. A failed or killed download leaves nothing in the
    /// directory: the temp file is unnamed (O_TMPFILE) until it is verified.
    pub(super) fn download_blob(
        &self,
        blob: &BlobRef,
        size: Option<u64>,
        dest: &Path,
        on_bytes: &mut dyn FnMut(u64, Option<u64>),
    ) -> Result<(), Miss> {
        let path = layout::blob_path(&blob.sha256);
        let dir = dest.parent().unwrap_or(Path::new("."));
        let local = |error| Miss::Local {
            dir: dir.to_owned(),
            error,
        };
        fs::create_dir_all(dir).map_err(local)?;
        let mut part = PartFile::create(dir).map_err(local)?;
        let mut hasher = Sha256::new();
        let mut received = 0u64;
        let download = async {
            let mut stream = self.op.reader(&path).await?.into_bytes_stream(..).await?;
            while let Some(chunk) = stream.try_next().await.map_err(store_error)? {
                hasher.update(&chunk);
                part.file().write_all(&chunk).map_err(|e| {
                    opendal::Error::new(ErrorKind::Unexpected, "local write").set_source(e)
                })?;
                received += chunk.len() as u64;
                on_bytes(received, size);
            }
            Ok(())
        };
        self.call(&path, download)?;
        self.bytes_down.fetch_add(received, Ordering::Relaxed);
        let what = format!("blob {}", blob.sha256);
        if let Some(expected) = size.filter(|&s| s != received) {
            return Err(Miss::WrongSize {
                what,
                expected,
                actual: received,
            });
        }
        let actual = hex::encode(hasher.finalize());
        if actual != blob.sha256 {
            return Err(Miss::WrongHash {
                what,
                expected: blob.sha256.clone(),
                actual,
            });
        }
        part.persist(dest).map_err(local)
    }
}

fn compare_stored(stored: &[u8], local: &BuildManifest) -> Published {
    let stored_sha = serde_json::from_slice::<BuildManifest>(stored)
        .map(|m| m.archive.sha256)
        .unwrap_or_else(|e| format!("(unreadable manifest: {e})"));
    if stored_sha == local.archive.sha256 {
        Published::AlreadyThere
    } else {
        Published::NotReproducible {
            stored: stored_sha,
            local: local.archive.sha256.clone(),
        }
    }
}

/// The store's error inside a download stream's `io::Error` (a 404 shows
/// up at the first chunk), so it is classified like any other.
fn store_error(error: io::Error) -> opendal::Error {
    match error
        .into_inner()
        .map(|inner| inner.downcast::<opendal::Error>())
    {
        Some(Ok(store)) => *store,
        Some(Err(other)) => opendal::Error::new(ErrorKind::Unexpected, "download broke off")
            .set_source(io::Error::other(other)),
        None => opendal::Error::new(ErrorKind::Unexpected, "download broke off"),
    }
}

/// OpenDAL's message (which names its sources) on one line.
fn one_line(error: &opendal::Error) -> String {
    error
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
