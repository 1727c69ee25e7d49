//! Double SHA-256 and the hash newtypes built on it.

use std::fmt;
use std::str::FromStr;

use kestrel_interfaces::Hash256;
use sha2::{Digest, Sha256};

/// SHA-256 applied twice, as Bitcoin uses for ids and checksums.
pub fn sha256d(data: &[u8]) -> Hash256 {
    Sha256::digest(Sha256::digest(data)).into()
}

/// A hash as bitcoind shows it: the bytes reversed, in hex.
pub fn hash_to_hex(hash: &Hash256) -> String {
    let mut reversed = *hash;
    reversed.reverse();
    hex::encode(reversed)
}

/// Why a hash could not be parsed from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashParseError {
    #[error("hash must be 64 hex characters, got {0}")]
    BadLength(usize),
    #[error("hash must be hexadecimal: {0}")]
    BadHex(String),
}

macro_rules! hash_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Holds the hash in internal byte order; `Display` and `FromStr` use
        /// the byte-reversed hex that bitcoind shows.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub Hash256);

        impl $name {
            pub fn as_bytes(&self) -> &Hash256 {
                &self.0
            }
        }

        impl From<Hash256> for $name {
            fn from(bytes: Hash256) -> Self {
                $name(bytes)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hash_to_hex(&self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        impl FromStr for $name {
            type Err = HashParseError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                if s.len() != 64 {
                    return Err(HashParseError::BadLength(s.len()));
                }
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(s, &mut bytes)
                    .map_err(|e| HashParseError::BadHex(e.to_string()))?;
                bytes.reverse();
                Ok($name(bytes))
            }
        }
    };
}

hash_newtype!(
    /// The id of a block: double SHA-256 of its serialized header.
    BlockHash
);
hash_newtype!(
    /// The id of a transaction: double SHA-256 of its serialization.
    Txid
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_reversed_hex_and_parses_back() {
        let mut bytes = [0u8; 32];
        bytes[0] = 0xab;
        let txid = Txid(bytes);
        let text = txid.to_string();
        assert!(text.ends_with("ab"), "{text}");
        assert_eq!(text.parse::<Txid>().unwrap(), txid);
        assert_eq!("ab".parse::<Txid>(), Err(HashParseError::BadLength(2)));
        assert!(matches!(
            "zz".repeat(32).parse::<BlockHash>(),
            Err(HashParseError::BadHex(_))
        ));
    }

    #[test]
    fn sha256d_matches_known_vector() {
        // Double SHA-256 of the empty string.
        assert_eq!(
            hex::encode(sha256d(b"")),
            "5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456"
        );
    }
}
