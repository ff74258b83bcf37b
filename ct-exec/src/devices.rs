//! Device nodes in the container's `/dev` (mknod(2), the runtime spec's "Default Devices").
//!
//! The `/dev` of a container is normally a fresh tmpfs from the mounts list, so it starts
//! empty; but it may be the image's own directory, shared with other containers. So every node
//! and link is made with the `*at` calls relative to an fd of its directory opened inside the
//! root ([`crate::rootfs_path`]), never by a host path. Steps, all before `pivot_root`:
//!
//! 1. The six default character devices `null zero full random urandom tty` (1:3 1:5 1:7 1:8
//!    1:9 5:0, mode 0666), then every entry of `linux.devices`. Outside a user namespace each
//!    is made with `mknod(2)`; inside one the kernel refuses `mknod` of real devices, so an
//!    empty file is created and the host's node is bind-mounted on it (as runc does).
//! 2. The standard links: `/dev/fd -> /proc/self/fd`, `stdin stdout stderr -> /proc/self/fd/N`,
//!    and `/dev/ptmx -> pts/ptmx`, so the container's own devpts instance is used.
//! 3. With a terminal, `/dev/console` is the pty's slave side, bind-mounted.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use ct_layout::in_root::clean;
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use rustix::fs::{self as rfs, AtFlags, FileType, Gid, Mode, OFlags, Uid};

use crate::mounts::mount;
use crate::rootfs_path::{target, ResolveError, Rootfs};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePlan {
    pub path: PathBuf,
    /// `libc::S_IFCHR`, `S_IFBLK` or `S_IFIFO`.
    pub kind: libc::mode_t,
    pub major: u32,
    pub minor: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("device {}: path must be absolute and below /dev", ct_layout::pipe::quote_path(.0))]
    Path(PathBuf),
    #[error("device {}: type 'a' and 'u' cannot be created (use 'c', 'b' or 'p')", ct_layout::pipe::quote_path(.0))]
    Type(PathBuf),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error("cannot create device {}", ct_layout::pipe::quote_path(.path))]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The runtime spec's default devices.
