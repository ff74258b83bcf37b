//! ct-mount: stack a bundle's layers with overlayfs into its `rootfs/`; volumes.
//!
//! A bundle made by ct-unpack names its image's layers in `ct.json` (diff_ids, bottom first);
//! each is an overlay lower directory in the shared layer store, `$CT_ROOT/layers/sha256/HEX`.
//! Mounting a container is then only metadata work, whatever the image's size:
//!
//! 1. Find the bundle (a directory or a container id) and `flock(2)` it, so two ct-mounts of
//!    one bundle cannot stack two overlays.
//! 2. Parse `config.json` and add the volumes (`-v`, `--tmpfs`) — checked before anything is
//!    mounted.
//! 3. A `--flat` bundle (or one not made by ct-unpack) has nothing to mount: pass it through.
//! 4. Create `upper/` (with the mode and owner of the image's root directory, because the
//!    upper root becomes the container's `/`) and `work/`, then mount the overlay
//!    ([`overlay`]); `--read-only` mounts the layers alone.
//!    As a user (ct_layout::rootless), the overlay is mounted in the user's mount namespace
//!    with `userxattr`; when the kernel refuses it, with fuse-overlayfs
//!    ([`fuse_overlayfs`]), said once; when that fails too, the layers are copied into
//!    `rootfs/` as `--flat` would have them ([`flat_copy`]), said once.
//! 5. Save `config.json`. Any failure undoes what this run made (mount, `upper/`, `work/`).
//!
//! `--unmount` is `umount2(2)` of `rootfs/` when an overlay is there, and does nothing (but
//! succeed) when it is not. It keeps `upper/`: the container's changes outlive a remount.

#![forbid(unsafe_code)]

pub mod cli;
mod error;
pub mod flat_copy;
pub mod fuse_overlayfs;
pub mod mountpoint;
pub mod overlay;
pub mod volume;

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ct_layout::bundle::{Bundle, RootfsMode};
use ct_layout::lock::{self, FlockOperation};
use ct_layout::{Digest, Store};

pub use error::MountError;
use mountpoint::Mounted;
use overlay::{Api, Overlay};
use volume::{Tmpfs, Volume};

/// The name of the empty bottom layer a read-only view of a ONE-layer image needs: overlayfs
/// refuses a mount with no upper and a single lower ("at least 2 lowerdir are needed").
pub const EMPTY_LOWER: &str = "empty";

/// What `ct-mount` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub read_only: bool,
    pub volumes: Vec<Volume>,
    pub tmpfs: Vec<Tmpfs>,
}

/// What happened (for the note on stderr).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The overlay is now mounted, through this kernel interface.
    Mounted(Api),
    /// As a user, the kernel's overlay failed (why, on one line): fuse-overlayfs mounted it.
    Fuse(String),
    /// As a user, neither overlay could be mounted (why, on one line): the layers were copied
    /// into `rootfs/` ([`flat_copy`]).
    Copied(String),
    /// The layers were copied into `rootfs/` by an earlier run.
    AlreadyCopied,
    /// The same kind of overlay was already mounted: nothing to do.
    AlreadyMounted,
    /// A `--flat` bundle: its rootfs is a plain directory.
    Flat,
    /// No `ct.json`: not made by ct-unpack, so ct-mount does not know its layers.
    Foreign,
}

/// A held `flock(2)` on the bundle directory itself (no lock file to leave behind).
struct BundleLock(#[allow(dead_code)] fs::File);

fn lock_bundle(b: &Bundle) -> Result<BundleLock, MountError> {
    let err = |source| MountError::Lock {
        path: b.dir.clone(),
        source,
    };
    let f = fs::File::open(&b.dir).map_err(err)?;
    lock::flock(&f, FlockOperation::LockExclusive).map_err(err)?;
    Ok(BundleLock(f))
}

/// Undo what a failed mount made: directories this run created, and a mount it attached.
/// Disarmed once everything succeeded.
struct Rollback {
    created: Vec<PathBuf>,
    mounted: Option<PathBuf>,
    armed: bool,
}

impl Drop for Rollback {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(m) = &self.mounted {
            let _ = mountpoint::unmount(m);
        }
        // Newest first: `work/empty` before `work/`. They are ours and were just made.
        for d in self.created.iter().rev() {
            let _ = fs::remove_dir_all(d);
        }
    }
}

