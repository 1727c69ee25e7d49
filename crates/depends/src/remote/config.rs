//! What a client of the remote cache is told: where the store is, whether it
//! may write, which signatures it trusts and signs with.

use std::path::Path;

use super::signing::{self, SigningKey, VerifyingKey};
use super::url::{StoreUrl, UrlError};

/// Whether this client may write to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    ReadOnly,
    ReadWrite,
}

/// How to reach a store and what to trust from it.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    pub url: StoreUrl,
    /// The S3 server (`--remote-cache-endpoint`); AWS when None.
    pub endpoint: Option<String>,
    pub mode: Mode,
    /// Accept only manifests signed by one of `trusted_keys`.
    pub require_signed: bool,
    pub trusted_keys: Vec<VerifyingKey>,
    /// Signs what this client publishes.
    pub signing_key: Option<SigningKey>,
    /// S3 credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`); no
    /// other source is read (no `~/.aws`, no instance metadata).
    pub s3_credentials: Option<(String, String)>,
}

impl RemoteConfig {
    /// Read-only, unsigned, credentials from the environment.
    pub fn new(url: StoreUrl) -> RemoteConfig {
        let env = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        RemoteConfig {
            url,
            endpoint: None,
            mode: Mode::ReadOnly,
            require_signed: false,
            trusted_keys: Vec::new(),
            signing_key: None,
            s3_credentials: env("AWS_ACCESS_KEY_ID").zip(env("AWS_SECRET_ACCESS_KEY")),
        }
    }
}

/// Settings as a user gives them (flags or environment), before checking.
#[derive(Debug, Default)]
pub struct RemoteSettings<'a> {
    pub url: &'a str,
    pub endpoint: Option<&'a str>,
    pub mode: Mode,
    pub require_signed: bool,
    /// `KESTREL_CACHE_TRUSTED_KEYS`: hex public keys.
    pub trusted_keys: Option<&'a str>,
    /// A secret key file from `cargo xtask cache keygen`.
    pub secret_key: Option<&'a Path>,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error(transparent)]
    Key(#[from] signing::KeyError),
    #[error(
        "--require-signed needs trusted keys: set KESTREL_CACHE_TRUSTED_KEYS to the \
         publishers' public keys (`cargo xtask cache keygen` prints one)"
    )]
    NoTrustedKeys,
    #[error("a signing key only matters when publishing: add --remote-cache-mode read-write")]
    KeyWithoutWrites,
}

impl RemoteConfig {
    /// The configuration `settings` describe; credentials from the
    /// environment.
    pub fn from_settings(settings: &RemoteSettings) -> Result<RemoteConfig, SettingsError> {
        let mut config = RemoteConfig::new(StoreUrl::parse(settings.url)?);
        config.endpoint = settings.endpoint.map(str::to_owned);
        config.mode = settings.mode;
        config.require_signed = settings.require_signed;
        config.trusted_keys = signing::parse_public_keys(settings.trusted_keys.unwrap_or(""))?;
        if config.require_signed && config.trusted_keys.is_empty() {
            return Err(SettingsError::NoTrustedKeys);
        }
        if let Some(path) = settings.secret_key {
            if config.mode != Mode::ReadWrite {
                return Err(SettingsError::KeyWithoutWrites);
            }
            config.signing_key = Some(signing::read_secret_key(path)?);
        }
        Ok(config)
    }
}

impl Mode {
    /// `KESTREL_REMOTE_CACHE_RW_MODE` (sccache's spelling): `READ_WRITE` or
    /// `READ_ONLY`; unset or empty is read-only.
    pub fn from_env_value(value: Option<&str>) -> Result<Mode, String> {
        match value {
            None | Some("") | Some("READ_ONLY") => Ok(Mode::ReadOnly),
            Some("READ_WRITE") => Ok(Mode::ReadWrite),
            Some(other) => Err(format!(
                "KESTREL_REMOTE_CACHE_RW_MODE={other:?} is not understood: use READ_ONLY or READ_WRITE"
            )),
        }
    }
}
