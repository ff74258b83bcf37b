//! Image manifests and indexes, as the OCI image spec (`manifest.md`, `image-index.md`) and
//! Docker's schema 2 (`manifest-v2-2.md`) write them. The two families have the same shape:
//!
//! ```text
//! index / manifest list   {"manifests": [{mediaType, digest, size, platform}, …]}
//! manifest                {"config": {mediaType, digest, size}, "layers": [{…}, …]}
//! ```
//!
//! What kind a document is comes from the `Content-Type` the registry sent (or the JSON
//! `mediaType` field when that is missing). Everything else — schema 1, artifacts, unknown
//! layer compressions — is refused with the media type named.

use serde::Deserialize;

use ct_layout::digest::Digest;

use crate::error::PullError;
use ct_layout::platform::Platform;

pub use ct_layout::media_type::{
    DOCKER_CONFIG, DOCKER_LIST, DOCKER_MANIFEST, OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP,
    OCI_LAYER_TAR, OCI_LAYER_ZSTD, OCI_MANIFEST,
};

/// The `Accept` header of a manifest request: every kind we can use, indexes first.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// Manifests larger than this are refused (distribution itself caps them at 4 MiB).
pub const MAX_MANIFEST: u64 = 4 << 20;
/// Image configs larger than this are refused.
pub const MAX_CONFIG: u64 = 8 << 20;

/// What a manifest document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Index,
    Manifest,
}

/// Classify a media type (parameters like `; charset=utf-8` ignored).
pub fn kind(media_type: &str) -> Option<Kind> {
    match media_type.split(';').next().unwrap_or("").trim() {
        OCI_INDEX | DOCKER_LIST => Some(Kind::Index),
        OCI_MANIFEST | DOCKER_MANIFEST => Some(Kind::Manifest),
        _ => None,
    }
}

/// Descriptors, indexes and manifests, typed once for every stage.
pub use ct_layout::image_docs::{Descriptor, Index, Manifest};

/// A descriptor's digest, checked, or the error naming `what` it belongs to.
pub trait CheckedDigest {
    fn checked_digest(&self, what: &str) -> Result<Digest, PullError>;
}

