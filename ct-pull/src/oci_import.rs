//! Importing from another OCI image layout (image-spec `image-layout.md`): `oci:DIR[:REF]`,
//! or the same directory packed as a tar file, `oci-archive:FILE[:REF]` (what
//! `skopeo copy … oci-archive:FILE` and `buildah push … oci-archive:` write).
//!
//! 1. (archive) unpack the tar into a temp dir beside the store (`$CT_ROOT/tmp`), removed after;
//! 2. find the image: the `index.json` entry whose `org.opencontainers.image.ref.name` is REF,
//!    or the only entry; an index entry picks a manifest by platform;
//! 3. copy config and layers through [`store_reader`], which checks each against its digest;
//! 4. store the manifest and name it (`--tag`, else REF).
//!
//! Steps 1-4 run under a shared `locks/gc.lock` ([`hold_off_gc`]): `ct-gc prune` cleans
//! `$CT_ROOT/tmp` and unreferenced blobs, and must wait until the name is written.

use std::fs::File;
use std::path::Path;

use ct_layout::digest::Digest;
use ct_layout::image_layout::{ref_name, ImageLayout};
use ct_layout::io_error::IoAt;
use ct_layout::reference::Reference;
use ct_layout::Store;

use crate::error::PullError;
use crate::manifest::{self, CheckedDigest, Kind};
use crate::verified_blob::store_reader;
use crate::{descriptor, hold_off_gc, name_image, parse_tag, registry_pull, Options};
use ct_layout::platform::Platform;

/// `oci:DIR[:REF]`.
pub fn import_dir(
    dir: &Path,
    name: Option<&str>,
    opts: &Options,
    store: &Store,
    layout: &ImageLayout,
) -> Result<Reference, PullError> {
    let _gc = hold_off_gc(store)?;
    import_dir_held(dir, name, opts, layout)
}

/// The import itself, with ct-gc already held off by the caller (an archive import holds it
/// from before it unpacks into `$CT_ROOT/tmp`, which `ct-gc prune` cleans).
fn import_dir_held(
    dir: &Path,
    name: Option<&str>,
    opts: &Options,
    layout: &ImageLayout,
) -> Result<Reference, PullError> {
    let src = ImageLayout::at(dir);
    if !src.exists() {
        return Err(PullError::Archive {
            path: dir.to_path_buf(),
            detail: "not an OCI image layout (no oci-layout file)".into(),
        });
    }
    let index = src.read_index()?;
    let entries = index.manifests();
    let entry = match name {
        Some(n) => entries.iter().find(|d| ref_name(d) == Some(n)),
        None if entries.len() == 1 => entries.first(),
        None => None,
    };
    let Some(entry) = entry else {
        let names: Vec<&str> = entries.iter().filter_map(ref_name).collect();
        return Err(PullError::Archive {
            path: dir.to_path_buf(),
            detail: match name {
                Some(n) => format!("no image named '{n}' (it has: {})", names.join(", ")),
                None => format!(
                    "holds {} images, name one with :REF (it has: {})",
                    entries.len(),
                    names.join(", ")
                ),
            },
        });
    };
    let target = match (&opts.tag, name, ref_name(entry)) {
        (Some(t), _, _) => parse_tag(t)?,
        (None, Some(n), _) | (None, None, Some(n)) => parse_tag(n)?,
        (None, None, None) => return Err(PullError::NeedTag(format!("oci:{}", dir.display()))),
    };
    let what = format!("{}", dir.display());
    let mut digest: Digest =
        entry
            .digest()
            .to_string()
            .parse()
            .map_err(|source| PullError::BadDigest {
                what: what.clone(),
                source,
            })?;
    let mut media_type = entry.media_type().to_string();
    let mut bytes = src.read_blob(&digest)?;
    let mut plat = None;
    if manifest::kind(&media_type) == Some(Kind::Index) {
        let idx = manifest::parse_index(&bytes, &format!("index {digest} in {what}"))?;
        let want = opts.platform.clone().unwrap_or_else(Platform::host);
        let e = manifest::select_platform(&idx.manifests, &want, &what)?;
        digest = e.checked_digest(&what)?;
        media_type = e.media_type.clone();
        plat = e.platform.clone();
        bytes = src.read_blob(&digest)?;
    }
    if manifest::kind(&media_type) != Some(Kind::Manifest) {
        return Err(PullError::MediaType {
            what: format!("manifest {digest} in {what}"),
            media_type,
        });
    }
    let m = manifest::parse_manifest(&bytes, &format!("manifest {digest} in {what}"))?;
    for d in std::iter::once(&m.config).chain(&m.layers) {
        let dg = d.checked_digest(&what)?;
        let path = src.blob_path(&dg);
        let f = File::open(&path).map_err(IoAt::at("open", &path))?;
        store_reader(layout, f, Some((&dg, d.size)))?;
    }
    let config = m.config.checked_digest(&what)?;
    manifest::check_config(&layout.read_blob(&config)?, &format!("config {config}"))?;
    if plat.is_none() {
        plat = registry_pull::config_platform(layout, &config);
    }
    layout.write_blob(&bytes)?;
    let desc = descriptor(&media_type, &digest, bytes.len() as u64, plat.as_ref())?;
    name_image(layout, &target, &digest, desc)?;
    Ok(target.with_digest(digest))
}

