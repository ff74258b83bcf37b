//! Volumes as OCI runtime `mounts` entries (runtime-spec `config.md#mounts`). ct-mount does not
//! mount them itself: the runtime does, inside the container's mount namespace, after it has
//! entered it — so they never show on the host and vanish with the container. ct-mount only
//! writes them into `config.json`, like docker's `-v` and `--tmpfs` do:
//!
//! * `-v HOST:CTR[:ro|rw]` → `{"type":"bind","source":HOST,"destination":CTR,
//!   "options":["rbind","rprivate","ro"|"rw"]}` — a recursive bind mount (`mount(2)` with
//!   `MS_BIND|MS_REC`), made read-only by a remount when `ro`. HOST must exist and is made
//!   absolute, because the runtime resolves it from its own working directory.
//! * `--tmpfs CTR[:OPTS]` → `{"type":"tmpfs","source":"tmpfs","destination":CTR,
//!   "options":["nosuid","nodev","noexec",OPTS…]}` (docker's defaults; `size=64m,mode=1777`…).
//!
//! An entry for a destination that is already in `mounts` replaces it in place, so running
//! ct-mount twice with the same flags changes nothing, and `-v /x:/dev/shm` overrides a default.
//!
//! As a user (ct_layout::rootless), a `-v` source must be readable by that user.
//!
//! Before `config.json` is saved, [`check_mounts`] reads every entry as hostile (an image's
//! `VOLUME` became one, and anyone may have edited the file): a destination must stay inside
//! the container's root and not be `/`; a bind source inside `$CT_ROOT` must be one of this
//! bundle's `volumes/NAME` directories or ct-net's `hosts`/`hostname`/`resolv.conf` files in
//! it, or a named volume `$CT_ROOT/volumes/NAME/_data` (ct's `-v NAME:/path`) — opened with
//! `openat2(2)`
//! `RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS` from the bundle directory, so a symlink or `..`
//! cannot turn it into the bundle itself, its `config.json`, or another container.

use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use ct_layout::in_root::clean;
use oci_spec::runtime::{Mount, MountBuilder, Spec};

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("invalid volume '{0}': expected HOST:CTR or HOST:CTR:ro")]
    Syntax(String),
    #[error("invalid volume '{spec}': {why}")]
    Invalid { spec: String, why: &'static str },
    #[error("invalid tmpfs '{0}': expected CTR or CTR:OPTIONS with an absolute CTR")]
    Tmpfs(String),
    #[error("volume source '{path}' does not exist")]
    Source {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("volume source '{path}' is not readable by you")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("mount destination {}: {why}", ct_layout::pipe::quote(.dest.as_os_str().as_encoded_bytes()))]
    Destination { dest: PathBuf, why: &'static str },
    #[error("bind mount source {}: {why}", ct_layout::pipe::quote(.src.as_os_str().as_encoded_bytes()))]
    BundleSource { src: PathBuf, why: &'static str },
    #[error("cannot build the mount entry for '{0}'")]
    Build(PathBuf, #[source] oci_spec::OciSpecError),
}

/// `-v HOST:CTR[:ro|rw]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub host: PathBuf,
    pub ctr: PathBuf,
    pub read_only: bool,
}

/// `--tmpfs CTR[:OPTS]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tmpfs {
    pub ctr: PathBuf,
    pub options: Vec<String>,
}

/// A container path: absolute, not `/`, without `..` (the runtime resolves it in the rootfs,
/// but a `..` is almost always a mistake).
fn container_path(p: &str) -> Result<PathBuf, &'static str> {
    let path = Path::new(p);
    if !path.is_absolute() {
        return Err("the container path must be absolute");
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err("the container path must not contain '..'");
    }
    if path.components().count() < 2 {
        return Err("the container path cannot be '/'");
    }
    Ok(path.to_path_buf())
}

impl FromStr for Volume {
    type Err = VolumeError;

