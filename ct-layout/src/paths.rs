//! Where ct keeps things. Two roots, both overridable from the environment:
//!
//! * `$CT_ROOT` (default `/var/lib/ct`): what survives a reboot — the image store (one OCI
//!   image layout), the shared layer store, container bundles, network leases.
//! * `$CT_RUN` (default `/run/ct`): runtime state that dies with the machine — container state
//!   files, netns bookkeeping, locks for things that only exist while running.
//!
//! Both roots are private, mode 0700, as containers-storage makes `/var/lib/containers`: a
//! pulled layer may hold a setuid-root binary or a device node, and a bundle holds the
//! `config.json` that decides what its container may do; the directory mode is what keeps
//! every other host user from reaching them. [`Store::ensure`] creates the roots that way and
//! tightens a store made by an older ct (0755), with a one-line notice.
//!
//! See `docs/LAYOUT.md` for a tour with `ls` and `cat`.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::digest::Digest;

/// Default persistent root.
pub const DEFAULT_ROOT: &str = "/var/lib/ct";
/// Default runtime root.
pub const DEFAULT_RUN: &str = "/run/ct";

/// The two roots and every well-known path below them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    pub root: PathBuf,
    pub run: PathBuf,
}

impl Store {
    /// Roots from `$CT_ROOT` / `$CT_RUN`, or the defaults.
    pub fn from_env() -> Store {
        let get = |k: &str, d: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(d))
        };
        Store {
            root: get("CT_ROOT", DEFAULT_ROOT),
            run: get("CT_RUN", DEFAULT_RUN),
        }
    }

    /// Roots given explicitly (tests, tools with `--root`).
    pub fn new(root: impl Into<PathBuf>, run: impl Into<PathBuf>) -> Store {
        Store {
            root: root.into(),
            run: run.into(),
        }
    }

    /// Make sure both roots exist and are private (0700): create a missing one 0700 (its
    /// missing parents with the usual 0755), and tighten one that grants anything to group or
    /// others, saying so on stderr as `TOOL: notice: tightened '/var/lib/ct' to 0700 (it was
    /// 0755)`. Returns the root that failed with the error.
    pub fn ensure(&self, tool: &str) -> Result<(), (PathBuf, io::Error)> {
        self.ensure_root(tool)?;
        self.ensure_run(tool)
    }

    /// [`Store::ensure`] for `$CT_ROOT` alone.
    pub fn ensure_root(&self, tool: &str) -> Result<(), (PathBuf, io::Error)> {
        ensure_private_dir(&self.root, tool).map_err(|e| (self.root.clone(), e))
    }

    /// [`Store::ensure`] for `$CT_RUN` alone (what a tool that only keeps state there needs).
    pub fn ensure_run(&self, tool: &str) -> Result<(), (PathBuf, io::Error)> {
        ensure_private_dir(&self.run, tool).map_err(|e| (self.run.clone(), e))
    }

    /// `$CT_ROOT/images`: one standard OCI image layout holding every image.
    pub fn images(&self) -> PathBuf {
        self.root.join("images")
    }

    /// `$CT_ROOT/images/blobs/sha256/HEX`.
    pub fn blob(&self, digest: &Digest) -> PathBuf {
        self.images()
            .join("blobs")
            .join(digest.algorithm())
            .join(digest.hex())
    }

    /// `$CT_ROOT/layers`: unpacked layers, one directory per diff_id.
    pub fn layers(&self) -> PathBuf {
        self.root.join("layers")
    }

    /// `$CT_ROOT/layers/sha256/HEX`: the extracted tree of one layer (overlayfs lower dir).
    /// It exists only once extraction completed and the diff_id was verified.
    pub fn layer(&self, diff_id: &Digest) -> PathBuf {
        self.layers().join(diff_id.algorithm()).join(diff_id.hex())
    }

    /// `$CT_ROOT/layers/tmp`: in-progress extractions; anything here is garbage after a crash.
    pub fn layers_tmp(&self) -> PathBuf {
        self.layers().join("tmp")
    }

    /// `$CT_ROOT/containers`: one OCI runtime bundle per container.
    pub fn containers(&self) -> PathBuf {
        self.root.join("containers")
    }

    /// `$CT_ROOT/containers/ID`: the bundle of container ID.
    pub fn bundle(&self, id: &str) -> PathBuf {
        self.containers().join(id)
    }

    /// `$CT_ROOT/net`: networks and their address leases.
    pub fn net(&self) -> PathBuf {
        self.root.join("net")
    }

    /// `$CT_ROOT/locks`: lock files for store-wide operations (layer extraction, GC).
    pub fn locks(&self) -> PathBuf {
        self.root.join("locks")
    }

    /// `$CT_RUN/containers`: runtime state, one directory per container.
    pub fn run_containers(&self) -> PathBuf {
        self.run.join("containers")
    }

    /// `$CT_RUN/containers/ID/state.json`.
    pub fn state_file(&self, id: &str) -> PathBuf {
        self.run_containers().join(id).join("state.json")
    }
}

