//! Nix-style mirror schemes: `mirror://<scheme>/<path>` in a recipe names a
//! file by its place in a well-known archive, and the base URL of that archive
//! comes from this machine's configuration, never from the repository.
//!
//! The only scheme is `debian`: its base is `DEPENDS_MIRROR_DEBIAN`, or else
//! the first Debian main archive named by the apt configuration.

use std::fs;
use std::path::Path;

/// Environment variable naming the base URL of a Debian archive.
pub const DEBIAN_MIRROR_ENV: &str = "DEPENDS_MIRROR_DEBIAN";

const MIRROR_PREFIX: &str = "mirror://";

/// Base URLs for the mirror schemes this machine can resolve.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mirrors {
    debian: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MirrorError {
    #[error(
        "no base URL for mirror scheme `debian` (needed by `{url}`): set \
         {DEBIAN_MIRROR_ENV} to a Debian archive URL, or configure one in apt's sources"
    )]
    NotConfigured { url: String },
    #[error("unknown mirror scheme `{scheme}` in `{url}`: the known scheme is `debian` (mirror://debian/pool/...)")]
    UnknownScheme { url: String, scheme: String },
    #[error("malformed mirror URL `{url}`: expected mirror://<scheme>/<path>")]
    Malformed { url: String },
    #[error("unsupported URL `{url}`: use http://, https:// or mirror://<scheme>/<path>")]
    UnsupportedUrl { url: String },
}

/// True for `mirror://` URLs, which are tried after upstream and fallback.
pub fn is_mirror_url(url: &str) -> bool {
    url.starts_with(MIRROR_PREFIX)
}

impl Mirrors {
    /// Mirrors with the Debian archive at `base` (a trailing `/` is ignored).
    pub fn with_debian(base: &str) -> Mirrors {
        Mirrors {
            debian: Some(base.trim_end_matches('/').to_owned()),
        }
    }

    /// The Debian archive base URL, if one is configured.
    pub fn debian(&self) -> Option<&str> {
        self.debian.as_deref()
    }

    /// `DEPENDS_MIRROR_DEBIAN`, else the apt configuration under `apt_root`
    /// (normally `/etc/apt`).
    pub fn from_env_and_apt(apt_root: &Path) -> Mirrors {
        Mirrors::from_env_value_and_apt(std::env::var(DEBIAN_MIRROR_ENV).ok().as_deref(), apt_root)
    }

    /// As [`Mirrors::from_env_and_apt`], with the variable's value passed in.
    /// An empty value counts as unset.
    pub fn from_env_value_and_apt(debian_env: Option<&str>, apt_root: &Path) -> Mirrors {
        match debian_env.map(str::trim).filter(|v| !v.is_empty()) {
            Some(base) => Mirrors::with_debian(base),
            None => Mirrors {
                debian: debian_archive_from_apt(apt_root)
                    .map(|b| b.trim_end_matches('/').to_owned()),
            },
        }
    }

    /// The URL to download for `url`: http(s) URLs pass through unchanged,
    /// `mirror://debian/<path>` becomes `<debian base>/<path>`.
    pub fn resolve(&self, url: &str) -> Result<String, MirrorError> {
        let Some(rest) = url.strip_prefix(MIRROR_PREFIX) else {
            return if url.starts_with("http://") || url.starts_with("https://") {
                Ok(url.to_owned())
            } else {
                Err(MirrorError::UnsupportedUrl {
                    url: url.to_owned(),
                })
            };
        };
        let (scheme, path) = rest
            .split_once('/')
            .filter(|(scheme, path)| !scheme.is_empty() && !path.is_empty())
            .ok_or_else(|| MirrorError::Malformed {
                url: url.to_owned(),
            })?;
        match scheme {
            "debian" => self
                .debian
                .as_deref()
                .map(|base| format!("{base}/{}", path.trim_start_matches('/')))
                .ok_or_else(|| MirrorError::NotConfigured {
                    url: url.to_owned(),
                }),
            _ => Err(MirrorError::UnknownScheme {
                url: url.to_owned(),
                scheme: scheme.to_owned(),
            }),
        }
    }
}

