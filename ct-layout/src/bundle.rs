//! OCI runtime bundles (runtime-spec `bundle.md`): a directory with `config.json` and the root
//! filesystem it names (`rootfs/`). ct's bundles live in `$CT_ROOT/containers/ID/`; beside the
//! standard files each stage keeps its own notes, so any OCI runtime can run the bundle while
//! ct's tools can still find out how it was made and undo it:
//!
//! ```text
//! config.json   the OCI runtime config (ct-unpack writes it; ct-mount, ct-net, ct-cgroup edit it)
//! rootfs/       the root filesystem: an overlay mount point, or a plain tree with --flat
//! ct.json       ct-unpack's note: id, image, manifest digest, layer diff_ids (bottom first)
//! upper/ work/  ct-mount's overlay upper and work directories
//! net.json      ct-net's CNI-style result (interfaces, addresses, routes, ports)
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::atomic;
use crate::digest::Digest;
use crate::paths::{valid_id, Store};

pub const CONFIG: &str = "config.json";

/// The `PATH` a container's process gets when its config sets none (docker's default): what
/// ct-unpack writes into a new config, and what ct-exec searches when a config lacks it.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
pub const ROOTFS: &str = "rootfs";
pub const NOTE: &str = "ct.json";
pub const UPPER: &str = "upper";
pub const WORK: &str = "work";
pub const NET_RESULT: &str = "net.json";

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("no bundle '{0}' (neither a directory with config.json nor a container id)")]
    NotFound(String),
    #[error("cannot read '{path}'")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write '{path}'")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid config '{path}'")]
    Config {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// How the root filesystem of a ct bundle is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RootfsMode {
    /// `rootfs/` is an overlay mount point; the layers are lower dirs (ct-mount mounts it).
    Overlay,
    /// `rootfs/` is a plain directory with all layers applied (`ct-unpack --flat`).
    Flat,
}

/// ct-unpack's note in `BUNDLE/ct.json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Note {
    pub id: String,
    /// The image reference as stored in `index.json` (`org.opencontainers.image.ref.name`).
    pub image: String,
    /// The image manifest's digest.
    pub manifest: Digest,
    /// Layer diff_ids, bottom layer first; each is `$CT_ROOT/layers/sha256/HEX`.
    pub layers: Vec<Digest>,
    pub rootfs: RootfsMode,
    /// RFC 3339 creation time.
    pub created: String,
    /// Optional human name (`--name`); the id is the name when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A bundle directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub dir: PathBuf,
}

impl Bundle {
    pub fn new(dir: impl Into<PathBuf>) -> Bundle {
        Bundle { dir: dir.into() }
    }

    /// What a stage was handed: a bundle directory (anything containing `config.json`), or the
    /// id of a container in the store.
    pub fn find(store: &Store, input: &str) -> Result<Bundle, BundleError> {
        let p = Path::new(input);
        if p.join(CONFIG).is_file() {
            let dir = fs::canonicalize(p).map_err(|source| BundleError::Read {
                path: p.to_path_buf(),
                source,
            })?;
            return Ok(Bundle { dir });
        }
        if valid_id(input) {
            let dir = store.bundle(input);
            if dir.join(CONFIG).is_file() {
                return Ok(Bundle { dir });
            }
        }
        Err(BundleError::NotFound(input.to_string()))
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join(CONFIG)
    }
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join(ROOTFS)
    }
    pub fn note_path(&self) -> PathBuf {
        self.dir.join(NOTE)
    }
    pub fn upper(&self) -> PathBuf {
        self.dir.join(UPPER)
    }
    pub fn work(&self) -> PathBuf {
        self.dir.join(WORK)
    }
    pub fn net_result(&self) -> PathBuf {
        self.dir.join(NET_RESULT)
    }

    /// The directory name, which for ct's bundles is the container id.
    pub fn id(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Parse `config.json`.
    pub fn load_config(&self) -> Result<Spec, BundleError> {
        let path = self.config_path();
        let bytes = fs::read(&path).map_err(|source| BundleError::Read {
            path: path.clone(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|source| BundleError::Config { path, source })
    }

    /// Replace `config.json` atomically.
    pub fn save_config(&self, spec: &Spec) -> Result<(), BundleError> {
        let path = self.config_path();
        atomic::write_json(&path, spec).map_err(|source| BundleError::Write { path, source })
    }

    /// ct-unpack's note, if this bundle has one (bundles from other tools do not).
    pub fn load_note(&self) -> Result<Option<Note>, BundleError> {
        let path = self.note_path();
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| BundleError::Config { path, source }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(BundleError::Read { path, source }),
        }
    }

    pub fn save_note(&self, note: &Note) -> Result<(), BundleError> {
        let path = self.note_path();
        atomic::write_json(&path, note).map_err(|source| BundleError::Write { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_by_dir_or_id() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::new(t.path().join("root"), t.path().join("run"));
        let dir = store.bundle("c1");
        fs::create_dir_all(&dir).unwrap();
        let b = Bundle::new(&dir);
        b.save_config(&Spec::default()).unwrap();
        assert_eq!(Bundle::find(&store, "c1").unwrap().dir, dir);
        assert_eq!(
            Bundle::find(&store, dir.to_str().unwrap()).unwrap().dir,
            fs::canonicalize(&dir).unwrap()
        );
        assert!(matches!(
            Bundle::find(&store, "nope"),
            Err(BundleError::NotFound(_))
        ));
        assert!(b.load_note().unwrap().is_none());
        let note = Note {
            id: "c1".into(),
            image: "docker.io/library/x:1".into(),
            manifest: Digest::of(b"m"),
            layers: vec![Digest::of(b"l")],
            rootfs: RootfsMode::Overlay,
            created: "2026-01-01T00:00:00Z".into(),
            name: None,
        };
        b.save_note(&note).unwrap();
        assert_eq!(b.load_note().unwrap(), Some(note));
        assert_eq!(b.id(), "c1");
    }
}
