//! Getting a blob into `blobs/sha256/` so that nothing unverified is ever there.
//!
//! For a download of blob `HEX` of `size` bytes:
//! 1. present in `blobs/` with the right size: done (layers are shared between images);
//! 2. open and `flock(2)` `$CT_ROOT/tmp/HEX.partial` — one downloader per blob, however many
//!    ct-pull processes run — and look again: another process may have finished it meanwhile;
//! 3. whatever bytes the partial already holds (an earlier run was killed) are hashed, and the
//!    download continues after them with `Range: bytes=N-`; a registry that answers 200
//!    instead of 206 sends everything again, and the partial is truncated (a clean restart);
//! 4. every chunk is hashed (SHA-256) and counted as it is written; more bytes than the
//!    descriptor's size stop the download at once;
//! 5. at the end the digest and size must match — otherwise the partial is deleted and the
//!    error names the blob; on a dropped connection the partial stays and the download resumes
//!    (bounded retries);
//! 6. `rename(2)` it to `blobs/sha256/HEX` at once, so a `ct-unpack` downstream can start on
//!    it; the pull makes all its blobs durable with one `syncfs(2)` ([`sync_store`]) before it
//!    writes the manifest, instead of an fsync of each file and of the directory. While the
//!    blobs download, a background `syncfs` every 100 ms ([`start_flusher`],
//!    `ct_layout::writeback`) writes what arrived, so that last one finds little left.
//!
//! Imports use [`store_reader`]: a stream whose digest may not be known in advance is hashed
//! into a temp file and renamed to the name its bytes give it.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use ct_layout::atomic;
use ct_layout::digest::{Digest, Verifier};
use ct_layout::free_space::{Limits, Meter, MeteredWriter};
use ct_layout::image_layout::ImageLayout;
use ct_layout::io_error::IoAt;
use ct_layout::lock::{self, FlockOperation};
use ct_layout::writeback::Flusher;

use crate::distribution::RegistryClient;
use crate::error::PullError;
use crate::http_retry::backoff;
use crate::progress::Bar;

const CHUNK: usize = 256 << 10;
/// Bytes gathered from the network before one write(2) and one hash update.
const BATCH: usize = 1 << 20;

/// `$CT_ROOT/tmp/HEX.partial`.
pub fn partial_path(layout: &ImageLayout, digest: &Digest) -> PathBuf {
    layout.tmp_dir().join(format!("{}.partial", digest.hex()))
}

/// Rename a finished, verified temp file into `blobs/`, durably: fsync it, rename, fsync the
/// directory.
fn land(layout: &ImageLayout, file: &File, tmp: &Path, digest: &Digest) -> Result<(), PullError> {
    file.sync_all().map_err(IoAt::at("fsync", tmp))?;
    let dest = layout.blob_path(digest);
    fs::rename(tmp, &dest).map_err(IoAt::at("rename into place", &dest))?;
    let dir = dest.parent().unwrap_or(Path::new("."));
    Ok(atomic::sync_dir(dir).map_err(IoAt::at("fsync", dir))?)
}

/// Rename a finished, verified download into `blobs/` without waiting for the disk: the
/// registry pull makes all its blobs durable at once with [`sync_store`] before it writes the
/// manifest that names them. Until then a power cut may lose or shorten the blob, which a
/// later pull then fetches again (a blob is reused only when its size matches).
fn land_unsynced(layout: &ImageLayout, tmp: &Path, digest: &Digest) -> Result<(), PullError> {
    let dest = layout.blob_path(digest);
    Ok(fs::rename(tmp, &dest).map_err(IoAt::at("rename into place", &dest))?)
}

/// `syncfs(2)` on the store's file system: every blob written and renamed so far, at once
/// (one journal commit instead of two fsyncs per blob).
pub fn sync_store(layout: &ImageLayout) -> Result<(), PullError> {
    let dir = layout.blob_path(&Digest::of(b"")).with_file_name("");
    let f = File::open(&dir).map_err(IoAt::at("open", &dir))?;
    Ok(rustix::fs::syncfs(&f).map_err(|e| IoAt::at("sync", &dir)(e.into()))?)
}

/// Start flushing the store's file system in the background while blobs download; its
/// `finish()` is then the pull's one [`sync_store`], and reports any writeback error since.
pub fn start_flusher(layout: &ImageLayout) -> Result<Flusher, PullError> {
    let dir = layout.tmp_dir();
    fs::create_dir_all(dir).map_err(IoAt::at("create", dir))?;
    Ok(Flusher::start(dir).map_err(IoAt::at("open", dir))?)
}