/// Lock and temporary names that one tool makes and another must recognise: ct-unpack extracts
/// and writes bundles under them, ct-gc removes what a crash left (only when its lock is free).
impl Store {
    /// `$CT_ROOT/locks/layer-HEX.lock`: held while layer `diff_id` is extracted or removed.
    pub fn layer_lock(&self, diff_id: &Digest) -> PathBuf {
        self.locks().join(format!("layer-{}.lock", diff_id.hex()))
    }

    /// `$CT_ROOT/locks/container-ID.lock`: held while the bundle of container ID is written.
    pub fn container_lock(&self, id: &str) -> PathBuf {
        self.locks().join(format!("container-{id}.lock"))
    }

    /// `$CT_ROOT/layers/tmp/HEX-SUFFIX`: an extraction of layer `diff_id` in progress.
    pub fn layer_extraction(&self, diff_id: &Digest, suffix: &str) -> PathBuf {
        self.layers_tmp()
            .join(format!("{}{suffix}", extraction_prefix(diff_id)))
    }

    /// `$CT_ROOT/layers/tmp/gc-HEX-SUFFIX`: layer `diff_id`, moved aside by ct-gc to be removed.
    pub fn layer_doomed(&self, diff_id: &Digest, suffix: &str) -> PathBuf {
        self.layers_tmp()
            .join(format!("{DOOMED_PREFIX}{}-{suffix}", diff_id.hex()))
    }
}

const DOOMED_PREFIX: &str = "gc-";

/// The name prefix of every extraction of layer `diff_id` in `layers/tmp` (`HEX-`).
pub fn extraction_prefix(diff_id: &Digest) -> String {
    format!("{}-", diff_id.hex())
}

/// The name prefix of a bundle of container `id` being written in `containers/` (`.tmp-ID-`).
pub fn bundle_temp_prefix(id: &str) -> String {
    format!(".tmp-{id}-")
}

/// What an entry of `$CT_ROOT/layers/tmp` is, by its name.
#[derive(Debug, PartialEq, Eq)]
pub enum LayerTemp<'a> {
    /// A layer ct-gc moved aside: nobody else uses it.
    Doomed,
    /// An extraction of the layer with this hex digest (in use while its [`Store::layer_lock`]
    /// is held).
    Extraction(&'a str),
}

impl LayerTemp<'_> {
    pub fn of(name: &str) -> LayerTemp<'_> {
        match name.strip_prefix(DOOMED_PREFIX) {
            Some(_) => LayerTemp::Doomed,
            None => LayerTemp::Extraction(name.split('-').next().unwrap_or("")),
        }
    }
}

