//! The config's `mounts` list, mounted in order into the new mount namespace (mount(2),
//! mount_namespaces(7)).
//!
//! Each entry's `options` split three ways, like mount(8) does:
//! * flags (`ro nosuid nodev noexec relatime strictatime bind rbind …`) → `mountflags`;
//! * propagation (`private rshared slave …`) → a second `mount(2)` call, because the kernel
//!   takes propagation changes alone;
//! * everything else (`mode=755 size=64k newinstance gid=5 …`) → the filesystem's `data`.
//!
//! Steps for one entry:
//! 1. Open the destination inside the rootfs, never following symlinks out of it, and create
//!    it where missing (a directory, or an empty file when binding a file), all through fds
//!    ([`crate::rootfs_path`]); the mount goes onto that fd. `proc`/`sysfs` need an ordinary
//!    directory there, not a symlink.
//! 2. A bind mount is made first (`MS_BIND`, `MS_REC` for rbind), then remounted with
//!    `MS_REMOUNT|MS_BIND|flags`, because the kernel ignores `ro`/`nosuid`/… on the bind itself.
//!    Any other type is mounted in one call with its flags and data.
//! 3. Propagation flags, if any.
//!
//! `cgroup` is special: see [`crate::cgroup_mount`].
//!
//! `sysfs` can only be mounted by the owner of the network namespace; when the container has
//! a user namespace but not its own network namespace, the host's `/sys` is bind-mounted instead.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::Mount;

use rustix::fs::OFlags;

use crate::cgroup_mount;
pub use crate::cgroup_mount::CgroupView;
use crate::rootfs_path::{target, ResolveError, Rootfs};

/// statvfs(3)'s `ST_RELATIME` flag (Linux's value; musl's libc bindings lack the name).
const ST_RELATIME: libc::c_ulong = 0x1000;

#[derive(Debug, Clone)]
pub struct MountPlan {
    pub destination: PathBuf,
    pub typ: String,
    pub source: Option<PathBuf>,
    pub flags: libc::c_ulong,
    pub propagation: Vec<libc::c_ulong>,
    pub data: String,
    pub bind: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("mount {}: destination must be an absolute path", ct_layout::pipe::quote_path(.0))]
    Relative(PathBuf),
    #[error("mount {}: option {} is not supported", ct_layout::pipe::quote_path(.dest), ct_layout::pipe::quote(.option))]
    Option { dest: PathBuf, option: String },
    #[error("mount {}: a bind mount needs a source", ct_layout::pipe::quote_path(.0))]
    NoSource(PathBuf),
    #[error("mount {}: bind source {} does not exist", ct_layout::pipe::quote_path(.dest), ct_layout::pipe::quote_path(.source_path))]
    Missing { dest: PathBuf, source_path: PathBuf },
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(
        "mount '{dest}': {typ} must be mounted on an ordinary directory, not through a symlink"
    )]
    NotDir { typ: String, dest: PathBuf },
    #[error("cannot create mount point {}", ct_layout::pipe::quote_path(.path))]
    Mkdir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot mount {what} on {}", ct_layout::pipe::quote_path(.dest))]
    Mount {
        what: String,
        dest: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// (name, set, clear) like mount(8)'s option table. `clear` options turn a flag off.
const FLAGS: &[(&str, libc::c_ulong, bool)] = &[
    ("ro", libc::MS_RDONLY, false),
    ("rw", libc::MS_RDONLY, true),
    ("nosuid", libc::MS_NOSUID, false),
    ("suid", libc::MS_NOSUID, true),
    ("nodev", libc::MS_NODEV, false),
    ("dev", libc::MS_NODEV, true),
    ("noexec", libc::MS_NOEXEC, false),
    ("exec", libc::MS_NOEXEC, true),
    ("sync", libc::MS_SYNCHRONOUS, false),
    ("async", libc::MS_SYNCHRONOUS, true),
    ("dirsync", libc::MS_DIRSYNC, false),
    ("remount", libc::MS_REMOUNT, false),
    ("mand", libc::MS_MANDLOCK, false),
    ("nomand", libc::MS_MANDLOCK, true),
    ("noatime", libc::MS_NOATIME, false),
    ("atime", libc::MS_NOATIME, true),
    ("nodiratime", libc::MS_NODIRATIME, false),
    ("diratime", libc::MS_NODIRATIME, true),
    ("relatime", libc::MS_RELATIME, false),
    ("norelatime", libc::MS_RELATIME, true),
    ("strictatime", libc::MS_STRICTATIME, false),
    ("nostrictatime", libc::MS_STRICTATIME, true),
    ("lazytime", libc::MS_LAZYTIME, false),
    ("nolazytime", libc::MS_LAZYTIME, true),
    ("silent", libc::MS_SILENT, false),
    ("loud", libc::MS_SILENT, true),
];

/// Every mount option name ct-exec knows (for `features`).
pub fn option_names() -> Vec<&'static str> {
    let mut v: Vec<&str> = FLAGS.iter().map(|f| f.0).collect();
    v.extend([
        "bind",
        "rbind",
        "private",
        "rprivate",
        "shared",
        "rshared",
        "slave",
        "rslave",
        "unbindable",
        "runbindable",
    ]);
    v
}

