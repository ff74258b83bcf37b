//! The JSON documents of an image (image-spec `descriptor.md`, `image-index.md`,
//! `manifest.md`, `config.md`, and Docker's schema 2 twins), typed once for every stage.
//!
//! An image is a tree of content-addressed blobs: an index (a multi-platform image) lists
//! manifests by descriptor — media type, digest, size, platform; a manifest names its config
//! and its layers the same way; the config says what the image runs and, in `rootfs.diff_ids`,
//! the digest of each layer's *uncompressed* tar (what ct-unpack checks and names a layer by).
//!
//! These types read leniently: every field ct does not need may be absent, and unknown fields
//! are ignored, because registries and archives in the wild omit and add fields. What a stage
//! must insist on (a media type it can apply, a size cap) it checks itself.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::digest::{Digest, DigestError};
use crate::platform::Platform;

/// A pointer from one document to another blob.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    #[serde(default)]
    pub digest: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// The digest, checked (a document is untrusted until its digests parse).
    pub fn digest(&self) -> Result<Digest, DigestError> {
        self.digest.parse()
    }
}

/// An index or a manifest: the fields of both, each defaulted, for code that walks a tree of
/// blobs without knowing which kind it holds (ct-gc's marking, ct-ls's listing).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    #[serde(default)]
    pub media_type: Option<String>,
    /// An index's manifests.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// A manifest's config.
    #[serde(default)]
    pub config: Option<Descriptor>,
    /// A manifest's layers.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

impl Document {
    /// An index (it lists manifests and has no layers).
    pub fn is_index(&self) -> bool {
        let by_type = matches!(
            self.media_type.as_deref(),
            Some(crate::media_type::OCI_INDEX | crate::media_type::DOCKER_LIST)
        );
        by_type || (!self.manifests.is_empty() && self.layers.is_empty())
    }
}

/// An image index or Docker manifest list.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Index {
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

/// An image manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

/// An image config: the platform, when it was made, what it runs, and its layers' diff_ids.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default)]
    pub os: Option<String>,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub config: Option<RunConfig>,
    #[serde(default)]
    pub rootfs: RootFs,
}

impl ImageConfig {
    /// `os/arch[/variant]`, when the config says both.
    pub fn platform(&self) -> Option<String> {
        let (os, arch) = (self.os.as_deref()?, self.architecture.as_deref()?);
        Some(match &self.variant {
            Some(v) => format!("{os}/{arch}/{v}"),
            None => format!("{os}/{arch}"),
        })
    }

    /// The layers' diff_ids that parse as digests, in order.
    pub fn diff_ids(&self) -> Vec<Digest> {
        self.rootfs
            .diff_ids
            .iter()
            .filter_map(|d| d.parse().ok())
            .collect()
    }
}

/// `rootfs` of an image config.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RootFs {
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// The `config` part of an image config (Docker's names): what a container of it runs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub stop_signal: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_read_leniently_and_tell_indexes_from_manifests() {
        let idx: Document = serde_json::from_str(
            r#"{"manifests":[{"digest":"sha256:x","size":3,"platform":{"os":"linux","architecture":"amd64"}}]}"#,
        )
        .unwrap();
        assert!(idx.is_index());
        assert_eq!(
            idx.manifests[0].platform.as_ref().unwrap().architecture,
            "amd64"
        );
        assert!(
            idx.manifests[0].digest().is_err(),
            "a bad digest is refused"
        );
        let m: Document = serde_json::from_str(
            r#"{"schemaVersion":2,"config":{"digest":"sha256:c","size":1},"layers":[{"digest":"sha256:l","size":2}],"extra":1}"#,
        )
        .unwrap();
        assert!(!m.is_index());
        assert_eq!(m.layers.len(), 1);
        let c: ImageConfig = serde_json::from_str(&format!(
            r#"{{"os":"linux","architecture":"arm64","variant":"v8","created":"2024-01-01T00:00:00Z",
               "config":{{"Cmd":["sh"],"User":"1000","ExposedPorts":{{"80/tcp":{{}}}}}},
               "rootfs":{{"type":"layers","diff_ids":["sha256:{}","junk"]}}}}"#,
            "a".repeat(64)
        ))
        .unwrap();
        assert_eq!(c.platform().unwrap(), "linux/arm64/v8");
        assert_eq!(c.diff_ids().len(), 1);
        assert_eq!(c.config.unwrap().user.as_deref(), Some("1000"));
        let empty: ImageConfig = serde_json::from_str("{}").unwrap();
        assert!(empty.platform().is_none() && empty.diff_ids().is_empty());
    }
}
