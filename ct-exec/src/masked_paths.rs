//! `maskedPaths`, `readonlyPaths` and `root.readonly`: hiding and freezing parts of the tree
//! after `pivot_root`, so the container cannot read `/proc/kcore` or write `/proc/sys`.
//!
//! Each path is opened inside the root ([`crate::rootfs_path`]) and the mount goes onto that
//! fd, so a symlink planted on the way by a process of the container leads nowhere else.
//!
//! Steps:
//! 1. Masked: a directory gets an empty read-only tmpfs on top; a file gets `/dev/null`
//!    (checked to be the 1:3 device) bind-mounted on top. Paths that do not exist are skipped (the kernel may lack them).
//! 2. Read-only: bind the path onto itself, then remount the bind `MS_RDONLY` (a bind mount
//!    takes flags only on remount), keeping the flags the kernel locks in a user namespace.
//! 3. `root.readonly`: remount `/` read-only the same way, last, since everything before
//!    writes into the tree.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, OFlags};

use crate::mounts::{locked_flags, mount};
use crate::rootfs_path::{target, Rootfs};

#[derive(Debug, thiserror::Error)]
pub enum MaskError {
    #[error("cannot mask '{path}'")]
    Mask {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot make '{path}' read-only")]
    Readonly {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// `/dev/null` of the container, checked to be the null device (1:3): the one file every
/// masked file gets bound on top of it. A container that replaced it by a symlink to, say,
/// `/proc/sys/kernel/core_pattern` would otherwise make that writable where `/proc/kcore`
/// was (runc's CVE-2025-31133).
fn dev_null(rootfs: &Rootfs) -> io::Result<OwnedFd> {
    let fd = rootfs
        .root
        .open_in(Path::new("/dev/null"), OFlags::PATH | OFlags::NOFOLLOW)?;
    let st = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::CharacterDevice
        || st.st_rdev != rustix::fs::makedev(1, 3)
    {
        return Err(io::Error::other("/dev/null is not the null device (1:3)"));
    }
    Ok(fd)
}

/// Open `path` in the root; `None` when it does not exist.
fn open(rootfs: &Rootfs, path: &Path) -> io::Result<Option<OwnedFd>> {
    match rootfs.root.open_in(path, OFlags::PATH) {
        Ok(fd) => Ok(Some(fd)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Step 1 for one path (inside the container's root, held by `rootfs`).
pub fn mask(rootfs: &Rootfs, path: &Path) -> Result<(), MaskError> {
    let err = |source: io::Error| MaskError::Mask {
        path: path.to_path_buf(),
        source,
    };
    let Some(fd) = open(rootfs, path).map_err(err)? else {
        return Ok(());
    };
    let st = rustix::fs::fstat(&fd).map_err(|e| err(e.into()))?;
    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        mount(
            Some(Path::new("tmpfs")),
            &target(&fd),
            Some("tmpfs"),
            libc::MS_RDONLY,
            Some("size=0k,mode=0500"),
        )
        .map_err(err)
    } else {
        let null = dev_null(rootfs).map_err(err)?;
        mount(
            Some(&target(&null)),
            &target(&fd),
            None,
            libc::MS_BIND,
            None,
        )
        .map_err(err)
    }
}

/// Step 2 for one path.
pub fn readonly(rootfs: &Rootfs, path: &Path) -> Result<(), MaskError> {
    let err = |source: io::Error| MaskError::Readonly {
        path: path.to_path_buf(),
        source,
    };
    let Some(fd) = open(rootfs, path).map_err(err)? else {
        return Ok(());
    };
    let t = target(&fd);
    mount(Some(&t), &t, None, libc::MS_BIND | libc::MS_REC, None).map_err(err)?;
    let now = rootfs.reopen(fd.as_fd()).map_err(err)?;
    remount_ro(&target(&now)).map_err(err)
}

/// Step 3 (and the second half of step 2).
pub fn remount_ro(path: &Path) -> io::Result<()> {
    let keep = locked_flags(path);
    mount(
        None,
        path,
        None,
        libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | keep,
        None,
    )
}
