//! Reading one image from the OCI image layout in `$CT_ROOT/images` (image-spec
//! `image-layout.md`, `image-index.md`, `manifest.md`, `config.md`):
//!
//! 1. Resolve the user's reference in `index.json` (`ImageLayout::resolve`).
//! 2. An index (multi-platform image) picks the manifest for this machine's platform, as
//!    ct-pull does (`ct_layout::platform::select`).
//! 3. The manifest gives the layer blobs (media type, digest) bottom first and the config.
//! 4. The config's `rootfs.diff_ids` give each layer's uncompressed digest: the key in the
//!    layer store, and what extraction verifies.
//!
//! Every blob read here is small and checked against its digest (`read_json`).

use ct_layout::image_layout::{ImageLayout, LayoutError};
use ct_layout::Digest;
use serde_json::Value;

use ct_layout::image_docs::{Descriptor, Document, ImageConfig};
use ct_layout::media_type;
use ct_layout::platform::Platform;

use crate::compression::Compression;

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
    /// The whole image config blob (`config`, `rootfs`, `os`, `architecture`, …), as JSON:
    /// the runtime config reads every field docker defines, and passes unknown ones by.
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

fn digest(d: &Descriptor, name: &str, what: &str) -> Result<Digest, ImageError> {
    d.digest().map_err(|_| ImageError::Malformed {
        name: name.into(),
        what: format!("{what} has no valid digest"),
    })
}

/// Find and read the image `input` names.
pub fn load(layout: &ImageLayout, input: &str) -> Result<Image, ImageError> {
    let (name, entry) = layout
        .resolve(input)?
        .ok_or_else(|| ImageError::NotFound(input.to_string()))?;
    let mut manifest_digest =
        ct_layout::image_layout::digest_of(&entry).map_err(|_| ImageError::Malformed {
            name: name.clone(),
            what: "the index entry has no valid digest".into(),
        })?;
    let mut manifest: Document = layout.read_json(&manifest_digest)?;
    let entry_is_index = matches!(
        entry.media_type().to_string().as_str(),
        media_type::OCI_INDEX | media_type::DOCKER_LIST
    );
    if manifest.is_index() || entry_is_index {
        // The same choice as ct-pull's (ct_layout::platform::select), so both stages take
        // the same manifest of an index.
        let host = Platform::host();
        let pick = ct_layout::platform::select(&manifest.manifests, |d| d.platform.as_ref(), &host)
            .ok_or_else(|| ImageError::NoPlatform {
                name: name.clone(),
                platform: host.to_string(),
            })?;
        manifest_digest = digest(pick, &name, "the platform manifest")?;
        manifest = layout.read_json(&manifest_digest)?;
    }
    from_manifest(layout, name, manifest_digest, &manifest)
}

/// The image an (already verified) image manifest describes; its config is read from the store.
pub fn from_manifest(
    layout: &ImageLayout,
    name: String,
    manifest_digest: Digest,
    manifest: &Document,
) -> Result<Image, ImageError> {
    let no_config = Descriptor::default();
    let config_digest = digest(
        manifest.config.as_ref().unwrap_or(&no_config),
        &name,
        "the config",
    )?;
    let config: Value = layout.read_json(&config_digest)?;
    let diff_ids: ImageConfig = serde_json::from_value(config.clone()).unwrap_or_default();
    let diff_ids = diff_ids.rootfs.diff_ids;
    let blobs = &manifest.layers;
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
        let compression =
            Compression::from_media_type(&b.media_type).ok_or_else(|| ImageError::MediaType {
                name: name.clone(),
                digest: blob.to_string(),
                media_type: b.media_type.clone(),
            })?;
        let diff_id = d.parse().map_err(|_| ImageError::Malformed {
            name: name.clone(),
            what: format!("invalid diff_id {}", ct_layout::pipe::quote(d.as_bytes())),
        })?;
        layers.push(Layer {
            blob,
            size: b.size,
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
