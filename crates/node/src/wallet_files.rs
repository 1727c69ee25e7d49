//! Where wallets live in a datadir. The default wallet is
//! `<netdir>/wallet.json` (what `kestreld` and the wallet that
//! `kestrel-node` spawns load); named wallets, for wallet processes that
//! attach on their own, are `<netdir>/wallets/<name>.json`.

use std::path::{Path, PathBuf};

/// The name of the datadir's own wallet.
pub const DEFAULT_WALLET: &str = "";

const MAX_NAME_LEN: usize = 64;

/// A wallet name that cannot be a file name in `wallets/`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid wallet name \"{0}\": use 1 to 64 letters, digits, '-' or '_' (the wallet is kept in <datadir>/regtest/wallets/<name>.json)")]
pub struct BadWalletName(pub String);

/// The file of wallet `name` in the network directory `net_dir`.
pub fn wallet_path(net_dir: &Path, name: &str) -> Result<PathBuf, BadWalletName> {
    if name == DEFAULT_WALLET {
        return Ok(net_dir.join("wallet.json"));
    }
    let valid = name.len() <= MAX_NAME_LEN
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
}
