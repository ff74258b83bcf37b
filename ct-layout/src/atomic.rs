//! Atomic replacement of a file: write a temp file in the same directory, `fsync(2)` it,
//! `rename(2)` it over the target, then `fsync` the directory so the rename itself is durable.
//! A reader sees either the old file or the new one, never a torn mix — and a crash between
//! the steps leaves at most a stray `.tmp-*` file, which nothing ever reads.
//!
//! Runtime state — what describes processes, namespaces and veths of this boot (a container's
//! `state.json`, a pid file, leases, `/etc/hosts` of a container) — is replaced the same way
//! but without the two fsyncs ([`write_runtime`]): a crashed process still leaves the old or
//! the new file (the rename is atomic), and after a power loss what the file described is gone
//! anyway, so waiting for the disk buys nothing. runc and crun do the same with their state. On
//! a `/run` that is not a tmpfs the two fsyncs cost about 0.35 ms per file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A temp file that becomes `target` on [`AtomicFile::commit`], or vanishes on drop.
pub struct AtomicFile {
    file: Option<File>,
    tmp: PathBuf,
    target: PathBuf,
}

/// `.tmp-<random>-<name>` beside `target`.
pub fn temp_path(target: &Path) -> PathBuf {
    use rand::Rng;
    let n: u64 = rand::rngs::OsRng.gen();
    let name = target
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".tmp-{n:016x}-{name}"))
}

impl AtomicFile {
    /// Open a fresh temp file beside `target` (mode 0644). Parent directories are created.
    pub fn create(target: impl AsRef<Path>) -> io::Result<AtomicFile> {
        let target = target.as_ref().to_path_buf();
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        let tmp = temp_path(&target);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)?;
        Ok(AtomicFile {
            file: Some(file),
            tmp,
            target,
        })
    }

    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("file present until commit")
    }

    pub fn temp(&self) -> &Path {
        &self.tmp
    }

    /// The file this one replaces on commit.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// fsync, rename over the target, fsync the directory.
    pub fn commit(mut self) -> io::Result<()> {
        let file = self.file.take().expect("file present until commit");
        file.sync_all()?;
        drop(file);
        fs::rename(&self.tmp, &self.target)?;
        // A bare file name ("pid") has the parent "": the current directory.
        let dir = match self.target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        sync_dir(dir)
    }

    /// Rename over the target, without fsync: for runtime state only (see the module note).
    pub fn commit_unsynced(mut self) -> io::Result<()> {
        drop(self.file.take().expect("file present until commit"));
        fs::rename(&self.tmp, &self.target)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file().write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file().flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Replace `target` with `bytes`, atomically.
pub fn write(target: impl AsRef<Path>, bytes: &[u8]) -> io::Result<()> {
    let mut f = AtomicFile::create(target)?;
    f.write_all(bytes)?;
    f.commit()
}

/// Replace `target` with pretty JSON of `value`, atomically.
pub fn write_json<T: serde::Serialize>(target: impl AsRef<Path>, value: &T) -> io::Result<()> {
    write(target, &pretty_json(value)?)
}

/// Replace runtime state `target` with `bytes`: atomically, not durably (see the module note).
pub fn write_runtime(target: impl AsRef<Path>, bytes: &[u8]) -> io::Result<()> {
    staged(target, bytes)?.commit_unsynced()
}

/// `bytes` in a temp file beside `target`, for a commit later (or removed when dropped).
pub fn staged(target: impl AsRef<Path>, bytes: &[u8]) -> io::Result<AtomicFile> {
    let mut f = AtomicFile::create(target)?;
    f.write_all(bytes)?;
    Ok(f)
}

/// [`write_runtime`] of pretty JSON.
pub fn write_runtime_json<T: serde::Serialize>(
    target: impl AsRef<Path>,
    value: &T,
) -> io::Result<()> {
    write_runtime(target, &pretty_json(value)?)
}

/// Pretty JSON of `value` with a final newline, as the files here are written.
pub fn pretty_json<T: serde::Serialize>(value: &T) -> io::Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// fsync a directory so that renames and creations in it survive a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_and_cleans_up() {
        let d = tempfile::tempdir().unwrap();
        let t = d.path().join("a/b.json");
        write(&t, b"one").unwrap();
        write(&t, b"two").unwrap();
        assert_eq!(fs::read(&t).unwrap(), b"two");
        {
            let mut f = AtomicFile::create(&t).unwrap();
            f.write_all(b"abandoned").unwrap();
        }
        assert_eq!(fs::read(&t).unwrap(), b"two");
        assert_eq!(fs::read_dir(d.path().join("a")).unwrap().count(), 1);
    }

    #[test]
    fn runtime_writes_replace_and_leave_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let t = d.path().join("run/state.json");
        write_runtime_json(&t, &serde_json::json!({"status": "created"})).unwrap();
        assert_eq!(fs::read(&t).unwrap(), b"{\n  \"status\": \"created\"\n}\n");
        write_runtime(&t, b"two").unwrap();
        assert_eq!(fs::read(&t).unwrap(), b"two");
        assert_eq!(fs::read_dir(d.path().join("run")).unwrap().count(), 1);
    }
}
