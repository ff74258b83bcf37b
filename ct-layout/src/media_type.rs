//! Media types of the OCI image spec (`media-types.md`) and their Docker schema 2 twins: what
//! a descriptor's `mediaType` says a blob is. Every stage reads them from here, so ct-pull
//! fetches exactly the layers ct-unpack can apply.
//!
//! A layer is a tar, compressed with gzip (RFC 1952) or zstd (RFC 8878) or not at all
//! ([`Compression`]); "nondistributable" (OCI) and "foreign" (Docker) layers are the same
//! formats with a hint that registries need not serve them. The magic bytes at the start of
//! the blob (`1f 8b` for gzip, `28 b5 2f fd` for zstd) tell the truth when a hand-made
//! archive's media type does not.

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// How a layer's tar is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// The compression a layer media type announces; `None` for media types that are not
    /// layers ct can apply (encrypted layers, foreign formats, configs, manifests).
    pub fn from_media_type(mt: &str) -> Option<Compression> {
        match mt {
            OCI_LAYER_TAR
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar" => Some(Compression::None),
            OCI_LAYER_GZIP
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
                Some(Compression::Gzip)
            }
            OCI_LAYER_ZSTD
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
            | "application/vnd.docker.image.rootfs.diff.tar.zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// What the first bytes of a blob say: `None` when they are no known compression's magic
    /// (a plain tar, or something else).
    pub fn sniff(head: &[u8]) -> Option<Compression> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(Compression::Gzip)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else {
            None
        }
    }

    /// The OCI media type of a layer compressed this way.
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::None => OCI_LAYER_TAR,
            Compression::Gzip => OCI_LAYER_GZIP,
            Compression::Zstd => OCI_LAYER_ZSTD,
        }
    }
}

/// Is `mt` a layer ct can apply?
pub fn is_layer(mt: &str) -> bool {
    Compression::from_media_type(mt).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_layer_type_round_trips_and_others_are_no_layers() {
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            assert_eq!(Compression::from_media_type(c.media_type()), Some(c));
        }
        assert_eq!(
            Compression::from_media_type("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Some(Compression::Gzip)
        );
        for not in [
            OCI_CONFIG,
            OCI_MANIFEST,
            "application/vnd.oci.image.layer.v1.tar+encrypted",
        ] {
            assert!(!is_layer(not), "{not}");
        }
    }

    #[test]
    fn magic_bytes() {
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
