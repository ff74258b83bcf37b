//! The OCI image layout (image-spec `image-layout.md`): a directory with
//!
//! ```text
//! oci-layout            {"imageLayoutVersion": "1.0.0"}
//! index.json            an image index; each entry names one image with the annotation
//!                       org.opencontainers.image.ref.name
//! blobs/sha256/HEX      manifests, configs and layers, each named by the sha256 of its bytes
//! ```
//!
//! ct keeps ONE such layout in `$CT_ROOT/images`, so `skopeo inspect oci:$CT_ROOT/images:NAME`
//! and `umoci` work on it unchanged. Writers take `$CT_ROOT/locks/images.lock` around every
//! read-modify-write of `index.json` and replace it atomically; blobs are renamed into place
//! only after their digest was checked, so nothing unverified is ever under `blobs/`.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder, MediaType};

use crate::atomic;
use crate::digest::Digest;
use crate::io_error::IoAt;
use crate::lock::Lock;
use crate::paths::Store;
use crate::reference::Reference;

/// The annotation that names an image in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Content of the `oci-layout` file.
pub const OCI_LAYOUT: &str = "{\"imageLayoutVersion\":\"1.0.0\"}";

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error(transparent)]
    Io(#[from] IoAt),
    #[error("malformed JSON in '{path}'")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("blob {digest} in '{path}' does not match its digest")]
    Corrupt { digest: Digest, path: PathBuf },
    #[error("'{0}' is not an OCI image layout (no oci-layout file)")]
    NotLayout(PathBuf),
}

/// One OCI image layout on disk.
#[derive(Debug, Clone)]
pub struct ImageLayout {
    pub dir: PathBuf,
    lock: PathBuf,
    tmp: PathBuf,
    /// `$CT_ROOT` for the store's own layout: created private (0700) if [`ImageLayout::init`]
    /// is the first to make it.
    store_root: Option<PathBuf>,
}

impl ImageLayout {
    /// The store's layout, `$CT_ROOT/images`.
    pub fn of_store(store: &Store) -> ImageLayout {
        ImageLayout {
            dir: store.images(),
            lock: store.locks().join("images.lock"),
            tmp: store.root.join("tmp"),
            store_root: Some(store.root.clone()),
        }
    }

