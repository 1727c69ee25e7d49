//! The datadir layout, written out here only: `~/.kestrel` by default, and
//! inside it `regtest/` (Kestrel runs only the regression test chain and
//! keeps bitcoind's layout for it) with the chain, the cookie, debug.log,
//! the lock, the IPC sockets and the wallets. The default wallet is
//! `regtest/wallet.json` (what `kestreld` and the wallet that
//! `kestrel-node` spawns load); named wallets, for wallet processes that
//! attach on their own, are `regtest/wallets/<name>.json`.

use std::path::{Path, PathBuf};

/// The datadir when `-datadir` is not given: `~/.kestrel`.
pub const DEFAULT_DATADIR_NAME: &str = ".kestrel";
/// We always run regtest, and keep bitcoind's layout for it.
pub const NETWORK_DIR: &str = "regtest";
/// Name of the config file inside the datadir.
pub const DEFAULT_CONF_FILE: &str = "kestrel.conf";
/// The name of the datadir's own wallet.
pub const DEFAULT_WALLET: &str = "";

const MAX_WALLET_NAME_LEN: usize = 64;

/// A wallet name that cannot be a file name in `wallets/`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid wallet name \"{0}\": use 1 to 64 letters, digits, '-' or '_' (the wallet is kept in <datadir>/regtest/wallets/<name>.json)")]
pub struct BadWalletName(pub String);

/// The data directory; every path inside it comes from here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    pub root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> DataDir {
        DataDir { root: root.into() }
    }

    /// `~/.kestrel`; `None` when HOME is unset or empty.
    pub fn default_root() -> Option<PathBuf> {
        std::env::var_os("HOME")
            .filter(|home| !home.is_empty())
            .map(|home| Path::new(&home).join(DEFAULT_DATADIR_NAME))
    }

    /// `<datadir>/regtest`: chain, wallet, cookie, debug.log, lock.
    pub fn net_dir(&self) -> PathBuf {
        self.root.join(NETWORK_DIR)
    }

    /// The config file read when `-conf` is not given.
    pub fn default_conf_path(&self) -> PathBuf {
        self.root.join(DEFAULT_CONF_FILE)
    }

    /// The RPC cookie file.
    pub fn cookie_path(&self) -> PathBuf {
        self.net_dir().join(".cookie")
    }

    /// The log of the node (and of its wallet process and gui).
    pub fn debug_log_path(&self) -> PathBuf {
        self.net_dir().join("debug.log")
    }

    /// Where the chain keeps its block file.
    pub fn blocks_dir(&self) -> PathBuf {
        self.net_dir().join("blocks")
    }

    /// The `-ipcbind=unix` / `-ipcconnect=unix` socket:
    /// `<datadir>/regtest/sockets/node.sock`.
    pub fn default_socket_path(&self) -> PathBuf {
        self.net_dir().join("sockets").join("node.sock")
    }

    /// The file of wallet `name` (see [`wallet_path`]).
    pub fn wallet_path(&self, name: &str) -> Result<PathBuf, BadWalletName> {
        wallet_path(&self.net_dir(), name)
    }

    /// Creates the network directory (and a default datadir) if needed.
    pub fn create_net_dir(&self) -> std::io::Result<PathBuf> {
        let dir = self.net_dir();
        std::fs::create_dir_all(&dir).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("Cannot create data directory {}: {e}", dir.display()),
            )
        })?;
        Ok(dir)
    }
}

/// The file of wallet `name` in the network directory `net_dir`.
pub fn wallet_path(net_dir: &Path, name: &str) -> Result<PathBuf, BadWalletName> {
    if name == DEFAULT_WALLET {
        return Ok(net_dir.join("wallet.json"));
    }
    let valid = name.len() <= MAX_WALLET_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(BadWalletName(name.to_string()));
    }
    Ok(net_dir.join("wallets").join(format!("{name}.json")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_named_wallets() {
        let net = Path::new("/d/regtest");
        assert_eq!(
            wallet_path(net, DEFAULT_WALLET).unwrap(),
            Path::new("/d/regtest/wallet.json")
        );
        assert_eq!(
            wallet_path(net, "savings-2_b").unwrap(),
            Path::new("/d/regtest/wallets/savings-2_b.json")
        );
    }

    #[test]
    fn names_that_would_leave_wallets_dir_are_refused() {
        let net = Path::new("/d/regtest");
        for bad in ["..", "../x", "a/b", ".hidden", "a b", &"x".repeat(65)] {
            let err = wallet_path(net, bad).unwrap_err();
            assert!(err.to_string().contains("Invalid wallet name"), "{bad}");
        }
    }

    #[test]
    fn every_path_is_inside_the_network_directory() {
        let datadir = DataDir::new("/data");
        assert_eq!(datadir.net_dir(), Path::new("/data/regtest"));
        assert_eq!(datadir.cookie_path(), Path::new("/data/regtest/.cookie"));
        assert_eq!(
            datadir.debug_log_path(),
            Path::new("/data/regtest/debug.log")
        );
        assert_eq!(datadir.blocks_dir(), Path::new("/data/regtest/blocks"));
        assert_eq!(
            datadir.default_socket_path(),
            Path::new("/data/regtest/sockets/node.sock")
        );
        assert_eq!(datadir.default_conf_path(), Path::new("/data/kestrel.conf"));
    }
}