pub fn defaults() -> Vec<DevicePlan> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .into_iter()
    .map(|(n, major, minor)| DevicePlan {
        path: PathBuf::from("/dev").join(n),
        kind: libc::S_IFCHR,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

impl DevicePlan {
    pub fn from_spec(d: &LinuxDevice) -> Result<DevicePlan, DeviceError> {
        let path = d.path().clone();
        if !path.starts_with("/dev/") {
            return Err(DeviceError::Path(path));
        }
        let kind = match d.typ() {
            LinuxDeviceType::C => libc::S_IFCHR,
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            LinuxDeviceType::A | LinuxDeviceType::U => return Err(DeviceError::Type(path)),
        };
        Ok(DevicePlan {
            path,
            kind,
            major: d.major() as u32,
            minor: d.minor() as u32,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        })
    }
}

/// The parent directory (created inside the root) and the last component of `path`.
fn parent_and_name(rootfs: &Rootfs, path: &Path) -> Result<(OwnedFd, OsString), DeviceError> {
    let err = |source: io::Error| DeviceError::Create {
        path: path.to_path_buf(),
        source,
    };
    let p = clean(path);
    let (Some(parent), Some(name)) = (p.parent(), p.file_name()) else {
        return Err(DeviceError::Path(path.to_path_buf()));
    };
    let dir = rootfs.root.mkdir_all(parent, 0o755).map_err(err)?;
    Ok((dir, name.to_os_string()))
}

/// Remove what is at `dir`/`name` (a node of an image's own `/dev`), never a directory.
fn remove(dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
            Err(io::Error::from_raw_os_error(libc::EISDIR))
        }
        Ok(_) => Ok(rfs::unlinkat(dir, name, AtFlags::empty())?),
        Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// An empty file `dir`/`name`, created here and now (never an existing one, never followed).
fn new_file(dir: &OwnedFd, name: &OsStr) -> io::Result<OwnedFd> {
    let flags = OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::WRONLY;
    Ok(rfs::openat(
        dir,
        name,
        flags | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )?)
}

/// Step 1 for one device: everything relative to the fd of its directory, the mode and
/// owner set through an fd of the node checked to be the node just made.
pub fn create(rootfs: &Rootfs, d: &DevicePlan, userns: bool) -> Result<(), DeviceError> {
    let err = |source: io::Error| DeviceError::Create {
        path: d.path.clone(),
        source,
    };
    let (dir, name) = parent_and_name(rootfs, &d.path)?;
    // A node already there (a /dev that is not a fresh tmpfs) is replaced.
    remove(&dir, &name).map_err(err)?;
    if userns && d.kind != libc::S_IFIFO {
        let fd = new_file(&dir, &name).map_err(err)?;
        return mount(Some(&d.path), &target(&fd), None, libc::MS_BIND, None).map_err(err);
    }
    let dev = rfs::makedev(d.major, d.minor);
    let kind = FileType::from_raw_mode(d.kind);
    rfs::mknodat(&dir, &name, kind, Mode::from_raw_mode(d.mode), dev).map_err(|e| err(e.into()))?;
    let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rfs::openat(&dir, &name, flags, Mode::empty()).map_err(|e| err(e.into()))?;
    let st = rfs::fstat(&fd).map_err(|e| err(e.into()))?;
    let rdev = if d.kind == libc::S_IFIFO {
        st.st_rdev
    } else {
        dev
    };
    if FileType::from_raw_mode(st.st_mode) != kind || st.st_rdev != rdev {
        return Err(err(io::Error::other("replaced while being created")));
    }
    // mknod's mode is filtered by the umask; chmod sets it exactly (through the fd's name:
    // an O_PATH fd takes no fchmod).
    rfs::chmod(target(&fd), Mode::from_raw_mode(d.mode)).map_err(|e| err(e.into()))?;
    rfs::chownat(
        &fd,
        "",
        Some(Uid::from_raw(d.uid)),
        Some(Gid::from_raw(d.gid)),
        AtFlags::EMPTY_PATH,
    )
    .map_err(|e| err(e.into()))
}

/// Step 2, relative to the fd of the container's `/dev`.
pub fn links(rootfs: &Rootfs) -> Result<(), DeviceError> {
    let dev = rootfs.open_in(Path::new("/dev"), OFlags::PATH | OFlags::DIRECTORY)?;
    for (name, link) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        let err = |source: io::Error| DeviceError::Create {
            path: PathBuf::from("/dev").join(name),
            source,
        };
        if rfs::statat(&dev, name, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
            if name == "ptmx" {
                // A real ptmx node (no devpts in the mounts) is kept.
                continue;
            }
            remove(&dev, OsStr::new(name)).map_err(err)?;
        }
        rfs::symlinkat(link, &dev, name).map_err(|e| err(e.into()))?;
    }
    Ok(())
}

/// Step 3: bind the pty slave (a host path like `/dev/pts/3`) onto a `/dev/console` made
/// here and now.
pub fn console(rootfs: &Rootfs, slave: &Path) -> Result<(), DeviceError> {
    let path = Path::new("/dev/console");
    let err = |source: io::Error| DeviceError::Create {
        path: path.to_path_buf(),
        source,
    };
    let (dir, name) = parent_and_name(rootfs, path)?;
    remove(&dir, &name).map_err(err)?;
    let fd = new_file(&dir, &name).map_err(err)?;
    mount(Some(slave), &target(&fd), None, libc::MS_BIND, None).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_devices() {
        let d: LinuxDevice = serde_json::from_value(serde_json::json!({
            "path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640, "gid": 5
        }))
        .unwrap();
        let p = DevicePlan::from_spec(&d).unwrap();
        assert_eq!(
            (p.kind, p.major, p.minor, p.mode, p.gid),
            (libc::S_IFCHR, 10, 229, 0o640, 5)
        );
        let bad: LinuxDevice =
            serde_json::from_value(serde_json::json!({"path": "/etc/x", "type": "c"})).unwrap();
        assert!(DevicePlan::from_spec(&bad).is_err());
        assert_eq!(defaults().len(), 6);
    }
}