/// One apt source entry, from either file format.
#[derive(Debug, Default)]
struct AptSource {
    types: Vec<String>,
    uris: Vec<String>,
    suites: Vec<String>,
    components: Vec<String>,
    signed_by: String,
    enabled: bool,
}

impl AptSource {
    /// A binary-package source of Debian's main archive: component `main`,
    /// not the security archive, and either a `debian` path segment or
    /// Debian's archive keyring (third-party repositories have neither).
    fn is_debian_main_archive(&self) -> bool {
        let Some(uri) = self.uris.first() else {
            return false;
        };
        let segments: Vec<&str> = uri_path(uri).split('/').collect();
        self.enabled
            && self.types.iter().any(|t| t == "deb")
            && self.components.iter().any(|c| c == "main")
            && !self.suites.is_empty()
            && !self.suites.iter().any(|s| s.ends_with("-security"))
            && !segments.iter().any(|s| s.ends_with("-security"))
            && (segments.contains(&"debian") || self.signed_by.contains("debian-archive-keyring"))
    }
}

/// The path part of `scheme://host/path`.
fn uri_path(uri: &str) -> &str {
    let after_scheme = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    after_scheme.split_once('/').map_or("", |(_, path)| path)
}

/// The first Debian main archive in apt's configuration, read in apt's own
/// order: `sources.list`, then `sources.list.d/` by file name. Files apt
/// ignores (other extensions, e.g. `*.disabled`) are ignored here too, and so
/// are unreadable ones: this is a best-effort default, not required config.
fn debian_archive_from_apt(apt_root: &Path) -> Option<String> {
    let mut files = vec![apt_root.join("sources.list")];
    if let Ok(entries) = fs::read_dir(apt_root.join("sources.list.d")) {
        let mut parts: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("list" | "sources")
                )
            })
            .collect();
        parts.sort();
        files.extend(parts);
    }
    files.iter().find_map(|file| {
        let text = fs::read_to_string(file).ok()?;
        let sources = if file.extension().is_some_and(|e| e == "sources") {
            parse_deb822(&text)
        } else {
            parse_one_line(&text)
        };
        sources
            .into_iter()
            .find(AptSource::is_debian_main_archive)
            .and_then(|s| s.uris.into_iter().next())
    })
}

/// One-line format: `deb [opt=val ...] URI SUITE [COMPONENT...]`.
fn parse_one_line(text: &str) -> Vec<AptSource> {
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next().unwrap_or("").trim();
            let (kind, mut rest) = line.split_once(char::is_whitespace)?;
            let mut signed_by = String::new();
            if let Some(options) = rest.trim_start().strip_prefix('[') {
                let (options, after) = options.split_once(']')?;
                signed_by = options
                    .split_whitespace()
                    .find_map(|o| o.strip_prefix("signed-by="))
                    .unwrap_or("")
                    .to_owned();
                rest = after;
            }
            let mut words = rest.split_whitespace().map(str::to_owned);
            Some(AptSource {
                types: vec![kind.to_owned()],
                uris: words.next().into_iter().collect(),
                suites: words.next().into_iter().collect(),
                components: words.collect(),
                signed_by,
                enabled: true,
            })
        })
        .collect()
}

/// deb822 format: stanzas of `Field: value` separated by blank lines;
/// indented lines continue the previous field.
fn parse_deb822(text: &str) -> Vec<AptSource> {
    let mut sources = Vec::new();
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines().chain(std::iter::once("")) {
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            if !fields.is_empty() {
                sources.push(source_from_stanza(&fields));
                fields.clear();
            }
        } else if line.starts_with(char::is_whitespace) {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    sources
}

fn source_from_stanza(fields: &[(String, String)]) -> AptSource {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let words = |name: &str| field(name).split_whitespace().map(str::to_owned).collect();
    AptSource {
        types: words("types"),
        uris: words("uris"),
        suites: words("suites"),
        components: words("components"),
        signed_by: field("signed-by").to_owned(),
        enabled: !field("enabled").eq_ignore_ascii_case("no"),
    }
}