/// Create `dir` with mode 0700 (its missing parents with the usual 0755) if it is missing.
/// Returns whether it was created. Whoever makes a store root first uses this, so that no
/// store is ever 0755, even for a moment.
pub fn create_private_dir(dir: &Path) -> io::Result<bool> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {
            // The umask may have taken bits from 0700, never added any; set it exactly.
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// `dir` exists, is a directory, and has mode 0700 (see [`Store::ensure`]).
fn ensure_private_dir(dir: &Path, tool: &str) -> io::Result<()> {
    if create_private_dir(dir)? {
        return Ok(());
    }
    let meta = fs::metadata(dir)?;
    if !meta.is_dir() {
        return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        eprintln!(
            "{tool}: notice: tightened {} to 0700 (it was {mode:04o})",
            crate::pipe::quote(dir.as_os_str().as_encoded_bytes())
        );
    }
    Ok(())
}

/// Is `id` a usable container id / name: 1..=64 chars of `[A-Za-z0-9_.-]`, not starting with
/// `.` or `-`. Ids become directory names, netns names and cgroup names, so they must be plain.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('.')
        && !id.starts_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

/// A fresh random container id: 12 lowercase hex characters, like docker's short ids.
/// Straight from getrandom(2) (`OsRng`): `thread_rng` would first seed a ChaCha generator,
/// which costs more than the one syscall for the one value a process draws.
pub fn new_id() -> String {
    use rand::Rng;
    let bytes: [u8; 6] = rand::rngs::OsRng.gen();
    hex::encode(bytes)
}

/// `path` relative to `base`, if it is below it (used to print short paths to humans).
pub fn below<'a>(path: &'a Path, base: &Path) -> Option<&'a Path> {
    path.strip_prefix(base).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_recognised_by_what_they_are() {
        let store = Store::new("/s", "/r");
        let d: Digest = format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
        let hex = d.hex().to_string();
        let ext = store.layer_extraction(&d, "x1");
        let doomed = store.layer_doomed(&d, "x2");
        let name = |p: &Path| p.file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(LayerTemp::of(&name(&ext)), LayerTemp::Extraction(&hex));
        assert_eq!(LayerTemp::of(&name(&doomed)), LayerTemp::Doomed);
        assert!(name(&ext).starts_with(&extraction_prefix(&d)));
        assert_eq!(
            store.layer_lock(&d),
            Path::new("/s/locks").join(format!("layer-{hex}.lock"))
        );
        assert!(bundle_temp_prefix("web").starts_with(".tmp-web-"));
    }

    #[test]
    fn ids() {
        assert!(valid_id("web-1"));
        assert!(valid_id("a"));
        assert!(!valid_id(""));
        assert!(!valid_id("../x"));
        assert!(!valid_id("a/b"));
        assert!(!valid_id(".hidden"));
        assert!(!valid_id(&"x".repeat(65)));
        let id = new_id();
        assert_eq!(id.len(), 12);
        assert!(valid_id(&id));
        assert_ne!(new_id(), id);
    }

    #[test]
    fn ensure_makes_and_tightens_private_roots() {
        let t = tempfile::tempdir().unwrap();
        let s = Store::new(t.path().join("a/root"), t.path().join("run"));
        s.ensure("test").unwrap();
        for d in [&s.root, &s.run] {
            assert_eq!(
                fs::metadata(d).unwrap().permissions().mode() & 0o7777,
                0o700
            );
        }
        fs::set_permissions(&s.root, fs::Permissions::from_mode(0o755)).unwrap();
        s.ensure("test").unwrap();
        assert_eq!(
            fs::metadata(&s.root).unwrap().permissions().mode() & 0o7777,
            0o700
        );
    }

    #[test]
    fn paths_follow_roots() {
        let s = Store::new("/r", "/x");
        let d: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        assert_eq!(
            s.blob(&d),
            PathBuf::from(format!("/r/images/blobs/sha256/{}", "a".repeat(64)))
        );
        assert_eq!(
            s.layer(&d),
            PathBuf::from(format!("/r/layers/sha256/{}", "a".repeat(64)))
        );
        assert_eq!(
            s.state_file("c1"),
            PathBuf::from("/x/containers/c1/state.json")
        );
    }
}
