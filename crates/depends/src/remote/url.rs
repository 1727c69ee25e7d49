//! The remote cache's URL forms: `file:///dir`, `webdav+http(s)://host/path`
//! (optionally `user:password@host`) and `s3://bucket/prefix`.

use std::fmt;
use std::path::PathBuf;

/// Where a remote cache lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// A directory (a shared mount, or a test store).
    Dir(PathBuf),
    /// A WebDAV server: `endpoint` is `http(s)://host[:port]`, `root` the
    /// path below it.
    WebDav {
        endpoint: String,
        root: String,
        user: Option<String>,
        password: Option<String>,
    },
    /// An S3 bucket; the server comes from `--remote-cache-endpoint`
    /// (AWS when unset).
    S3 { bucket: String, prefix: String },
}

#[derive(Debug, thiserror::Error)]
#[error(
    "remote cache URL {url:?} {why}: use file:///dir, webdav+http://host:port/path \
     (or webdav+https://), or s3://bucket/prefix"
)]
pub struct UrlError {
    url: String,
    why: &'static str,
}

impl StoreUrl {
    pub fn parse(url: &str) -> Result<StoreUrl, UrlError> {
        let error = |why| UrlError {
            url: url.to_owned(),
            why,
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| error("has no scheme"))?;
        match scheme {
            "file" => {
                if !rest.starts_with('/') {
                    return Err(error("must name an absolute directory (file:///dir)"));
                }
                Ok(StoreUrl::Dir(PathBuf::from(rest)))
            }
            "webdav+http" | "webdav+https" => {
                let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                let (userinfo, host) = match authority.rsplit_once('@') {
                    Some((userinfo, host)) => (Some(userinfo), host),
                    None => (None, authority),
                };
                if host.is_empty() {
                    return Err(error("has no host"));
                }
                let (user, password) = match userinfo.map(|u| u.split_once(':')) {
                    None => (None, None),
                    Some(None) => (userinfo.map(str::to_owned), None),
                    Some(Some((user, password))) => {
                        (Some(user.to_owned()), Some(password.to_owned()))
                    }
                };
                Ok(StoreUrl::WebDav {
                    endpoint: format!("{}://{host}", &scheme["webdav+".len()..]),
                    root: if path.is_empty() { "/" } else { path }.to_owned(),
                    user,
                    password,
                })
            }
            "s3" => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(error("has no bucket"));
                }
                Ok(StoreUrl::S3 {
                    bucket: bucket.to_owned(),
                    prefix: prefix.trim_matches('/').to_owned(),
                })
            }
            _ => Err(error("has an unknown scheme")),
        }
    }
}

/// The URL without credentials, for log lines.
impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Dir(dir) => write!(f, "file://{}", dir.display()),
            StoreUrl::WebDav { endpoint, root, .. } => write!(f, "webdav+{endpoint}{root}"),
            StoreUrl::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(
            StoreUrl::parse("file:///srv/cache").unwrap(),
            StoreUrl::Dir("/srv/cache".into())
        );
        assert_eq!(
            StoreUrl::parse("webdav+https://ci:secret@dav.example:8443/kestrel").unwrap(),
            StoreUrl::WebDav {
                endpoint: "https://dav.example:8443".into(),
                root: "/kestrel".into(),
                user: Some("ci".into()),
                password: Some("secret".into()),
            }
        );
        let s3 = StoreUrl::parse("s3://builds/kestrel/depends/").unwrap();
        assert_eq!(
            s3,
            StoreUrl::S3 {
                bucket: "builds".into(),
                prefix: "kestrel/depends".into()
            }
        );
        assert_eq!(s3.to_string(), "s3://builds/kestrel/depends");
    }

    #[test]
    fn display_hides_the_password() {
        let url = StoreUrl::parse("webdav+http://ci:secret@127.0.0.1:8080/c").unwrap();
        assert_eq!(url.to_string(), "webdav+http://127.0.0.1:8080/c");
    }

    #[test]
    fn rejects_what_it_cannot_use() {
        for (url, why) in [
            ("/srv/cache", "no scheme"),
            ("file://relative", "absolute"),
            ("s3:///prefix", "no bucket"),
            ("ftp://host/x", "unknown scheme"),
            ("webdav+http:///x", "no host"),
        ] {
            let err = StoreUrl::parse(url).unwrap_err().to_string();
            assert!(err.contains(why), "{url}: {err}");
        }
    }
}