/// Propagation option → flags.
pub fn propagation(name: &str) -> Option<libc::c_ulong> {
    Some(match name {
        "private" => libc::MS_PRIVATE,
        "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
        "shared" => libc::MS_SHARED,
        "rshared" => libc::MS_SHARED | libc::MS_REC,
        "slave" => libc::MS_SLAVE,
        "rslave" => libc::MS_SLAVE | libc::MS_REC,
        "unbindable" => libc::MS_UNBINDABLE,
        "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
        _ => return None,
    })
}

impl MountPlan {
    /// Parse one config entry. Relative bind sources are relative to the bundle.
    pub fn from_spec(m: &Mount, bundle: &Path) -> Result<MountPlan, MountError> {
        let dest = m.destination().clone();
        if !dest.is_absolute() {
            return Err(MountError::Relative(dest));
        }
        let mut p = MountPlan {
            destination: dest.clone(),
            typ: m.typ().clone().unwrap_or_default(),
            source: m.source().clone(),
            flags: 0,
            propagation: Vec::new(),
            data: String::new(),
            bind: false,
        };
        let mut data = Vec::new();
        for o in m.options().iter().flatten() {
            let o = o.as_str();
            if let Some((_, f, clear)) = FLAGS.iter().find(|(n, _, _)| *n == o) {
                if *clear {
                    p.flags &= !f;
                } else {
                    p.flags |= f;
                }
            } else if o == "bind" {
                p.bind = true;
            } else if o == "rbind" {
                p.bind = true;
                p.flags |= libc::MS_REC;
            } else if let Some(pr) = propagation(o) {
                p.propagation.push(pr);
            } else if matches!(o, "idmap" | "ridmap" | "tmpcopyup" | "rro" | "rrw")
                || o.starts_with("X-")
            {
                return Err(MountError::Option {
                    dest,
                    option: o.into(),
                });
            } else {
                data.push(o);
            }
        }
        if p.typ == "bind" {
            p.bind = true;
        }
        p.data = data.join(",");
        if p.bind {
            let src = p.source.clone().ok_or(MountError::NoSource(dest.clone()))?;
            let src = if src.is_absolute() {
                src
            } else {
                bundle.join(src)
            };
            if !src.exists() {
                return Err(MountError::Missing {
                    dest,
                    source_path: src,
                });
            }
            p.source = Some(src);
        }
        Ok(p)
    }
}

/// mount(2) with Rust types. `None` arguments become NULL.
pub fn mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    nix::mount::mount(
        source,
        target,
        fstype,
        nix::mount::MsFlags::from_bits_retain(flags),
        data.filter(|d| !d.is_empty()),
    )?;
    Ok(())
}

/// Flags that a remount must keep: in a user namespace the kernel refuses to clear
/// nosuid/nodev/noexec/ro locked by the host, so a remount repeats what is already set.
pub fn locked_flags(path: &Path) -> libc::c_ulong {
    let Ok(s) = rustix::fs::statvfs(path) else {
        return 0;
    };
    let mut f = 0;
    for (st, ms) in [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_RDONLY, libc::MS_RDONLY),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (ST_RELATIME, libc::MS_RELATIME),
    ] {
        if s.f_flag.bits() & st != 0 {
            f |= ms;
        }
    }
    f
}

/// Step 1: the mount point's fd, created inside the root where missing. `proc` and `sysfs`
/// go only onto an ordinary directory, never through a final symlink (runc's check after
/// CVE-2023-28642: a `/proc` that leads elsewhere fools every later write to `/proc`).
fn mountpoint(rootfs: &Rootfs, m: &MountPlan) -> Result<OwnedFd, MountError> {
    let mk = |source: io::Error| MountError::Mkdir {
        path: m.destination.clone(),
        source,
    };
    let file_target = m.bind && m.source.as_deref().is_some_and(|s| !s.is_dir());
    if m.typ == "proc" || m.typ == "sysfs" {
        match rootfs
            .root
            .open_in(&m.destination, OFlags::PATH | OFlags::NOFOLLOW)
        {
            Ok(fd) => {
                let st = rustix::fs::fstat(&fd).map_err(|e| mk(e.into()))?;
                if rustix::fs::FileType::from_raw_mode(st.st_mode)
                    != rustix::fs::FileType::Directory
                {
                    return Err(MountError::NotDir {
                        typ: m.typ.clone(),
                        dest: m.destination.clone(),
                    });
                }
                return Ok(fd);
            }
            Err(e) if e.raw_os_error() != Some(libc::ENOENT) => return Err(mk(e)),
            Err(_) => {}
        }
    }
    if file_target {
        rootfs.root.create_file(&m.destination, 0o644).map_err(mk)
    } else {
        rootfs.root.mkdir_all(&m.destination, 0o755).map_err(mk)
    }
}

