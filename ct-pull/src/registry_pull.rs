//! A pull from a registry, in order:
//!
//! 1. a reference pinned by digest whose manifest is already in the store needs no network;
//! 2. ping `/v2/`, learn the auth scheme (`distribution.rs`, `token_auth.rs`);
//! 3. GET the manifest by tag or digest; an index picks one manifest by platform
//!    (`platform.rs`) — fetched only if the store lacks it;
//! 4. the config (size-capped, checked to be JSON) unless present;
//! 5. the missing layers, several at once (`--jobs`), each verified while it streams
//!    (`verified_blob.rs`) and renamed into `blobs/` as soon as it is complete; when stdout is
//!    a pipe, the manifest is announced for the `ct-unpack` reading it, which extracts each
//!    layer as it lands (`ct_layout::pipe_handoff`);
//! 6. one `syncfs(2)` makes the layers durable (background ones every 100 ms during step 5
//!    leave it little to do), then the manifest blob is written last — a manifest in the
//!    store means its blobs are there too;
//! 7. name it in `index.json` under the canonical name, under the layout's lock.
//!
//! From step 3's answer to step 7 it holds `locks/gc.lock` shared ([`crate::hold_off_gc`]), so
//! `ct-gc` never sweeps a blob this pull landed or reused but has not named yet.

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use ct_layout::digest::Digest;
use ct_layout::image_layout::ImageLayout;
use ct_layout::reference::Reference;
use ct_layout::Store;

use crate::credentials;
use crate::distribution::RegistryClient;
use crate::error::PullError;
use crate::http_retry::read_capped;
use crate::manifest::{self, CheckedDigest, Kind};
use crate::progress::Progress;
use crate::verified_blob;
use crate::Options;
use ct_layout::platform::Platform;

/// Pull `reference` into `layout`; returns the reference pinned to the manifest digest.
pub fn pull(
    reference: &Reference,
    opts: &Options,
    store: &Store,
    layout: &ImageLayout,
    progress: &Progress,
) -> Result<Reference, PullError> {
    let name = reference.to_string();
    if let Some(d) = &reference.digest {
        // Present blobs are reused: keep ct-gc away until the name is written.
        let _gc = crate::hold_off_gc(store)?;
        if let Some(desc) = present_manifest(layout, d)? {
            crate::name_image(layout, reference, d, desc)?;
            return Ok(pinned(reference, d));
        }
    }
    let creds = credentials::lookup(opts.creds.as_ref(), &reference.domain)?;
    let reg = RegistryClient::connect(reference, &opts.http, creds)?;
    let top = reg.manifest(&reference.manifest_reference(), &format!("manifest {name}"))?;
    // From the first look at the store (blobs found present are reused, not fetched) until
    // the name is in `index.json`, a ct-gc sweep must wait; the network round trips above
    // touch nothing in the store, so they run outside the lock.
    let _gc = crate::hold_off_gc(store)?;
    let (bytes, media_type, digest, mut platform) = match manifest::kind(&top.media_type) {
        Some(Kind::Index) => {
            let index = manifest::parse_index(&top.bytes, &format!("index {name}"))?;
            let want = opts.platform.clone().unwrap_or_else(Platform::host);
            let entry = manifest::select_platform(&index.manifests, &want, &name)?;
            let what = format!("manifest {} of {name}", entry.digest);
            if manifest::kind(&entry.media_type) != Some(Kind::Manifest) {
                return Err(PullError::MediaType {
                    what,
                    media_type: entry.media_type.clone(),
                });
            }
            if entry.size > manifest::MAX_MANIFEST {
                return Err(PullError::TooLarge {
                    what,
                    limit: manifest::MAX_MANIFEST,
                });
            }
            let d = entry.checked_digest(&what)?;
            let bytes = if layout.has_blob(&d, Some(entry.size)) {
                layout.read_blob(&d)?
            } else {
                reg.manifest(d.as_str(), &what)?.bytes
            };
            (bytes, entry.media_type.clone(), d, entry.platform.clone())
        }
        Some(Kind::Manifest) => (top.bytes, top.media_type, top.digest, None),
        None => {
            return Err(PullError::MediaType {
                what: format!("manifest {name}"),
                media_type: top.media_type,
            })
        }
    };
    let what = format!("manifest {digest} of {name}");
    let m = manifest::parse_manifest(&bytes, &what)?;

    let config_digest = m.config.checked_digest(&what)?;
    if !layout.has_blob(&config_digest, Some(m.config.size)) {
        let resp = reg.blob(&config_digest, 0)?;
        let url = resp.url().to_string();
        let cfg = read_capped(
            resp,
            manifest::MAX_CONFIG,
            &format!("config {config_digest}"),
            &url,
        )?;
        let got = Digest::of(&cfg);
        if got != config_digest {
            return Err(PullError::DigestMismatch {
                digest: config_digest,
                got,
            });
        }
        if cfg.len() as u64 != m.config.size {
            return Err(PullError::SizeMismatch {
                digest: config_digest,
                expected: m.config.size,
                got: cfg.len() as u64,
            });
        }
        manifest::check_config(&cfg, &format!("config {config_digest} of {name}"))?;
        layout.write_blob(&cfg)?;
    }
    if platform.is_none() {
        platform = config_platform(layout, &config_digest);
        // A single-platform image asked for another platform: refuse, as docker does.
        if let (Some(want), Some(have)) = (&opts.platform, &platform) {
            if !want.accepts(have) {
                return Err(PullError::NoPlatform {
                    reference: name,
                    wanted: want.to_string(),
                    offered: have.to_string(),
                });
            }
        }
    }

    let mut layers = Vec::new();
    for l in &m.layers {
        let d = l.checked_digest(&what)?;
        if !layout.has_blob(&d, Some(l.size)) && !layers.iter().any(|(x, _)| *x == d) {
            layers.push((d, l.size));
        }
    }
    // A `ct-unpack` reading our stdout may extract each layer as soon as it lands, while the
    // others still download (`ct_layout::pipe_handoff`). Best effort: without it, the pipe
    // works as it always did.
    let _announced = ct_layout::pipe_handoff::pipe_inode(std::io::stdout().as_fd())
        .and_then(|ino| ct_layout::pipe_handoff::announce(store, ino, &bytes).ok());
    let flusher = match layers.is_empty() {
        true => None,
        false => Some(verified_blob::start_flusher(layout)?),
    };
    download_all(&reg, layout, &layers, opts, progress)?;

    // Layers are renamed into `blobs/` without an fsync each: one syncfs(2) makes all of them
    // durable before the manifest that vouches for them is written — also the ones found
    // present, which a pull killed before its own syncfs may have left in the page cache.
    if let Some(f) = flusher {
        f.finish()
            .map_err(ct_layout::io_error::IoAt::at("sync", layout.tmp_dir()))?;
    } else if !layout.has_blob(&digest, Some(bytes.len() as u64)) {
        verified_blob::sync_store(layout)?;
    }
    layout.write_blob(&bytes)?;
    let desc = crate::descriptor(&media_type, &digest, bytes.len() as u64, platform.as_ref())?;
    crate::name_image(layout, reference, &digest, desc)?;
    Ok(pinned(reference, &digest))
}

