//! `ct-ls layers`: the layer store, `$CT_ROOT/layers/sha256/DIFF_ID`, one directory per
//! extracted layer (see ct-unpack). For each: its diff_id, the bytes it holds (file and symlink
//! sizes, each hardlinked inode counted once, found with `lstat(2)` without following links),
//! and the images in `$CT_ROOT/images` whose config lists it in `rootfs.diff_ids`.
//!
//! Steps: list the store; read every image's manifest (every platform's, for an index) and
//! config from the image layout; join the two on the diff_id.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use ct_layout::image_docs::{Document, ImageConfig};
use ct_layout::image_layout::{digest_of, ImageLayout, LayoutError};
use ct_layout::io_error::IoAt;
use ct_layout::{Digest, Store};
use serde_json::Value;

use crate::{Format, LsError};

/// One row of the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRow {
    pub diff_id: Digest,
    pub size: u64,
    pub images: Vec<String>,
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> LsError + 'a {
    move |source| LsError::Layout(LayoutError::Io(IoAt::at(action, path)(source)))
}

/// Bytes under `dir`: regular files and symlinks, each inode once.
fn tree_size(dir: &Path) -> Result<u64, LsError> {
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut total = 0u64;
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).map_err(io_err("list", &d))? {
            let e = e.map_err(io_err("list", &d))?;
            let p = e.path();
            let m = fs::symlink_metadata(&p).map_err(io_err("inspect", &p))?;
            if m.is_dir() {
                stack.push(p);
            } else if (m.is_file() || m.file_type().is_symlink()) && seen.insert((m.dev(), m.ino()))
            {
                total += m.len();
            }
        }
    }
    Ok(total)
}

/// diff_id → names of the images that use it.
fn users(layout: &ImageLayout) -> Result<BTreeMap<Digest, Vec<String>>, LsError> {
    let mut out: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
    if !layout.exists() {
        return Ok(out);
    }
    for (name, desc) in layout.refs()? {
        let Ok(d) = digest_of(&desc) else { continue };
        // A missing or unreadable blob (an image half removed) just contributes nothing.
        let Ok(top) = layout.read_json::<Document>(&d) else {
            continue;
        };
        let manifests: Vec<Document> = match top.is_index() {
            true => top
                .manifests
                .iter()
                .filter_map(|m| m.digest().ok())
                .filter_map(|d| layout.read_json::<Document>(&d).ok())
                .collect(),
            false => vec![top],
        };
        for m in manifests {
            let Some(cd) = m.config.as_ref().and_then(|c| c.digest().ok()) else {
                continue;
            };
            let Ok(config) = layout.read_json::<ImageConfig>(&cd) else {
                continue;
            };
            for id in config.diff_ids() {
                let v = out.entry(id).or_default();
                if !v.contains(&name) {
                    v.push(name.clone());
                }
            }
        }
    }
    Ok(out)
}

/// Every complete layer in the store (in-progress ones under `layers/tmp` are not listed).
pub fn rows(store: &Store) -> Result<Vec<LayerRow>, LsError> {
    let dir = store.layers().join("sha256");
    let entries = match fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("list", &dir)(e)),
    };
    let users = users(&ImageLayout::of_store(store))?;
    let mut rows = Vec::new();
    for e in entries {
        let e = e.map_err(io_err("list", &dir))?;
        let Ok(diff_id) = format!("sha256:{}", e.file_name().to_string_lossy()).parse::<Digest>()
        else {
            continue;
        };
        let mut images = users.get(&diff_id).cloned().unwrap_or_default();
        images.sort();
        rows.push(LayerRow {
            size: tree_size(&e.path())?,
            diff_id,
            images,
        });
    }
    rows.sort_by(|a, b| a.diff_id.cmp(&b.diff_id));
    Ok(rows)
}

/// Sizes for humans: 1000-based like docker (`12.3MB`).
pub fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n}B")
    } else {
        format!("{v:.1}{}", UNITS[u])
    }
}