/// Mount one entry below `rootfs`. `userns` selects the fallbacks for what only the host's
/// user namespace may mount (sysfs, cgroup v1).
pub fn mount_one(
    rootfs: &Rootfs,
    m: &MountPlan,
    userns: bool,
    cgroups: &CgroupView,
) -> Result<(), MountError> {
    let fd = mountpoint(rootfs, m)?;
    let dest = target(&fd);
    let err = |what: &str, source: io::Error| MountError::Mount {
        what: what.to_string(),
        dest: m.destination.clone(),
        source,
    };
    let reopen = |fd: &OwnedFd| rootfs.reopen(fd.as_fd()).map_err(|e| err("reopen", e));
    if m.bind {
        let src = m.source.as_deref();
        mount(
            src,
            &dest,
            None,
            libc::MS_BIND | (m.flags & libc::MS_REC),
            None,
        )
        .map_err(|e| {
            err(
                &format!("bind '{}'", src.unwrap_or(Path::new("")).display()),
                e,
            )
        })?;
        let extra = m.flags & !libc::MS_REC;
        if extra != 0 {
            let now_fd = reopen(&fd)?;
            let now = target(&now_fd);
            let keep = if userns { locked_flags(&now) } else { 0 };
            mount(
                None,
                &now,
                None,
                libc::MS_REMOUNT | libc::MS_BIND | extra | keep,
                None,
            )
            .map_err(|e| err("remount of bind", e))?;
        }
    } else if m.typ == "cgroup" {
        cgroup_mount::mount_entry(rootfs, &fd, m, userns, cgroups).map_err(|e| err("cgroup", e))?;
    } else {
        let src = m.source.clone().unwrap_or_else(|| PathBuf::from(&m.typ));
        let r = mount(Some(&src), &dest, Some(&m.typ), m.flags, Some(&m.data));
        match r {
            Err(e) if m.typ == "sysfs" && e.raw_os_error() == Some(libc::EPERM) && userns => {
                mount(
                    Some(Path::new("/sys")),
                    &dest,
                    None,
                    libc::MS_BIND | libc::MS_REC,
                    None,
                )
                .map_err(|e| err("bind of host /sys", e))?;
                let now_fd = reopen(&fd)?;
                let now = target(&now_fd);
                let keep = locked_flags(&now);
                let _ = mount(
                    None,
                    &now,
                    None,
                    libc::MS_REMOUNT | libc::MS_BIND | m.flags | keep,
                    None,
                );
            }
            Err(e) => return Err(err(&format!("{} ({})", m.typ, m.data), e)),
            Ok(()) => {}
        }
    }
    if !m.propagation.is_empty() {
        let now_fd = reopen(&fd)?;
        let now = target(&now_fd);
        for p in &m.propagation {
            mount(None, &now, None, *p, None).map_err(|e| err("propagation", e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_propagation_and_data() {
        let m: Mount = serde_json::from_value(serde_json::json!({
            "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k", "rslave", "ro", "rw"]
        }))
        .unwrap();
        let p = MountPlan::from_spec(&m, Path::new("/b")).unwrap();
        assert_eq!(p.flags, libc::MS_NOSUID | libc::MS_STRICTATIME);
        assert_eq!(p.data, "mode=755,size=65536k");
        assert_eq!(p.propagation, vec![libc::MS_SLAVE | libc::MS_REC]);
        let bad: Mount = serde_json::from_value(serde_json::json!({
            "destination": "/x", "type": "bind", "source": "/", "options": ["idmap"]
        }))
        .unwrap();
        assert!(matches!(
            MountPlan::from_spec(&bad, Path::new("/b")),
            Err(MountError::Option { .. })
        ));
        let rel: Mount = serde_json::from_value(serde_json::json!({
            "destination": "x", "type": "tmpfs"
        }))
        .unwrap();
        assert!(matches!(
            MountPlan::from_spec(&rel, Path::new("/b")),
            Err(MountError::Relative(_))
        ));
    }
}
