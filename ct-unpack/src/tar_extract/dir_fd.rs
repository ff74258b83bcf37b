//! Working below a directory held as a file descriptor, with the `*at(2)` family: every call
//! names one entry of that directory, so no path is walked again by name and no symlink on
//! the way can move the operation elsewhere.
//!
//! - `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)` looks at the entry itself, never at what a
//!   symlink points to.
//! - `openat(dir, name, O_NOFOLLOW)` refuses to open through a symlink (`ELOOP`).
//! - Removing a tree ([`remove_all_at`]) recurses with those two, then `unlinkat` each name
//!   (`AT_REMOVEDIR` for a directory), so a symlink in the tree is removed, not followed.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use crate::resolve_in_root::cstr;

/// `fstatat(fd, name, AT_SYMLINK_NOFOLLOW)`, `None` if absent.
pub(crate) fn lstat_at(dir: &OwnedFd, name: &CString) -> io::Result<Option<Stat>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn is_dir(st: &Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::Directory
}

/// `openat(dir, name, flags | O_CLOEXEC, mode)`.
pub(crate) fn openat(
    dir: &OwnedFd,
    name: &CString,
    flags: OFlags,
    mode: u32,
) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        dir,
        name,
        flags | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    )?)
}

/// Open the subdirectory `name` of `dir` for reading, never through a symlink.
pub(crate) fn open_subdir(dir: &OwnedFd, name: &CString) -> io::Result<OwnedFd> {
    openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW,
        0,
    )
}

/// The names in directory `dir` (read through a fresh fd so `dir`'s offset is untouched).
pub(crate) fn list_dir(dir: &OwnedFd) -> io::Result<Vec<CString>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))? {
        out.push(cstr(Path::new(&e?.file_name()))?);
    }
    Ok(out)
}

/// Remove `name` in `dir` and everything below it, never following a symlink.
pub(crate) fn remove_all_at(dir: &OwnedFd, name: &CString) -> io::Result<()> {
    let Some(st) = lstat_at(dir, name)? else {
        return Ok(());
    };
    if is_dir(&st) {
        let sub = open_subdir(dir, name)?;
        for child in list_dir(&sub)? {
            remove_all_at(&sub, &child)?;
        }
        rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?;
    } else {
        rustix::fs::unlinkat(dir, name, AtFlags::empty())?;
    }
    Ok(())
}

/// `write(2)` until all of `data` is written.
pub(crate) fn write_all_fd(fd: &OwnedFd, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match rustix::io::write(fd, data) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => data = &data[n..],
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
