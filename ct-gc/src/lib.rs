//! ct-gc: the one tool that deletes from the image store. Mark and sweep over the OCI image
//! layout in `$CT_ROOT/images` and the layer store in `$CT_ROOT/layers`:
//!
//! 1. take `$CT_ROOT/locks/gc.lock` exclusively ([`ct_layout::gc_lock`]: writers that land
//!    blobs or layers before naming them hold it shared), then `locks/images.lock`, the lock
//!    every writer of `index.json` takes — so no pull names an image while we decide;
//! 2. `rmi`: drop the names from `index.json` (temp file + rename), refusing an image a
//!    container was made from unless forced;
//! 3. mark ([`reachability`]): what `index.json` and every bundle's `ct.json` still reach;
//! 4. sweep: unmarked blobs (a file unlink is atomic); unmarked layers, each first renamed
//!    into `layers/tmp/` under its extraction lock and only then deleted, so a crash halfway
//!    never leaves a half-deleted directory that looks like a complete layer; leftovers of
//!    interrupted downloads and extractions whose lock nobody holds; stale mounts
//!    ([`stale_mount`]); see `sweep.rs`.
//!
//! `rmi` sweeps only what the removed images reached. `prune` sweeps everything unreachable
//! that is older than the grace period (by ctime, which `rename(2)` sets when a blob or layer
//! lands), for writers that do not take the gc lock.

pub mod cli;
pub mod reachability;
pub mod stale_mount;
mod sweep;

use sweep::{list, older_than, remove_temp, sweep_blob, sweep_layer, try_lock};

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ct_layout::bundle::BundleError;
use ct_layout::image_layout::{digest_of, ref_name, ImageLayout, LayoutError};
use ct_layout::lock::Lock;
use ct_layout::paths::LayerTemp;
use ct_layout::{atomic, gc_lock, Digest, Store};

