//! Importing a plain root-filesystem tarball (`.tar`, `.tar.gz`/`.tgz`, `.tar.zst`) as a
//! one-layer image, the way `docker import` does (xz, bzip2 and zip files are named and
//! refused: no runtime reads such a layer; `ct import` converts them to tar with bsdtar):
//!
//! 1. the file, as it is, becomes the layer blob (media type from its magic number);
//! 2. its `diff_id` is the sha256 of the decompressed tar stream (which also proves it
//!    decompresses and is a tar: `ustar` at offset 257 of the first header);
//! 3. a default config: linux/host architecture, `PATH` set, `Cmd ["/bin/sh"]`, `created` now;
//! 4. an OCI manifest over both, named by `--tag` (required: a tarball carries no name).

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use ct_layout::digest::{Digest, Verifier};
use ct_layout::image_layout::ImageLayout;
use ct_layout::io_error::IoAt;
use ct_layout::reference::Reference;
use ct_layout::Store;

use crate::docker_archive::{sniff_file, Compression};
use crate::error::PullError;
use crate::manifest;
use crate::verified_blob::store_reader;
use crate::{descriptor, hold_off_gc, name_image, parse_tag, Options};
use ct_layout::platform::Platform;

/// xz (FD 37 7A 58 5A 00), bzip2 (`BZh`) and zip (`PK\x03\x04`) are no layer formats: name
/// the format instead of calling the file "not a tar" (`ct import` converts them).
fn refuse_foreign_format(path: &Path) -> Result<(), PullError> {
    let mut head = [0u8; 6];
    let mut f = File::open(path).map_err(IoAt::at("open", path))?;
    let n = f.read(&mut head).map_err(IoAt::at("read", path))?;
    let format = match &head[..n] {
        [0xfd, b'7', b'z', b'X', b'Z', 0] => "xz",
        [b'B', b'Z', b'h', ..] => "bzip2",
        [b'P', b'K', 3, 4, ..] => "zip",
        _ => return Ok(()),
    };
    Err(PullError::Archive {
        path: path.to_path_buf(),
        detail: format!(
            "a {format} file: ct-pull imports tar, tar+gzip and tar+zstd root filesystems (`ct import` converts {format})"
        ),
    })
}

/// The sha256 of the decompressed stream, checking that it is a tar.
fn diff_id(path: &Path, comp: Compression) -> Result<Digest, PullError> {
    let f = BufReader::with_capacity(1 << 20, File::open(path).map_err(IoAt::at("open", path))?);
    let mut r: Box<dyn Read> = match comp {
        Compression::None => Box::new(f),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(f)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(f).map_err(IoAt::at("decompress", path))?,
        ),
    };
    let mut head = [0u8; 512];
    let not_tar = || PullError::Archive {
        path: path.to_path_buf(),
        detail: "not a tar archive (no ustar header)".into(),
    };
    r.read_exact(&mut head).map_err(|_| not_tar())?;
    if &head[257..262] != b"ustar" {
        return Err(not_tar());
    }
    let mut v = Verifier::new(io::sink());
    v.absorb(&head);
    io::copy(&mut r, &mut v).map_err(|e| PullError::Archive {
        path: path.to_path_buf(),
        detail: format!("cannot decompress: {e}"),
    })?;
    Ok(v.finish().0)
}

/// `FILE.tar[.gz|.zst]` with `--tag NAME`.
pub fn import(
    file: &Path,
    opts: &Options,
    store: &Store,
    layout: &ImageLayout,
) -> Result<Reference, PullError> {
    let Some(tag) = &opts.tag else {
        return Err(PullError::NeedTag(file.display().to_string()));
    };
    let target = parse_tag(tag)?;
    refuse_foreign_format(file)?;
    let comp = sniff_file(file)?;
    let diff = diff_id(file, comp)?;
    let f = File::open(file).map_err(IoAt::at("open", file))?;
    // Layer, config and manifest land before the name: keep ct-gc away until it is written.
    let _gc = hold_off_gc(store)?;
    let (layer, size) = store_reader(layout, f, None)?;
    let now = ct_layout::rfc3339::now();
    let host = opts.platform.clone().unwrap_or_else(Platform::host);
    let mut config = serde_json::json!({
        "created": now,
        "architecture": host.architecture,
        "os": host.os,
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"],
        },
        "rootfs": {"type": "layers", "diff_ids": [diff.to_string()]},
        "history": [{"created": now, "created_by": format!("ct-pull {}", file.display())}],
    });
    if let Some(v) = &host.variant {
        config["variant"] = serde_json::json!(v);
    }
    let json_err = |source| PullError::Json {
        what: "new config".into(),
        source,
    };
    let cb = serde_json::to_vec(&config).map_err(json_err)?;
    let cd = layout.write_blob(&cb)?;
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest::OCI_MANIFEST,
        "config": {"mediaType": manifest::OCI_CONFIG, "digest": cd.to_string(), "size": cb.len()},
        "layers": [{"mediaType": comp.media_type(), "digest": layer.to_string(), "size": size}],
    });
    let mb = serde_json::to_vec(&m).map_err(json_err)?;
    let digest = layout.write_blob(&mb)?;
    let desc = descriptor(
        manifest::OCI_MANIFEST,
        &digest,
        mb.len() as u64,
        Some(&host),
    )?;
    name_image(layout, &target, &digest, desc)?;
    Ok(target.with_digest(digest))
}
