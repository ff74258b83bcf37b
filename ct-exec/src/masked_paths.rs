//! `maskedPaths`, `readonlyPaths` and `root.readonly`: hiding and freezing parts of the tree
//! after `pivot_root`, so the container cannot read `/proc/kcore` or write `/proc/sys`.
//!
//! Steps:
//! 1. Masked: a directory gets an empty read-only tmpfs on top; a file gets `/dev/null`
//!    bind-mounted on top. Paths that do not exist are skipped (the kernel may lack them).
//! 2. Read-only: bind the path onto itself, then remount the bind `MS_RDONLY` (a bind mount
//!    takes flags only on remount), keeping the flags the kernel locks in a user namespace.
//! 3. `root.readonly`: remount `/` read-only the same way, last, since everything before
//!    writes into the tree.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::mounts::{locked_flags, mount};

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

/// Step 1 for one path (already inside the container's root).
pub fn mask(path: &Path) -> Result<(), MaskError> {
    let err = |source: io::Error| MaskError::Mask {
        path: path.to_path_buf(),
        source,
    };
    match fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(err(e)),
        Ok(m) if m.is_dir() => mount(
            Some(Path::new("tmpfs")),
            path,
            Some("tmpfs"),
            libc::MS_RDONLY,
            Some("size=0k,mode=0500"),
        )
        .map_err(err),
        Ok(_) => mount(
            Some(Path::new("/dev/null")),
            path,
            None,
            libc::MS_BIND,
            None,
        )
        .map_err(err),
    }
}

/// Step 2 for one path.
pub fn readonly(path: &Path) -> Result<(), MaskError> {
    let err = |source: io::Error| MaskError::Readonly {
        path: path.to_path_buf(),
        source,
    };
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(err(e)),
        Ok(_) => {}
    }
    mount(Some(path), path, None, libc::MS_BIND | libc::MS_REC, None).map_err(err)?;
    remount_ro(path).map_err(err)
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
