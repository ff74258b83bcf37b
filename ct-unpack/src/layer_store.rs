//! The layer store, `$CT_ROOT/layers/sha256/HEX`: each layer extracted once, keyed by its
//! diff_id (the sha256 of the uncompressed tar), so the gzip and the zstd copy of one layer are
//! one directory, shared read-only by every image and container (they are overlayfs lower dirs).
//!
//! Extracting one layer, crash-safe and race-free:
//! 1. Take `$CT_ROOT/locks/layer-HEX.lock` (`flock(2)`), so two ct-unpacks never extract the
//!    same layer at once; if the layer appeared meanwhile, done.
//! 2. Remove leftovers of crashed extractions of this layer (`layers/tmp/HEX-*`): nobody else
//!    can own them while we hold the lock.
//! 3. Extract into a fresh `layers/tmp/HEX-RANDOM`. A helper thread decompresses the stream
//!    ahead of the tar reader, which hashes it (to the end of the stream, past the tar's end
//!    marker), so inflate and file creation overlap (`decompress_ahead.rs`). Meanwhile a
//!    background `syncfs` every 100 ms writes what is extracted to the disk
//!    (`ct_layout::writeback`), so the disk works while the CPU does.
//! 4. Compare with the diff_id; on mismatch delete the temp dir and fail.
//! 5. A last `syncfs(2)` for the whole tree (cheaper than an fsync per file; it finds little
//!    left after the background ones, and reports any writeback error since step 3 began),
//!    `rename(2)` into `layers/sha256/HEX`, fsync `layers/sha256`. Until that rename the layer
//!    does not exist.
//!    When one unpack extracts several layers, step 5 runs once for all of them ([`commit`]).
//!
//! Step 3 stops, and the temp dir goes, when the layer would take the file system under its
//! free-space reserve or past `--max-layer-size` (`ct_layout::free_space`): a decompression
//! bomb fills neither the disk nor `layers/tmp`.
//!
//! Independent layers are extracted in parallel, one thread per CPU (at least two), largest
//! first.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ct_layout::free_space::{self, Limits, Meter, Stopped};
use ct_layout::image_layout::ImageLayout;
use ct_layout::io_error::IoAt;
use ct_layout::lock::Lock;
use ct_layout::writeback::Flusher;
use ct_layout::{Digest, Store};

use crate::compression;
use crate::decompress_ahead::decompress_ahead;
use crate::image_manifest::Layer;
use crate::tar_extract::{ExtractError, Extractor, Stats, Target};

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error(transparent)]
    Io(#[from] IoAt),
    #[error("layer {blob}: missing from the image store (pull the image again)")]
    MissingBlob { blob: Digest },
    #[error("layer {blob}")]
    Extract {
        blob: Digest,
        #[source]
        source: ExtractError,
    },
    #[error("layer {blob}: {stopped}")]
    Stopped { blob: Digest, stopped: Stopped },
    #[error("layer {blob}: uncompressed content is {actual}, the image says {expected}")]
    DiffId {
        blob: Digest,
        expected: Digest,
        actual: Digest,
    },
}

/// Removes a directory tree on drop unless disarmed: an interrupted or failed extraction leaves
/// nothing behind.
pub struct TempTree {
    path: Option<PathBuf>,
}

impl TempTree {
    pub fn new(path: PathBuf) -> TempTree {
        TempTree { path: Some(path) }
    }
    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }
    pub fn disarm(mut self) -> PathBuf {
        self.path.take().unwrap_or_default()
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        if let Some(p) = &self.path {
            let _ = fs::remove_dir_all(p);
        }
    }
}

/// A meter for one layer extracted into `dir` (`ct_layout::free_space`).
fn meter(dir: &Path, layer: &Layer, limits: Limits) -> Result<Meter, LayerError> {
    Meter::new(dir, limits).map_err(|e| match free_space::stopped(&e) {
        Some(stopped) => LayerError::Stopped {
            blob: layer.blob.clone(),
            stopped: stopped.clone(),
        },
        None => IoAt::at("check the free space of", dir)(e).into(),
    })
}

