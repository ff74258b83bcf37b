//! The hand-off that lets `ct-pull IMG | ct-unpack` overlap: ct-unpack extracts each layer as
//! soon as its blob has landed, while ct-pull still downloads the others.
//!
//! The two processes share nothing but the pipe (pipe(7)), and the pipe carries exactly one
//! line, written when the pull is complete. So the pipe itself is the rendezvous: both ends
//! of one pipe have the same inode on pipefs, which `fstat(2)` of stdout (in ct-pull) and of
//! stdin (in ct-unpack) both report, and the key is that inode number.
//!
//! 1. ct-pull, once it knows the image manifest and has landed its config, and only when its
//!    stdout is a pipe, writes the manifest's bytes to `$CT_ROOT/tmp/pipe-INO.manifest`: it
//!    writes a temp file, takes an exclusive `flock(2)` on it, then renames it into place, so
//!    the file is locked for as long as it is visible and ct-pull lives. It removes the file
//!    when the pull ends (success or failure); a SIGKILL leaves it unlocked, and the next
//!    announcement removes such leftovers.
//! 2. ct-unpack, with no argument and a pipe on stdin, looks for the file of its stdin's inode
//!    while it waits for the line. It trusts the file only while someone holds its lock
//!    (`LOCK_SH|LOCK_NB` fails): an unlocked one is a leftover of a killed ct-pull whose pipe
//!    inode number was reused, and is ignored.
//! 3. ct-unpack extracts each layer of that manifest whose blob is in `blobs/` (landed, hence
//!    verified by ct-pull), exactly as it would after the line: same locks, limits and diff_id
//!    check. When the line arrives it unpacks the image the line names, as always; layers
//!    already extracted are found present.
//!
//! Nothing here is needed for correctness: without the file (another tool on either side of
//! the pipe, a different `$CT_ROOT`, an import) each tool works as it does alone.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use rustix::fs::FlockOperation;

use crate::lock::flock;
use crate::Store;

/// The pipefs inode of `fd` when it is a pipe (or FIFO), else `None`.
pub fn pipe_inode(fd: impl AsFd) -> Option<u64> {
    let st = rustix::fs::fstat(fd).ok()?;
    let kind = rustix::fs::FileType::from_raw_mode(st.st_mode);
    (kind == rustix::fs::FileType::Fifo).then_some(st.st_ino)
}

/// `$CT_ROOT/tmp/pipe-INO.manifest`.
pub fn path(store: &Store, inode: u64) -> PathBuf {
    crate::image_layout::ImageLayout::of_store(store)
        .tmp_dir()
        .join(format!("pipe-{inode}.manifest"))
}

/// The writer's side: the file exists, locked, until this is dropped.
#[derive(Debug)]
pub struct Announcement {
    path: PathBuf,
    _file: File,
}

impl Drop for Announcement {
    fn drop(&mut self) {
        // Removed while still locked, so a reader never sees it unlocked and trusted.
        let _ = fs::remove_file(&self.path);
    }
}

/// Publish `manifest` for the reader of pipe `inode` (step 1).
pub fn announce(store: &Store, inode: u64, manifest: &[u8]) -> io::Result<Announcement> {
    let dest = path(store, inode);
    let dir = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    remove_stale(dir);
    let tmp = dir.join(format!(".pipe-{inode}-{}.tmp", crate::paths::new_id()));
    let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
    let written = flock(&file, FlockOperation::LockExclusive)
        .and_then(|_| file.write_all(manifest))
        .and_then(|_| fs::rename(&tmp, &dest));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(Announcement {
        path: dest,
        _file: file,
    })
}

/// Remove the announcements of killed pulls: the ones nobody holds a lock on (a live one is
/// locked from before it has its name until it is removed).
fn remove_stale(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with("pipe-") && name.ends_with(".manifest")) {
            continue;
        }
        if let Ok(f) = File::open(e.path()) {
            if flock(&f, FlockOperation::NonBlockingLockExclusive).is_ok() {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

/// The manifest a live ct-pull announced for pipe `inode` (step 2), at most `limit` bytes.
pub fn read_live(store: &Store, inode: u64, limit: u64) -> Option<Vec<u8>> {
    let mut file = File::open(path(store, inode)).ok()?;
    match flock(&file, FlockOperation::NonBlockingLockShared) {
        // We got the lock: nobody holds it, the writer is gone.
        Ok(()) => return None,
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => {}
        Err(_) => return None,
    }
    let mut bytes = Vec::new();
    (&mut file).take(limit).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_live_announcement_is_read() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path().join("root"), d.path().join("run"));
        let a = announce(&store, 42, b"{\"layers\":[]}").unwrap();
        assert_eq!(read_live(&store, 42, 1 << 20).unwrap(), b"{\"layers\":[]}");
        assert!(read_live(&store, 43, 1 << 20).is_none());
        drop(a);
        assert!(!path(&store, 42).exists());
        // A leftover nobody holds (the writer was killed) is not trusted.
        fs::write(path(&store, 42), b"{}").unwrap();
        assert!(read_live(&store, 42, 1 << 20).is_none());
        // ... and the next announcement removes it.
        let _b = announce(&store, 7, b"{}").unwrap();
        assert!(!path(&store, 42).exists());
        assert!(path(&store, 7).exists());
    }

    #[test]
    fn a_pipe_is_told_from_a_file() {
        let (r, w) = std::io::pipe().unwrap();
        assert_eq!(pipe_inode(&r), pipe_inode(&w));
        assert!(pipe_inode(&r).is_some());
        let f = tempfile::tempfile().unwrap();
        assert!(pipe_inode(&f).is_none());
    }
}