impl CheckedDigest for Descriptor {
    fn checked_digest(&self, what: &str) -> Result<Digest, PullError> {
        self.digest().map_err(|source| PullError::BadDigest {
            what: what.to_string(),
            source,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    schema_version: Option<u32>,
}

/// The media type of a fetched document: the header, else the JSON `mediaType`.
pub fn media_type_of(header: Option<&str>, bytes: &[u8], what: &str) -> Result<String, PullError> {
    let header = header
        .map(|h| h.split(';').next().unwrap_or("").trim().to_string())
        .filter(|h| kind(h).is_some());
    if let Some(h) = header {
        return Ok(h);
    }
    let probe: Probe = serde_json::from_slice(bytes).map_err(|source| PullError::Json {
        what: what.to_string(),
        source,
    })?;
    match probe.media_type {
        Some(m) => Ok(m),
        // An OCI manifest may omit mediaType; schema 1 has schemaVersion 1.
        None if probe.schema_version == Some(2) => Ok(OCI_MANIFEST.to_string()),
        None => Err(PullError::MediaType {
            what: what.to_string(),
            media_type: format!("schemaVersion {}", probe.schema_version.unwrap_or(0)),
        }),
    }
}

pub fn parse_index(bytes: &[u8], what: &str) -> Result<Index, PullError> {
    serde_json::from_slice(bytes).map_err(|source| PullError::Json {
        what: what.to_string(),
        source,
    })
}

/// Parse a manifest and check that we know how to store and unpack everything it names.
pub fn parse_manifest(bytes: &[u8], what: &str) -> Result<Manifest, PullError> {
    let m: Manifest = serde_json::from_slice(bytes).map_err(|source| PullError::Json {
        what: what.to_string(),
        source,
    })?;
    if m.config.media_type != OCI_CONFIG && m.config.media_type != DOCKER_CONFIG {
        return Err(PullError::MediaType {
            what: format!("the config of {what}"),
            media_type: m.config.media_type.clone(),
        });
    }
    if m.config.size > MAX_CONFIG {
        return Err(PullError::TooLarge {
            what: format!("config {} of {what}", m.config.digest),
            limit: MAX_CONFIG,
        });
    }
    for l in &m.layers {
        if !ct_layout::media_type::is_layer(&l.media_type) {
            return Err(PullError::MediaType {
                what: format!("layer {} of {what}", l.digest),
                media_type: l.media_type.clone(),
            });
        }
    }
    Ok(m)
}

/// Check that a config blob is JSON (a registry could serve anything under a digest that
/// matches, e.g. when a broken pusher uploaded garbage).
pub fn check_config(bytes: &[u8], what: &str) -> Result<(), PullError> {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .map(|_| ())
        .map_err(|source| PullError::Json {
            what: what.to_string(),
            source,
        })
}

/// Pick the manifest for `want` from an index's entries (see `platform.rs`).
pub fn select_platform<'a>(
    entries: &'a [Descriptor],
    want: &Platform,
    reference: &str,
) -> Result<&'a Descriptor, PullError> {
    if let Some(d) = ct_layout::platform::select(entries, |d| d.platform.as_ref(), want) {
        return Ok(d);
    }
    let mut offered: Vec<String> = entries
        .iter()
        .filter_map(|d| d.platform.as_ref())
        .filter(|p| p.os != "unknown")
        .map(|p| p.to_string())
        .collect();
    offered.dedup();
    Err(PullError::NoPlatform {
        reference: reference.to_string(),
        wanted: want.to_string(),
        offered: if offered.is_empty() {
            "nothing with a platform".into()
        } else {
            offered.join(", ")
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(os: &str, arch: &str, variant: Option<&str>) -> Descriptor {
        Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: format!("sha256:{}", "0".repeat(64)),
            size: 1,
            platform: Some(Platform {
                os: os.into(),
                architecture: arch.into(),
                variant: variant.map(Into::into),
            }),
        }
    }

    #[test]
    fn kinds() {
        assert_eq!(kind(OCI_INDEX), Some(Kind::Index));
        assert_eq!(kind(DOCKER_LIST), Some(Kind::Index));
        assert_eq!(
            kind("application/vnd.oci.image.manifest.v1+json; charset=utf-8"),
            Some(Kind::Manifest)
        );
        assert_eq!(
            kind("application/vnd.docker.distribution.manifest.v1+prettyjws"),
            None
        );
        for t in [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST] {
            assert!(ACCEPT.contains(t));
        }
    }

    #[test]
    fn media_type_falls_back_to_json() {
        let b = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        assert_eq!(
            media_type_of(Some("text/plain"), b, "m").unwrap(),
            OCI_INDEX
        );
        let s1 = br#"{"schemaVersion":1,"name":"x"}"#;
        assert!(matches!(
            media_type_of(None, s1, "m"),
            Err(PullError::MediaType { .. })
        ));
        assert!(matches!(
            media_type_of(None, b"{", "m"),
            Err(PullError::Json { .. })
        ));
    }

    #[test]
    fn refuses_unknown_layers() {
        let m = br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2},
        "layers":[{"mediaType":"application/x-helm","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":1}]}"#;
        let e = parse_manifest(m, "x").unwrap_err();
        assert!(
            e.to_string()
                .contains("unsupported media type 'application/x-helm'"),
            "{e}"
        );
    }

    #[test]
    fn selects_by_platform_and_lists_offers() {
        let idx = vec![
            entry("linux", "amd64", None),
            entry("linux", "arm", Some("v6")),
            entry("linux", "arm", Some("v7")),
            entry("linux", "arm64", Some("v8")),
            entry("unknown", "unknown", None),
        ];
        let pick = |s: &str| {
            select_platform(&idx, &s.parse().unwrap(), "r")
                .map(|d| d.platform.clone().unwrap().to_string())
        };
        assert_eq!(pick("linux/amd64").unwrap(), "linux/amd64");
        assert_eq!(pick("linux/arm/v7").unwrap(), "linux/arm/v7");
        assert_eq!(pick("linux/arm64").unwrap(), "linux/arm64/v8");
        let e = pick("linux/s390x").unwrap_err().to_string();
        assert_eq!(
            e,
            "r has no image for linux/s390x; it offers: linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64/v8"
        );
        assert!(
            select_platform(&idx, &Platform::host(), "r").is_ok()
                || Platform::host().architecture != "amd64"
        );
    }
}
