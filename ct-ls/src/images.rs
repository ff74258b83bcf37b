//! `ct-ls images`: the image store, `$CT_ROOT/images` — one OCI image layout whose
//! `index.json` names each image with `org.opencontainers.image.ref.name` (see ct-pull).
//! For each name: the manifest digest, the platform, the bytes its blobs take in the store
//! (manifest, config and compressed layers), and when its config says it was created.
//!
//! Steps: read `index.json`; for each entry read the manifest (or, for an index that another
//! tool stored, every manifest it lists) and its config, digests checked by `read_json`.

use ct_layout::image_docs::{Document, ImageConfig};
use ct_layout::image_layout::{digest_of, ImageLayout};
use ct_layout::{Digest, Store};
use serde_json::Value;

use crate::layers::human;
use crate::{Format, LsError};

/// One row of the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRow {
    pub reference: String,
    pub digest: Digest,
    /// `os/arch[/variant]`, several joined by `,` for an index; `-` when unknown.
    pub platform: String,
    pub size: u64,
    /// RFC 3339 from the config, if it says.
    pub created: Option<String>,
}

/// Platform, blob bytes and created time of one manifest.
fn manifest_info(
    layout: &ImageLayout,
    digest: &Digest,
    own_size: u64,
) -> (String, u64, Option<String>) {
    let Ok(m) = layout.read_json::<Document>(digest) else {
        return ("-".into(), own_size, None);
    };
    let size = own_size
        + m.config
            .iter()
            .chain(&m.layers)
            .map(|b| b.size)
            .sum::<u64>();
    let config = m
        .config
        .as_ref()
        .and_then(|c| c.digest().ok())
        .and_then(|d| layout.read_json::<ImageConfig>(&d).ok())
        .unwrap_or_default();
    (
        config.platform().unwrap_or_else(|| "-".into()),
        size,
        config.created,
    )
}

/// Every named image, sorted by reference.
pub fn rows(store: &Store) -> Result<Vec<ImageRow>, LsError> {
    let layout = ImageLayout::of_store(store);
    if !layout.exists() {
        return Ok(Vec::new());
    }
    let mut rows = Vec::new();
    for (reference, desc) in layout.refs()? {
        let Ok(digest) = digest_of(&desc) else {
            continue;
        };
        let own = desc.size();
        let top: Document = layout.read_json(&digest).unwrap_or_default();
        let (platform, size, created) = match top.is_index() {
            true => {
                let mut plats = Vec::new();
                let mut size = own;
                let mut created = None;
                for e in &top.manifests {
                    let Ok(d) = e.digest() else {
                        continue;
                    };
                    if !layout.has_blob(&d, None) {
                        continue;
                    }
                    let (p, s, c) = manifest_info(&layout, &d, e.size);
                    plats.push(p);
                    size += s;
                    created = created.or(c);
                }
                (
                    if plats.is_empty() {
                        "-".into()
                    } else {
                        plats.join(",")
                    },
                    size,
                    created,
                )
            }
            false => manifest_info(&layout, &digest, own),
        };
        rows.push(ImageRow {
            reference,
            digest,
            platform,
            size,
            created,
        });
    }
    rows.sort_by(|a, b| a.reference.cmp(&b.reference));
    Ok(rows)
}

/// `2026-01-01T00:00:00.123Z` → `2026-01-01 00:00:00` for the table.
fn short_time(t: &str) -> String {
    t.get(..19).unwrap_or(t).replacen('T', " ", 1)
}

/// The listing as text.
pub fn render(rows: &[ImageRow], format: &Format) -> String {
    if format.json {
        let v: Vec<Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "reference": r.reference,
                    "digest": r.digest.as_str(),
                    "platform": r.platform,
                    "size": r.size,
                    "created": r.created,
                })
            })
            .collect();
        let mut s = serde_json::to_string_pretty(&v).unwrap_or_else(|_| "[]".into());
        s.push('\n');
        return s;
    }
    if format.quiet {
        return rows.iter().map(|r| format!("{}\n", r.reference)).collect();
    }
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.reference.clone(),
                r.digest.short().to_string(),
                r.platform.clone(),
                human(r.size),
                r.created.as_deref().map_or("-".into(), short_time),
            ]
        })
        .collect();
    crate::table(
        &["REFERENCE", "DIGEST", "PLATFORM", "SIZE", "CREATED"],
        &table_rows,
    )
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

    fn put(layout: &ImageLayout, v: &Value) -> (Digest, usize) {
        let b = serde_json::to_vec(v).unwrap();
        (layout.write_blob(&b).unwrap(), b.len())
    }

    fn manifest(layout: &ImageLayout, arch: &str, layer_size: u64) -> (Digest, usize) {
        let (cd, cs) = put(
            layout,
            &json!({"os": "linux", "architecture": arch, "created": "2026-01-02T03:04:05.678Z", "rootfs": {"type": "layers", "diff_ids": []}}),
        );
        put(
            layout,
            &json!({"schemaVersion": 2, "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": Digest::of(b"l"), "size": layer_size}]}),
        )
    }

    #[test]
    fn images_table_json_and_quiet() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::new(t.path().join("root"), t.path().join("run"));
        assert!(rows(&store).unwrap().is_empty());
        let layout = ImageLayout::of_store(&store);
        layout.init().unwrap();
        let (md, ms) = manifest(&layout, "amd64", 1000);
        let desc = json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms});
        layout
            .set_ref(
                "docker.io/library/b:1",
                &serde_json::from_value(desc).unwrap(),
            )
            .unwrap();
        let (a2, s2) = manifest(&layout, "arm64", 10);
        let (id, is) = put(
            &layout,
            &json!({"schemaVersion": 2, "manifests": [
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms},
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": a2, "size": s2}]}),
        );
        let desc = json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": id, "size": is});
        layout
            .set_ref("localhost/a:multi", &serde_json::from_value(desc).unwrap())
            .unwrap();

        let r = rows(&store).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].reference, "docker.io/library/b:1");
        assert_eq!(r[0].platform, "linux/amd64");
        let config_size = layout.read_json::<Value>(&md).unwrap()["config"]["size"]
            .as_u64()
            .unwrap();
        assert_eq!(r[0].size, ms as u64 + config_size + 1000);
        assert_eq!(r[0].created.as_deref(), Some("2026-01-02T03:04:05.678Z"));
        assert_eq!(r[1].platform, "linux/amd64,linux/arm64");

        let table = render(&r, &Format::default());
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("REFERENCE") && lines[0].contains("CREATED"));
        assert!(
            lines[1].contains(md.short()) && lines[1].contains("2026-01-02 03:04:05"),
            "{table}"
        );
        let q = render(
            &r,
            &Format {
                json: false,
                quiet: true,
            },
        );
        assert_eq!(q, "docker.io/library/b:1\nlocalhost/a:multi\n");
        let j: Value = serde_json::from_str(&render(
            &r,
            &Format {
                json: true,
                quiet: false,
            },
        ))
        .unwrap();
        assert_eq!(j[0]["digest"], md.to_string());
        assert_eq!(j[1]["platform"], "linux/amd64,linux/arm64");
    }
}
