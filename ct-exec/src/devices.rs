//! Device nodes in the container's `/dev` (mknod(2), the runtime spec's "Default Devices").
//!
//! The `/dev` of a container is normally a fresh tmpfs from the mounts list, so it starts
//! empty. Steps, all before `pivot_root`:
//!
//! 1. The six default character devices `null zero full random urandom tty` (1:3 1:5 1:7 1:8
//!    1:9 5:0, mode 0666), then every entry of `linux.devices`. Outside a user namespace each
//!    is made with `mknod(2)`; inside one the kernel refuses `mknod` of real devices, so an
//!    empty file is created and the host's node is bind-mounted on it (as runc does).
//! 2. The standard links: `/dev/fd -> /proc/self/fd`, `stdin stdout stderr -> /proc/self/fd/N`,
//!    and `/dev/ptmx -> pts/ptmx`, so the container's own devpts instance is used.
//! 3. With a terminal, `/dev/console` is the pty's slave side, bind-mounted.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use crate::mounts::{make_mountpoint, mount};
use crate::rootfs_path::{self, ResolveError};

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
    #[error("device '{0}': path must be absolute and below /dev")]
    Path(PathBuf),
    #[error("device '{0}': type 'a' and 'u' cannot be created (use 'c', 'b' or 'p')")]
    Type(PathBuf),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error("cannot create device '{path}'")]
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

/// Step 1 for one device.
pub fn create(rootfs: &Path, d: &DevicePlan, userns: bool) -> Result<(), DeviceError> {
    let dest = rootfs_path::resolve(rootfs, &d.path)?;
    let err = |source: io::Error| DeviceError::Create {
        path: d.path.clone(),
        source,
    };
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).map_err(err)?;
    }
    // A node already there (a /dev that is not a fresh tmpfs) is replaced.
    if fs::symlink_metadata(&dest).is_ok() {
        fs::remove_file(&dest).map_err(err)?;
    }
    if userns && d.kind != libc::S_IFIFO {
        make_mountpoint(&dest, true).map_err(|e| DeviceError::Create {
            path: d.path.clone(),
            source: io::Error::other(e.to_string()),
        })?;
        return mount(Some(&d.path), &dest, None, libc::MS_BIND, None).map_err(err);
    }
    let c = CString::new(dest.as_os_str().as_bytes()).map_err(|e| err(io::Error::other(e)))?;
    let dev = libc::makedev(d.major, d.minor);
    // SAFETY: c is NUL-terminated; mknod creates one node.
    if unsafe { libc::mknod(c.as_ptr(), d.kind | d.mode as libc::mode_t, dev) } != 0 {
        return Err(err(io::Error::last_os_error()));
    }
    // mknod's mode is filtered by the umask; chmod sets it exactly.
    // SAFETY: as above.
    if unsafe { libc::chmod(c.as_ptr(), d.mode as libc::mode_t) } != 0 {
        return Err(err(io::Error::last_os_error()));
    }
    // SAFETY: as above.
    if unsafe { libc::chown(c.as_ptr(), d.uid, d.gid) } != 0 {
        return Err(err(io::Error::last_os_error()));
    }
    Ok(())
}

/// Step 2.
pub fn links(rootfs: &Path) -> Result<(), DeviceError> {
    let dev = rootfs_path::resolve(rootfs, Path::new("/dev"))?;
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        let p = dev.join(name);
        if fs::symlink_metadata(&p).is_ok() {
            if name == "ptmx" {
                // A real ptmx node (no devpts in the mounts) is kept.
                continue;
            }
            let _ = fs::remove_file(&p);
        }
        symlink(target, &p).map_err(|source| DeviceError::Create {
            path: PathBuf::from("/dev").join(name),
            source,
        })?;
    }
    Ok(())
}

/// Step 3: bind the pty slave (a host path like `/dev/pts/3`) onto `/dev/console`.
pub fn console(rootfs: &Path, slave: &Path) -> Result<(), DeviceError> {
    let dest = rootfs_path::resolve(rootfs, Path::new("/dev/console"))?;
    let err = |source: io::Error| DeviceError::Create {
        path: PathBuf::from("/dev/console"),
        source,
    };
    if fs::symlink_metadata(&dest).is_ok() {
        fs::remove_file(&dest).map_err(err)?;
    }
    fs::File::create(&dest).map_err(err)?;
    mount(Some(slave), &dest, None, libc::MS_BIND, None).map_err(err)
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
