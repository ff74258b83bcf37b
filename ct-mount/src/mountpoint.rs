//! Is something mounted on a directory, and what? `statx(2)` reports `STATX_ATTR_MOUNT_ROOT`
//! (Linux 5.8) for the root of a mount, so no `/proc/self/mountinfo` parsing is needed;
//! `statfs(2)` then tells the filesystem type (`OVERLAYFS_SUPER_MAGIC`) and `statvfs(3)` whether
//! it is read-only (`ST_RDONLY`). Unmounting is `umount2(2)` with `UMOUNT_NOFOLLOW`, so a rootfs
//! replaced by a symlink can never make ct unmount something else.

use std::ffi::CString;
use std::io;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

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

fn cpath(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Is `path` the root of a mount? Falls back to comparing `st_dev` with the parent when the
/// kernel does not report the attribute.
pub fn is_mount_root(path: &Path) -> io::Result<bool> {
    let c = cpath(path)?;
    let mut stx = MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: NUL-terminated path and a buffer the size of `struct statx`.
    let r = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW | libc::AT_NO_AUTOMOUNT,
            libc::STATX_TYPE,
            stx.as_mut_ptr(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statx succeeded, so the kernel filled the struct (and it was zeroed before).
    let stx = unsafe { stx.assume_init() };
    let attr = libc::STATX_ATTR_MOUNT_ROOT as u64;
    if stx.stx_attributes_mask & attr != 0 {
        return Ok(stx.stx_attributes & attr != 0);
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
    let c = cpath(path)?;
    let mut st = MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: NUL-terminated path and a buffer the size of `struct statfs`.
    let r = unsafe { libc::statfs(c.as_ptr(), st.as_mut_ptr()) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statfs succeeded and filled the struct.
    let st = unsafe { st.assume_init() };
    // f_type is i64 on 64-bit glibc but narrower elsewhere: cast both sides.
    #[allow(clippy::unnecessary_cast)]
    let (fs_type, overlay) = (st.f_type as i64, libc::OVERLAYFS_SUPER_MAGIC as i64);
    if fs_type == overlay {
        let mut vfs = MaybeUninit::<libc::statvfs>::zeroed();
        // SAFETY: NUL-terminated path and a buffer the size of `struct statvfs`.
        let r = unsafe { libc::statvfs(c.as_ptr(), vfs.as_mut_ptr()) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: statvfs succeeded and filled the struct.
        let vfs = unsafe { vfs.assume_init() };
        let read_only = vfs.f_flag & libc::ST_RDONLY != 0;
        Ok(Mounted::Overlay { read_only })
    } else {
        Ok(Mounted::Other { fs_type })
    }
}

/// `umount2(path, UMOUNT_NOFOLLOW)`.
pub fn unmount(path: &Path) -> io::Result<()> {
    let c = cpath(path)?;
    // SAFETY: NUL-terminated path; no other memory is passed.
    let r = unsafe { libc::umount2(c.as_ptr(), libc::UMOUNT_NOFOLLOW) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
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
