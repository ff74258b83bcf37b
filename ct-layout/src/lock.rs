//! Advisory locks with `flock(2)`. A lock file is never deleted (deleting it would let two
//! processes lock two different inodes); holding the [`Lock`] holds the lock, dropping it
//! (or the process dying) releases it. Used around read-modify-write of `index.json`, around
//! extracting one layer, and around address leases.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

pub use rustix::fs::FlockOperation;

/// A held `flock` on a file.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Open (creating it and its directory) the lock file `path`, for [`flock`].
pub fn open(path: &Path) -> io::Result<File> {
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

/// flock(2) on `file`, retried when a signal interrupts the wait.
pub fn flock(file: &File, op: FlockOperation) -> io::Result<()> {
    loop {
        match rustix::fs::flock(file, op) {
            Err(rustix::io::Errno::INTR) => continue,
            r => return r.map_err(io::Error::from),
        }
    }
}

impl Lock {
    /// Block until the exclusive lock on `path` is ours (creating the file if needed).
    pub fn exclusive(path: impl AsRef<Path>) -> io::Result<Lock> {
        let file = open(path.as_ref())?;
        flock(&file, FlockOperation::LockExclusive)?;
        Ok(Lock { _file: file })
    }

    /// Block until a shared lock on `path` is ours.
    pub fn shared(path: impl AsRef<Path>) -> io::Result<Lock> {
        let file = open(path.as_ref())?;
        flock(&file, FlockOperation::LockShared)?;
        Ok(Lock { _file: file })
    }

    /// The exclusive lock if nobody holds it, else `None`.
    pub fn try_exclusive(path: impl AsRef<Path>) -> io::Result<Option<Lock>> {
        let file = open(path.as_ref())?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
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
