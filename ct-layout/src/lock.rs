//! Advisory locks with `flock(2)`. A lock file is never deleted (deleting it would let two
//! processes lock two different inodes); holding the [`Lock`] holds the lock, dropping it
//! (or the process dying) releases it. Used around read-modify-write of `index.json`, around
//! extracting one layer, and around address leases.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// A held `flock` on a file.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

fn open(path: &Path) -> io::Result<File> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

fn flock(file: &File, op: libc::c_int) -> io::Result<()> {
    loop {
        // SAFETY: flock on a valid, owned descriptor; no memory is passed.
        let r = unsafe { libc::flock(file.as_raw_fd(), op) };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

impl Lock {
    /// Block until the exclusive lock on `path` is ours (creating the file if needed).
    pub fn exclusive(path: impl AsRef<Path>) -> io::Result<Lock> {
        let file = open(path.as_ref())?;
        flock(&file, libc::LOCK_EX)?;
        Ok(Lock { _file: file })
    }

    /// Block until a shared lock on `path` is ours.
    pub fn shared(path: impl AsRef<Path>) -> io::Result<Lock> {
        let file = open(path.as_ref())?;
        flock(&file, libc::LOCK_SH)?;
        Ok(Lock { _file: file })
    }

    /// The exclusive lock if nobody holds it, else `None`.
    pub fn try_exclusive(path: impl AsRef<Path>) -> io::Result<Option<Lock>> {
        let file = open(path.as_ref())?;
        match flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
            Ok(()) => Ok(Some(Lock { _file: file })),
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("l");
        let held = Lock::exclusive(&p).unwrap();
        assert!(Lock::try_exclusive(&p).unwrap().is_none());
        drop(held);
        assert!(Lock::try_exclusive(&p).unwrap().is_some());
    }
}