/// Download blob `digest` (`size` bytes) into the layout, resuming a partial left by an
/// earlier run. Returns false if the blob was already there.
pub fn download(
    reg: &RegistryClient,
    layout: &ImageLayout,
    digest: &Digest,
    size: u64,
    retries: u32,
    bar: &Bar,
) -> Result<bool, PullError> {
    if layout.has_blob(digest, Some(size)) {
        return Ok(false);
    }
    let tmp = partial_path(layout, digest);
    fs::create_dir_all(layout.tmp_dir()).map_err(IoAt::at("create", layout.tmp_dir()))?;
    let mut file = lock_partial(&tmp)?;
    if layout.has_blob(digest, Some(size)) {
        // Someone else landed it while we waited; the partial we hold is an empty leftover.
        let _ = fs::remove_file(&tmp);
        return Ok(false);
    }
    let mut restarted_after_mismatch = false;
    let mut attempt = 0;
    loop {
        let resumed = file.metadata().map(|m| m.len() > 0).unwrap_or(false);
        match stream_once(reg, &mut file, &tmp, digest, size, bar) {
            Ok(None) => {
                land_unsynced(layout, &tmp, digest)?;
                return Ok(true);
            }
            Ok(Some(e)) => {
                if attempt >= retries {
                    return Err(e);
                }
                std::thread::sleep(backoff(attempt));
                attempt += 1;
            }
            Err(PullError::DigestMismatch { .. }) if resumed && !restarted_after_mismatch => {
                // The bytes left by an earlier run may have been the bad ones: start over once.
                restarted_after_mismatch = true;
                file.set_len(0).map_err(IoAt::at("truncate", &tmp))?;
            }
            Err(e) => {
                // We hold the lock on the inode at this path, so the name is ours to remove.
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        }
    }
}

/// Open `path` (creating it) and take an exclusive `flock(2)` on it — but only keep it if the
/// locked inode is still the one at `path`: a holder may have renamed it into `blobs/` or
/// removed it while we waited, and then we must lock the new file instead.
fn lock_partial(path: &Path) -> Result<File, PullError> {
    use std::os::unix::fs::MetadataExt;
    for _ in 0..1000 {
        let file = lock::open(path).map_err(IoAt::at("open", path))?;
        lock::flock(&file, FlockOperation::LockExclusive).map_err(IoAt::at("lock", path))?;
        let held = file.metadata().map_err(IoAt::at("stat", path))?;
        match fs::metadata(path) {
            Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => return Ok(file),
            _ => continue,
        }
    }
    Err(PullError::Io(IoAt {
        action: "lock",
        path: path.to_path_buf(),
        source: io::Error::other("the partial file keeps being replaced"),
    }))
}

/// One GET of the rest of the blob into `file`. `Ok(None)`: complete and verified;
/// `Ok(Some(e))`: the connection broke, what was written stays for the next attempt.
fn stream_once(
    reg: &RegistryClient,
    file: &mut File,
    tmp: &Path,
    digest: &Digest,
    size: u64,
    bar: &Bar,
) -> Result<Option<PullError>, PullError> {
    let mut have = file.metadata().map_err(IoAt::at("stat", tmp))?.len();
    if have >= size {
        // Complete but not landed (killed between write and rename), or garbage: rehash all.
        have = if have == size { have } else { 0 };
    }
    let mut verifier = Verifier::new(io::sink());
    if have > 0 && have < size {
        // Re-hash the bytes already there so the final digest covers the whole blob.
        file.seek(SeekFrom::Start(0))
            .map_err(IoAt::at("read", tmp))?;
        let mut buf = vec![0u8; CHUNK];
        let mut left = have;
        while left > 0 {
            let n = file
                .read(&mut buf[..CHUNK.min(left as usize)])
                .map_err(IoAt::at("read", tmp))?;
            if n == 0 {
                break;
            }
            verifier.absorb(&buf[..n]);
            left -= n as u64;
        }
        have -= left;
    } else if have == size {
        return finish_existing(file, tmp, digest, size);
    } else {
        have = 0;
    }
    let mut resp = match reg.blob(digest, have) {
        Ok(r) => r,
        Err(PullError::Status { status: 416, .. }) if have > 0 => {
            file.set_len(0).map_err(IoAt::at("truncate", tmp))?;
            return Ok(Some(PullError::SizeMismatch {
                digest: digest.clone(),
                expected: size,
                got: have,
            }));
        }
        Err(e @ (PullError::Connect { .. } | PullError::RetriesExhausted { .. })) => {
            return Ok(Some(e))
        }
        Err(e) => return Err(e),
    };
    if have > 0 && resp.status().as_u16() != 206 {
        // The registry ignored the Range: start over.
        have = 0;
        verifier = Verifier::new(io::sink());
    }
    file.set_len(have).map_err(IoAt::at("truncate", tmp))?;
    file.seek(SeekFrom::Start(have))
        .map_err(IoAt::at("seek", tmp))?;
    if let Some(len) = resp.content_length() {
        if have + len > size {
            return Err(PullError::SizeMismatch {
                digest: digest.clone(),
                expected: size,
                got: have + len,
            });
        }
    }
    bar.start(size, have);
    let url = resp.url().to_string();
    // The network hands over small chunks: gather them, then write and hash in large batches.
    let mut buf = vec![0u8; BATCH];
    let mut filled = 0;
    let mut broken = None;
    loop {
        let eof = match resp.read(&mut buf[filled..]) {
            Ok(0) => true,
            Ok(n) => {
                let seen = verifier.written() + (filled + n) as u64;
                if seen > size {
                    return Err(PullError::SizeMismatch {
                        digest: digest.clone(),
                        expected: size,
                        got: seen,
                    });
                }
                filled += n;
                false
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                // Keep what arrived (written below): the next attempt resumes after it.
                broken = Some(PullError::Body {
                    what: format!("blob {digest}"),
                    url: url.clone(),
                    source,
                });
                true
            }
        };
        if filled > 0 && (eof || filled >= BATCH - BATCH / 4) {
            file.write_all(&buf[..filled])
                .map_err(IoAt::at("write", tmp))?;
            verifier
                .write_all(&buf[..filled])
                .map_err(IoAt::at("hash", tmp))?;
            bar.inc(filled as u64);
            filled = 0;
        }
        if eof {
            break;
        }
    }
    if let Some(e) = broken {
        return Ok(Some(e));
    }
    let (got, written, _) = verifier.finish();
    if written < size {
        return Ok(Some(PullError::SizeMismatch {
            digest: digest.clone(),
            expected: size,
            got: written,
        }));
    }
    if got != *digest {
        return Err(PullError::DigestMismatch {
            digest: digest.clone(),
            got,
        });
    }
    Ok(None)
}

/// A partial that already holds `size` bytes: verify it as it is.
fn finish_existing(
    file: &mut File,
    tmp: &Path,
    digest: &Digest,
    size: u64,
) -> Result<Option<PullError>, PullError> {
    file.seek(SeekFrom::Start(0))
        .map_err(IoAt::at("read", tmp))?;
    let mut v = Verifier::new(io::sink());
    io::copy(&mut Read::by_ref(file).take(size), &mut v).map_err(IoAt::at("read", tmp))?;
    let (got, _, _) = v.finish();
    if got == *digest {
        Ok(None)
    } else {
        file.set_len(0).map_err(IoAt::at("truncate", tmp))?;
        Ok(Some(PullError::DigestMismatch {
            digest: digest.clone(),
            got,
        }))
    }
}

/// Store a stream as a blob. With `expect`, the digest and size must match (and a present
/// blob is not rewritten); without, the blob is named by what was read. Returns digest, size.
pub fn store_reader(
    layout: &ImageLayout,
    mut reader: impl Read,
    expect: Option<(&Digest, u64)>,
) -> Result<(Digest, u64), PullError> {
    if let Some((d, s)) = expect {
        if layout.has_blob(d, Some(s)) {
            return Ok((d.clone(), s));
        }
    }
    let tmp_dir = layout.tmp_dir();
    fs::create_dir_all(tmp_dir).map_err(IoAt::at("create", tmp_dir))?;
    let tmp = tempfile::Builder::new()
        .prefix("import-")
        .suffix(".partial")
        .tempfile_in(tmp_dir)
        .map_err(IoAt::at("create a temp file in", tmp_dir))?;
    let path = tmp.path().to_path_buf();
    // An import copies what an archive holds: never past the file system's free-space reserve
    // (`ct_layout::free_space`).
    let meter = Meter::new(tmp_dir, Limits::default())
        .map_err(IoAt::at("check the free space of", tmp_dir))?;
    let metered = MeteredWriter {
        inner: tmp.as_file(),
        meter,
    };
    let mut v = Verifier::new(io::BufWriter::with_capacity(CHUNK, metered));
    let limit = expect.map_or(u64::MAX, |(_, s)| s.saturating_add(1));
    io::copy(&mut (&mut reader).take(limit), &mut v).map_err(IoAt::at("copy into", &path))?;
    let (digest, size, mut w) = v.finish();
    w.flush().map_err(IoAt::at("write", &path))?;
    drop(w);
    if let Some((d, s)) = expect {
        if size != s {
            return Err(PullError::SizeMismatch {
                digest: d.clone(),
                expected: s,
                got: size,
            });
        }
        if digest != *d {
            return Err(PullError::DigestMismatch {
                digest: d.clone(),
                got: digest,
            });
        }
    }
    let (file, tmp_path) = tmp.keep().map_err(|e| {
        PullError::Io(IoAt {
            action: "keep",
            path: path.clone(),
            source: e.error,
        })
    })?;
    if layout.has_blob(&digest, Some(size)) {
        let _ = fs::remove_file(&tmp_path);
        return Ok((digest, size));
    }
    land(layout, &file, &tmp_path, &digest).inspect_err(|_| {
        let _ = fs::remove_file(&tmp_path);
    })?;
    Ok((digest, size))
}
