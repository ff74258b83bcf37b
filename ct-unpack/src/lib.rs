//! ct-unpack: from an image in the store to an OCI runtime bundle.
//!
//! Steps, in order:
//! 1. Find the image (`image_manifest.rs`): ref → manifest → config and layers.
//! 2. Layered bundle (default): make sure every layer is in the layer store, extracting the
//!    missing ones in parallel (`layer_store.rs`, `tar_extract.rs`). A second container of the
//!    same image skips this step entirely.
//!    `--flat`: apply all layers in order into the bundle's own `rootfs/` instead.
//! 3. Resolve the user through the image's `/etc/passwd` and `/etc/group` (`passwd.rs`).
//! 4. Write `config.json` (`runtime_config.rs`) and `ct.json` (layers bottom first, the contract
//!    ct-mount reads) into a hidden temp bundle, then `rename(2)` it to
//!    `$CT_ROOT/containers/ID` with `RENAME_NOREPLACE`: a bundle exists whole or not at all.
//!
//! Steps 1-4 hold `$CT_ROOT/locks/gc.lock` shared (`ct_layout::gc_lock::hold_off`): a layer
//! extracted or reused here is referenced by nothing until `ct.json` is in place, and a
//! `ct-gc` sweep in between would delete it.

#![forbid(unsafe_code)]

pub mod cli;
pub mod compression;
pub mod decompress_ahead;
pub mod id_map;
pub mod image_config_check;
pub mod image_manifest;
pub mod layer_store;
pub mod overlay_lookup;
pub mod passwd;
pub mod pipe_handoff;
pub mod resolve_in_root;
pub mod runtime_config;
pub mod runtime_defaults;
pub mod seccomp_default;
pub mod tar_extract;
pub mod whiteout;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ct_layout::bundle::{Bundle, Note, RootfsMode};
use ct_layout::image_layout::ImageLayout;
use ct_layout::io_error::IoAt;
use ct_layout::lock::Lock;
use ct_layout::paths::{new_id, valid_id};
use ct_layout::Store;

use crate::image_manifest::ImageError;
use crate::layer_store::{LayerError, TempTree};
use crate::passwd::UserError;
use crate::runtime_config::{ConfigError, Overrides};
use crate::tar_extract::{Extractor, Target};

/// What to unpack and how.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The image reference as typed, or as ct-pull printed it.
    pub image: String,
    /// The container id; a fresh random one if `None`.
    pub id: Option<String>,
    /// A human name (`--name`): becomes the id too.
    pub name: Option<String>,
    /// Apply the layers into a plain `rootfs/` instead of using the layer store.
    pub flat: bool,
    pub overrides: Overrides,
    /// Progress on stderr.
    pub verbose: bool,
    /// Free-space reserve and per-layer size limit for extraction (`--min-free`,
    /// `--max-layer-size`).
    pub limits: ct_layout::free_space::Limits,
}

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("invalid container id '{0}' (1-64 of A-Z a-z 0-9 _ . -, not starting with . or -)")]
    BadId(String),
    #[error("container '{0}' already exists")]
    Exists(String),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error("cannot resolve the container's user")]
    User(#[from] UserError),
    #[error("cannot make the runtime config")]
    Config(#[from] ConfigError),
    #[error("refusing image {}", ct_layout::pipe::quote(.image))]
    BadImage {
        image: String,
        #[source]
        source: image_config_check::Refused,
    },
    #[error(transparent)]
    Io(#[from] IoAt),
    #[error("cannot write the bundle")]
    Bundle(#[from] ct_layout::bundle::BundleError),
}

impl UnpackError {
    /// `hint:` lines for the user.
    pub fn hints(&self) -> Vec<&'static str> {
        match self {
            UnpackError::Image(ImageError::NotFound(_)) => {
                vec!["pull it first: ct-pull REF | ct-unpack; list images with: ct-ls images"]
            }
            UnpackError::Exists(_) => vec!["choose another --name, or remove the old container"],
            UnpackError::Layer(LayerError::DiffId { .. }) => {
                vec!["the blob is not what the image config says; pull the image again"]
            }
            _ => vec![],
        }
    }
}

impl ct_layout::tool::Failure for UnpackError {
    fn hints(&self) -> Vec<String> {
        UnpackError::hints(self)
            .into_iter()
            .map(str::to_string)
            .collect()
    }
}

/// Pretty JSON with a final newline, as `ct_layout::atomic::write_json` writes it.
fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), UnpackError> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| IoAt::at("serialize", path)(io::Error::other(e)))?;
    bytes.push(b'\n');
    Ok(fs::write(path, bytes).map_err(IoAt::at("write", path))?)
}

/// `mkdir(path, 0700)`, whatever the umask.
fn mkdir_private(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    fs::DirBuilder::new().mode(0o700).create(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o700))
}

