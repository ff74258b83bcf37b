//! What can go wrong while ct-mount stacks or removes a bundle's overlay, one variant per step
//! (the steps are in `lib.rs`), and the `hint:` a known kernel answer deserves: `EINVAL` from
//! overlayfs usually means an upper directory on a file system that cannot hold one
//! (overlayfs, NFS, FUSE), `EPERM` a missing `CAP_SYS_ADMIN`, `EBUSY` on unmount a process
//! still inside.

use std::io;
use std::path::PathBuf;

use ct_layout::bundle::BundleError;
use ct_layout::Digest;

use crate::flat_copy;
use crate::fuse_overlayfs;
use crate::overlay::OverlayError;
use crate::volume::VolumeError;

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error("cannot lock bundle '{path}'")]
    Lock {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Volume(#[from] VolumeError),
    #[error("bundle '{0}' lists no layers in ct.json: nothing to stack")]
    NoLayers(PathBuf),
    #[error("layer {layer} is not unpacked: '{path}'")]
    LayerMissing {
        layer: Digest,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot inspect '{path}'")]
    Probe {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("'{path}' is already mounted {how}")]
    MountedOtherMode { path: PathBuf, how: &'static str },
    #[error("'{path}' has a filesystem of type {fs_type:#x} mounted on it, not an overlay")]
    Foreign { path: PathBuf, fs_type: i64 },
    #[error("cannot create '{path}'")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Overlay(#[from] OverlayError),
    #[error("no overlay could be mounted ({why}), and copying the layers failed")]
    Copy {
        why: String,
        #[source]
        source: flat_copy::CopyError,
    },
    #[error("cannot mount the overlay as a user: {kernel}; and with fuse-overlayfs")]
    NoUserOverlay {
        kernel: String,
        #[source]
        fuse: fuse_overlayfs::FuseError,
    },
    #[error("cannot unmount '{path}'")]
    Unmount {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl MountError {
    /// `hint:` lines for the errors a known cause explains.
    pub fn hints(&self) -> Vec<&'static str> {
        let flat = "use ct-unpack --flat: a bundle with a plain rootfs needs no overlay";
        let mut h = Vec::new();
        match self {
            MountError::Overlay(OverlayError::Unavailable(_)) => h.push(flat),
            MountError::NoUserOverlay { .. } => h.push(flat),
            MountError::Overlay(e) if e.errno() == Some(libc::EINVAL) => {
                h.push("the filesystem under $CT_ROOT may not support overlay upper dirs (overlayfs, NFS, FUSE)");
                h.push(flat);
            }
            MountError::LayerMissing { .. } => {
                h.push("run ct-unpack again: it extracts the layers an image needs")
            }
            MountError::MountedOtherMode { .. } => h.push("run ct-mount --unmount first"),
            MountError::Unmount { source, .. } if source.raw_os_error() == Some(libc::EBUSY) => h
                .push(
                    "a process still uses the rootfs or a mount below it: stop the container first",
                ),
            _ => {}
        }
        let eperm = match self {
            MountError::Overlay(e) => e.errno() == Some(libc::EPERM),
            MountError::Unmount { source, .. } => source.raw_os_error() == Some(libc::EPERM),
            _ => false,
        };
        if eperm {
            h.push("mounting needs root (CAP_SYS_ADMIN)");
        }
        h
    }
}

impl ct_layout::tool::Failure for MountError {
    fn hints(&self) -> Vec<String> {
        MountError::hints(self)
            .into_iter()
            .map(str::to_string)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_unavailable_hints_at_flat() {
        let e = MountError::Overlay(OverlayError::Unavailable(io::Error::from_raw_os_error(
            libc::ENODEV,
        )));
        assert_eq!(
            ct_layout::pipe::chain(&e),
            "overlayfs is not available in this kernel: No such device (os error 19)"
        );
        assert_eq!(
            e.hints(),
            ["use ct-unpack --flat: a bundle with a plain rootfs needs no overlay"]
        );
    }

    #[test]
    fn busy_and_permission_errors_have_hints() {
        let e = MountError::Unmount {
            path: "/b/rootfs".into(),
            source: io::Error::from_raw_os_error(libc::EBUSY),
        };
        assert!(e.hints()[0].contains("stop the container first"));
        let e = MountError::Overlay(OverlayError::Syscall {
            call: "fsmount",
            source: io::Error::from_raw_os_error(libc::EPERM),
        });
        assert_eq!(e.hints(), ["mounting needs root (CAP_SYS_ADMIN)"]);
    }
}