    fn from_str(s: &str) -> Result<Volume, VolumeError> {
        let parts: Vec<&str> = s.split(':').collect();
        let (host, ctr, read_only) = match parts.as_slice() {
            [h, c] => (*h, *c, false),
            [h, c, "ro"] => (*h, *c, true),
            [h, c, "rw"] => (*h, *c, false),
            _ => return Err(VolumeError::Syntax(s.to_string())),
        };
        if host.is_empty() || ctr.is_empty() {
            return Err(VolumeError::Syntax(s.to_string()));
        }
        let ctr = container_path(ctr).map_err(|why| VolumeError::Invalid {
            spec: s.to_string(),
            why,
        })?;
        Ok(Volume {
            host: PathBuf::from(host),
            ctr,
            read_only,
        })
    }
}

impl FromStr for Tmpfs {
    type Err = VolumeError;

    fn from_str(s: &str) -> Result<Tmpfs, VolumeError> {
        let (ctr, opts) = match s.split_once(':') {
            Some((c, o)) => (c, o),
            None => (s, ""),
        };
        let ctr = container_path(ctr).map_err(|_| VolumeError::Tmpfs(s.to_string()))?;
        let mut options: Vec<String> = ["nosuid", "nodev", "noexec"]
            .iter()
            .map(|o| o.to_string())
            .collect();
        for o in opts.split(',').filter(|o| !o.is_empty()) {
            if !options.iter().any(|x| x == o) {
                options.push(o.to_string());
            }
        }
        Ok(Tmpfs { ctr, options })
    }
}

/// As a user: may this user read `path` (and enter it, if a directory)? ct-mount runs as root
/// of the user's namespace, whose capabilities count only on files with an owner that the
/// namespace maps, so `access(2)` answers for the user: root's `/etc/shadow` is refused. A
/// bind mount itself needs only to look the path up, so without this check the container
/// would be handed a file it cannot read.
fn readable(path: &Path) -> std::io::Result<()> {
    use rustix::fs::Access;
    let how = if path.is_dir() {
        Access::READ_OK | Access::EXEC_OK
    } else {
        Access::READ_OK
    };
    Ok(rustix::fs::access(path, how)?)
}

impl Volume {
    /// The OCI mount entry; HOST is resolved to an absolute path here.
    pub fn to_mount(&self) -> Result<Mount, VolumeError> {
        let source = std::fs::canonicalize(&self.host).map_err(|source| VolumeError::Source {
            path: self.host.clone(),
            source,
        })?;
        if ct_layout::rootless::active() {
            readable(&source).map_err(|source| VolumeError::Unreadable {
                path: self.host.clone(),
                source,
            })?;
        }
        MountBuilder::default()
            .destination(self.ctr.clone())
            .typ("bind")
            .source(source)
            .options(vec![
                "rbind".to_string(),
                "rprivate".to_string(),
                if self.read_only { "ro" } else { "rw" }.to_string(),
            ])
            .build()
            .map_err(|e| VolumeError::Build(self.ctr.clone(), e))
    }
}

impl Tmpfs {
    pub fn to_mount(&self) -> Result<Mount, VolumeError> {
        MountBuilder::default()
            .destination(self.ctr.clone())
            .typ("tmpfs")
            .source("tmpfs")
            .options(self.options.clone())
            .build()
            .map_err(|e| VolumeError::Build(self.ctr.clone(), e))
    }
}

/// Add (or replace by destination) `mounts` in `spec`. Returns whether anything changed.
pub fn apply(spec: &mut Spec, mounts: Vec<Mount>) -> bool {
    if mounts.is_empty() {
        return false;
    }
    let mut all = spec.mounts().clone().unwrap_or_default();
    let mut changed = false;
    for m in mounts {
        match all.iter_mut().find(|x| x.destination() == m.destination()) {
            Some(x) if *x == m => {}
            Some(x) => {
                *x = m;
                changed = true;
            }
            None => {
                all.push(m);
                changed = true;
            }
        }
    }
    spec.set_mounts(Some(all));
    changed
}

