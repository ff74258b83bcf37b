//! The mark phase: what in the store is still in use. An OCI image layout is a graph of
//! content-addressed blobs (image-spec `descriptor.md`): `index.json` names image manifests
//! (or image indexes, which name manifests), a manifest names its config and its layers, and
//! the config's `rootfs.diff_ids` name the uncompressed layers — ct's `$CT_ROOT/layers/sha256/`
//! directories. Beside the images, every container bundle's `ct.json` names the manifest and
//! the layers that container was made from: those stay as long as the bundle does, even when
//! the image's name was removed.
//!
//! Steps, in order:
//! 1. every entry of `index.json`: walk its descriptor;
//! 2. every `$CT_ROOT/containers/ID/ct.json`: walk its manifest, keep its layers;
//! 3. walking a descriptor keeps its blob, and for an index or a manifest reads it (digest
//!    checked) and walks what it names. A blob that is referenced but missing keeps nothing
//!    more; a referenced blob that cannot be read or parsed stops the whole collection, because
//!    what it would have kept is unknown.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;

use ct_layout::bundle::Bundle;
use ct_layout::image_docs::{Document, ImageConfig};
use ct_layout::image_layout::{digest_of, ref_name, ImageLayout};
use ct_layout::{Digest, Store};

use crate::GcError;

/// Everything that must stay.
#[derive(Debug, Default)]
pub struct Marked {
    /// Blobs under `images/blobs/sha256`.
    pub blobs: BTreeSet<Digest>,
    /// Layer directories under `layers/sha256`, by diff_id.
    pub layers: BTreeSet<Digest>,
    /// Manifest digest → the containers made from it.
    pub users: BTreeMap<Digest, Vec<String>>,
    /// Image name (as in `index.json`) → containers whose `ct.json` names it.
    pub users_by_name: BTreeMap<String, Vec<String>>,
}

/// Steps 1 and 2, as if the images named in `skip` were gone already.
pub fn mark(store: &Store, layout: &ImageLayout, skip: &[String]) -> Result<Marked, GcError> {
    let mut m = Marked::default();
    if layout.exists() {
        let index = layout.read_index().map_err(GcError::Layout)?;
        for d in index.manifests() {
            let name = ref_name(d).unwrap_or("(unnamed)").to_string();
            if skip.contains(&name) {
                continue;
            }
            if let Ok(digest) = digest_of(d) {
                walk(layout, &name, &digest, &mut m)?;
            }
        }
    }
    for (id, note) in notes(store)? {
        let Some(note) = note else { continue };
        walk(layout, &format!("container {id}"), &note.manifest, &mut m)?;
        m.layers.extend(note.layers.iter().cloned());
        m.users
            .entry(note.manifest.clone())
            .or_default()
            .push(id.clone());
        m.users_by_name
            .entry(note.image.clone())
            .or_default()
            .push(id);
    }
    Ok(m)
}

/// Every bundle directory in `$CT_ROOT/containers` with its `ct.json` (None for bundles made
/// by other tools, which use no store layers).
pub fn notes(store: &Store) -> Result<Vec<(String, Option<ct_layout::bundle::Note>)>, GcError> {
    let dir = store.containers();
    let rd = match fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(GcError::List { path: dir, source }),
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(|source| GcError::List {
            path: dir.clone(),
            source,
        })?;
        if !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        let id = e.file_name().to_string_lossy().into_owned();
        let note = Bundle::new(e.path())
            .load_note()
            .map_err(|source| GcError::Note {
                id: id.clone(),
                source,
            })?;
        out.push((id, note));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Step 3, for one blob named by `digest` (reached from `from`, for error messages).
pub fn walk(
    layout: &ImageLayout,
    from: &str,
    digest: &Digest,
    m: &mut Marked,
) -> Result<(), GcError> {
    if !m.blobs.insert(digest.clone()) || !layout.has_blob(digest, None) {
        return Ok(());
    }
    let doc: Document = layout.read_json(digest).map_err(|source| GcError::Walk {
        from: from.to_string(),
        digest: digest.clone(),
        source,
    })?;
    for child in doc.manifests.iter().filter_map(|d| d.digest().ok()) {
        walk(layout, from, &child, m)?;
    }
    for layer in doc.layers.iter().filter_map(|d| d.digest().ok()) {
        m.blobs.insert(layer);
    }
    if let Some(config) = doc.config.as_ref().and_then(|c| c.digest().ok()) {
        m.blobs.insert(config.clone());
        // An artifact's config need not be JSON; only an image config has diff_ids.
        if let Ok(cfg) = layout.read_json::<ImageConfig>(&config) {
            m.layers.extend(cfg.diff_ids());
        }
    }
    Ok(())
}
