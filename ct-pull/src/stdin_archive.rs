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
//!    filesystem (compressed or not: the tarball importer reads its magic number);
//! 3. that importer reads the temp file, which is removed afterwards.

use std::fs::File;
use std::io::{self, BufReader};
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

fn kind(path: &Path) -> Kind {
    let Ok(f) = File::open(path) else {
        return Kind::Rootfs;
    };
    let mut ar = tar::Archive::new(BufReader::new(f));
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
    let path = file.path();
    match kind(path) {
        Kind::Docker => docker_archive::import(path, None, opts, store, layout),
        Kind::Oci => oci_import::import_archive(path, None, opts, store, layout),
        Kind::Rootfs if opts.tag.is_some() => rootfs_tarball::import(path, opts, store, layout),
        Kind::Rootfs => Err(PullError::Archive {
            path: "-".into(),
            detail: "not a docker-archive or an oci-archive (a root filesystem tarball needs --tag NAME)".into(),
        }),
    }
}
