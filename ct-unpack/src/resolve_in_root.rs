//! Resolving a path from a tar entry inside one directory, never outside it: `openat2(2)` with
//! `RESOLVE_IN_ROOT` (Linux 5.6). The kernel treats the directory fd as `/` for the whole walk:
//! `..` stops at it, absolute symlinks restart at it, so a symlink a previous entry planted
//! (`evil -> /`, `evil -> ../../..`) resolves to a place inside the root.
//!
//! Steps for every tar entry:
//! 1. [`clean`] the entry's name lexically: drop `/` prefixes, `.` components and clamp `..` at
//!    the root, exactly like `filepath.Clean("/" + name)` does for umoci and docker.
//! 2. Open its parent with `openat2(root, parent, O_PATH, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS)`
//!    (creating missing directories one by one, each again resolved in the root).
//! 3. Create the last component relative to that parent fd with the `*at` calls and
//!    `O_NOFOLLOW`/`AT_SYMLINK_NOFOLLOW`, so it is never followed either.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// `name` as a relative path inside a root (the empty path is the root itself).
pub use ct_layout::in_root::clean;

/// A path as a C string (paths from tar entries never contain NUL: tar strings end at NUL).
pub fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// `openat2(dirfd, path, {flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS})`, retried on
/// `EAGAIN` (the kernel returns it when a concurrent rename raced the walk).
pub fn open_in_root(root: &OwnedFd, path: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    let p = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    for _ in 0..64 {
        match rustix::fs::openat2(root, p, flags | OFlags::CLOEXEC, Mode::empty(), resolve) {
            Ok(fd) => return Ok(fd),
            Err(Errno::AGAIN) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Errno::AGAIN.into())
}

/// Open a directory (the root of an extraction) as an `O_PATH` fd.
pub fn open_root(dir: &Path) -> io::Result<OwnedFd> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    Ok(rustix::fs::open(dir, flags, Mode::empty())?)
}

/// Open directory `dir` (relative, cleaned) inside `root`, creating missing components with
/// mode 0755 the way tar does. Each step is resolved in the root again, so a symlink planted on
/// the way stays inside it; a dangling symlink on the way gets its target created (inside the
/// root), like umoci's `securejoin` + `MkdirAll`; a non-directory on the way is an error.
pub fn mkdir_all_in_root(root: &OwnedFd, dir: &Path) -> io::Result<OwnedFd> {
    mkdir_all_depth(root, dir, 0)
}

fn mkdir_all_depth(root: &OwnedFd, dir: &Path, depth: u32) -> io::Result<OwnedFd> {
    // Same bound as the kernel's symlink loop limit.
    if depth > 40 {
        return Err(io::Error::from_raw_os_error(libc::ELOOP));
    }
    let dir_flags = OFlags::PATH | OFlags::DIRECTORY;
    match open_in_root(root, dir, dir_flags) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        Err(e) => return Err(e),
    }
    let mut sofar = PathBuf::new();
    for c in dir.components() {
        let parent_path = sofar.clone();
        sofar.push(c);
        match open_in_root(root, &sofar, dir_flags) {
            Ok(_) => continue,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let parent = open_in_root(root, &parent_path, dir_flags)?;
        let name = c.as_os_str();
        let mode = Mode::from_raw_mode(0o755);
        match rustix::fs::mkdirat(&parent, name, mode) {
            Ok(()) => {
                // Exactly 0755 whatever the umask, as tar and umoci give implicit parents.
                let _ = rustix::fs::chmodat(&parent, name, mode, AtFlags::empty());
                continue;
            }
            Err(Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        // It exists but did not open as a directory: a dangling symlink. Create its target,
        // read as a path inside the root.
        let buf = rustix::fs::readlinkat(&parent, name, Vec::new())?;
        let target = Path::new(OsStr::from_bytes(buf.as_bytes()));
        let resolved = if target.is_absolute() {
            clean(target)
        } else {
            clean(&parent_path.join(target))
        };
        mkdir_all_depth(root, &resolved, depth + 1)?;
    }
    open_in_root(root, dir, dir_flags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn clean_clamps_at_root() {
        let c = |s: &str| clean(Path::new(s));
        assert_eq!(c("a/b"), PathBuf::from("a/b"));
        assert_eq!(c("./a/./b/"), PathBuf::from("a/b"));
        assert_eq!(c("/etc/passwd"), PathBuf::from("etc/passwd"));
        assert_eq!(c("../../etc/passwd"), PathBuf::from("etc/passwd"));
        assert_eq!(c("a/../../b"), PathBuf::from("b"));
        assert_eq!(c("a/b/.."), PathBuf::from("a"));
        assert_eq!(c("./"), PathBuf::new());
        assert_eq!(c("/"), PathBuf::new());
        assert_eq!(c(".."), PathBuf::new());
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let root_dir = t.path().join("root");
        fs::create_dir_all(root_dir.join("inside")).unwrap();
        fs::create_dir_all(t.path().join("outside")).unwrap();
        std::os::unix::fs::symlink("/", root_dir.join("to_slash")).unwrap();
        std::os::unix::fs::symlink("../../outside", root_dir.join("to_outside")).unwrap();
        std::os::unix::fs::symlink(t.path().join("outside"), root_dir.join("abs_outside")).unwrap();
        let root = open_root(&root_dir).unwrap();
        // `to_slash/inside` is the root's own `inside`.
        let a = open_in_root(&root, Path::new("to_slash/inside"), OFlags::PATH).unwrap();
        let b = open_in_root(&root, Path::new("inside"), OFlags::PATH).unwrap();
        let ino = |fd: &OwnedFd| {
            use std::os::fd::AsRawFd;
            let p = format!("/proc/self/fd/{}", fd.as_raw_fd());
            fs::metadata(p).unwrap().ino()
        };
        use std::os::unix::fs::MetadataExt;
        assert_eq!(ino(&a), ino(&b));
        // `../../outside` clamps at the root, where there is no `outside`.
        let e = open_in_root(&root, Path::new("to_outside"), OFlags::PATH).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        // Creating through the planted links lands inside.
        mkdir_all_in_root(&root, Path::new("abs_outside/new/deeper")).unwrap();
        // A dangling link on the way gets its target made, inside.
        mkdir_all_in_root(&root, Path::new("to_outside/x")).unwrap();
        assert!(root_dir.join("outside/x").is_dir());
        assert!(fs::read_dir(t.path().join("outside"))
            .unwrap()
            .next()
            .is_none());
        assert!(root_dir
            .join(t.path().join("outside").strip_prefix("/").unwrap())
            .join("new/deeper")
            .is_dir());
    }
}
