//! Changing the root filesystem with pivot_root(2).
//!
//! `chroot(2)` only changes where path lookups start; the host's tree stays mounted and
//! reachable (`..` tricks, open fds). `pivot_root` instead makes the rootfs the root *mount*
//! of the namespace and moves the old root below it, where it can be detached. Steps:
//!
//! 1. Set the propagation of `/` (recursively) to the config's `rootfsPropagation`, private by
//!    default, so nothing done here propagates back to the host's mounts — and nothing the host
//!    mounts later appears in the container. (`pivot_root` refuses a shared new root, so a
//!    shared propagation is set private here and shared again after the pivot.)
//! 2. Bind-mount the rootfs onto itself: `pivot_root` needs the new root to be a mount point.
//!    (Then the mounts list, devices and so on are mounted below it.)
//! 3. `chdir(rootfs)`, then `pivot_root(".", ".")`: the new root and the old one are stacked on
//!    the same directory, with no need for a `put_old` directory inside the image.
//! 4. Make the old root a recursive slave, then `umount2(".", MNT_DETACH)`: the host's tree is
//!    gone from the container. (Slave first, or the detach would propagate to the host's own
//!    shared mounts.)
//! 5. `chdir("/")`, and make `/` shared if `rootfsPropagation` asked for it.

use std::io;
use std::path::{Path, PathBuf};

use crate::mounts::mount;

#[derive(Debug, thiserror::Error)]
pub enum PivotError {
    #[error("unknown rootfsPropagation '{0}' (private, rprivate, shared, rshared, slave, rslave, unbindable, runbindable)")]
    Propagation(String),
    #[error("cannot set propagation of / ({what})")]
    RootPropagation {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot bind-mount the rootfs '{path}' onto itself")]
    Bind {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot pivot_root into '{path}'")]
    Pivot {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot detach the old root")]
    Detach(#[source] io::Error),
}

/// Propagation flags for `rootfsPropagation` (empty = private).
pub fn propagation_flags(name: &str) -> Result<libc::c_ulong, PivotError> {
    if name.is_empty() {
        return Ok(libc::MS_PRIVATE | libc::MS_REC);
    }
    crate::mounts::propagation(name)
        .map(|f| f | libc::MS_REC)
        .ok_or_else(|| PivotError::Propagation(name.into()))
}

/// Steps 1 and 2.
pub fn prepare(rootfs: &Path, flags: libc::c_ulong) -> Result<(), PivotError> {
    let flags = if flags & libc::MS_SHARED != 0 {
        libc::MS_PRIVATE | libc::MS_REC
    } else {
        flags
    };
    // A shared root would leak every container mount to the host: go private (or slave)
    // first, then give / the propagation the config asks for.
    mount(
        None,
        Path::new("/"),
        None,
        libc::MS_SLAVE | libc::MS_REC,
        None,
    )
    .map_err(|source| PivotError::RootPropagation {
        what: "rslave".into(),
        source,
    })?;
    mount(None, Path::new("/"), None, flags, None).map_err(|source| {
        PivotError::RootPropagation {
            what: format!("{flags:#x}"),
            source,
        }
    })?;
    mount(
        Some(rootfs),
        rootfs,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )
    .map_err(|source| PivotError::Bind {
        path: rootfs.to_path_buf(),
        source,
    })
}

/// Steps 3 to 5. `flags` is the `rootfsPropagation` given to [`prepare`].
pub fn pivot(rootfs: &Path, flags: libc::c_ulong) -> Result<(), PivotError> {
    let perr = |source: io::Error| PivotError::Pivot {
        path: rootfs.to_path_buf(),
        source,
    };
    std::env::set_current_dir(rootfs).map_err(perr)?;
    nix::unistd::pivot_root(".", ".").map_err(|e| perr(e.into()))?;
    mount(
        None,
        Path::new("."),
        None,
        libc::MS_SLAVE | libc::MS_REC,
        None,
    )
    .map_err(PivotError::Detach)?;
    nix::mount::umount2(".", nix::mount::MntFlags::MNT_DETACH)
        .map_err(|e| PivotError::Detach(e.into()))?;
    std::env::set_current_dir("/").map_err(perr)?;
    if flags & libc::MS_SHARED != 0 {
        mount(None, Path::new("/"), None, flags, None).map_err(|source| {
            PivotError::RootPropagation {
                what: "rshared".into(),
                source,
            }
        })?;
    }
    Ok(())
}

/// Without a new mount namespace there is nothing to pivot: `chroot(2)` is all there is.
pub fn chroot(rootfs: &Path) -> Result<(), PivotError> {
    let perr = |source: io::Error| PivotError::Pivot {
        path: rootfs.to_path_buf(),
        source,
    };
    nix::unistd::chroot(rootfs).map_err(|e| perr(e.into()))?;
    std::env::set_current_dir("/").map_err(perr)
}
