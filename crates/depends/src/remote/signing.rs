//! Ed25519 signatures over manifests: a publisher with a secret key writes
//! `<manifest>.sig`; a client with `--require-signed` accepts a manifest
//! only if that file holds a valid signature by one of its trusted keys.
//!
//! Keys are hex: a secret key file holds the 32-byte seed, a public key is
//! 32 bytes. The signature file is JSON naming the key, so a store can hold
//! manifests of several publishers.

use std::path::Path;

use ed25519_dalek::{Signature, Signer, Verifier};
pub use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the cache secret key {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error(
        "{what} {value:?} is not a key: expected 64 hex digits \
         (make one with `cargo xtask cache keygen`)"
    )]
    Malformed { what: &'static str, value: String },
    #[error("no randomness for a new key: {0}")]
    Random(getrandom::Error),
}

/// Why a signature was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("the manifest is unsigned and --require-signed is set")]
    Unsigned,
    #[error("the signature file is malformed")]
    Malformed,
    #[error("signed by {0}, which is not in KESTREL_CACHE_TRUSTED_KEYS")]
    UnknownKey(String),
    #[error("the signature by {0} does not match the manifest")]
    Invalid(String),
}

#[derive(Serialize, Deserialize)]
struct SignatureFile {
    key: String,
    signature: String,
}

/// A new secret key.
pub fn generate() -> Result<SigningKey, KeyError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(KeyError::Random)?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The file form of a secret key (hex seed and a newline).
pub fn secret_key_text(key: &SigningKey) -> String {
    format!("{}\n", hex::encode(key.to_bytes()))
}

pub fn public_key_text(key: &VerifyingKey) -> String {
    hex::encode(key.to_bytes())
}

/// Reads a secret key file written by `cargo xtask cache keygen`.
pub fn read_secret_key(path: &Path) -> Result<SigningKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|error| KeyError::Read {
        path: path.display().to_string(),
        error,
    })?;
    let bytes = key_bytes(text.trim()).ok_or_else(|| KeyError::Malformed {
        what: "the secret key in the file",
        value: path.display().to_string(),
    })?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// Parses a list of public keys separated by commas or white space.
pub fn parse_public_keys(list: &str) -> Result<Vec<VerifyingKey>, KeyError> {
    list.split([',', ' ', '\n', '\t'])
        .filter(|k| !k.is_empty())
        .map(|text| {
            key_bytes(text)
                .and_then(|bytes| VerifyingKey::from_bytes(&bytes).ok())
                .ok_or_else(|| KeyError::Malformed {
                    what: "the trusted public key",
                    value: text.to_owned(),
                })
        })
        .collect()
}

fn key_bytes(text: &str) -> Option<[u8; 32]> {
    hex::decode(text).ok()?.try_into().ok()
}

/// The signature file for `manifest`.
pub fn sign(key: &SigningKey, manifest: &[u8]) -> Vec<u8> {
    let file = SignatureFile {
        key: public_key_text(&key.verifying_key()),
        signature: hex::encode(key.sign(manifest).to_bytes()),
    };
    serde_json::to_vec(&file).expect("plain data serializes")
}

/// Checks `signature` (the file's bytes, None if there is none) over
/// `manifest` against the trusted keys.
pub fn verify(
    trusted: &[VerifyingKey],
    manifest: &[u8],
    signature: Option<&[u8]>,
) -> Result<(), SignatureError> {
    let file: SignatureFile = serde_json::from_slice(signature.ok_or(SignatureError::Unsigned)?)
        .map_err(|_| SignatureError::Malformed)?;
    let key = trusted
        .iter()
        .find(|k| public_key_text(k) == file.key)
        .ok_or_else(|| SignatureError::UnknownKey(file.key.clone()))?;
    let bytes: [u8; 64] = hex::decode(&file.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(SignatureError::Malformed)?;
    key.verify(manifest, &Signature::from_bytes(&bytes))
        .map_err(|_| SignatureError::Invalid(file.key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_with_its_key_and_manifest() {
        let key = generate().unwrap();
        let other = generate().unwrap();
        let sig = sign(&key, b"manifest");
        let trusted = parse_public_keys(&public_key_text(&key.verifying_key())).unwrap();
        assert_eq!(verify(&trusted, b"manifest", Some(&sig)), Ok(()));
        assert!(matches!(
            verify(&trusted, b"manifest!", Some(&sig)),
            Err(SignatureError::Invalid(_))
        ));
        let others = vec![other.verifying_key()];
        assert!(matches!(
            verify(&others, b"manifest", Some(&sig)),
            Err(SignatureError::UnknownKey(_))
        ));
        assert_eq!(
            verify(&trusted, b"manifest", None),
            Err(SignatureError::Unsigned)
        );
    }

    #[test]
    fn keys_round_trip_through_their_text() {
        let dir = tempfile::tempdir().unwrap();
        let key = generate().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, secret_key_text(&key)).unwrap();
        assert_eq!(read_secret_key(&path).unwrap().to_bytes(), key.to_bytes());
        let err = parse_public_keys("abc, ").unwrap_err().to_string();
        assert!(err.contains("\"abc\"") && err.contains("keygen"), "{err}");
    }
}
