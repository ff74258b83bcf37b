//! Where ct keeps things. Two roots, both overridable from the environment:
//!
//! * `$CT_ROOT` (default `/var/lib/ct`): what survives a reboot — the image store (one OCI
//!   image layout), the shared layer store, container bundles, network leases.
//! * `$CT_RUN` (default `/run/ct`): runtime state that dies with the machine — container state
//!   files, netns bookkeeping, locks for things that only exist while running.
//!
//! Those defaults are root's. Any other user gets a store of their own in the XDG base
//! directories, as rootless podman does: `$XDG_DATA_HOME/ct` (default `~/.local/share/ct`) and
//! `$XDG_RUNTIME_DIR/ct` (without one, `/tmp/ct-UID`). Every tool takes them from
//! [`Store::from_env`], and the `ct` script reads them the same way.
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
    /// Roots from `$CT_ROOT` / `$CT_RUN`, or the defaults for this user ([`Store::default_for`]).
    pub fn from_env() -> Store {
        let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let d = Store::default_for(rustix::process::geteuid().as_raw(), env);
        Store {
            root: env("CT_ROOT").map(PathBuf::from).unwrap_or(d.root),
            run: env("CT_RUN").map(PathBuf::from).unwrap_or(d.run),
        }
    }

    /// The roots of user `euid` when `CT_ROOT`/`CT_RUN` are unset, with `env` reading the
    /// environment (`HOME`, `XDG_DATA_HOME`, `XDG_RUNTIME_DIR`; unset and empty alike).
    pub fn default_for(euid: u32, env: impl Fn(&str) -> Option<std::ffi::OsString>) -> Store {
        if euid == 0 {
            return Store::new(DEFAULT_ROOT, DEFAULT_RUN);
        }
        let abs = |v: Option<std::ffi::OsString>| v.map(PathBuf::from).filter(|p| p.is_absolute());
        let data =
            abs(env("XDG_DATA_HOME")).or_else(|| abs(env("HOME")).map(|h| h.join(".local/share")));
        let run = match abs(env("XDG_RUNTIME_DIR")) {
            Some(r) => r.join("ct"),
            None => PathBuf::from(format!("/tmp/ct-{euid}")),
        };
        Store {
            // Without a home, the data goes beside the runtime state (and goes with it).
            root: data.map_or_else(|| run.join("data"), |d| d.join("ct")),
            run,
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

    /// `$CT_ROOT/names`: `NAME` holds the id of the container named NAME, for a name that is
    /// not its container's id (`ct rename`); ids never change.
    pub fn names(&self) -> PathBuf {
        self.root.join("names")
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

    /// `$CT_ROOT/locks/container-ID.lock`: held while the bundle of container ID is written
    /// (and deleted by its holder then).
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
    // Someone else's directory, or someone else's symlink, is no private store, whatever its
    // mode: another user can make `/tmp/ct-UID` first. (A symlink of this user's or root's
    // own, `/var/lib/ct -> /data/ct`, is followed.)
    use std::os::unix::fs::MetadataExt;
    let euid = rustix::process::geteuid().as_raw();
    let not_mine = |uid: u32| {
        io::Error::other(format!(
            "it belongs to uid {uid}, not to this user (uid {euid})"
        ))
    };
    let link = fs::symlink_metadata(dir)?;
    if link.file_type().is_symlink() && link.uid() != euid && link.uid() != 0 {
        return Err(not_mine(link.uid()));
    }
    let meta = fs::metadata(dir)?;
    if !meta.is_dir() {
        return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
    }
    if meta.uid() != euid {
        return Err(not_mine(meta.uid()));
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

    fn env_of<'a>(vars: &'a [(&str, &str)]) -> impl Fn(&str) -> Option<std::ffi::OsString> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, v)| *n == k && !v.is_empty())
                .map(|(_, v)| v.into())
        }
    }

    #[test]
    fn root_keeps_the_system_store_and_users_get_their_xdg_directories() {
        let s = Store::default_for(0, env_of(&[("HOME", "/root")]));
        assert_eq!(s, Store::new(DEFAULT_ROOT, DEFAULT_RUN));
        let s = Store::default_for(1000, env_of(&[("HOME", "/home/a")]));
        assert_eq!(s, Store::new("/home/a/.local/share/ct", "/tmp/ct-1000"));
        let xdg = [
            ("HOME", "/home/a"),
            ("XDG_DATA_HOME", "/d"),
            ("XDG_RUNTIME_DIR", "/run/user/1000"),
        ];
        let s = Store::default_for(1000, env_of(&xdg));
        assert_eq!(s, Store::new("/d/ct", "/run/user/1000/ct"));
        // Relative or empty values are ignored, as the XDG spec says; no home at all: the data
        // goes under the runtime directory.
        let odd = [
            ("HOME", ""),
            ("XDG_DATA_HOME", "rel"),
            ("XDG_RUNTIME_DIR", ""),
        ];
        let s = Store::default_for(7, env_of(&odd));
        assert_eq!(s, Store::new("/tmp/ct-7/data", "/tmp/ct-7"));
    }

    #[test]
    fn a_store_directory_of_another_user_is_refused() {
        if !rustix::process::geteuid().is_root() {
            return; // chown needs root; CI runs as root
        }
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("ct-1000");
        fs::create_dir(&dir).unwrap();
        std::os::unix::fs::chown(&dir, Some(4242), None).unwrap();
        let err = ensure_private_dir(&dir, "test").unwrap_err();
        assert!(err.to_string().contains("belongs to uid 4242"), "{err}");
        // A symlink another user planted is refused before it is followed.
        let target = t.path().join("mine");
        fs::create_dir(&target).unwrap();
        let link = t.path().join("ct-1001");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        std::os::unix::fs::lchown(&link, Some(4242), None).unwrap();
        let err = ensure_private_dir(&link, "test").unwrap_err();
        assert!(err.to_string().contains("belongs to uid 4242"), "{err}");
        // Its owner's own symlink is followed.
        std::os::unix::fs::lchown(&link, Some(0), None).unwrap();
        ensure_private_dir(&link, "test").unwrap();
    }

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
