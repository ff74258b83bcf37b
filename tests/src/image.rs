//! Fixture images built in the tests themselves: layers are tar streams made with the `tar`
//! crate (compressed with gzip or zstd, or not at all), wrapped in an OCI config and manifest and
//! written into an OCI image layout. `busybox_layer` makes a runnable root filesystem from
//! Debian's busybox-static (`/bin/busybox` plus one symlink per applet).

use std::path::Path;
use std::process::Command;

use ct_layout::image_layout::ImageLayout;
use ct_layout::Digest;
use serde_json::{json, Value};

pub use ct_layout::media_type::Compression;

/// Compressing a layer the way its [`Compression`] (ct-layout's, the one enum of the
/// workspace) says: tests build layers; the tools only ever decompress.
pub trait Compress {
    fn compress(self, tar: &[u8]) -> Vec<u8>;
}

impl Compress for Compression {
    fn compress(self, tar: &[u8]) -> Vec<u8> {
        use std::io::Write;
        match self {
            Compression::None => tar.to_vec(),
            Compression::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(tar).unwrap();
                e.finish().unwrap()
            }
            Compression::Zstd => zstd::encode_all(tar, 3).unwrap(),
        }
    }
}

/// An image to build: layers (uncompressed tar bytes + how to compress each), and the
/// `config` part of the image config (Cmd, Env, User…).
#[derive(Debug, Clone)]
pub struct Image {
    pub layers: Vec<(Vec<u8>, Compression)>,
    pub config: Value,
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Image {
    pub fn new() -> Image {
        Image {
            layers: Vec::new(),
            config: json!({"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}),
            os: "linux".into(),
            architecture: host_arch().into(),
            variant: None,
        }
    }

    pub fn layer(mut self, tar: Vec<u8>, c: Compression) -> Image {
        self.layers.push((tar, c));
        self
    }

    pub fn config(mut self, config: Value) -> Image {
        self.config = config;
        self
    }

    pub fn platform(mut self, os: &str, arch: &str) -> Image {
        self.os = os.into();
        self.architecture = arch.into();
        self
    }

    /// The platform's `variant` in the index entry (`v8`, `v7`, `v3`…).
    pub fn variant(mut self, v: &str) -> Image {
        self.variant = Some(v.into());
        self
    }

    /// Write blobs, config and manifest into `layout`; returns the manifest descriptor JSON
    /// (with `platform`). Does not touch `index.json`.
    pub fn write_blobs(&self, layout: &ImageLayout) -> Value {
        layout.init().unwrap();
        let mut layers = Vec::new();
        let mut diff_ids = Vec::new();
        for (tar, c) in &self.layers {
            diff_ids.push(Digest::of(tar).to_string());
            let blob = c.compress(tar);
            let d = layout.write_blob(&blob).unwrap();
            layers.push(
                json!({"mediaType": c.media_type(), "digest": d.to_string(), "size": blob.len()}),
            );
        }
        let config = json!({
            "created": "2026-01-01T00:00:00Z",
            "architecture": self.architecture,
            "os": self.os,
            "config": self.config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [],
        });
        let config_bytes = serde_json::to_vec(&config).unwrap();
        let cd = layout.write_blob(&config_bytes).unwrap();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": config_bytes.len()},
            "layers": layers,
        });
        let mb = serde_json::to_vec(&manifest).unwrap();
        let md = layout.write_blob(&mb).unwrap();
        json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": md.to_string(),
            "size": mb.len(),
            "platform": match &self.variant {
                Some(v) => json!({"architecture": self.architecture, "os": self.os, "variant": v}),
                None => json!({"architecture": self.architecture, "os": self.os}),
            },
        })
    }

    /// Write the image and name it `name` in `index.json`. Returns the manifest digest.
    pub fn write(&self, layout: &ImageLayout, name: &str) -> Digest {
        let desc = self.write_blobs(layout);
        set_ref(layout, name, &desc);
        desc["digest"].as_str().unwrap().parse().unwrap()
    }
}

impl Default for Image {
    fn default() -> Self {
        Image::new()
    }
}

/// Write an image index over several images (a multi-platform image) and name it.
pub fn write_index(layout: &ImageLayout, name: &str, images: &[Image]) -> Digest {
    let manifests: Vec<Value> = images.iter().map(|i| i.write_blobs(layout)).collect();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    });
    let b = serde_json::to_vec(&index).unwrap();
    let d = layout.write_blob(&b).unwrap();
    let desc = json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": d.to_string(), "size": b.len()});
    set_ref(layout, name, &desc);
    d
}