/// The listing as text.
pub fn render(rows: &[LayerRow], format: &Format) -> String {
    if format.json {
        let v: Vec<Value> = rows
            .iter()
            .map(|r| serde_json::json!({"diff_id": r.diff_id.as_str(), "size": r.size, "images": r.images}))
            .collect();
        let mut s = serde_json::to_string_pretty(&v).unwrap_or_else(|_| "[]".into());
        s.push('\n');
        return s;
    }
    if format.quiet {
        return rows.iter().map(|r| format!("{}\n", r.diff_id)).collect();
    }
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.diff_id.short().to_string(),
                human(r.size),
                if r.images.is_empty() {
                    "-".into()
                } else {
                    r.images.join(", ")
                },
            ]
        })
        .collect();
    crate::table(&["LAYER", "SIZE", "IMAGES"], &table_rows)
}

pub fn list(store: &Store, format: &Format) -> Result<(), LsError> {
    let rows = rows(store)?;
    ct_layout::pipe::print_out(&render(&rows, format));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn image(layout: &ImageLayout, name: &str, diff_ids: &[&Digest]) {
        let config = json!({"rootfs": {"type": "layers", "diff_ids": diff_ids}});
        let cd = layout
            .write_blob(&serde_json::to_vec(&config).unwrap())
            .unwrap();
        let manifest = json!({"schemaVersion": 2, "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": 1}, "layers": []});
        let mb = serde_json::to_vec(&manifest).unwrap();
        let md = layout.write_blob(&mb).unwrap();
        let desc = json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": md, "size": mb.len()
        });
        layout
            .set_ref(name, &serde_json::from_value(desc).unwrap())
            .unwrap();
    }

    #[test]
    fn layers_with_sizes_and_users() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::new(t.path().join("root"), t.path().join("run"));
        assert!(rows(&store).unwrap().is_empty());
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        fs::create_dir_all(store.layer(&a).join("etc")).unwrap();
        fs::write(store.layer(&a).join("etc/f"), vec![0u8; 1500]).unwrap();
        fs::hard_link(store.layer(&a).join("etc/f"), store.layer(&a).join("hl")).unwrap();
        std::os::unix::fs::symlink("etc/f", store.layer(&a).join("s")).unwrap();
        fs::create_dir_all(store.layer(&b)).unwrap();
        fs::create_dir_all(store.layers_tmp().join("in-progress")).unwrap();
        let layout = ImageLayout::of_store(&store);
        layout.init().unwrap();
        image(&layout, "docker.io/library/one:1", &[&a]);
        image(&layout, "docker.io/library/two:1", &[&a, &b]);
        let r = rows(&store).unwrap();
        let (ra, rb) = if r[0].diff_id == a {
            (&r[0], &r[1])
        } else {
            (&r[1], &r[0])
        };
        assert_eq!(r.len(), 2);
        assert_eq!(
            ra.size,
            1500 + 5,
            "file once despite the hardlink, plus the symlink"
        );
        assert_eq!(
            ra.images,
            ["docker.io/library/one:1", "docker.io/library/two:1"]
        );
        assert_eq!(rb.images, ["docker.io/library/two:1"]);
        let q = render(
            &r,
            &Format {
                json: false,
                quiet: true,
            },
        );
        assert_eq!(q.lines().count(), 2);
        assert!(q.contains(&a.to_string()));
        let j: Value = serde_json::from_str(&render(
            &r,
            &Format {
                json: true,
                quiet: false,
            },
        ))
        .unwrap();
        assert_eq!(j.as_array().unwrap().len(), 2);
        assert!(j[0]["diff_id"].as_str().unwrap().starts_with("sha256:"));
        let table = render(&r, &Format::default());
        assert!(table.starts_with("LAYER"));
        assert!(table.contains(a.short()) && table.contains("1.5kB"));
        assert_eq!(human(999), "999B");
        assert_eq!(human(12_300_000), "12.3MB");
    }
}
