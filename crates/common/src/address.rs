//! Addresses: a pubkey hash with a checksummed text form.
//!
//! Text form: `kcrt1` + 40 hex digits of the pubkey hash + 8 hex digits of
//! checksum, the first 4 bytes of double SHA-256 over the prefix and the
//! hash. Lowercase on output; either case accepted.

use std::fmt;
use std::str::FromStr;

use crate::hash::sha256d;

/// Prefix of every address ("Kestrel regtest").
pub const ADDRESS_PREFIX: &str = "kcrt1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    pubkey_hash: [u8; 20],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("address must start with \"{ADDRESS_PREFIX}\"")]
    BadPrefix,
    #[error("address must be {expected} characters after \"{ADDRESS_PREFIX}\", got {actual}")]
    BadLength { expected: usize, actual: usize },
    #[error("address contains a non-hex character after \"{ADDRESS_PREFIX}\"")]
    BadCharacter,
    #[error("address checksum does not match (a typo?)")]
    BadChecksum,
}

const BODY_HEX_LEN: usize = 2 * (20 + 4);

impl Address {
    pub fn from_pubkey_hash(pubkey_hash: [u8; 20]) -> Address {
        Address { pubkey_hash }
    }

    pub fn pubkey_hash(&self) -> [u8; 20] {
        self.pubkey_hash
    }

    fn checksum(pubkey_hash: &[u8; 20]) -> [u8; 4] {
        let mut data = ADDRESS_PREFIX.as_bytes().to_vec();
        data.extend_from_slice(pubkey_hash);
        let digest = sha256d(&data);
        [digest[0], digest[1], digest[2], digest[3]]
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{ADDRESS_PREFIX}{}{}",
            hex::encode(self.pubkey_hash),
            hex::encode(Self::checksum(&self.pubkey_hash))
        )
    }
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let body = s
            .get(..ADDRESS_PREFIX.len())
            .filter(|prefix| prefix.eq_ignore_ascii_case(ADDRESS_PREFIX))
            .map(|_| &s[ADDRESS_PREFIX.len()..])
            .ok_or(AddressError::BadPrefix)?;
        if body.len() != BODY_HEX_LEN {
            return Err(AddressError::BadLength {
                expected: BODY_HEX_LEN,
                actual: body.len(),
            });
        }
        let mut bytes = [0u8; 24];
        hex::decode_to_slice(body, &mut bytes).map_err(|_| AddressError::BadCharacter)?;
        let mut pubkey_hash = [0u8; 20];
        pubkey_hash.copy_from_slice(&bytes[..20]);
        if bytes[20..] != Self::checksum(&pubkey_hash) {
            return Err(AddressError::BadChecksum);
        }
        Ok(Address { pubkey_hash })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reports_each_kind_of_error() {
        let address = Address::from_pubkey_hash([0x42; 20]);
        let text = address.to_string();
        assert!(text.starts_with(ADDRESS_PREFIX));
        assert_eq!(text.parse::<Address>(), Ok(address));
        assert_eq!(text.to_uppercase().parse::<Address>(), Ok(address));

        assert_eq!(
            text.replacen("kcrt1", "bcrt1", 1).parse::<Address>(),
            Err(AddressError::BadPrefix)
        );
        assert_eq!(
            text[..text.len() - 1].parse::<Address>(),
            Err(AddressError::BadLength {
                expected: 48,
                actual: 47
            })
        );
        let mut typo = text.clone();
        let last = if typo.ends_with('0') { "1" } else { "0" };
        typo.replace_range(typo.len() - 1.., last);
        assert_eq!(typo.parse::<Address>(), Err(AddressError::BadChecksum));
        let mut garbage = text.clone();
        garbage.replace_range(10..11, "x");
        assert_eq!(garbage.parse::<Address>(), Err(AddressError::BadCharacter));
        assert_eq!("".parse::<Address>(), Err(AddressError::BadPrefix));
    }
}
