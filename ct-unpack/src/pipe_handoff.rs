//! `ct-pull IMG | ct-unpack`, overlapped: while ct-unpack waits for its one line on a pipe, it
//! extracts the layers ct-pull has already landed (the contract is
//! `ct_layout::pipe_handoff`; `docs/LAYOUT.md` "The pipe protocol").
//!
//! In order:
//! 1. stdin is a pipe (`fstat(2)`, `S_ISFIFO`): its pipefs inode is the key; else read the line
//!    as always.
//! 2. A thread reads the line; meanwhile, every [`POLL`], look for the manifest a live ct-pull
//!    announced for that inode, then read its config from the store (ct-pull lands the config
//!    before it announces, and `read_json` checks its digest).
//! 3. Holding `locks/gc.lock` shared (as the unpack itself does), start one extraction per
//!    layer whose blob is in `blobs/` (landed means verified), at most one per CPU (at least
//!    two). Each is [`layer_store::ensure`]: the same layer lock, free-space and size limits,
//!    containment and diff_id check as any other extraction.
//! 4. When the line arrives (or stdin ends), start no more; the unpack runs at once, and finds
//!    the layers done, or waits on the layer lock of one still being extracted.
//!
//! An early extraction that fails is not reported here: the unpack that follows extracts that
//! layer again and reports its error as it always would.

use std::collections::HashSet;
use std::io;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use ct_layout::free_space::Limits;
use ct_layout::image_layout::ImageLayout;
use ct_layout::pipe::{self, InputError};
use ct_layout::{Digest, Store};

use crate::image_manifest::{self, Layer};
use crate::layer_store;

/// How often the store is looked at while the line has not come.
pub const POLL: Duration = Duration::from_millis(20);
/// A manifest larger than this is not an image manifest ct-pull would store.
const MAX_MANIFEST: u64 = 4 << 20;

const WHAT: &str = "image reference";

/// Read the image reference from stdin, extracting the layers a `ct-pull` upstream announces
/// while it comes, then hand it to `then` (which runs while late early extractions finish).
pub fn with_stdin<T>(
    store: &Store,
    limits: Limits,
    verbose: bool,
    then: impl FnOnce(Result<String, InputError>) -> T,
) -> T {
    let Some(inode) = ct_layout::pipe_handoff::pipe_inode(io::stdin().as_fd()) else {
        return then(pipe::input(None, WHAT));
    };
    let layout = ImageLayout::of_store(store);
    let running = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(2);
    let mut gc = None;
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel();
        s.spawn(move || {
            let _ = tx.send(pipe::input(None, WHAT));
        });
        let mut layers: Option<Vec<Layer>> = None;
        let mut started: HashSet<Digest> = HashSet::new();
        let line = loop {
            match rx.recv_timeout(POLL) {
                Ok(line) => break line,
                Err(mpsc::RecvTimeoutError::Disconnected) => break Err(InputError::Missing(WHAT)),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if layers.is_none() {
                layers = announced(store, &layout, inode);
                if layers.is_some() {
                    match ct_layout::gc_lock::hold_off(store) {
                        Ok(l) => gc = Some(l),
                        // Without the hold on ct-gc, nothing is extracted early.
                        Err(_) => layers = Some(Vec::new()),
                    }
                }
            }
            for layer in layers.iter().flatten() {
                if running.load(Ordering::SeqCst) >= threads {
                    break;
                }
                if started.contains(&layer.diff_id)
                    || !layout.has_blob(&layer.blob, Some(layer.size))
                    || layer_store::present(store, &layer.diff_id)
                {
                    continue;
                }
                started.insert(layer.diff_id.clone());
                running.fetch_add(1, Ordering::SeqCst);
                let (layout, running) = (&layout, &running);
                let layer = layer.clone();
                s.spawn(move || {
                    let r = layer_store::ensure(store, layout, &layer, limits);
                    if verbose && matches!(r, Ok(true)) {
                        eprintln!(
                            "ct-unpack: layer {} extracted while the pull runs",
                            layer.diff_id.short()
                        );
                    }
                    running.fetch_sub(1, Ordering::SeqCst);
                });
            }
        };
        then(line)
    })
}

/// The layers of the manifest a live ct-pull announced for pipe `inode`, once its config is in
/// the store.
fn announced(store: &Store, layout: &ImageLayout, inode: u64) -> Option<Vec<Layer>> {
    let bytes = ct_layout::pipe_handoff::read_live(store, inode, MAX_MANIFEST)?;
    let manifest: ct_layout::image_docs::Document = serde_json::from_slice(&bytes).ok()?;
    let image =
        image_manifest::from_manifest(layout, "(pipe)".into(), Digest::of(&bytes), &manifest)
            .ok()?;
    Some(image.layers)
}
