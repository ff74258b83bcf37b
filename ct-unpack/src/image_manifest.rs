//! Reading one image from the OCI image layout in `$CT_ROOT/images` (image-spec
//! `image-layout.md`, `image-index.md`, `manifest.md`, `config.md`):
//!
//! 1. Resolve the user's reference in `index.json` (`ImageLayout::resolve`).
//! 2. An index (multi-platform image) picks the manifest for this machine's linux/arch.
//! 3. The manifest gives the layer blobs (media type, digest) bottom first and the config.
//! 4. The config's `rootfs.diff_ids` give each layer's uncompressed digest: the key in the
//!    layer store, and what extraction verifies.
//!
//! Every blob read here is small and checked against its digest (`read_json`).

use ct_layout::image_layout::{ImageLayout, LayoutError};
use ct_layout::Digest;
use serde_json::Value;

use crate::compression::Compression;
use ct_layout::platform::Platform;

/// One layer of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The (compressed) blob in the image store.
    pub blob: Digest,
    pub size: u64,
    pub compression: Compression,
    /// The uncompressed tar's digest: the layer store key.
    pub diff_id: Digest,
}

/// An image, ready to unpack.
#[derive(Debug, Clone)]
pub struct Image {
    /// The ref name in `index.json`.
    pub name: String,
    pub manifest: Digest,
    /// Bottom layer first.
    pub layers: Vec<Layer>,
    /// The whole image config blob (`config`, `rootfs`, `os`, `architecture`, …).
    pub config: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("no image '{0}' in the store")]
    NotFound(String),
    #[error("cannot read the image store")]
    Layout(#[from] LayoutError),
    #[error("image '{name}': {what}")]
    Malformed { name: String, what: String },
    #[error("image '{name}' has no manifest for {platform}")]
    NoPlatform { name: String, platform: String },
    #[error("image '{name}': layer {digest} has unsupported media type {}", ct_layout::pipe::quote(.media_type))]
    MediaType {
        name: String,
        digest: String,
        media_type: String,
    },
}

const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

fn digest(v: &Value, name: &str, what: &str) -> Result<Digest, ImageError> {
    v["digest"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ImageError::Malformed {
            name: name.into(),
            what: format!("{what} has no valid digest"),
        })
}

/// Find and read the image `input` names.
pub fn load(layout: &ImageLayout, input: &str) -> Result<Image, ImageError> {
    let (name, desc) = layout
        .resolve(input)?
        .ok_or_else(|| ImageError::NotFound(input.to_string()))?;
    let desc = serde_json::to_value(&desc).map_err(|e| ImageError::Malformed {
        name: name.clone(),
        what: e.to_string(),
    })?;
    let mut manifest_digest = digest(&desc, &name, "the index entry")?;
    let mut manifest: Value = layout.read_json(&manifest_digest)?;
    let is_index = |m: &Value, d: &Value| {
        INDEX_TYPES.contains(&m["mediaType"].as_str().unwrap_or(""))
            || INDEX_TYPES.contains(&d["mediaType"].as_str().unwrap_or(""))
            || (m.get("manifests").is_some() && m.get("layers").is_none())
    };
    if is_index(&manifest, &desc) {
        // The same choice as ct-pull's (ct_layout::platform::select), so both stages take
        // the same manifest of an index.
        let host = Platform::host();
        let entries: Vec<(Value, Option<Platform>)> = manifest["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                (
                    m.clone(),
                    serde_json::from_value(m["platform"].clone()).ok(),
                )
            })
            .collect();
        let pick = ct_layout::platform::select(&entries, |e| e.1.as_ref(), &host)
            .map(|e| e.0.clone())
            .ok_or_else(|| ImageError::NoPlatform {
                name: name.clone(),
                platform: host.to_string(),
            })?;
        manifest_digest = digest(&pick, &name, "the platform manifest")?;
        manifest = layout.read_json(&manifest_digest)?;
    }
    from_manifest(layout, name, manifest_digest, &manifest)
}

/// The image an (already verified) image manifest describes; its config is read from the store.
pub fn from_manifest(
    layout: &ImageLayout,
    name: String,
    manifest_digest: Digest,
    manifest: &Value,
) -> Result<Image, ImageError> {
    let config_digest = digest(&manifest["config"], &name, "the config")?;
    let config: Value = layout.read_json(&config_digest)?;
    let diff_ids = config["rootfs"]["diff_ids"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let blobs = manifest["layers"].as_array().cloned().unwrap_or_default();
    if diff_ids.len() != blobs.len() {
        return Err(ImageError::Malformed {
            name,
            what: format!(
                "{} layers in the manifest but {} diff_ids in the config",
                blobs.len(),
                diff_ids.len()
            ),
        });
    }
    let mut layers = Vec::new();
    for (b, d) in blobs.iter().zip(&diff_ids) {
        let blob = digest(b, &name, "a layer")?;
        let media_type = b["mediaType"].as_str().unwrap_or("");
        let compression =
            Compression::from_media_type(media_type).ok_or_else(|| ImageError::MediaType {
                name: name.clone(),
                digest: blob.to_string(),
                media_type: media_type.into(),
            })?;
        let diff_id =
            d.as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| ImageError::Malformed {
                    name: name.clone(),
                    what: format!("invalid diff_id {d}"),
                })?;
        layers.push(Layer {
            blob,
            size: b["size"].as_u64().unwrap_or(0),
            compression,
            diff_id,
        });
    }
    Ok(Image {
        name,
        manifest: manifest_digest,
        layers,
        config,
    })
}
