//! Where things live in a remote store, and the manifest of one build.
//!
//! ```text
//! v1/blobs/sha256/<first 2 hex>/<hex>        built archives and source tarballs
//! v1/<host>/<package>/<build id>.json        one manifest per build
//! v1/<host>/<package>/<build id>.json.sig    its Ed25519 signature (optional)
//! ```
//! Blobs are named by their content, so two writers of one blob write the
//! same bytes; manifests are written once and never replaced.

use serde::{Deserialize, Serialize};

/// Bumped if the layout or the manifest format changes incompatibly; an
/// old client then simply finds nothing.
pub const LAYOUT_VERSION: &str = "v1";

/// Path of the blob with this SHA-256 (lowercase hex).
pub fn blob_path(sha256: &str) -> String {
    format!("{LAYOUT_VERSION}/blobs/sha256/{}/{sha256}", &sha256[..2])
}

/// Path of the manifest of one build.
pub fn manifest_path(host: &str, package: &str, build_id: &str) -> String {
    format!("{LAYOUT_VERSION}/{host}/{package}/{build_id}.json")
}

/// The signature beside a manifest.
pub fn signature_path(manifest_path: &str) -> String {
    format!("{manifest_path}.sig")
}

/// A blob named by content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    pub sha256: String,
    pub size: u64,
}

/// What a store knows about one build: which blob holds its archive, and
/// everything the build id was made from (so two manifests of a package
/// show why their ids differ).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildManifest {
    pub host: String,
    pub package: String,
    pub version: String,
    pub build_id: String,
    pub builder_version: u32,
    pub archive: BlobRef,
    pub inputs: serde_json::Value,
}

impl BuildManifest {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("plain data serializes");
        bytes.push(b'\n');
        bytes
    }
}

/// A SHA-256 as the store's paths need it: 64 lowercase hex digits.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_layout() {
        let sha = "ab".repeat(32);
        assert_eq!(blob_path(&sha), format!("v1/blobs/sha256/ab/{sha}"));
        let manifest = manifest_path("x86_64-unknown-linux-gnu", "native_capnp", "0123");
        assert_eq!(
            manifest,
            "v1/x86_64-unknown-linux-gnu/native_capnp/0123.json"
        );
        assert_eq!(signature_path(&manifest), format!("{manifest}.sig"));
        assert!(is_sha256_hex(&sha));
        assert!(!is_sha256_hex(&sha.to_uppercase()));
        assert!(!is_sha256_hex("../etc"));
    }
}