/// Open the blob of `layer` and stream its tar through `extractor`, verifying the diff_id.
/// The extraction stops, with [`LayerError::Stopped`], when it would take the file system of
/// `dir` under its reserve or the layer past `limits.max_size`.
pub fn apply_verified(
    layout: &ImageLayout,
    layer: &Layer,
    extractor: &mut Extractor,
    dir: &Path,
    limits: Limits,
) -> Result<Stats, LayerError> {
    extractor.set_meter(Some(meter(dir, layer, limits)?));
    let path = layout.blob_path(&layer.blob);
    let file = File::open(&path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => LayerError::MissingBlob {
            blob: layer.blob.clone(),
        },
        _ => IoAt::at("open", &path)(e).into(),
    })?;
    let reader =
        compression::open(file, layer.compression).map_err(IoAt::at("decompress", &path))?;
    let (mut chunks, producer) = decompress_ahead(reader);
    let applied = extractor.apply(&mut chunks);
    // Past the tar's end marker to the end of the stream, so the hash covers every byte.
    let drained = applied
        .is_ok()
        .then(|| io::copy(&mut chunks, &mut io::sink()));
    let actual = chunks.digest();
    drop(chunks);
    let decompressed = producer
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("decompression thread panicked")));
    let stats = applied.map_err(|source| match free_space::stopped(&source.source) {
        Some(stopped) => LayerError::Stopped {
            blob: layer.blob.clone(),
            stopped: stopped.clone(),
        },
        None => LayerError::Extract {
            blob: layer.blob.clone(),
            source,
        },
    })?;
    if let Some(Err(e)) = drained {
        return Err(IoAt::at("decompress", &path)(e).into());
    }
    decompressed.map_err(IoAt::at("decompress", &path))?;
    if actual != layer.diff_id {
        return Err(LayerError::DiffId {
            blob: layer.blob.clone(),
            expected: layer.diff_id.clone(),
            actual,
        });
    }
    Ok(stats)
}

fn random_suffix() -> String {
    ct_layout::paths::new_id()
}

/// `syncfs(2)` on the filesystem holding `path`: one flush for a whole new tree.
pub fn syncfs(path: &Path) -> io::Result<()> {
    let f = File::open(path)?;
    Ok(rustix::fs::syncfs(&f)?)
}

/// Is layer `diff_id` complete in the store.
pub fn present(store: &Store, diff_id: &Digest) -> bool {
    store.layer(diff_id).is_dir()
}

/// A layer extracted and verified in `layers/tmp/`, not yet in the store: its lock is still
/// held, and dropping it removes the tree.
pub struct Extracted {
    _lock: Lock,
    tmp: TempTree,
    dest: PathBuf,
}

/// What [`extract`] found.
pub enum Outcome {
    /// The layer is in the store already (found, or landed by another process meanwhile).
    Present,
    /// Another process holds the layer's lock (only with `wait: false`).
    Busy,
    /// Extracted here, to be committed with [`commit`].
    Extracted(Extracted),
}

