//! Real stores for the remote cache tests, each started on 127.0.0.1 on an
//! ephemeral port with its data in a temp dir, and stopped when dropped: a
//! plain directory, nginx with its WebDAV modules, and s3s-fs (a local S3
//! server). `ci/install-prerequisites.sh` installs the servers.

// Each test crate that includes this uses only some of it.
#![allow(dead_code)]

use std::fs;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kestrel_depends::remote::{Mode, RemoteConfig, StoreUrl};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    WebDav,
    S3,
}

pub const ALL: [Kind; 3] = [Kind::Dir, Kind::WebDav, Kind::S3];

pub const ACCESS_KEY: &str = "kestrel-test";
pub const SECRET_KEY: &str = "kestrel-test-secret";
const BUCKET: &str = "cache";

pub struct Store {
    pub kind: Kind,
    /// Keeps the data (and the server's config and logs) alive.
    _dir: tempfile::TempDir,
    /// Where object `v1/...` lives on disk: `<data>/v1/...`.
    data: PathBuf,
    access_log: Option<PathBuf>,
    url: String,
    endpoint: Option<String>,
    server: Option<Child>,
}

impl Store {
    pub fn start(kind: Kind) -> Store {
        Store::start_throttled(kind, "0")
    }

    /// `start`, with nginx sending at most `rate` bytes per second per
    /// download (nginx's `limit_rate`, e.g. `64k`; `0`: unlimited).
    pub fn start_throttled(kind: Kind, rate: &str) -> Store {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        match kind {
            Kind::Dir => {
                let data = root.join("store");
                fs::create_dir_all(&data).unwrap();
                Store {
                    kind,
                    url: format!("file://{}", data.display()),
                    data,
                    _dir: dir,
                    access_log: None,
                    endpoint: None,
                    server: None,
                }
            }
            Kind::WebDav => {
                let data = root.join("dav");
                fs::create_dir_all(&data).unwrap();
                let port = free_port();
                let log = root.join("access.log");
                // As root the workers would otherwise run as nobody and
                // could not write the temp dir.
                let root_user =
                    std::os::unix::fs::MetadataExt::uid(&fs::metadata("/proc/self").unwrap()) == 0;
                let user = if root_user { "user root root;" } else { "" };
                let conf = format!(
                    "load_module /usr/lib/nginx/modules/ngx_http_dav_ext_module.so;\n\
                     {user}\nworker_processes 1;\npid {root}/nginx.pid;\n\
                     error_log {root}/error.log;\ndaemon off;\n\
                     events {{ worker_connections 64; }}\n\
                     http {{\n  access_log {log};\n\
                       client_body_temp_path {root}/body;\n\
                       server {{\n    listen 127.0.0.1:{port};\n    root {data};\n\
                         client_max_body_size 0;\n    limit_rate {rate};\n\
                         location / {{\n      dav_methods PUT DELETE MKCOL COPY MOVE;\n\
                           dav_ext_methods PROPFIND OPTIONS;\n      create_full_put_path on;\n\
                           dav_access user:rw group:rw all:r;\n    }}\n  }}\n}}\n",
                    root = root.display(),
                    log = log.display(),
                    data = data.display(),
                );
                let conf_path = root.join("nginx.conf");
                fs::write(&conf_path, conf).unwrap();
                let server = spawn(
                    Command::new("nginx")
                        .arg("-p")
                        .arg(&root)
                        .arg("-c")
                        .arg(&conf_path)
                        .arg("-e")
                        .arg(root.join("error.log")),
                    port,
                    &root.join("error.log"),
                );
                Store {
                    kind,
                    url: format!("webdav+http://127.0.0.1:{port}/"),
                    data,
                    _dir: dir,
                    access_log: Some(log),
                    endpoint: None,
                    server: Some(server),
                }
            }
            Kind::S3 => {
                let fs_root = root.join("s3");
                fs::create_dir_all(fs_root.join(BUCKET)).unwrap();
                let port = free_port();
                let log = root.join("s3s.log");
                let server = spawn(
                    Command::new("s3s-fs")
                        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                        .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                        .arg(&fs_root)
                        .env("RUST_LOG", "s3s=debug,s3s_fs=debug")
                        .stdout(fs::File::create(&log).unwrap())
                        .stderr(fs::File::create(root.join("s3s.err")).unwrap()),
                    port,
                    &root.join("s3s.err"),
                );
                Store {
                    kind,
                    url: format!("s3://{BUCKET}/"),
                    data: fs_root.join(BUCKET),
                    _dir: dir,
                    access_log: Some(log),
                    endpoint: Some(format!("http://127.0.0.1:{port}")),
                    server: Some(server),
                }
            }
        }
    }

    /// A client of this store in `mode`, with the right credentials.
    pub fn config(&self, mode: Mode) -> RemoteConfig {
        let mut config = RemoteConfig::new(StoreUrl::parse(&self.url).unwrap());
        config.endpoint = self.endpoint.clone();
        config.mode = mode;
        config.s3_credentials = Some((ACCESS_KEY.into(), SECRET_KEY.into()));
        config
    }

    /// The file holding object `key` (`v1/...`).
    pub fn object_file(&self, key: &str) -> PathBuf {
        self.data.join(key)
    }

    /// Every object under `prefix` (`v1/blobs`, `v1/<host>/<pkg>`), as keys.
    pub fn objects(&self, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![self.data.join(prefix)];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let key = path.strip_prefix(&self.data).unwrap();
                    out.push(key.to_string_lossy().into_owned());
                }
            }
        }
        out.sort();
        out.retain(|k| !k.contains(".s3s") && !k.ends_with(".metadata.json"));
        out
    }

    /// The server's request log so far (None for the directory store).
    pub fn access_log(&self) -> Option<String> {
        let path = self.access_log.as_ref()?;
        let mut text = String::new();
        fs::File::open(path)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        Some(text)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            // nginx's workers outlive a killed master: ask it to stop.
            let _ = Command::new("kill")
                .args(["-TERM", &server.id().to_string()])
                .status();
            let _ = server.wait();
        }
    }
}

/// A port on 127.0.0.1 nobody listens on (bound, then released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Starts the server and waits until it accepts connections.
fn spawn(command: &mut Command, port: u16, error_log: &Path) -> Child {
    let mut child = command.stdin(Stdio::null()).spawn().unwrap_or_else(|e| {
        panic!("cannot start {command:?}: {e} (run ci/install-prerequisites.sh)")
    });
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let start = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{command:?} exited with {status}: {}",
                fs::read_to_string(error_log).unwrap_or_default()
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{command:?} did not listen on {addr} within 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}