    /// Any layout directory (e.g. for `oci:DIR` imports). Its lock and temp files sit beside
    /// it, never inside it.
    pub fn at(dir: impl Into<PathBuf>) -> ImageLayout {
        let dir: PathBuf = dir.into();
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "layout".into());
        let parent = dir.parent().unwrap_or(Path::new("/")).to_path_buf();
        ImageLayout {
            lock: parent.join(format!(".{name}.lock")),
            tmp: parent.join(format!(".{name}.tmp")),
            dir,
            store_root: None,
        }
    }

    pub fn index_path(&self) -> PathBuf {
        self.dir.join("index.json")
    }

    /// `blobs/sha256/HEX`.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir
            .join("blobs")
            .join(digest.algorithm())
            .join(digest.hex())
    }

    /// A directory on the same filesystem for downloads in progress (outside `blobs/`).
    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    /// Create `oci-layout`, an empty `index.json` and `blobs/sha256/` where missing.
    pub fn init(&self) -> Result<(), LayoutError> {
        if let Some(root) = &self.store_root {
            crate::paths::create_private_dir(root).map_err(IoAt::at("create", root))?;
        }
        let blobs = self.dir.join("blobs/sha256");
        fs::create_dir_all(&blobs).map_err(IoAt::at("create", &blobs))?;
        fs::create_dir_all(&self.tmp).map_err(IoAt::at("create", &self.tmp))?;
        let marker = self.dir.join("oci-layout");
        if !marker.exists() {
            atomic::write(&marker, OCI_LAYOUT.as_bytes()).map_err(IoAt::at("write", &marker))?;
        }
        let index = self.index_path();
        if !index.exists() {
            let _lock = self.lock()?;
            if !index.exists() {
                self.write_index(&empty_index())?;
            }
        }
        Ok(())
    }

    /// Is this directory a layout at all.
    pub fn exists(&self) -> bool {
        self.dir.join("oci-layout").is_file()
    }

    /// Take the layout's writer lock.
    pub fn lock(&self) -> Result<Lock, LayoutError> {
        Ok(Lock::exclusive(&self.lock).map_err(IoAt::at("lock", &self.lock))?)
    }

    /// Read `index.json` (an empty index if the layout is new).
    pub fn read_index(&self) -> Result<ImageIndex, LayoutError> {
        let path = self.index_path();
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| LayoutError::Json {
                path: path.clone(),
                source,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if self.exists() {
                    Ok(empty_index())
                } else {
                    Err(LayoutError::NotLayout(self.dir.clone()))
                }
            }
            Err(e) => Err(IoAt::at("read", &path)(e).into()),
        }
    }

    fn write_index(&self, index: &ImageIndex) -> Result<(), LayoutError> {
        let path = self.index_path();
        Ok(atomic::write_json(&path, index).map_err(IoAt::at("write", &path))?)
    }

    /// Read-modify-write `index.json` under the lock, atomically replaced.
    pub fn update_index<R>(&self, f: impl FnOnce(&mut ImageIndex) -> R) -> Result<R, LayoutError> {
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        let r = f(&mut index);
        self.write_index(&index)?;
        Ok(r)
    }

    /// Point `name` at `desc` (replacing what it named before).
    pub fn set_ref(&self, name: &str, desc: &Descriptor) -> Result<(), LayoutError> {
        let mut desc = desc.clone();
        let mut ann = desc.annotations().clone().unwrap_or_default();
        ann.insert(REF_NAME.to_string(), name.to_string());
        desc.set_annotations(Some(ann));
        self.update_index(|index| {
            let mut manifests: Vec<Descriptor> = index
                .manifests()
                .iter()
                .filter(|d| ref_name(d) != Some(name))
                .cloned()
                .collect();
            manifests.push(desc);
            index.set_manifests(manifests);
        })
    }

    /// Forget `name`; returns the descriptor it named. Blobs are left for garbage collection.
    pub fn remove_ref(&self, name: &str) -> Result<Option<Descriptor>, LayoutError> {
        self.update_index(|index| {
            let found = index
                .manifests()
                .iter()
                .find(|d| ref_name(d) == Some(name))
                .cloned();
            let manifests: Vec<Descriptor> = index
                .manifests()
                .iter()
                .filter(|d| ref_name(d) != Some(name))
                .cloned()
                .collect();
            index.set_manifests(manifests);
            found
        })
    }

    /// Every named entry: (ref name, descriptor).
    pub fn refs(&self) -> Result<Vec<(String, Descriptor)>, LayoutError> {
        Ok(self
            .read_index()?
            .manifests()
            .iter()
            .filter_map(|d| ref_name(d).map(|n| (n.to_string(), d.clone())))
            .collect())
    }

    /// Find what the user meant by `input`: an exact ref name, a reference as docker reads it
    /// (`alpine` finds `docker.io/library/alpine:latest`; a pinned digest must match), or a
    /// manifest digest (full or a unique prefix of at least 12 hex digits).
    pub fn resolve(&self, input: &str) -> Result<Option<(String, Descriptor)>, LayoutError> {
        let refs = self.refs()?;
        if let Some(hit) = refs.iter().find(|(n, _)| n == input) {
            return Ok(Some(hit.clone()));
        }
        if let Ok(r) = input.parse::<Reference>() {
            let digest_ok = |d: &Descriptor| match &r.digest {
                Some(want) => d.digest().to_string() == want.as_str(),
                None => true,
            };
            if r.tag.is_some() || r.digest.is_none() {
                let name = r.store_name();
                if let Some(hit) = refs.iter().find(|(n, d)| *n == name && digest_ok(d)) {
                    return Ok(Some(hit.clone()));
                }
            }
            if r.tag.is_none() && r.digest.is_some() {
                let repo = r.repository();
                if let Some(hit) = refs.iter().find(|(n, d)| {
                    digest_ok(d) && n.rsplit_once([':', '@']).map(|x| x.0) == Some(repo.as_str())
                }) {
                    return Ok(Some(hit.clone()));
                }
            }
        }
        let hex = input.strip_prefix("sha256:").unwrap_or(input);
        if hex.len() >= 12 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hits: Vec<_> = refs
                .iter()
                .filter(|(_, d)| {
                    d.digest()
                        .to_string()
                        .strip_prefix("sha256:")
                        .is_some_and(|h| h.starts_with(hex))
                })
                .collect();
            if hits.len() == 1 {
                return Ok(Some(hits[0].clone()));
            }
        }
        Ok(None)
    }

    /// Is the blob present (and, if `size` is given, of that size).
    pub fn has_blob(&self, digest: &Digest, size: Option<u64>) -> bool {
        match fs::metadata(self.blob_path(digest)) {
            Ok(m) => m.is_file() && size.is_none_or(|s| s == m.len()),
            Err(_) => false,
        }
    }

    /// Read a (small) blob and check its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, LayoutError> {
        let path = self.blob_path(digest);
        let bytes = fs::read(&path).map_err(IoAt::at("read", &path))?;
        if Digest::of(&bytes) != *digest {
            return Err(LayoutError::Corrupt {
                digest: digest.clone(),
                path,
            });
        }
        Ok(bytes)
    }

    /// Read and parse a JSON blob (manifest, index, config), digest checked.
    pub fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        digest: &Digest,
    ) -> Result<T, LayoutError> {
        let bytes = self.read_blob(digest)?;
        serde_json::from_slice(&bytes).map_err(|source| LayoutError::Json {
            path: self.blob_path(digest),
            source,
        })
    }

    /// Store bytes as a blob (temp file, fsync, rename); returns its digest.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<Digest, LayoutError> {
        let digest = Digest::of(bytes);
        let path = self.blob_path(&digest);
        if !self.has_blob(&digest, Some(bytes.len() as u64)) {
            atomic::write(&path, bytes).map_err(IoAt::at("write", &path))?;
        }
        Ok(digest)
    }

    /// Every blob digest present.
    pub fn blobs(&self) -> Result<Vec<Digest>, LayoutError> {
        let dir = self.dir.join("blobs/sha256");
        let mut out = Vec::new();
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(IoAt::at("list", &dir)(e).into()),
        };
        for e in rd {
            let e = e.map_err(IoAt::at("list", &dir))?;
            if let Ok(d) = format!("sha256:{}", e.file_name().to_string_lossy()).parse() {
                out.push(d);
            }
        }
        Ok(out)
    }
}