/// Steps 1-4 for one layer: lock it (blocking when `wait`, else giving up with
/// [`Outcome::Busy`]), clear crashed leftovers, extract and verify into `layers/tmp/`.
pub fn extract(
    store: &Store,
    layout: &ImageLayout,
    layer: &Layer,
    limits: Limits,
    wait: bool,
) -> Result<Outcome, LayerError> {
    let dest = store.layer(&layer.diff_id);
    if dest.is_dir() {
        return Ok(Outcome::Present);
    }
    let lock_path = store.layer_lock(&layer.diff_id);
    let lock = if wait {
        Lock::exclusive(&lock_path).map_err(IoAt::at("lock", &lock_path))?
    } else {
        match Lock::try_exclusive(&lock_path).map_err(IoAt::at("lock", &lock_path))? {
            Some(l) => l,
            None => return Ok(Outcome::Busy),
        }
    };
    if dest.is_dir() {
        return Ok(Outcome::Present);
    }
    let tmp_root = store.layers_tmp();
    fs::create_dir_all(&tmp_root).map_err(IoAt::at("create", &tmp_root))?;
    if let Ok(rd) = fs::read_dir(&tmp_root) {
        let prefix = ct_layout::paths::extraction_prefix(&layer.diff_id);
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
    let tmp = TempTree::new(store.layer_extraction(&layer.diff_id, &random_suffix()));
    fs::create_dir(tmp.path()).map_err(IoAt::at("create", tmp.path()))?;
    fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .map_err(IoAt::at("chmod", tmp.path()))?;
    let mut ex = Extractor::new(tmp.path(), Target::Layer).map_err(IoAt::at("open", tmp.path()))?;
    apply_verified(layout, layer, &mut ex, tmp.path(), limits)?;
    Ok(Outcome::Extracted(Extracted {
        _lock: lock,
        tmp,
        dest,
    }))
}

/// Start the background flushes of step 3 on the file system of `layers/tmp/` (created).
pub fn start_flusher(store: &Store) -> Result<Flusher, LayerError> {
    let tmp_root = store.layers_tmp();
    fs::create_dir_all(&tmp_root).map_err(IoAt::at("create", &tmp_root))?;
    Ok(Flusher::start(&tmp_root).map_err(IoAt::at("open", &tmp_root))?)
}

/// Step 5 for a batch of extracted layers: stop `flusher` and sync ONCE for all their trees
/// (the error of any flush since it started), then each is renamed into `layers/sha256/`, then
/// one fsync of that directory. A layer directory never exists before its content is on the
/// disk.
pub fn commit(store: &Store, batch: Vec<Extracted>, flusher: Flusher) -> Result<(), LayerError> {
    if batch.is_empty() {
        return Ok(());
    }
    let tmp_root = store.layers_tmp();
    flusher.finish().map_err(IoAt::at("sync", &tmp_root))?;
    let parent = store.layers().join("sha256");
    fs::create_dir_all(&parent).map_err(IoAt::at("create", &parent))?;
    for e in batch {
        let src = e.tmp.disarm();
        if let Err(err) = fs::rename(&src, &e.dest) {
            let _ = fs::remove_dir_all(&src);
            return Err(IoAt::at("move into place", &e.dest)(err).into());
        }
    }
    Ok(ct_layout::atomic::sync_dir(&parent).map_err(IoAt::at("sync", &parent))?)
}

/// Make sure one layer is in the store. Returns true when this call extracted it.
pub fn ensure(
    store: &Store,
    layout: &ImageLayout,
    layer: &Layer,
    limits: Limits,
) -> Result<bool, LayerError> {
    let flusher = start_flusher(store)?;
    match extract(store, layout, layer, limits, true)? {
        Outcome::Extracted(e) => commit(store, vec![e], flusher).map(|_| true),
        Outcome::Present | Outcome::Busy => Ok(false),
    }
}

/// Make sure all `layers` are in the store, extracting missing ones in parallel. Returns how
/// many were extracted by this call.
///
/// The layers extracted here are made durable together ([`commit`]: one `syncfs` for all).
/// Their locks are held until then, so a layer whose lock another process holds is not waited
/// for meanwhile (two processes each holding one layer and waiting for the other's would
/// deadlock): it is left for after the batch, and then waited for on its own.
pub fn ensure_all(
    store: &Store,
    layout: &ImageLayout,
    layers: &[Layer],
    limits: Limits,
) -> Result<usize, LayerError> {
    let mut todo: Vec<&Layer> = Vec::new();
    for l in layers {
        if !present(store, &l.diff_id) && !todo.iter().any(|t| t.diff_id == l.diff_id) {
            todo.push(l);
        }
    }
    if todo.is_empty() {
        return Ok(0);
    }
    // Largest first, so the long one starts early and the small ones fill the gaps.
    todo.sort_by_key(|l| std::cmp::Reverse(l.size));
    // At least two workers even on one CPU: a layer read from a slow disk leaves the CPU idle.
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(2)
        .min(todo.len());
    let queue = Mutex::new(todo.into_iter());
    let batch: Mutex<Vec<Extracted>> = Mutex::new(Vec::new());
    let busy: Mutex<Vec<&Layer>> = Mutex::new(Vec::new());
    let failed: Mutex<Option<LayerError>> = Mutex::new(None);
    let flusher = start_flusher(store)?;
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                if failed.lock().map(|f| f.is_some()).unwrap_or(true) {
                    return;
                }
                let next = queue.lock().ok().and_then(|mut q| q.next());
                let Some(layer) = next else { return };
                match extract(store, layout, layer, limits, false) {
                    Ok(Outcome::Extracted(e)) => {
                        if let Ok(mut b) = batch.lock() {
                            b.push(e);
                        }
                    }
                    Ok(Outcome::Busy) => {
                        if let Ok(mut b) = busy.lock() {
                            b.push(layer);
                        }
                    }
                    Ok(Outcome::Present) => {}
                    Err(e) => {
                        if let Ok(mut f) = failed.lock() {
                            f.get_or_insert(e);
                        }
                        return;
                    }
                }
            });
        }
    });
    // On failure the extracted trees are dropped, which removes them.
    if let Some(e) = failed.into_inner().ok().flatten() {
        return Err(e);
    }
    let batch = batch.into_inner().unwrap_or_default();
    let mut done = batch.len();
    commit(store, batch, flusher)?;
    for layer in busy.into_inner().unwrap_or_default() {
        if ensure(store, layout, layer, limits)? {
            done += 1;
        }
    }
    Ok(done)
}
