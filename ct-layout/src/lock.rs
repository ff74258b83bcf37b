//! Advisory locks with `flock(2)`. Holding the [`Lock`] holds the lock, dropping it (or the
//! process dying) releases it. Used around read-modify-write of `index.json`, around
//! extracting one layer, around writing one bundle, and around address leases.
//!
//! `flock` locks an inode, not a name. Deleting a lock file while another process waits on it
//! would let a third open a NEW file of the same name and lock it too: two holders. So a lock
//! is only taken once the inode locked is still the one the name leads to (`fstat` of the
//! descriptor against `stat` of the path; else open again), and a lock file is only deleted by
//! its holder ([`Lock::remove_on_drop`]): a waiter on the old inode then wakes, sees the name
//! gone and retries on the new file. That lets one-use locks (one per container) be cleaned up
//! instead of piling up in `locks/`.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub use rustix::fs::FlockOperation;

/// A held `flock` on a file.
#[derive(Debug)]
pub struct Lock {
    _file: File,
    /// Deleted (while still held) when the lock is dropped.
    remove: Option<PathBuf>,
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

/// Whether the locked `file` is still what `path` names (not deleted, or deleted and made anew,
/// by a holder that has since released it).
fn still_named(file: &File, path: &Path) -> io::Result<bool> {
    let held = file.metadata()?;
    match fs::metadata(path) {
        Ok(named) => Ok(named.dev() == held.dev() && named.ino() == held.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Open `path` and `flock` it with `op` until the inode locked is the one `path` names;
/// `None` if the lock is non-blocking and held elsewhere.
fn acquire(path: &Path, op: FlockOperation) -> io::Result<Option<Lock>> {
    loop {
        let file = open(path)?;
        match flock(&file, op) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => return Ok(None),
            Err(e) => return Err(e),
        }
        if still_named(&file, path)? {
            return Ok(Some(Lock {
                _file: file,
                remove: None,
            }));
        }
    }
}

impl Lock {
    /// Block until the exclusive lock on `path` is ours (creating the file if needed).
    pub fn exclusive(path: impl AsRef<Path>) -> io::Result<Lock> {
        acquire(path.as_ref(), FlockOperation::LockExclusive).map(|l| l.expect("blocking"))
    }

    /// Block until a shared lock on `path` is ours.
    pub fn shared(path: impl AsRef<Path>) -> io::Result<Lock> {
        acquire(path.as_ref(), FlockOperation::LockShared).map(|l| l.expect("blocking"))
    }

    /// The exclusive lock if nobody holds it, else `None`.
    pub fn try_exclusive(path: impl AsRef<Path>) -> io::Result<Option<Lock>> {
        acquire(path.as_ref(), FlockOperation::NonBlockingLockExclusive)
    }

    /// Delete the lock file when this (exclusive) lock is dropped, before releasing it: for a
    /// lock whose use is over (a container's bundle written, a layer removed). Whoever waits
    /// on it retries on a new file.
    pub fn remove_on_drop(mut self, path: impl AsRef<Path>) -> Lock {
        self.remove = Some(path.as_ref().to_path_buf());
        self
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Still held here: the file is closed (and the lock released) after this.
        if let Some(p) = self.remove.take() {
            let _ = fs::remove_file(p);
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

    #[test]
    fn a_removed_lock_file_is_not_locked_twice() {
        use std::sync::mpsc::channel;
        use std::time::Duration;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("l");
        let held = Lock::exclusive(&p).unwrap().remove_on_drop(&p);
        // A waiter that opens the file before it is deleted, and holds the lock until told.
        let (locked, got_it) = channel();
        let (release, released) = channel::<()>();
        let waiter = {
            let p = p.clone();
            std::thread::spawn(move || {
                let _l = Lock::exclusive(&p).unwrap();
                locked.send(()).unwrap();
                let _ = released.recv();
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        drop(held);
        got_it.recv_timeout(Duration::from_secs(10)).unwrap();
        // The waiter holds the lock of the file the name leads to now: nobody else gets it.
        assert!(Lock::try_exclusive(&p).unwrap().is_none());
        drop(release);
        waiter.join().unwrap();
        assert!(Lock::try_exclusive(&p).unwrap().is_some());
    }
}
