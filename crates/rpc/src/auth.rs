//! RPC credentials: bitcoind's cookie file (`__cookie__:<random hex>`,
//! mode 0600, replaced atomically at start, removed at clean shutdown) or
//! `-rpcuser`/`-rpcpassword`, checked against HTTP basic authentication.

use std::io;
#[cfg(feature = "server")]
use std::io::Write;
#[cfg(feature = "server")]
use std::os::unix::fs::OpenOptionsExt;

#[cfg(feature = "server")]
use atomic_write_file::unix::OpenOptionsExt as _;
#[cfg(feature = "server")]
use atomic_write_file::AtomicWriteFile;
use std::path::Path;
#[cfg(feature = "server")]
use std::path::PathBuf;

use base64::Engine;

/// The user name of cookie authentication.
pub const COOKIE_USER: &str = "__cookie__";

/// The one accepted `user:password`.
#[derive(Clone)]
pub struct RpcAuth {
    user_password: String,
}

impl RpcAuth {
    pub fn new(user: &str, password: &str) -> RpcAuth {
        RpcAuth {
            user_password: format!("{user}:{password}"),
        }
    }

    /// Whether an `Authorization` header value carries the credentials.
    pub fn accepts(&self, authorization: Option<&str>) -> bool {
        let Some(encoded) = authorization.and_then(|h| h.trim().strip_prefix("Basic ")) else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        constant_time_eq(&decoded, self.user_password.as_bytes())
    }

    /// The credentials a cookie file holds (`__cookie__:<hex>`); `None`
    /// when `text` is not `user:password`.
    pub fn from_cookie(text: &str) -> Option<RpcAuth> {
        let (user, password) = text.trim().split_once(':')?;
        Some(RpcAuth::new(user, password))
    }

    /// The `Authorization` header value a client sends.
    pub fn header(&self) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(&self.user_password)
        )
    }
}

/// Compares without stopping at the first difference, so the time taken
/// does not reveal how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The cookie file of a running server.
#[cfg(feature = "server")]
#[derive(Debug)]
pub struct CookieFile {
    path: PathBuf,
}

#[cfg(feature = "server")]
impl CookieFile {
    /// Writes a fresh cookie at `path` (through a temporary file, mode 0600
    /// from the start, and a rename, so a reader never sees a partial one)
    /// and returns the credentials it holds.
    pub fn create(path: &Path) -> io::Result<(CookieFile, RpcAuth)> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(io::Error::other)?;
        let password = hex::encode(secret);
        let mut file = AtomicWriteFile::options()
            .mode(0o600)
            .preserve_mode(false)
            .open(path)?;
        file.write_all(format!("{COOKIE_USER}:{password}").as_bytes())?;
        file.commit()?;
        Ok((
            CookieFile {
                path: path.to_path_buf(),
            },
            RpcAuth::new(COOKIE_USER, &password),
        ))
    }

    /// Removes the cookie: the server is no longer there to accept it.
    pub fn remove(self) -> io::Result<()> {
        std::fs::remove_file(&self.path)
    }
}

/// Reads the credentials a running server wrote to its cookie file.
pub fn read_cookie(path: &Path) -> io::Result<RpcAuth> {
    let text = std::fs::read_to_string(path)?;
    RpcAuth::from_cookie(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} is not a cookie file (expected user:password)",
                path.display()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn basic_auth_header_round_trip_and_rejections() {
        let auth = RpcAuth::new("alice", "s3cret");
        assert!(auth.accepts(Some(&auth.header())));
        assert!(!auth.accepts(None));
        assert!(!auth.accepts(Some(&RpcAuth::new("alice", "wrong").header())));
        assert!(!auth.accepts(Some(&RpcAuth::new("alice", "s3cre").header())));
        assert!(!auth.accepts(Some("Basic !!!notbase64")));
        assert!(!auth.accepts(Some("Bearer xyz")));
    }

    #[cfg(feature = "server")]
    #[test]
    fn cookie_is_private_random_readable_and_removable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".cookie");
        let (cookie, auth) = CookieFile::create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        let secret = text.strip_prefix("__cookie__:").expect(&text);
        assert_eq!(secret.len(), 64);
        assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(auth.accepts(Some(&read_cookie(&path).unwrap().header())));
        assert!(!dir.path().join(".cookie.tmp").exists());

        // A restart replaces the cookie with a new secret.
        let (second, second_auth) = CookieFile::create(&path).unwrap();
        assert!(!second_auth.accepts(Some(&auth.header())));
        drop(cookie);
        second.remove().unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn cookie_credentials() {
        let auth = RpcAuth::from_cookie("__cookie__:abc:def\n").unwrap();
        assert!(auth.accepts(Some(&RpcAuth::new("__cookie__", "abc:def").header())));
        assert_eq!(RpcAuth::new("a", "b").header(), "Basic YTpi");
        assert!(RpcAuth::from_cookie("garbage").is_none());
    }

    #[test]
    fn malformed_cookie_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".cookie");
        std::fs::write(&path, "garbage").unwrap();
        let err = read_cookie(&path).err().unwrap();
        assert!(err.to_string().contains("not a cookie file"), "{err}");
    }
}
