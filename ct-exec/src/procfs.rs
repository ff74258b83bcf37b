//! Writing kernel settings through `/proc` (proc(5)) only into files that really are procfs.
//!
//! `/proc/self/oom_score_adj`, `/proc/sys/…`, `/proc/PID/uid_map` are ordinary-looking paths,
//! and whoever controls the mount namespace controls what they lead to: a rootfs whose `/proc`
//! is a symlink or a plain directory, a tmpfs mounted on `/proc`, a bind mount of some other
//! file over `/proc/sys/kernel/x` (runc's CVE-2019-16884, CVE-2019-19921, CVE-2025-52881).
//! A write by name would then land in a regular file, or in a different kernel setting.
//! So, like runc and libpathrs' `procfs.rs`:
//!
//! 1. Open `/proc` itself with `O_NOFOLLOW` and check with `fstatfs(2)` that it is procfs
//!    (`PROC_SUPER_MAGIC`) and with `fstat(2)` that it is the root of one (inode 1).
//! 2. Open the file below it with openat2(2) `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
//!    RESOLVE_NO_XDEV`: no way above `/proc`, no jump through an fd link, and no crossing
//!    into anything mounted over part of it. (`/proc/self` is a plain symlink to the pid's
//!    directory on the same mount, so it still works.)
//! 3. Check the opened file with `fstatfs` again, then write through that fd.

use std::io::{self, Write};
use std::os::fd::OwnedFd;

use rustix::fs::{self as rfs, Mode, OFlags, ResolveFlags};

/// The inode number of the root of every procfs instance.
const PROC_ROOT_INO: u64 = 1;

fn not_procfs(what: &str) -> io::Error {
    io::Error::other(format!("{what} is not on procfs (refused)"))
}

fn is_procfs(fd: &OwnedFd) -> io::Result<bool> {
    Ok(rfs::fstatfs(fd)?.f_type == rfs::PROC_SUPER_MAGIC)
}

/// Step 1.
pub fn open_root() -> io::Result<OwnedFd> {
    let fd = rfs::open(
        "/proc",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io::Error::other(format!("/proc: {}", io::Error::from(e))))?;
    if !is_procfs(&fd)? || rfs::fstat(&fd)?.st_ino != PROC_ROOT_INO {
        return Err(not_procfs("/proc"));
    }
    Ok(fd)
}

/// Steps 2 and 3 for `/proc/` + `rel` (`self/oom_score_adj`, `sys/net/ipv4/ip_forward`).
pub fn open(rel: &str, flags: OFlags) -> io::Result<OwnedFd> {
    let root = open_root()?;
    let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let how = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV;
    let fd = match rfs::openat2(&root, rel, flags, Mode::empty(), how) {
        // Without openat2 the fstatfs check below still holds.
        Err(rustix::io::Errno::NOSYS) => rfs::openat(&root, rel, flags, Mode::empty()),
        r => r,
    }?;
    if !is_procfs(&fd)? {
        return Err(not_procfs(&format!("/proc/{rel}")));
    }
    Ok(fd)
}

/// Write `data` to `/proc/` + `rel` in one `write(2)` (procfs files take one write).
pub fn write(rel: &str, data: &[u8]) -> io::Result<()> {
    let fd = open(rel, OFlags::WRONLY)?;
    std::fs::File::from(fd).write_all(data)
}

#[cfg(test)]
mod tests {
    #[test]
    fn proc_files_open_and_others_do_not() {
        let fd = super::open("self/status", rustix::fs::OFlags::RDONLY).unwrap();
        drop(fd);
        // Out of /proc, or through a magic link, is refused.
        assert!(super::open("../etc/passwd", rustix::fs::OFlags::RDONLY).is_err());
        assert!(super::open("self/root/etc/passwd", rustix::fs::OFlags::RDONLY).is_err());
    }
}