#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error("cannot release the network leases of removed containers")]
    Leases(#[source] Box<ct_net::Error>),
    #[error("cannot lock '{path}'")]
    Lock {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read the image store")]
    Layout(#[source] LayoutError),
    #[error("no image '{0}' in the store")]
    NoImage(String),
    #[error("image '{image}' is used by container '{container}'")]
    InUse { image: String, container: String },
    #[error("cannot read ct.json of container '{id}'")]
    Note {
        id: String,
        #[source]
        source: BundleError,
    },
    #[error("cannot read {digest} (reached from {from}); nothing was removed")]
    Walk {
        from: String,
        digest: Digest,
        #[source]
        source: LayoutError,
    },
    #[error("cannot list '{path}'")]
    List {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write '{path}'")]
    WriteIndex {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot remove '{path}'")]
    Remove {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read '{path}'")]
    Mountinfo {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot unmount '{path}'")]
    Unmount {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl GcError {
    pub fn hints(&self) -> Vec<&'static str> {
        match self {
            GcError::InUse { .. } => vec![
                "remove the container first (ct rm ID), or drop only the name with -f (its blobs stay while the container does)",
            ],
            GcError::NoImage(_) => vec!["list the images with: ct-ls images"],
            _ => vec![],
        }
    }
}

impl ct_layout::tool::Failure for GcError {
    fn hints(&self) -> Vec<String> {
        GcError::hints(self)
            .into_iter()
            .map(str::to_string)
            .collect()
    }
}

/// What a run removed (or, with `dry_run`, would remove).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub untagged: Vec<String>,
    pub blobs: Vec<Digest>,
    pub layers: Vec<Digest>,
    pub temp: Vec<PathBuf>,
    pub mounts: Vec<PathBuf>,
    /// Network leases of this store's removed or dead containers (`ct_net::gc_leases`).
    pub leases: Vec<ct_net::Released>,
    pub bytes: u64,
}

impl Report {
    /// One line for humans and scripts.
    pub fn summary(&self, dry_run: bool) -> String {
        format!(
            "{} {} blobs, {} layers, {} temp files, {} mounts; {} bytes",
            if dry_run { "would remove" } else { "removed" },
            self.blobs.len(),
            self.layers.len(),
            self.temp.len(),
            self.mounts.len(),
            self.bytes
        )
    }
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Leave what is younger than this (prune only).
    pub grace: Duration,
    /// Only report what would be removed.
    pub dry_run: bool,
}

/// The two locks of step 1, held together.
struct Held {
    _gc: Lock,
    _images: Option<Lock>,
}

fn lock_store(store: &Store, layout: &ImageLayout) -> Result<Held, GcError> {
    let gc = gc_lock::collect(store).map_err(|source| GcError::Lock {
        path: gc_lock::path(store),
        source,
    })?;
    let images = if layout.exists() {
        Some(layout.lock().map_err(GcError::Layout)?)
    } else {
        None
    };
    Ok(Held {
        _gc: gc,
        _images: images,
    })
}

/// `ct-gc rmi`: forget the images named by `inputs` (a name as docker reads it, or a manifest
/// digest prefix) and delete what only they used.
pub fn rmi(
    store: &Store,
    inputs: &[String],
    force: bool,
    opts: &Options,
) -> Result<Report, GcError> {
    let layout = ImageLayout::of_store(store);
    let _held = lock_store(store, &layout)?;
    if !layout.exists() {
        return Err(GcError::NoImage(
            inputs.first().cloned().unwrap_or_default(),
        ));
    }
    let before = reachability::mark(store, &layout, &[])?;
    let mut names = Vec::new();
    for input in inputs {
        let (name, desc) = layout
            .resolve(input)
            .map_err(GcError::Layout)?
            .ok_or_else(|| GcError::NoImage(input.clone()))?;
        if !force {
            let by_digest = digest_of(&desc)
                .ok()
                .and_then(|d| before.users.get(&d).cloned());
            let by_name = before.users_by_name.get(&name).cloned();
            if let Some(c) = by_digest.or(by_name).and_then(|v| v.into_iter().next()) {
                return Err(GcError::InUse {
                    image: name,
                    container: c,
                });
            }
        }
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let mut report = Report {
        untagged: names.clone(),
        ..Report::default()
    };
    if !opts.dry_run {
        let mut index = layout.read_index().map_err(GcError::Layout)?;
        let kept: Vec<_> = index
            .manifests()
            .iter()
            .filter(|d| !ref_name(d).is_some_and(|n| names.iter().any(|x| x == n)))
            .cloned()
            .collect();
        index.set_manifests(kept);
        let path = layout.index_path();
        atomic::write_json(&path, &index).map_err(|source| GcError::WriteIndex { path, source })?;
    }
    let after = reachability::mark(store, &layout, &names)?;
    let blobs: BTreeSet<_> = before.blobs.difference(&after.blobs).cloned().collect();
    let layers: BTreeSet<_> = before.layers.difference(&after.layers).cloned().collect();
    for d in blobs {
        sweep_blob(&layout, &d, opts.dry_run, &mut report)?;
    }
    for d in layers {
        sweep_layer(store, &d, opts.dry_run, &mut report)?;
    }
    Ok(report)
}

/// `ct-gc prune`: delete every unreachable blob and layer older than the grace period,
/// leftovers of interrupted downloads and extractions, and stale mounts.
pub fn prune(store: &Store, opts: &Options) -> Result<Report, GcError> {
    let layout = ImageLayout::of_store(store);
    let _held = lock_store(store, &layout)?;
    let mut report = Report::default();
    // Mounts first: a stale overlay keeps its layers busy.
    for m in stale_mount::find(store)? {
        if !opts.dry_run {
            stale_mount::unmount(&m)?;
        }
        report.mounts.push(m);
    }
    // Addresses, ports, veths and namespaces of this store's containers that are gone.
    report.leases =
        ct_net::gc_leases(store, opts.dry_run).map_err(|e| GcError::Leases(Box::new(e)))?;
    let marked = reachability::mark(store, &layout, &[])?;
    let old = |p: &Path| older_than(p, opts.grace);

    let blob_dir = layout.dir.join("blobs/sha256");
    for (name, path) in list(&blob_dir)? {
        match format!("sha256:{name}").parse::<Digest>() {
            Ok(d) if !marked.blobs.contains(&d) && old(&path) => {
                sweep_blob(&layout, &d, opts.dry_run, &mut report)?
            }
            Ok(_) => {}
            // A stray temp file of an atomic write that was interrupted.
            Err(_) if old(&path) => remove_temp(&path, opts.dry_run, &mut report)?,
            Err(_) => {}
        }
    }
    let layer_dir = store.layers().join("sha256");
    for (name, path) in list(&layer_dir)? {
        if let Ok(d) = format!("sha256:{name}").parse::<Digest>() {
            if !marked.layers.contains(&d) && old(&path) {
                sweep_layer(store, &d, opts.dry_run, &mut report)?;
            }
        }
    }
    // Interrupted extractions: `HEX-SUFFIX` under the layer's extraction lock, or ours.
    for (name, path) in list(&store.layers_tmp())? {
        let remove = match LayerTemp::of(&name) {
            LayerTemp::Doomed => true,
            LayerTemp::Extraction(hex) => {
                // Free unless its extractor holds the layer's lock (a name that is no digest
                // is nobody's).
                let free = match format!("sha256:{hex}").parse::<Digest>() {
                    Ok(d) => try_lock(&store.layer_lock(&d)),
                    Err(_) => true,
                };
                free && old(&path)
            }
        };
        if remove {
            remove_temp(&path, opts.dry_run, &mut report)?;
        }
    }
    // Interrupted downloads: `HEX.partial` locked by its downloader, import temp dirs.
    for (name, path) in list(&store.root.join("tmp"))? {
        let free = !name.ends_with(".partial") || try_lock(&path);
        if free && old(&path) {
            remove_temp(&path, opts.dry_run, &mut report)?;
        }
    }
    // The per-bundle, per-layer and per-name (`ct run --name`) lock files nobody holds: left
    // by a killed ct-unpack or ct, by a rename, or by versions that kept them all. Deleted
    // while held ([`Lock::remove_on_drop`]); every taker of these checks that the file it
    // locked is still the one the name leads to.
    if !opts.dry_run {
        for (name, path) in list(&store.locks())? {
            let one_use = name.ends_with(".lock")
                && ["container-", "layer-", "run-"]
                    .iter()
                    .any(|p| name.starts_with(p));
            if one_use {
                if let Ok(Some(l)) = Lock::try_exclusive(&path) {
                    drop(l.remove_on_drop(&path));
                }
            }
        }
    }
    Ok(report)
}