/// Unpack a tar archive into a fresh temp dir under the store's tmp (same filesystem).
pub fn unpack_to_temp(file: &Path, layout: &ImageLayout) -> Result<tempfile::TempDir, PullError> {
    let tmp = layout.tmp_dir();
    std::fs::create_dir_all(tmp).map_err(IoAt::at("create", tmp))?;
    let dir = tempfile::Builder::new()
        .prefix("import-")
        .tempdir_in(tmp)
        .map_err(IoAt::at("create a temp dir in", tmp))?;
    let f = File::open(file).map_err(IoAt::at("open", file))?;
    let mut ar = tar::Archive::new(std::io::BufReader::with_capacity(1 << 20, f));
    ar.set_preserve_permissions(false);
    ar.set_overwrite(true);
    let bad = |detail: String| PullError::Archive {
        path: file.to_path_buf(),
        detail,
    };
    let unreadable = |e: std::io::Error| bad(format!("not a readable tar archive: {e}"));
    // What lands in the temp dir is at most what the archive holds, entry by entry, and never
    // takes the file system under its free-space reserve. A sparse entry could declare any
    // size for a few bytes (and the layer copied out of it would be written in full): docker
    // and OCI archives have none, so one is refused.
    let mut meter = ct_layout::free_space::Meter::new(dir.path(), Default::default())
        .map_err(IoAt::at("check the free space of", dir.path()))?;
    for entry in ar.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        let name = entry.path_bytes().into_owned();
        if entry.header().entry_type() == tar::EntryType::GNUSparse {
            return Err(bad(format!(
                "entry {} is a sparse file: docker and OCI archives hold none",
                ct_layout::pipe::quote(&name)
            )));
        }
        meter
            .add(entry.size(), 0)
            .map_err(|e| bad(format!("entry {}: {e}", ct_layout::pipe::quote(&name))))?;
        // unpack_in refuses entries that would land outside the directory.
        entry.unpack_in(dir.path()).map_err(unreadable)?;
    }
    Ok(dir)
}

/// `oci-archive:FILE[:REF]`.
pub fn import_archive(
    file: &Path,
    name: Option<&str>,
    opts: &Options,
    store: &Store,
    layout: &ImageLayout,
) -> Result<Reference, PullError> {
    let _gc = hold_off_gc(store)?;
    let dir = unpack_to_temp(file, layout)?;
    import_dir_held(dir.path(), name, opts, layout).map_err(|e| match e {
        PullError::Archive { detail, .. } => PullError::Archive {
            path: file.to_path_buf(),
            detail,
        },
        PullError::NeedTag(_) => PullError::NeedTag(format!("oci-archive:{}", file.display())),
        e => e,
    })
}
