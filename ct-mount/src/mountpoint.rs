//! Is something mounted on a directory, and what? `statx(2)` reports `STATX_ATTR_MOUNT_ROOT`
//! (Linux 5.8) for the root of a mount, so no `/proc/self/mountinfo` parsing is needed;
//! `statfs(2)` then tells the filesystem type (`OVERLAYFS_SUPER_MAGIC`) and `statvfs(3)` whether
//! it is read-only (`ST_RDONLY`); a FUSE mount is an overlay when mountinfo says it is
//! fuse-overlayfs'. Unmounting is `umount2(2)` with `UMOUNT_NOFOLLOW`, so a rootfs
//! replaced by a symlink can never make ct unmount something else.

use std::io;
use std::path::Path;

use rustix::fs::{AtFlags, StatVfsMountFlags, StatxAttributes, StatxFlags, CWD};

/// `statfs(2)`'s `f_type` of every FUSE filesystem.
const FUSE_SUPER_MAGIC: i64 = 0x6573_5546;

/// What is on a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mounted {
    /// Nothing: a plain directory.
    No,
    /// An overlayfs mount.
    Overlay { read_only: bool },
    /// Some other filesystem (its `f_type`).
    Other { fs_type: i64 },
}

/// Is `path` the root of a mount? Falls back to comparing `st_dev` with the parent when the
/// kernel does not report the attribute.
pub fn is_mount_root(path: &Path) -> io::Result<bool> {
    let stx = rustix::fs::statx(
        CWD,
        path,
        AtFlags::SYMLINK_NOFOLLOW | AtFlags::NO_AUTOMOUNT,
        StatxFlags::TYPE,
    )?;
    let attr = StatxAttributes::MOUNT_ROOT;
    if stx.stx_attributes_mask.contains(attr) {
        return Ok(stx.stx_attributes.contains(attr));
    }
    use std::os::unix::fs::MetadataExt;
    let me = std::fs::symlink_metadata(path)?;
    let parent = std::fs::metadata(path.join(".."))?;
    Ok(me.dev() != parent.dev() || me.ino() == parent.ino())
}

/// What is mounted on `path` (which must exist).
pub fn probe(path: &Path) -> io::Result<Mounted> {
    if !is_mount_root(path)? {
        return Ok(Mounted::No);
    }
    let st = rustix::fs::statfs(path)?;
    // f_type is i64 on 64-bit glibc but narrower elsewhere: cast both sides.
    #[allow(clippy::unnecessary_cast)]
    let (fs_type, overlay) = (st.f_type as i64, libc::OVERLAYFS_SUPER_MAGIC as i64);
    if fs_type == overlay {
        let vfs = rustix::fs::statvfs(path)?;
        let read_only = vfs.f_flag.contains(StatVfsMountFlags::RDONLY);
        Ok(Mounted::Overlay { read_only })
    } else if fs_type == FUSE_SUPER_MAGIC && crate::fuse_overlayfs::is_mounted_at(path) {
        // A user's overlay served by fuse-overlayfs: the same thing to ct-mount.
        let vfs = rustix::fs::statvfs(path)?;
        let read_only = vfs.f_flag.contains(StatVfsMountFlags::RDONLY);
        Ok(Mounted::Overlay { read_only })
    } else {
        Ok(Mounted::Other { fs_type })
    }
}

/// `umount2(path, UMOUNT_NOFOLLOW)`.
pub fn unmount(path: &Path) -> io::Result<()> {
    Ok(rustix::mount::unmount(
        path,
        rustix::mount::UnmountFlags::NOFOLLOW,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_dir_is_not_mounted_and_root_is() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(probe(t.path()).unwrap(), Mounted::No);
        assert!(is_mount_root(Path::new("/")).unwrap());
        assert!(is_mount_root(Path::new("/proc")).unwrap());
    }
}