/// `renameat2(RENAME_NOREPLACE)`: move `from` to `to` unless `to` exists.
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    use rustix::fs::{RenameFlags, CWD};
    Ok(rustix::fs::renameat_with(
        CWD,
        from,
        CWD,
        to,
        RenameFlags::NOREPLACE,
    )?)
}

/// Unpack `opts.image` from `store` into a new bundle; returns it.
pub fn unpack(store: &Store, opts: &Options) -> Result<Bundle, UnpackError> {
    let start = Instant::now();
    let id = match (&opts.name, &opts.id) {
        (Some(n), _) => n.clone(),
        (None, Some(i)) => i.clone(),
        (None, None) => new_id(),
    };
    if !valid_id(&id) {
        return Err(UnpackError::BadId(id));
    }
    store.ensure("ct-unpack").map_err(|(path, source)| {
        UnpackError::Io(IoAt {
            action: "create",
            path,
            source,
        })
    })?;
    let final_dir = store.bundle(&id);
    if final_dir.exists() {
        return Err(UnpackError::Exists(id));
    }
    // One ct-unpack per id at a time; holding the lock, leftovers of a crashed run for this id
    // (`containers/.tmp-ID-*`) are ours to remove.
    let containers = store.containers();
    let lock_path = store.container_lock(&id);
    // The lock file goes when this ends (done or failed): one per container would pile up.
    let _lock = Lock::exclusive(&lock_path)
        .map_err(IoAt::at("lock", &lock_path))?
        .remove_on_drop(&lock_path);
    if let Ok(rd) = fs::read_dir(&containers) {
        let prefix = ct_layout::paths::bundle_temp_prefix(&id);
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }

    // From reading the image (its manifest and layers, found present and reused or extracted
    // now) until `ct.json` names them, ct-gc must not sweep them: hold `locks/gc.lock` shared.
    // Taken before any layer lock and never under images.lock — ct-gc takes gc.lock first,
    // then those — so the order is the same everywhere and cannot deadlock.
    let gc_path = ct_layout::gc_lock::path(store);
    let _gc = ct_layout::gc_lock::hold_off(store).map_err(IoAt::at("lock", &gc_path))?;
    let layout = ImageLayout::of_store(store);
    let image = image_manifest::load(&layout, &opts.image)?;
    // The image config is the image builder's word: check it before extracting anything, so
    // a refused image leaves nothing behind.
    image_config_check::check(&image.config["config"]).map_err(|source| UnpackError::BadImage {
        image: image.name.clone(),
        source,
    })?;
    for key in image_config_check::unsupported(&image.config["config"]) {
        eprintln!(
            "ct-unpack: warning: image {}: config key '{key}' is not supported",
            ct_layout::pipe::quote(&image.name)
        );
    }
    let say = |msg: String| {
        if opts.verbose {
            eprintln!("ct-unpack: {msg}");
        }
    };

    fs::create_dir_all(&containers).map_err(IoAt::at("create", &containers))?;
    let tmp = TempTree::new(containers.join(format!(
        "{}{}",
        ct_layout::paths::bundle_temp_prefix(&id),
        new_id()
    )));
    // The bundle holds config.json, which decides what the container may do: only root may
    // reach it (the rootfs inside has its own mode, the image's).
    mkdir_private(tmp.path()).map_err(IoAt::at("create", tmp.path()))?;
    let volumes_dir = tmp.path().join("volumes");
    let rootfs = tmp.path().join(ct_layout::bundle::ROOTFS);
    fs::create_dir(&rootfs).map_err(IoAt::at("create", &rootfs))?;
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&rootfs, fs::Permissions::from_mode(0o755))
            .map_err(IoAt::at("chmod", &rootfs))?;
    }

    // --flat writes the whole image into the bundle: flush it in the background meanwhile
    // (`ct_layout::writeback`); the layer store does the same for its layers.
    let flusher = if opts.flat {
        let f = ct_layout::writeback::Flusher::start(tmp.path());
        Some(f.map_err(IoAt::at("open", tmp.path()))?)
    } else {
        None
    };
    let (passwd, group) = if opts.flat {
        let mut ex = Extractor::new(&rootfs, Target::Flat).map_err(IoAt::at("open", &rootfs))?;
        for layer in &image.layers {
            layer_store::apply_verified(&layout, layer, &mut ex, &rootfs, opts.limits)?;
        }
        say(format!(
            "applied {} layers into rootfs/",
            image.layers.len()
        ));
        let read = |p: &str| overlay_lookup::read_in_root(&rootfs, Path::new(p), 16 << 20);
        (read("etc/passwd"), read("etc/group"))
    } else {
        let n = layer_store::ensure_all(store, &layout, &image.layers, opts.limits)?;
        say(format!(
            "{} of {} layers extracted, the rest were in the store",
            n,
            image.layers.len()
        ));
        let dirs: Vec<PathBuf> = image
            .layers
            .iter()
            .map(|l| store.layer(&l.diff_id))
            .collect();
        (
            overlay_lookup::read(&dirs, Path::new("etc/passwd"), 16 << 20),
            overlay_lookup::read(&dirs, Path::new("etc/group"), 16 << 20),
        )
    };

    let user_spec = runtime_config::user_spec(&image.config, &opts.overrides);
    let user = passwd::resolve(&user_spec, passwd.as_deref(), group.as_deref())?;
    let hostname = opts
        .overrides
        .hostname
        .clone()
        .unwrap_or_else(|| id.chars().take(63).collect());
    let seccomp = serde_json::to_value(crate::seccomp_default::profile()).ok();
    let spec = runtime_config::build(
        &image.config,
        &opts.overrides,
        &user,
        &hostname,
        &final_dir,
        seccomp,
        ct_layout::rootless::active(),
    )?;
    // Image volumes get a directory of their own with the owner and mode the image gives that
    // path, or, where the image has none, owned by the container's user (its content is not
    // copied: the conversion spec leaves seeding optional).
    let layer_dirs: Vec<PathBuf> = image
        .layers
        .iter()
        .map(|l| store.layer(&l.diff_id))
        .collect();
    for v in runtime_config::volumes(&image.config)? {
        // `v` is cleaned and its directory name one component (never `.`, `..` or a `/`).
        let d = tmp.path().join(runtime_config::volume_dir(&v));
        if !volumes_dir.exists() {
            mkdir_private(&volumes_dir).map_err(IoAt::at("create", &volumes_dir))?;
        }
        fs::create_dir(&d).map_err(IoAt::at("create", &d))?;
        let rel = resolve_in_root::clean(Path::new(&v));
        let meta = if opts.flat {
            resolve_in_root::open_root(&rootfs)
                .and_then(|root| {
                    resolve_in_root::open_in_root(&root, &rel, rustix::fs::OFlags::PATH)
                })
                .and_then(|fd| {
                    fs::metadata(format!(
                        "/proc/self/fd/{}",
                        std::os::fd::AsRawFd::as_raw_fd(&fd)
                    ))
                })
                .ok()
        } else {
            overlay_lookup::locate(&layer_dirs, &rel).map(|(_, m)| m)
        };
        if let Some(m) = meta.filter(|m| m.is_dir()) {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            let (uid, gid, _) = id_map::owner(m.uid(), m.gid());
            std::os::unix::fs::chown(&d, Some(uid), Some(gid)).map_err(IoAt::at("chown", &d))?;
            fs::set_permissions(&d, fs::Permissions::from_mode(m.mode() & 0o7777))
                .map_err(IoAt::at("chmod", &d))?;
        } else {
            // Not in the image: the container's user owns it, so `USER app` + `VOLUME /data`
            // can write there (as podman does) — if this user namespace maps that user.
            let (uid, gid, _) = id_map::owner(user.uid, user.gid);
            std::os::unix::fs::chown(&d, Some(uid), Some(gid)).map_err(IoAt::at("chown", &d))?;
        }
    }
    // The staged bundle is invisible until renamed, so its files need no temp+rename of their
    // own: plain writes, then ONE syncfs(2) makes all of it durable before the rename (instead
    // of an fsync per file and directory, which costs a journal commit each on ext4).
    let staged = Bundle::new(tmp.path());
    let note = Note {
        id: id.clone(),
        image: image.name.clone(),
        manifest: image.manifest.clone(),
        layers: image.layers.iter().map(|l| l.diff_id.clone()).collect(),
        rootfs: if opts.flat {
            RootfsMode::Flat
        } else {
            RootfsMode::Overlay
        },
        created: ct_layout::rfc3339::now(),
        name: opts.name.clone(),
    };
    write_json(&staged.config_path(), &spec)?;
    write_json(&staged.note_path(), &note)?;
    match flusher {
        Some(f) => f.finish(),
        None => layer_store::syncfs(tmp.path()),
    }
    .map_err(IoAt::at("sync", tmp.path()))?;
    let src = tmp.disarm();
    if let Err(e) = rename_noreplace(&src, &final_dir) {
        let _ = fs::remove_dir_all(&src);
        if e.raw_os_error() == Some(libc::EEXIST) || e.raw_os_error() == Some(libc::ENOTEMPTY) {
            return Err(UnpackError::Exists(id));
        }
        return Err(IoAt::at("move into place", &final_dir)(e).into());
    }
    // Then the rename itself: ct-unpack reports the bundle only once a power cut can no longer
    // take it away (one fsync of `containers/`, a journal commit; tests/power_cut.rs).
    // Everything the bundle refers to (its files, the layers) was made durable before.
    ct_layout::atomic::sync_dir(&containers).map_err(IoAt::at("sync", &containers))?;
    // What a user namespace could not keep (owners it does not map, device nodes), once each.
    for w in id_map::warnings() {
        eprintln!("ct-unpack: warning: {w}");
    }
    say(format!("bundle ready in {:?}", start.elapsed()));
    Ok(Bundle::new(final_dir))
}