/// A mount destination inside the container's root: absolute, and no `..` climbing above `/`
/// (the runtime resolves it in the rootfs; lexically it must already stay there), not `/`.
fn check_destination(dest: &Path) -> Result<(), &'static str> {
    if !dest.is_absolute() {
        return Err("not an absolute path");
    }
    let mut depth = 0usize;
    for c in dest.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::ParentDir if depth == 0 => {
                return Err("its '..' climbs above the container's root")
            }
            Component::ParentDir => depth -= 1,
            _ => {}
        }
    }
    if depth == 0 {
        return Err("it is the container's root");
    }
    Ok(())
}

/// `openat2(dir, path, O_PATH[|O_DIRECTORY], RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS)`: `path` is
/// below `dir`, reached without a symlink or a `..` out, and not a symlink itself.
fn open_beneath(dir: &Path, path: &Path, dir_wanted: bool) -> std::io::Result<std::fs::File> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let base = std::fs::File::open(dir)?;
    let kind = if dir_wanted {
        OFlags::DIRECTORY
    } else {
        OFlags::empty()
    };
    // No O_NOFOLLOW: with O_PATH it would return the symlink itself; RESOLVE_NO_SYMLINKS
    // refuses a symlink anywhere, the last component included (ELOOP). openat2 does not retry
    // EAGAIN itself; neither did the raw call this replaces.
    let fd = rustix::fs::openat2(
        &base,
        path,
        OFlags::PATH | kind | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
    )?;
    Ok(std::fs::File::from(fd))
}

/// The files ct-net keeps in a bundle and binds over the image's own (`ct-net/src/
/// etc_files.rs`): regular files, the only bind sources in a bundle besides `volumes/NAME`.
pub const BUNDLE_FILES: [&str; 3] = ["hosts", "hostname", "resolv.conf"];

/// `path` with `.` and `..` applied lexically (no filesystem access).
fn lexical(path: &Path) -> PathBuf {
    Path::new("/").join(clean(path))
}