/// The reference with the manifest digest (the tag, if any, kept).
fn pinned(reference: &Reference, digest: &Digest) -> Reference {
    reference.with_digest(digest.clone())
}

/// A manifest already in the store whose blobs are all present: its index descriptor.
fn present_manifest(
    layout: &ImageLayout,
    digest: &Digest,
) -> Result<Option<oci_spec::image::Descriptor>, PullError> {
    if !layout.has_blob(digest, None) {
        return Ok(None);
    }
    let bytes = layout.read_blob(digest)?;
    let Ok(media_type) = manifest::media_type_of(None, &bytes, "stored manifest") else {
        return Ok(None);
    };
    if manifest::kind(&media_type) != Some(Kind::Manifest) {
        return Ok(None);
    }
    let m = manifest::parse_manifest(&bytes, &format!("stored manifest {digest}"))?;
    let all = std::iter::once(&m.config).chain(&m.layers).all(|d| {
        d.checked_digest("")
            .is_ok_and(|x| layout.has_blob(&x, Some(d.size)))
    });
    if !all {
        return Ok(None);
    }
    let platform = config_platform(layout, &m.config.checked_digest("")?);
    crate::descriptor(&media_type, digest, bytes.len() as u64, platform.as_ref()).map(Some)
}

/// os/architecture/variant from a stored config, for the index entry.
pub fn config_platform(layout: &ImageLayout, config: &Digest) -> Option<Platform> {
    let c: ct_layout::image_docs::ImageConfig = layout.read_json(config).ok()?;
    Some(Platform {
        os: c.os?,
        architecture: c.architecture?,
        variant: c.variant,
    })
}

/// Download `blobs` with at most `opts.jobs` at a time; the first failure stops the others
/// from starting new blobs and is returned.
fn download_all(
    reg: &RegistryClient,
    layout: &ImageLayout,
    blobs: &[(Digest, u64)],
    opts: &Options,
    progress: &Progress,
) -> Result<(), PullError> {
    let mut order: Vec<&(Digest, u64)> = blobs.iter().collect();
    // Largest first, so the long downloads overlap the short ones.
    order.sort_by_key(|b| std::cmp::Reverse(b.1));
    let next = AtomicUsize::new(0);
    let failed: Mutex<Option<PullError>> = Mutex::new(None);
    let jobs = opts.jobs.clamp(1, 64).min(order.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                if failed.lock().map(|f| f.is_some()).unwrap_or(true) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((digest, size)) = order.get(i) else {
                    return;
                };
                let bar = progress.bar(digest.short());
                match verified_blob::download(reg, layout, digest, *size, opts.http.retries, &bar) {
                    Ok(fetched) => bar.finish(if fetched { "done" } else { "exists" }),
                    Err(e) => {
                        bar.finish("failed");
                        if let Ok(mut f) = failed.lock() {
                            f.get_or_insert(e);
                        }
                        return;
                    }
                }
            });
        }
    });
    match failed.into_inner() {
        Ok(Some(e)) => Err(e),
        Ok(None) => Ok(()),
        Err(p) => p.into_inner().map_or(Ok(()), Err),
    }
}
