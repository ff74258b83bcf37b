//! ct-pull: fetch an image — manifest, config, layers — from a registry, or import it from an
//! archive, into ct's image store: ONE OCI image layout in `$CT_ROOT/images` (see
//! `docs/LAYOUT.md`), where `skopeo`, `umoci` and the next ct stage read it.
//!
//! Where an image can come from ([`Source`]):
//!
//! | argument | read by |
//! | --- | --- |
//! | `alpine`, `host:port/ns/name:tag`, `name@sha256:…` | `registry_pull.rs` (distribution v2) |
//! | `oci:DIR[:REF]`, `oci-archive:FILE[:REF]` | `oci_import.rs` |
//! | `docker-archive:FILE[:REF]` (`docker save`) | `docker_archive.rs` |
//! | `FILE.tar`, `.tar.gz`, `.tgz`, `.tar.zst` with `--tag` | `rootfs_tarball.rs` |
//! | `-`: any of the archives above on stdin | `stdin_archive.rs` |
//!
//! Whatever the source, blobs land only verified (`verified_blob.rs`) and under a shared
//! `locks/gc.lock` ([`hold_off_gc`]) kept until the image is named, `index.json` changes
//! only under the layout lock, and the result is one line: the canonical reference pinned to
//! the manifest digest, `docker.io/library/alpine:3.20@sha256:…`.

#![forbid(unsafe_code)]

pub mod cli;
pub mod credentials;
pub mod distribution;
pub mod docker_archive;
pub mod error;
pub mod http_retry;
pub mod manifest;
pub mod oci_import;
pub mod progress;
pub mod registry_pull;
pub mod rootfs_tarball;
pub mod stdin_archive;
pub mod token_auth;
pub mod verified_blob;

use std::path::{Path, PathBuf};

use ct_layout::digest::Digest;
use ct_layout::image_layout::ImageLayout;
use ct_layout::io_error::IoAt;
use ct_layout::reference::Reference;
use ct_layout::Store;

pub use error::PullError;

use credentials::Credentials;
use ct_layout::platform::Platform;
use distribution::HttpOptions;
use progress::Progress;

/// Everything a pull can be told on the command line.
#[derive(Debug, Clone)]
pub struct Options {
    pub http: HttpOptions,
    pub creds: Option<Credentials>,
    pub platform: Option<Platform>,
    /// Blobs downloaded at once.
    pub jobs: usize,
    pub quiet: bool,
    /// The name for an import (required for a plain tarball).
    pub tag: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            http: HttpOptions::default(),
            creds: None,
            platform: None,
            jobs: 4,
            quiet: false,
            tag: None,
        }
    }
}

/// Where the image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Registry(Reference),
    OciDir { dir: PathBuf, name: Option<String> },
    OciArchive { file: PathBuf, name: Option<String> },
    DockerArchive { file: PathBuf, name: Option<String> },
    Tarball(PathBuf),
}

/// `PATH[:NAME]` as skopeo splits it: at the first `:` after the path.
fn path_and_name(s: &str) -> (PathBuf, Option<String>) {
    match s.split_once(':') {
        Some((p, n)) if !n.is_empty() => (PathBuf::from(p), Some(n.to_string())),
        Some((p, _)) => (PathBuf::from(p), None),
        None => (PathBuf::from(s), None),
    }
}

/// Names of archive files: those ct-pull reads, and those it names as unreadable (xz, bzip2,
/// zip) instead of asking a registry for them.
const ARCHIVE_SUFFIXES: &[&str] = &[
    ".tar",
    ".tar.gz",
    ".tgz",
    ".tar.zst",
    ".tar.zstd",
    ".tar.xz",
    ".txz",
    ".tar.bz2",
    ".tbz2",
    ".zip",
    ".gz",
    ".zst",
    ".xz",
    ".bz2",
];

impl Source {
    /// Read the argument: a transport prefix, an existing tarball path, else a reference.
    pub fn parse(s: &str) -> Result<Source, PullError> {
        if let Some(rest) = s.strip_prefix("oci:") {
            let (dir, name) = path_and_name(rest);
            return Ok(Source::OciDir { dir, name });
        }
        if let Some(rest) = s.strip_prefix("oci-archive:") {
            let (file, name) = path_and_name(rest);
            return Ok(Source::OciArchive { file, name });
        }
        if let Some(rest) = s.strip_prefix("docker-archive:") {
            let (file, name) = path_and_name(rest);
            return Ok(Source::DockerArchive { file, name });
        }
        if let Some(rest) = s.strip_prefix("docker://") {
            return Ok(Source::Registry(rest.parse()?));
        }
        // A file is never a registry reference: one with an archive's suffix, or named by a
        // path (`./x`, `/x`), is a root filesystem to import (its format decides the rest).
        let path_like = s.starts_with('/') || s.starts_with("./") || s.starts_with("../");
        if (path_like || ARCHIVE_SUFFIXES.iter().any(|x| s.ends_with(x))) && Path::new(s).is_file()
        {
            return Ok(Source::Tarball(PathBuf::from(s)));
        }
        Ok(Source::Registry(s.parse()?))
    }
}