fn set_ref(layout: &ImageLayout, name: &str, desc: &Value) {
    let d: oci_spec::image::Descriptor = serde_json::from_value(desc.clone()).unwrap();
    layout.set_ref(name, &d).unwrap();
}

/// The OCI architecture name of this machine.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// Helper to build tar streams with the `tar` crate.
pub struct TarBuilder {
    b: tar::Builder<Vec<u8>>,
}

impl TarBuilder {
    pub fn new() -> TarBuilder {
        TarBuilder {
            b: tar::Builder::new(Vec::new()),
        }
    }

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h
    }

    pub fn dir(mut self, path: &str, mode: u32) -> Self {
        let mut h = Self::header(tar::EntryType::Directory, mode, 0);
        self.b.append_data(&mut h, path, std::io::empty()).unwrap();
        self
    }

    pub fn file(mut self, path: &str, mode: u32, data: &[u8]) -> Self {
        let mut h = Self::header(tar::EntryType::Regular, mode, data.len() as u64);
        self.b.append_data(&mut h, path, data).unwrap();
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Symlink, 0o777, 0);
        self.b.append_link(&mut h, path, target).unwrap();
        self
    }

    pub fn hardlink(mut self, path: &str, target: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Link, 0o644, 0);
        self.b.append_link(&mut h, path, target).unwrap();
        self
    }

    /// Raw access for unusual entries (devices, xattrs, hostile paths).
    pub fn inner(&mut self) -> &mut tar::Builder<Vec<u8>> {
        &mut self.b
    }

    pub fn finish(self) -> Vec<u8> {
        self.b.into_inner().unwrap()
    }
}

impl Default for TarBuilder {
    fn default() -> Self {
        TarBuilder::new()
    }
}

/// Where Debian's busybox-static installs its binary.
pub const BUSYBOX: &str = "/bin/busybox";

/// A root filesystem layer from Debian's busybox-static: `/bin/busybox`, a symlink per applet
/// in `/bin`, `/etc/passwd` and `/etc/group` with root and nobody, `/tmp`, `/root`.
pub fn busybox_layer() -> Vec<u8> {
    let bin = std::fs::read(BUSYBOX).expect("busybox-static is installed (/bin/busybox)");
    let list = Command::new(BUSYBOX).arg("--list").output().unwrap();
    let applets = String::from_utf8(list.stdout).unwrap();
    let mut t = TarBuilder::new()
        .dir("bin", 0o755)
        .file("bin/busybox", 0o755, &bin);
    for a in applets.lines().filter(|a| *a != "busybox" && !a.is_empty()) {
        t = t.symlink(&format!("bin/{a}"), "busybox");
    }
    t.dir("etc", 0o755)
        .file(
            "etc/passwd",
            0o644,
            b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )
        .file("etc/group", 0o644, b"root:x:0:\nnogroup:x:65534:\n")
        .dir("tmp", 0o1777)
        .dir("root", 0o700)
        .dir("proc", 0o755)
        .dir("sys", 0o755)
        .dir("dev", 0o755)
        .finish()
}

/// A one-layer busybox image written into `layout` under `name`.
pub fn busybox_image(layout: &ImageLayout, name: &str) -> Digest {
    Image::new()
        .layer(busybox_layer(), Compression::Gzip)
        .write(layout, name)
}

/// `path` exists and is a directory holding an OCI layout.
pub fn is_layout(path: &Path) -> bool {
    path.join("oci-layout").is_file() && path.join("index.json").is_file()
}

// ---------------------------------------------------------------------------------------------
// Helpers for unpack tests (tree comparison itself lives in `tree.rs`).

/// `umoci unpack --image LAYOUT:NAME DEST` (as root, so owners are kept); returns
/// `DEST/rootfs`.
pub fn umoci_unpack(layout_dir: &Path, name: &str, dest: &Path) -> std::path::PathBuf {
    let out = Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:{}", layout_dir.display(), name))
        .arg(dest)
        .output()
        .expect("umoci is installed");
    assert!(
        out.status.success(),
        "umoci unpack failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dest.join("rootfs")
}

/// A tar entry with PAX records (xattrs as `SCHILY.xattr.NAME`), for fixtures.
pub fn append_with_pax(
    b: &mut tar::Builder<Vec<u8>>,
    header: &mut tar::Header,
    path: &str,
    pax: &[(&str, &[u8])],
    data: &[u8],
) {
    if !pax.is_empty() {
        b.append_pax_extensions(pax.iter().map(|(k, v)| (*k, *v)))
            .unwrap();
    }
    header.set_size(data.len() as u64);
    b.append_data(header, path, data).unwrap();
}
