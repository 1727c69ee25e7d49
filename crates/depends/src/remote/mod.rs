//! The remote cache: built archives and source tarballs shared through a
//! store a team already runs (a directory, WebDAV, S3), through Apache
//! OpenDAL. Layout and manifests: [`layout`]; trust: [`signing`].
//!
//! Every failure to get something from the store is a [`Miss`]: the caller
//! warns once and builds (or downloads) locally. The first failure that says
//! the store itself is unusable (unreachable, timed out, access denied) turns
//! the store off for the rest of the run, so a dead server costs one
//! connect timeout, not one per package.

#[cfg(feature = "store-client")]
mod client;
mod config;
pub mod inventory;
pub mod layout;
#[cfg(not(feature = "store-client"))]
mod no_client;
#[cfg_attr(not(feature = "store-client"), allow(dead_code))]
mod part_file;
mod run;
pub mod signing;
pub mod url;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

#[cfg(feature = "store-client")]
pub use client::{OpenError, RemoteStore};
pub use config::{Mode, RemoteConfig, RemoteSettings, SettingsError};
#[cfg(not(feature = "store-client"))]
pub use no_client::{OpenError, RemoteStore};
use signing::SignatureError;
pub use url::{StoreUrl, UrlError};

/// Whether this build has the store client (the `store-client` feature).
/// Without it, a run that needs the store stops with [`ClientMissing`].
pub const HAS_CLIENT: bool = cfg!(feature = "store-client");

/// A run needed the store, and this build has no store client: the caller
/// (xtask) runs the build that has one.
#[derive(Debug, thiserror::Error)]
#[error(
    "this build has no remote cache client (kestrel-depends' `store-client` feature): \
     `cargo xtask` runs the build that has it; by hand, add `--features xtask/store-client`"
)]
pub struct ClientMissing;

/// Why the store did not give something; the caller falls back to local work.
#[derive(Debug, thiserror::Error)]
pub enum Miss {
    #[error("{0} is not in the store")]
    NotFound(String),
    #[error("{0}; not using the store again in this run")]
    StoreFailed(String),
    #[error("the store failed earlier in this run")]
    StoreOff,
    #[error("{what} from the store had sha256 {actual}, expected {expected}; deleted it")]
    WrongHash {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{what} from the store had {actual} bytes, expected {expected}; deleted it")]
    WrongSize {
        what: String,
        expected: u64,
        actual: u64,
    },
    #[error("manifest {path} is not usable: {why}")]
    BadManifest { path: String, why: String },
    #[error("manifest {path} rejected: {error}")]
    Signature { path: String, error: SignatureError },
    #[error("cannot store the download in {}: {error}", .dir.display())]
    Local { dir: PathBuf, error: io::Error },
}

impl Miss {
    /// Whether this miss says something the user should see (a lookup
    /// skipped because the store is off was already explained).
    pub fn is_news(&self) -> bool {
        !matches!(self, Miss::StoreOff)
    }
}

/// What publishing one build did.
#[derive(Debug, PartialEq, Eq)]
pub enum Published {
    /// The manifest is new.
    Stored,
    /// The store already had this build with the same bytes.
    AlreadyThere,
    /// The store has this build id with other bytes: the build is not
    /// reproducible. The stored manifest stays.
    NotReproducible { stored: String, local: String },
}

/// Counts of lookups and transfers against the store (one run's, or all
/// runs' of a tree: `depends/work/remote-cache-stats.json`).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    pub hits: u64,
    pub misses: u64,
    pub bytes_down: u64,
    pub bytes_up: u64,
}

impl Stats {
    /// The totals kept at `path` (zero if there are none yet).
    pub fn read(path: &Path) -> Stats {
        fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Adds these counts to the totals at `path`.
    pub fn add_to(&self, path: &Path) -> io::Result<()> {
        let old = Stats::read(path);
        let total = Stats {
            hits: old.hits + self.hits,
            misses: old.misses + self.misses,
            bytes_down: old.bytes_down + self.bytes_down,
            bytes_up: old.bytes_up + self.bytes_up,
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        fs::write(
            path,
            serde_json::to_vec_pretty(&total).expect("plain data serializes"),
        )
    }
}
