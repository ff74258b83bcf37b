//! Step 4 of ct-gc, the sweep: deleting what the mark did not reach, so that no reader ever
//! sees half of it.
//!
//! - A blob is one file: unlink(2) is atomic, a reader has it whole or not at all.
//! - A layer is a directory tree that ct-unpack may be reading or extracting: under the
//!   layer's extraction lock (`flock(2)`, [`ct_layout::lock`]) it is first renamed into
//!   `layers/tmp/` — rename(2) is atomic — and only then deleted, so a crash halfway never
//!   leaves a half-deleted directory under a layer's name.
//! - A leftover of an interrupted download or extraction goes only when no one holds its lock.
//! - `prune`'s grace period is measured by ctime, which rename(2) sets when a blob or layer
//!   lands.
//!
//! With `--dry-run` each step only counts what it would free.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ct_layout::image_layout::ImageLayout;
use ct_layout::lock::Lock;
use ct_layout::{Digest, Store};

use crate::{GcError, Report};

pub(crate) fn try_lock(path: &Path) -> bool {
    matches!(Lock::try_exclusive(path), Ok(Some(_)))
}

pub(crate) fn list(dir: &Path) -> Result<Vec<(String, PathBuf)>, GcError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(GcError::List {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(|source| GcError::List {
            path: dir.to_path_buf(),
            source,
        })?;
        out.push((e.file_name().to_string_lossy().into_owned(), e.path()));
    }
    out.sort();
    Ok(out)
}

/// Has `path` been there (ctime: changed, or renamed into place) for at least `grace`.
pub(crate) fn older_than(path: &Path, grace: Duration) -> bool {
    if grace.is_zero() {
        return true;
    }
    let Ok(m) = fs::symlink_metadata(path) else {
        return false;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(i64::MAX);
    now.saturating_sub(m.ctime()) >= grace.as_secs() as i64
}

pub(crate) fn sweep_blob(
    layout: &ImageLayout,
    d: &Digest,
    dry: bool,
    r: &mut Report,
) -> Result<(), GcError> {
    let path = layout.blob_path(d);
    let Ok(m) = fs::symlink_metadata(&path) else {
        return Ok(());
    };
    if !dry {
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(GcError::Remove { path, source }),
        }
    }
    r.bytes += m.len();
    r.blobs.push(d.clone());
    Ok(())
}

pub(crate) fn sweep_layer(
    store: &Store,
    d: &Digest,
    dry: bool,
    r: &mut Report,
) -> Result<(), GcError> {
    let path = store.layer(d);
    if !path.is_dir() {
        return Ok(());
    }
    let size = tree_size(&path);
    if !dry {
        // The extraction lock keeps ct-unpack from finding the layer half gone.
        let lock_path = store.layer_lock(d);
        // Its lock file goes with the layer (once it is gone: see the end of this block).
        let _lock = Lock::exclusive(&lock_path)
            .map_err(|source| GcError::Lock {
                path: lock_path.clone(),
                source,
            })?
            .remove_on_drop(&lock_path);
        let tmp_root = store.layers_tmp();
        fs::create_dir_all(&tmp_root).map_err(|source| GcError::Remove {
            path: tmp_root.clone(),
            source,
        })?;
        let doomed = store.layer_doomed(d, &ct_layout::paths::new_id());
        fs::rename(&path, &doomed).map_err(|source| GcError::Remove {
            path: path.clone(),
            source,
        })?;
        fs::remove_dir_all(&doomed).map_err(|source| GcError::Remove {
            path: doomed.clone(),
            source,
        })?;
    }
    r.bytes += size;
    r.layers.push(d.clone());
    Ok(())
}

pub(crate) fn remove_temp(path: &Path, dry: bool, r: &mut Report) -> Result<(), GcError> {
    let is_dir = fs::symlink_metadata(path)
        .map(|m| m.is_dir())
        .unwrap_or(false);
    r.bytes += if is_dir {
        tree_size(path)
    } else {
        fs::symlink_metadata(path).map(|m| m.len()).unwrap_or(0)
    };
    if !dry {
        let res = if is_dir {
            fs::remove_dir_all(path)
        } else {
            fs::remove_file(path)
        };
        match res {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(GcError::Remove {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
    }
    r.temp.push(path.to_path_buf());
    Ok(())
}

/// Bytes in regular files below `dir` (not following symlinks; bounded by the tree itself).
pub(crate) fn tree_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map(|m| m.len()).unwrap_or(0),
                _ => {}
            }
        }
    }
    total
}