/// Check every entry of `mounts` (see the file's note): `bundle_dir` is the bundle,
/// `store_root` is `$CT_ROOT`.
pub fn check_mounts(
    mounts: &[Mount],
    bundle_dir: &Path,
    store_root: &Path,
) -> Result<(), VolumeError> {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| lexical(p));
    let (bundle_lex, bundle_real) = (lexical(bundle_dir), canon(bundle_dir));
    let (root_lex, root_real) = (lexical(store_root), canon(store_root));
    for m in mounts {
        check_destination(m.destination()).map_err(|why| VolumeError::Destination {
            dest: m.destination().clone(),
            why,
        })?;
        let is_bind = m.typ().as_deref() == Some("bind")
            || m.options()
                .iter()
                .flatten()
                .any(|o| o == "bind" || o == "rbind");
        let Some(src) = m.source() else { continue };
        if !is_bind {
            continue;
        }
        // A relative source is relative to the bundle (runtime-spec config.md#mounts).
        let lex = lexical(&bundle_dir.join(src));
        let real = canon(&lex);
        let in_store = [&lex, &real].iter().any(|p| {
            [&root_lex, &root_real, &bundle_lex, &bundle_real]
                .iter()
                .any(|r| p.starts_with(r))
        });
        if !in_store {
            continue;
        }
        let err = |why| VolumeError::BundleSource {
            src: src.clone(),
            why,
        };
        // A named volume of ct's: $CT_ROOT/volumes/NAME/_data, a real directory there.
        let named = lex
            .strip_prefix(&root_lex)
            .or_else(|_| lex.strip_prefix(&root_real))
            .ok()
            .filter(|r| {
                matches!(r.components().collect::<Vec<_>>().as_slice(),
                    [Component::Normal(v), Component::Normal(_), Component::Normal(d)]
                        if *v == "volumes" && *d == "_data")
            });
        if let Some(rel) = named {
            let f = open_beneath(store_root, rel, true)
                .map_err(|_| err("a named volume must be a directory, not a symlink"))?;
            if !f.metadata().is_ok_and(|m| m.is_dir()) || real != root_real.join(rel) {
                return Err(err("a named volume must be a directory, not a symlink"));
            }
            continue;
        }
        let rel = lex
            .strip_prefix(&bundle_lex)
            .or_else(|_| lex.strip_prefix(&bundle_real))
            .map_err(|_| err("it is in the store, outside this bundle"))?;
        let (own, dir_wanted) = match rel.components().collect::<Vec<_>>().as_slice() {
            [Component::Normal(v), Component::Normal(n)] if *v == "volumes" => {
                (Path::new("volumes").join(n), true)
            }
            [Component::Normal(f)] if BUNDLE_FILES.iter().any(|b| f == b) => {
                (PathBuf::from(f), false)
            }
            _ => return Err(err("only the bundle's own volumes/NAME (and ct-net's hosts, hostname, resolv.conf) may be bound into a container")),
        };
        let f = open_beneath(bundle_dir, &own, dir_wanted)
            .map_err(|_| err("not a file of the bundle's own (a symlink, or missing)"))?;
        let kind_ok = f
            .metadata()
            .is_ok_and(|m| if dir_wanted { m.is_dir() } else { m.is_file() });
        if !kind_ok {
            return Err(err(
                "not a directory (volumes/NAME) or a regular file (hosts…)",
            ));
        }
        if real != bundle_real.join(&own) {
            return Err(err("it resolves elsewhere than the bundle's own file"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_syntax() {
        let v: Volume = "/data:/srv/data:ro".parse().unwrap();
        assert_eq!(v.host, PathBuf::from("/data"));
        assert_eq!(v.ctr, PathBuf::from("/srv/data"));
        assert!(v.read_only);
        let v: Volume = "rel/dir:/x".parse().unwrap();
        assert!(!v.read_only);
        assert!("/data".parse::<Volume>().is_err());
        assert!("/a:/b:rx".parse::<Volume>().is_err());
        assert!("/a:b".parse::<Volume>().is_err());
        assert!("/a:/".parse::<Volume>().is_err());
        assert!("/a:/x/../y".parse::<Volume>().is_err());
        assert!(":/x".parse::<Volume>().is_err());
    }

    #[test]
    fn tmpfs_syntax_keeps_docker_defaults() {
        let t: Tmpfs = "/run:size=64m,mode=1777".parse().unwrap();
        assert_eq!(t.ctr, PathBuf::from("/run"));
        assert_eq!(
            t.options,
            ["nosuid", "nodev", "noexec", "size=64m", "mode=1777"]
        );
        let t: Tmpfs = "/tmp".parse().unwrap();
        assert_eq!(t.options, ["nosuid", "nodev", "noexec"]);
        assert!("tmp".parse::<Tmpfs>().is_err());
    }

    #[test]
    fn apply_replaces_by_destination_and_is_idempotent() {
        let d = tempfile::tempdir().unwrap();
        let mut spec = Spec::default();
        let n = spec.mounts().as_ref().map_or(0, |m| m.len());
        let v: Volume = format!("{}:/dev/shm:ro", d.path().display())
            .parse()
            .unwrap();
        let t: Tmpfs = "/cache".parse().unwrap();
        assert!(apply(
            &mut spec,
            vec![v.to_mount().unwrap(), t.to_mount().unwrap()]
        ));
        let mounts = spec.mounts().clone().unwrap();
        // /dev/shm is one of the defaults: replaced, not duplicated.
        assert_eq!(mounts.len(), n + 1);
        let shm = mounts
            .iter()
            .find(|m| m.destination() == Path::new("/dev/shm"))
            .unwrap();
        assert_eq!(shm.typ().as_deref(), Some("bind"));
        assert_eq!(shm.options().clone().unwrap(), ["rbind", "rprivate", "ro"]);
        assert_eq!(
            shm.source().as_deref(),
            Some(std::fs::canonicalize(d.path()).unwrap().as_path())
        );
        assert!(!apply(
            &mut spec,
            vec![v.to_mount().unwrap(), t.to_mount().unwrap()]
        ));
    }

    #[test]
    fn missing_source_is_an_error() {
        let v: Volume = "/nonexistent/ct-vol:/x".parse().unwrap();
        assert!(matches!(v.to_mount(), Err(VolumeError::Source { .. })));
    }
}