/// Parse a `--tag` or archive-embedded name as a reference (docker's normalization).
pub fn parse_tag(tag: &str) -> Result<Reference, PullError> {
    tag.parse().map_err(|source| PullError::Tag {
        tag: tag.to_string(),
        source,
    })
}

/// The index entry for a manifest.
pub fn descriptor(
    media_type: &str,
    digest: &Digest,
    size: u64,
    platform: Option<&Platform>,
) -> Result<oci_spec::image::Descriptor, PullError> {
    let mut v =
        serde_json::json!({"mediaType": media_type, "digest": digest.to_string(), "size": size});
    if let Some(p) = platform {
        v["platform"] = serde_json::json!({"os": p.os, "architecture": p.architecture});
        if let Some(var) = &p.variant {
            v["platform"]["variant"] = serde_json::json!(var);
        }
    }
    serde_json::from_value(v).map_err(|source| PullError::Json {
        what: "index entry".into(),
        source,
    })
}

/// Name an image in `index.json`: `repo:tag`, or `repo@MANIFEST-DIGEST` without a tag.
pub fn name_image(
    layout: &ImageLayout,
    reference: &Reference,
    digest: &Digest,
    desc: oci_spec::image::Descriptor,
) -> Result<(), PullError> {
    let name = match &reference.tag {
        Some(_) => reference.store_name(),
        None => format!("{}@{}", reference.repository(), digest),
    };
    layout.set_ref(&name, &desc)?;
    Ok(())
}

/// Keep `ct-gc` from sweeping while blobs are in the store but not yet named in `index.json`
/// (`ct_layout::gc_lock`): a shared `flock(2)` on `locks/gc.lock`, held from before the first
/// blob lands (or is found present and reused) until [`name_image`] has written the name.
/// Taken while holding no other lock: ct-gc takes gc.lock, then images.lock, so taking it
/// under images.lock could deadlock.
pub fn hold_off_gc(store: &Store) -> Result<ct_layout::lock::Lock, PullError> {
    Ok(ct_layout::gc_lock::hold_off(store)
        .map_err(IoAt::at("lock", ct_layout::gc_lock::path(store)))?)
}

/// Pull or import `input` into the store; returns what to print: the canonical reference
/// pinned to the manifest digest.
pub fn pull(input: &str, opts: &Options, store: &Store) -> Result<Reference, PullError> {
    // `-`: an archive on stdin (stdin_archive.rs).
    let source = match input {
        "-" => None,
        _ => Some(Source::parse(input)?),
    };
    store
        .ensure("ct-pull")
        .map_err(|(path, e)| IoAt::at("create", path)(e))?;
    let layout = ImageLayout::of_store(store);
    layout.init()?;
    let progress = Progress::new(opts.quiet);
    let Some(source) = source else {
        return stdin_archive::import(opts, store, &layout);
    };
    match source {
        Source::Registry(r) => registry_pull::pull(&r, opts, store, &layout, &progress),
        Source::OciDir { dir, name } => {
            oci_import::import_dir(&dir, name.as_deref(), opts, store, &layout)
        }
        Source::OciArchive { file, name } => {
            oci_import::import_archive(&file, name.as_deref(), opts, store, &layout)
        }
        Source::DockerArchive { file, name } => {
            docker_archive::import(&file, name.as_deref(), opts, store, &layout)
        }
        Source::Tarball(file) => rootfs_tarball::import(&file, opts, store, &layout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        assert_eq!(
            Source::parse("oci:/tmp/x:busybox:1").unwrap(),
            Source::OciDir {
                dir: "/tmp/x".into(),
                name: Some("busybox:1".into())
            }
        );
        assert_eq!(
            Source::parse("oci-archive:/a.tar").unwrap(),
            Source::OciArchive {
                file: "/a.tar".into(),
                name: None
            }
        );
        assert!(matches!(
            Source::parse("docker-archive:/a.tar:x:1").unwrap(),
            Source::DockerArchive { name: Some(n), .. } if n == "x:1"
        ));
        assert_eq!(
            Source::parse("alpine").unwrap(),
            Source::Registry("docker.io/library/alpine:latest".parse().unwrap())
        );
        // A tarball name that does not exist is read as a reference (and fails as one).
        assert!(matches!(
            Source::parse("Nope.tar"),
            Err(PullError::Reference(_))
        ));
        let e = Source::parse("bad::ref").unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }
}
