//! secp256k1 keys (k256) and the signatures that authorize spends.

use k256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use k256::ecdsa::{Signature, SigningKey, VerifyingKey};
use kestrel_interfaces::Hash256;

use crate::address::Address;
use crate::hash::sha256d;

/// What an output commits to: the first 20 bytes of the double SHA-256 of
/// the compressed public key (Bitcoin uses RIPEMD-160 of SHA-256 here;
/// either is a 160-bit commitment, and this needs no second hash crate).
pub fn pubkey_hash(pubkey: &[u8; 33]) -> [u8; 20] {
    let mut out = [0u8; 20];
    out.copy_from_slice(&sha256d(pubkey)[..20]);
    out
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("private key must be 64 hex characters: {0}")]
    BadHex(String),
    #[error("private key is not a valid secp256k1 scalar (zero or not below the group order)")]
    OutOfRange,
    #[error("the system random number generator failed: {0}")]
    Random(String),
    #[error("public key is not a valid compressed secp256k1 point")]
    BadPublicKey,
    #[error("signature is not a valid compact (r, s) ECDSA signature")]
    MalformedSignature,
    #[error("signature does not verify against the public key")]
    SignatureMismatch,
}

/// A secp256k1 private key.
#[derive(Clone)]
pub struct PrivateKey(SigningKey);

impl PrivateKey {
    /// A fresh key from the operating system's random number generator.
    pub fn generate() -> Result<PrivateKey, KeyError> {
        loop {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| KeyError::Random(e.to_string()))?;
            // Fails only for zero or values >= the group order (odds ~2^-128).
            if let Ok(key) = SigningKey::from_slice(&bytes) {
                return Ok(PrivateKey(key));
            }
        }
    }

    /// Compressed SEC1 encoding.
    pub fn public_key(&self) -> [u8; 33] {
        let point = self.0.verifying_key().to_encoded_point(true);
        point
            .as_bytes()
            .try_into()
            .expect("a compressed secp256k1 point is 33 bytes")
    }

    pub fn address(&self) -> Address {
        Address::from_pubkey_hash(pubkey_hash(&self.public_key()))
    }

    /// Deterministic (RFC 6979), low-s compact signature of a 32-byte hash.
    pub fn sign(&self, sighash: &Hash256) -> [u8; 64] {
        let signature: Signature = self
            .0
            .sign_prehash(sighash)
            .expect("signing a 32-byte prehash cannot fail");
        signature.to_bytes().into()
    }

    /// The 32-byte secret as lowercase hex, for the wallet file.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    pub fn from_hex(text: &str) -> Result<PrivateKey, KeyError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes)
            .map_err(|e| KeyError::BadHex(e.to_string()))?;
        SigningKey::from_slice(&bytes)
            .map(PrivateKey)
            .map_err(|_| KeyError::OutOfRange)
    }
}

impl std::fmt::Debug for PrivateKey {
    // Never print the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({})", self.address())
    }
}

/// Checks `signature` by `pubkey` over `sighash`.
pub fn verify(pubkey: &[u8; 33], sighash: &Hash256, signature: &[u8; 64]) -> Result<(), KeyError> {
    let key = VerifyingKey::from_sec1_bytes(pubkey).map_err(|_| KeyError::BadPublicKey)?;
    let signature = Signature::from_slice(signature).map_err(|_| KeyError::MalformedSignature)?;
    key.verify_prehash(sighash, &signature)
        .map_err(|_| KeyError::SignatureMismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_their_key_and_message() {
        let key = PrivateKey::generate().unwrap();
        let other = PrivateKey::generate().unwrap();
        let message = [7u8; 32];
        let signature = key.sign(&message);
        assert_eq!(verify(&key.public_key(), &message, &signature), Ok(()));
        assert_eq!(
            verify(&other.public_key(), &message, &signature),
            Err(KeyError::SignatureMismatch)
        );
        assert_eq!(
            verify(&key.public_key(), &[8u8; 32], &signature),
            Err(KeyError::SignatureMismatch)
        );
        assert_eq!(
            verify(&[0u8; 33], &message, &signature),
            Err(KeyError::BadPublicKey)
        );
    }

    #[test]
    fn hex_round_trip_and_errors() {
        let key = PrivateKey::generate().unwrap();
        let back = PrivateKey::from_hex(&key.to_hex()).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        assert!(matches!(
            PrivateKey::from_hex("abc"),
            Err(KeyError::BadHex(_))
        ));
        assert_eq!(
            PrivateKey::from_hex(&"00".repeat(32)).unwrap_err(),
            KeyError::OutOfRange
        );
    }
}
