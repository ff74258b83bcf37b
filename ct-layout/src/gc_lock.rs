//! The store-wide garbage-collection lock, `$CT_ROOT/locks/gc.lock` (`flock(2)`).
//!
//! Collecting garbage is mark and sweep: ct-gc marks every blob and layer reachable from
//! `index.json` and from the bundles' `ct.json`, then deletes the rest. A writer that lands a
//! blob or a layer *before* it is referenced (ct-pull lands blobs, then names the image in
//! `index.json`; ct-unpack extracts layers, then writes the bundle) would lose it to a sweep
//! in between. So:
//!
//! 1. such a writer holds [`hold_off`] (a shared lock) from before it lands the first blob or
//!    layer until the reference is written — many writers at once;
//! 2. ct-gc holds [`collect`] (the exclusive lock) for its whole mark and sweep.
//!
//! ct-gc also skips anything younger than its grace period, for writers that do not take the
//! lock.

use std::io;

use crate::lock::Lock;
use crate::paths::Store;

/// `$CT_ROOT/locks/gc.lock`.
pub fn path(store: &Store) -> std::path::PathBuf {
    store.locks().join("gc.lock")
}

/// Keep the collector away while this is held (shared: writers do not exclude each other).
pub fn hold_off(store: &Store) -> io::Result<Lock> {
    Lock::shared(path(store))
}

/// The collector's exclusive lock; blocks until no writer holds [`hold_off`].
pub fn collect(store: &Store) -> io::Result<Lock> {
    Lock::exclusive(path(store))
}
