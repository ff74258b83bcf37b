//! `ct-pull -`: an archive read from stdin, as `docker load` and `podman load` read one
//! (`docker save IMG | ct-pull -`), or a root filesystem tarball with `--tag`.
//!
//! A pipe cannot be read twice, and every importer reads its file more than once (a tar's
//! index is at its entries), so:
//!
//! 1. stdin is copied into a temp file in `$CT_ROOT/tmp`, metered: the copy stops
//!    before the file system goes under its free-space reserve (`ct_layout::free_space`);
//! 2. its first tar entries say what it is: `manifest.json` — a docker-archive (`docker save`);
//!    `oci-layout` or `index.json` — an oci-archive; anything else, given `--tag`, a root
//!    filesystem (compressed or not: the tarball importer reads its magic number). A gzip or
//!    zstd stream (its magic number: `1f 8b`, `28 b5 2f fd`) is looked into through its
//!    decoder, as `docker load` does (`docker save IMG | gzip | ct-pull -`); a compressed
//!    image archive is then decompressed into a second temp file, metered the same way, for
//!    the importers, which read plain tar;
//! 3. that importer reads the temp file, which is removed afterwards.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use ct_layout::free_space::{self, Meter, MeteredWriter};
use ct_layout::image_layout::ImageLayout;
use ct_layout::reference::Reference;
use ct_layout::Store;

use ct_layout::io_error::IoAt;

use crate::error::PullError;
use crate::{docker_archive, hold_off_gc, oci_import, rootfs_tarball, Options};

/// What the archive on stdin is.
enum Kind {
    Docker,
    Oci,
    Rootfs,
}

/// At most this many entries are looked at to tell the kinds apart (`docker save` and
/// `skopeo copy` put the manifest or layout files among the first few).
const SNIFF_ENTRIES: usize = 64;

/// The file's bytes as tar: through a gzip or zstd decoder when its magic number says so
/// (`true` then), else as they are.
fn open_tar(path: &Path) -> io::Result<(Box<dyn Read>, bool)> {
    let mut magic = [0u8; 4];
    let n = File::open(path)?.read(&mut magic)?;
    let f = BufReader::new(File::open(path)?);
    Ok(match &magic[..n] {
        [0x1f, 0x8b, ..] => (Box::new(flate2::read::MultiGzDecoder::new(f)), true),
        [0x28, 0xb5, 0x2f, 0xfd] => (Box::new(zstd::Decoder::with_buffer(f)?), true),
        _ => (Box::new(f), false),
    })
}

/// What the archive is, and whether it is compressed.
fn kind(path: &Path) -> (Kind, bool) {
    let Ok((f, compressed)) = open_tar(path) else {
        return (Kind::Rootfs, false);
    };
    (sniff(f), compressed)
}

fn sniff(f: Box<dyn Read>) -> Kind {
    let mut ar = tar::Archive::new(f);
    let Ok(entries) = ar.entries() else {
        return Kind::Rootfs;
    };
    for e in entries.take(SNIFF_ENTRIES) {
        let Ok(e) = e else { break };
        let Ok(p) = e.path() else { continue };
        let p = p.to_string_lossy();
        match p.trim_start_matches("./") {
            "manifest.json" => return Kind::Docker,
            "oci-layout" | "index.json" => return Kind::Oci,
            _ => {}
        }
    }
    Kind::Rootfs
}

/// Steps 1 to 3.
pub fn import(opts: &Options, store: &Store, layout: &ImageLayout) -> Result<Reference, PullError> {
    let _gc = hold_off_gc(store)?;
    let tmp = layout.tmp_dir();
    std::fs::create_dir_all(tmp).map_err(IoAt::at("create", tmp))?;
    let file = tempfile::Builder::new()
        .prefix("stdin-")
        .suffix(".tar")
        .tempfile_in(tmp)
        .map_err(IoAt::at("create a temp file in", tmp))?;
    let meter =
        Meter::new(tmp, Default::default()).map_err(IoAt::at("check the free space of", tmp))?;
    let mut w = MeteredWriter {
        inner: file.as_file(),
        meter,
    };
    io::copy(&mut io::stdin().lock(), &mut w).map_err(|e| match free_space::stopped(&e) {
        Some(s) => PullError::Archive {
            path: "-".into(),
            detail: s.to_string(),
        },
        None => IoAt::at("read", Path::new("-"))(e).into(),
    })?;
    let (kind, compressed) = kind(file.path());
    // A compressed image archive: the importers read plain tar.
    let plain = match kind {
        Kind::Docker | Kind::Oci if compressed => Some(decompress(file.path(), tmp)?),
        _ => None,
    };
    let path = plain.as_ref().map_or(file.path(), |p| p.path());
    match kind {
        Kind::Docker => docker_archive::import(path, None, opts, store, layout),
        Kind::Oci => oci_import::import_archive(path, None, opts, store, layout),
        Kind::Rootfs if opts.tag.is_some() => rootfs_tarball::import(path, opts, store, layout),
        Kind::Rootfs => Err(PullError::Archive {
            path: "-".into(),
            detail: "not a docker-archive or an oci-archive (a root filesystem tarball needs --tag NAME)".into(),
        }),
    }
}

/// `path`, decompressed into a new temp file in `tmp` (metered like the copy of stdin).
fn decompress(path: &Path, tmp: &Path) -> Result<tempfile::NamedTempFile, PullError> {
    let out = tempfile::Builder::new()
        .prefix("stdin-")
        .suffix(".plain.tar")
        .tempfile_in(tmp)
        .map_err(IoAt::at("create a temp file in", tmp))?;
    let meter =
        Meter::new(tmp, Default::default()).map_err(IoAt::at("check the free space of", tmp))?;
    let mut w = MeteredWriter {
        inner: out.as_file(),
        meter,
    };
    let (mut r, _) = open_tar(path).map_err(IoAt::at("read", Path::new("-")))?;
    io::copy(&mut r, &mut w).map_err(|e| match free_space::stopped(&e) {
        Some(s) => PullError::Archive {
            path: "-".into(),
            detail: s.to_string(),
        },
        None => PullError::Archive {
            path: "-".into(),
            detail: format!("cannot decompress: {e}"),
        },
    })?;
    Ok(out)
}
