//! Layer blob formats (image-spec `media-types.md`, `layer.md`): a tar, compressed with gzip
//! (RFC 1952) or zstd (RFC 8878), or not at all, under OCI or Docker media type names.
//!
//! Decoders are chosen for speed: gzip through `flate2` on the `zlib-rs` backend (a Rust port
//! of zlib-ng's SIMD inflate), zstd through the reference C library. The format is told by the
//! media type; the magic bytes (`1f 8b`, `28 b5 2f fd`) settle it when the two disagree, as
//! happens with hand-made archives.

use std::fs::File;
use std::io::{self, BufReader, Read};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// The compression a layer media type announces; `None` for media types that are not layers
    /// we can apply (encrypted, foreign formats).
    pub fn from_media_type(mt: &str) -> Option<Compression> {
        match mt {
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar" => Some(Compression::None),
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
                Some(Compression::Gzip)
            }
            "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
            | "application/vnd.docker.image.rootfs.diff.tar.zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// What the first bytes of a blob say.
    pub fn sniff(head: &[u8]) -> Option<Compression> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(Compression::Gzip)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else {
            None
        }
    }
}

/// A reader of the uncompressed tar stream of a blob.
pub fn open(file: File, announced: Compression) -> io::Result<Box<dyn Read + Send>> {
    let mut r = BufReader::with_capacity(1 << 20, file);
    let head = io::BufRead::fill_buf(&mut r)?;
    let c = Compression::sniff(head).unwrap_or(if head.len() >= 4 {
        Compression::None
    } else {
        announced
    });
    Ok(match c {
        Compression::None => Box::new(r),
        // Multi-member: gzip files may be concatenations (pigz, appended layers).
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types() {
        let m = Compression::from_media_type;
        assert_eq!(
            m("application/vnd.oci.image.layer.v1.tar"),
            Some(Compression::None)
        );
        assert_eq!(
            m("application/vnd.oci.image.layer.v1.tar+gzip"),
            Some(Compression::Gzip)
        );
        assert_eq!(
            m("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Some(Compression::Gzip)
        );
        assert_eq!(
            m("application/vnd.oci.image.layer.v1.tar+zstd"),
            Some(Compression::Zstd)
        );
        assert_eq!(m("application/vnd.oci.image.layer.v1.tar+encrypted"), None);
        assert_eq!(
            Compression::sniff(&[0x1f, 0x8b, 8]),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd]),
            Some(Compression::Zstd)
        );
        assert_eq!(Compression::sniff(b"ustar"), None);
    }
}