fn mkdir(path: &Path, mode: u32, rb: &mut Rollback) -> Result<(), MountError> {
    match fs::create_dir(path) {
        Ok(()) => {
            rb.created.push(path.to_path_buf());
            fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|source| {
                MountError::CreateDir {
                    path: path.to_path_buf(),
                    source,
                }
            })
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(source) => Err(MountError::CreateDir {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The lower directories of a bundle, TOP layer first, each checked to exist.
pub fn lower_dirs(store: &Store, layers: &[Digest]) -> Result<Vec<PathBuf>, MountError> {
    layers
        .iter()
        .rev()
        .map(|d| {
            let p = store.layer(d);
            match fs::metadata(&p) {
                Ok(m) if m.is_dir() => Ok(p),
                Ok(_) => Err(MountError::LayerMissing {
                    layer: d.clone(),
                    path: p,
                    source: io::Error::from_raw_os_error(libc::ENOTDIR),
                }),
                Err(source) => Err(MountError::LayerMissing {
                    layer: d.clone(),
                    path: p,
                    source,
                }),
            }
        })
        .collect()
}

/// Mount the bundle named by `input` (a directory or a container id).
pub fn mount(store: &Store, input: &str, opts: &Options) -> Result<(Bundle, Outcome), MountError> {
    let bundle = Bundle::find(store, input)?;
    let _lock = lock_bundle(&bundle)?;

    // Volumes first: a bad -v fails before anything is mounted.
    let mut spec = bundle.load_config()?;
    let mut entries = Vec::new();
    for v in &opts.volumes {
        entries.push(v.to_mount()?);
    }
    for t in &opts.tmpfs {
        entries.push(t.to_mount()?);
    }
    let mut changed = volume::apply(&mut spec, entries);
    volume::check_mounts(
        spec.mounts().as_deref().unwrap_or_default(),
        &bundle.dir,
        &store.root,
    )?;
    if opts.read_only {
        if let Some(root) = spec.root().clone() {
            if root.readonly() != Some(true) {
                let mut root = root;
                root.set_readonly(Some(true));
                spec.set_root(Some(root));
                changed = true;
            }
        }
    }

    let note = bundle.load_note()?;
    let layers = match &note {
        None => {
            if changed {
                bundle.save_config(&spec)?;
            }
            return Ok((bundle, Outcome::Foreign));
        }
        Some(n) if n.rootfs == RootfsMode::Flat => {
            if changed {
                bundle.save_config(&spec)?;
            }
            return Ok((bundle, Outcome::Flat));
        }
        Some(n) => &n.layers,
    };
    if layers.is_empty() {
        return Err(MountError::NoLayers(bundle.dir.clone()));
    }
    let mut lower = lower_dirs(store, layers)?;

    let mut rb = Rollback {
        created: Vec::new(),
        mounted: None,
        armed: true,
    };
    let rootfs = bundle.rootfs();
    mkdir(&rootfs, 0o755, &mut rb)?;
    let probe = |p: &Path| {
        mountpoint::probe(p).map_err(|source| MountError::Probe {
            path: p.to_path_buf(),
            source,
        })
    };
    let outcome = match probe(&rootfs)? {
        Mounted::Overlay { read_only } if read_only == opts.read_only => Outcome::AlreadyMounted,
        Mounted::Overlay { read_only } => {
            return Err(MountError::MountedOtherMode {
                path: rootfs,
                how: if read_only { "read-only" } else { "read-write" },
            })
        }
        Mounted::Other { fs_type } => {
            return Err(MountError::Foreign {
                path: rootfs,
                fs_type,
            })
        }
        Mounted::No if flat_copy::done(&bundle.dir) => Outcome::AlreadyCopied,
        Mounted::No => {
            let upper = if opts.read_only {
                if lower.len() == 1 {
                    let empty = bundle.work().join(EMPTY_LOWER);
                    mkdir(&bundle.work(), 0o700, &mut rb)?;
                    mkdir(&empty, 0o755, &mut rb)?;
                    lower.push(empty);
                }
                None
            } else {
                let (upper, work) = (bundle.upper(), bundle.work());
                // The upper root is the container's "/": give it the image's root mode/owner.
                let top = fs::metadata(&lower[0]).map_err(|source| MountError::Probe {
                    path: lower[0].clone(),
                    source,
                })?;
                let fresh = !upper.exists();
                mkdir(&upper, top.mode() & 0o7777, &mut rb)?;
                if fresh {
                    std::os::unix::fs::chown(&upper, Some(top.uid()), Some(top.gid())).map_err(
                        |source| MountError::CreateDir {
                            path: upper.clone(),
                            source,
                        },
                    )?;
                }
                mkdir(&work, 0o700, &mut rb)?;
                Some((upper, work))
            };
            let ov = Overlay {
                lower,
                upper,
                userxattr: ct_layout::rootless::active(),
            };
            let outcome = match overlay::mount(&rootfs, &ov) {
                Ok(api) => Outcome::Mounted(api),
                // A user's next try: the same overlay in userspace.
                Err(e) if ov.userxattr => {
                    let kernel = ct_layout::pipe::chain(&e);
                    match fuse_overlayfs::mount(&rootfs, &ov) {
                        Ok(()) => Outcome::Fuse(kernel),
                        // The last resort of a read-write container: a copy (as --flat).
                        Err(fuse) if !opts.read_only => {
                            let why = format!("{kernel}; fuse-overlayfs: {fuse}");
                            if let Err(source) = flat_copy::copy(&ov.lower, &rootfs, &bundle.dir) {
                                let _ = fs::remove_dir_all(&rootfs);
                                let _ = fs::create_dir(&rootfs);
                                return Err(MountError::Copy { why, source });
                            }
                            let mark = bundle.dir.join(flat_copy::MARK);
                            let done = finish(bundle, changed, &spec, Outcome::Copied(why));
                            if done.is_err() {
                                let _ = fs::remove_file(mark);
                            }
                            rb.armed = done.is_err();
                            return done;
                        }
                        Err(fuse) => return Err(MountError::NoUserOverlay { kernel, fuse }),
                    }
                }
                Err(e) => return Err(e.into()),
            };
            rb.mounted = Some(rootfs.clone());
            outcome
        }
    };
    // A config that cannot be saved undoes the mount too (the rollback is still armed).
    let done = finish(bundle, changed, &spec, outcome);
    rb.armed = done.is_err();
    done
}

fn finish(
    bundle: Bundle,
    changed: bool,
    spec: &oci_spec::runtime::Spec,
    outcome: Outcome,
) -> Result<(Bundle, Outcome), MountError> {
    if changed {
        bundle.save_config(spec)?;
    }
    Ok((bundle, outcome))
}

/// Unmount the bundle's rootfs if an overlay is mounted there. Returns whether it was.
pub fn unmount(store: &Store, input: &str) -> Result<(Bundle, bool), MountError> {
    let bundle = Bundle::find(store, input)?;
    let _lock = lock_bundle(&bundle)?;
    let rootfs = bundle.rootfs();
    if !rootfs.exists() {
        return Ok((bundle, false));
    }
    let mut was = false;
    // Overlays stacked by hand (or by an older ct) are peeled one by one; bounded.
    for _ in 0..16 {
        match mountpoint::probe(&rootfs).map_err(|source| MountError::Probe {
            path: rootfs.clone(),
            source,
        })? {
            Mounted::No => break,
            Mounted::Other { fs_type } => {
                if was {
                    break;
                }
                return Err(MountError::Foreign {
                    path: rootfs,
                    fs_type,
                });
            }
            Mounted::Overlay { .. } => {
                mountpoint::unmount(&rootfs).map_err(|source| MountError::Unmount {
                    path: rootfs.clone(),
                    source,
                })?;
                was = true;
            }
        }
    }
    Ok((bundle, was))
}
