//! Importing the output of `docker save` (and `skopeo copy … docker-archive:FILE`): a tar
//! holding `manifest.json`,
//!
//! ```json
//! [{"Config": "HEX.json", "RepoTags": ["busybox:1"], "Layers": ["HEX/layer.tar", …]}]
//! ```
//!
//! plus the files it names (older docker: `HEX/layer.tar`, newer: `blobs/sha256/HEX`).
//! 1. unpack into a temp dir in `$CT_ROOT/tmp` (removed after);
//! 2. pick the entry whose RepoTags hold REF, or the first;
//! 3. store the config (checked to be JSON) and each layer as it is — its compression read
//!    from its first bytes — through [`store_reader`]; an uncompressed layer must hash to
//!    the config's `rootfs.diff_ids[i]`;
//! 4. write an OCI manifest over them and name it (`--tag`, else REF, else RepoTags[0]).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use ct_layout::digest::Digest;
use ct_layout::image_layout::ImageLayout;
use ct_layout::io_error::IoAt;
use ct_layout::reference::Reference;
use ct_layout::Store;
use serde::Deserialize;

use crate::error::PullError;
use crate::manifest;
use crate::oci_import::unpack_to_temp;
use crate::verified_blob::store_reader;
use crate::{descriptor, hold_off_gc, name_image, parse_tag, registry_pull, Options};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Layer compression, as every stage reads it.
pub use ct_layout::media_type::Compression;

/// The compression of a file (from its first bytes).
pub fn sniff_file(path: &Path) -> Result<Compression, PullError> {
    let mut head = [0u8; 4];
    let mut f = File::open(path).map_err(IoAt::at("open", path))?;
    let n = f.read(&mut head).map_err(IoAt::at("read", path))?;
    Ok(Compression::sniff(&head[..n]).unwrap_or(Compression::None))
}

/// `path` inside `root` (no `..` or symlink escape).
fn inside(root: &Path, rel: &str, archive: &Path) -> Result<PathBuf, PullError> {
    let p = root.join(rel);
    let canon = p
        .canonicalize()
        .map_err(IoAt::at("find in the archive", &p))?;
    let root = root.canonicalize().map_err(IoAt::at("resolve", root))?;
    if !canon.starts_with(&root) {
        return Err(PullError::Archive {
            path: archive.to_path_buf(),
            detail: format!("'{rel}' points outside the archive"),
        });
    }
    Ok(canon)
}

/// `docker-archive:FILE[:REF]`.
pub fn import(
    file: &Path,
    name: Option<&str>,
    opts: &Options,
    store: &Store,
    layout: &ImageLayout,
) -> Result<Reference, PullError> {
    // The temp dir in `$CT_ROOT/tmp` and the blobs stay ct-gc's business only once named.
    let _gc = hold_off_gc(store)?;
    let dir = unpack_to_temp(file, layout)?;
    let root = dir.path();
    let mpath = root.join("manifest.json");
    let mbytes = std::fs::read(&mpath).map_err(|_| PullError::Archive {
        path: file.to_path_buf(),
        detail: "no manifest.json: not a docker-archive (docker save) file".into(),
    })?;
    let entries: Vec<Entry> =
        serde_json::from_slice(&mbytes).map_err(|source| PullError::Json {
            what: format!("manifest.json in '{}'", file.display()),
            source,
        })?;
    let want = name.map(parse_tag).transpose()?;
    let entry = match &want {
        Some(w) => entries.iter().find(|e| {
            e.repo_tags
                .iter()
                .flatten()
                .any(|t| t.parse::<Reference>().is_ok_and(|r| r == *w))
        }),
        None if entries.len() > 1 => {
            let tags: Vec<String> = entries
                .iter()
                .map(|e| match e.repo_tags.as_deref() {
                    Some([t, ..]) => t.clone(),
                    _ => e.config.clone(),
                })
                .collect();
            return Err(PullError::Archive {
                path: file.to_path_buf(),
                detail: format!(
                    "holds {} images, name one with docker-archive:FILE:REF (it has: {})",
                    entries.len(),
                    tags.join(", ")
                ),
            });
        }
        None => entries.first(),
    }
    .ok_or_else(|| PullError::Archive {
        path: file.to_path_buf(),
        detail: match name {
            Some(n) => format!("no image tagged '{n}'"),
            None => "manifest.json lists no image".into(),
        },
    })?;
    let target = match (&opts.tag, want) {
        (Some(t), _) => parse_tag(t)?,
        (None, Some(w)) => w,
        (None, None) => match entry.repo_tags.iter().flatten().next() {
            Some(t) => parse_tag(t)?,
            None => {
                return Err(PullError::NeedTag(format!(
                    "docker-archive:{}",
                    file.display()
                )))
            }
        },
    };

    let cpath = inside(root, &entry.config, file)?;
    let cbytes = read_capped_file(&cpath, manifest::MAX_CONFIG)?;
    let config: serde_json::Value =
        serde_json::from_slice(&cbytes).map_err(|source| PullError::Json {
            what: format!("config {} in '{}'", entry.config, file.display()),
            source,
        })?;
    let config_digest = layout.write_blob(&cbytes)?;
    let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if diff_ids.len() != entry.layers.len() {
        return Err(PullError::Archive {
            path: file.to_path_buf(),
            detail: format!(
                "{} layers but the config lists {} diff_ids",
                entry.layers.len(),
                diff_ids.len()
            ),
        });
    }
    let mut layers = Vec::new();
    for (i, rel) in entry.layers.iter().enumerate() {
        let lpath = inside(root, rel, file)?;
        let comp = sniff_file(&lpath)?;
        let f = File::open(&lpath).map_err(IoAt::at("open", &lpath))?;
        let (digest, size) = store_reader(layout, f, None)?;
        if comp == Compression::None && digest.as_str() != diff_ids[i] {
            return Err(PullError::Archive {
                path: file.to_path_buf(),
                detail: format!(
                    "layer '{rel}' is {digest}, but the config says {}",
                    diff_ids[i]
                ),
            });
        }
        layers.push(serde_json::json!({"mediaType": comp.media_type(), "digest": digest.to_string(), "size": size}));
    }
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest::OCI_MANIFEST,
        "config": {"mediaType": manifest::OCI_CONFIG, "digest": config_digest.to_string(), "size": cbytes.len()},
        "layers": layers,
    });
    let mb = serde_json::to_vec(&m).map_err(|source| PullError::Json {
        what: "new manifest".into(),
        source,
    })?;
    let digest: Digest = layout.write_blob(&mb)?;
    let plat = registry_pull::config_platform(layout, &config_digest);
    let desc = descriptor(
        manifest::OCI_MANIFEST,
        &digest,
        mb.len() as u64,
        plat.as_ref(),
    )?;
    name_image(layout, &target, &digest, desc)?;
    Ok(target.with_digest(digest))
}

fn read_capped_file(path: &Path, cap: u64) -> Result<Vec<u8>, PullError> {
    let f = File::open(path).map_err(IoAt::at("open", path))?;
    let mut out = Vec::new();
    f.take(cap + 1)
        .read_to_end(&mut out)
        .map_err(IoAt::at("read", path))?;
    if out.len() as u64 > cap {
        return Err(PullError::TooLarge {
            what: format!("'{}'", path.display()),
            limit: cap,
        });
    }
    Ok(out)
}