/// The `org.opencontainers.image.ref.name` of an index entry.
pub fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations()
        .as_ref()
        .and_then(|a| a.get(REF_NAME))
        .map(String::as_str)
}

/// A descriptor's digest as a validated [`Digest`].
pub fn digest_of(d: &Descriptor) -> Result<Digest, crate::digest::DigestError> {
    d.digest().to_string().parse()
}

fn empty_index() -> ImageIndex {
    ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(Vec::<Descriptor>::new())
        .build()
        .expect("static index is valid")
}

/// Annotations as a plain map (for callers that only read).
pub fn annotations(d: &Descriptor) -> HashMap<String, String> {
    d.annotations()
        .as_ref()
        .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::DescriptorBuilder;

    fn desc(bytes: &[u8]) -> Descriptor {
        let d = Digest::of(bytes);
        DescriptorBuilder::default()
            .media_type(MediaType::ImageManifest)
            .digest(d.as_str().parse::<oci_spec::image::Digest>().unwrap())
            .size(bytes.len() as u64)
            .build()
            .unwrap()
    }

    #[test]
    fn refs_round_trip() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::new(t.path().join("root"), t.path().join("run"));
        let l = ImageLayout::of_store(&store);
        l.init().unwrap();
        assert!(l.exists());
        assert!(l.refs().unwrap().is_empty());
        l.set_ref("docker.io/library/a:1", &desc(b"one")).unwrap();
        l.set_ref("docker.io/library/a:1", &desc(b"two")).unwrap();
        l.set_ref("docker.io/library/b:latest", &desc(b"three"))
            .unwrap();
        let refs = l.refs().unwrap();
        assert_eq!(refs.len(), 2);
        let (name, d) = l.resolve("a:1").unwrap().unwrap();
        assert_eq!(name, "docker.io/library/a:1");
        assert_eq!(d.digest().to_string(), Digest::of(b"two").to_string());
        assert!(l.resolve("b").unwrap().is_some());
        let short = &Digest::of(b"three").hex()[..12].to_string();
        assert_eq!(
            l.resolve(short).unwrap().unwrap().0,
            "docker.io/library/b:latest"
        );
        let pinned = format!("a:1@{}", Digest::of(b"one"));
        assert!(l.resolve(&pinned).unwrap().is_none());
        assert!(l.remove_ref("docker.io/library/a:1").unwrap().is_some());
        assert!(l.resolve("a:1").unwrap().is_none());
        // Nothing but the layout's own files inside the layout directory.
        let mut names: Vec<_> = fs::read_dir(&l.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["blobs", "index.json", "oci-layout"]);
    }

    #[test]
    fn blobs_are_checked() {
        let t = tempfile::tempdir().unwrap();
        let l = ImageLayout::at(t.path().join("img"));
        l.init().unwrap();
        let d = l.write_blob(b"{\"a\":1}").unwrap();
        assert!(l.has_blob(&d, Some(7)));
        assert!(!l.has_blob(&d, Some(8)));
        let v: serde_json::Value = l.read_json(&d).unwrap();
        assert_eq!(v["a"], 1);
        fs::write(l.blob_path(&d), b"{\"a\":2}").unwrap();
        assert!(matches!(l.read_blob(&d), Err(LayoutError::Corrupt { .. })));
        assert_eq!(l.blobs().unwrap(), vec![d]);
    }
}
