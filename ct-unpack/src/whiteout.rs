//! Whiteouts: how a layer deletes what lower layers have (OCI image-spec `layer.md`,
//! "Whiteouts"), and how overlayfs spells the same thing (kernel
//! `Documentation/filesystems/overlayfs.rst`, "whiteouts and opaque directories").
//!
//! | meaning                          | in the layer tar         | in an overlayfs lower dir            |
//! | -------------------------------- | ------------------------ | ------------------------------------ |
//! | `DIR/NAME` is deleted            | `DIR/.wh.NAME`           | `DIR/NAME` is a char device 0:0      |
//! | `DIR` hides everything below it  | `DIR/.wh..wh..opq`       | xattr `trusted.overlay.opaque` = `y` |
//!
//! `trusted.*` xattrs need `CAP_SYS_ADMIN` in the initial user namespace. An overlay mounted
//! in a user namespace (as ct does for a user, ct_layout::rootless) takes the `userxattr`
//! option and reads `user.overlay.opaque` instead (Linux 5.11+): a user's layer store is
//! marked with that one ([`opaque_xattr`]). The whiteout device needs no privilege: a 0:0
//! character device is the one node a user namespace may `mknod(2)` (Linux 5.8+).
//!
//! The spec's rules that matter when applying them:
//! 1. A whiteout only hides things from LOWER layers; an entry of the same layer survives.
//! 2. An opaque marker hides the directory's lower contents, not entries of its own layer, and
//!    that holds whatever their order in the tar (before or after the marker).
//! 3. No `.wh.` file is ever materialised: `.wh.NAME` is not a file a container may see.
//!
//! In the layer store each layer is its own directory, so rule 1 and 2 come for free: the
//! layer's own entries live in that directory and overlay hides only the lower ones. With
//! `--flat` the extractor applies them itself (see `tar_extract.rs`).

use std::path::{Path, PathBuf};

/// Prefix of a whiteout file name.
pub const PREFIX: &str = ".wh.";
/// The opaque marker's file name.
pub const OPAQUE: &str = ".wh..wh..opq";
/// overlayfs' opaque-directory xattr and its value.
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// The same for an overlay mounted with `userxattr` (in a user namespace).
pub const USER_OVERLAY_OPAQUE_XATTR: &str = "user.overlay.opaque";
pub const OVERLAY_OPAQUE_VALUE: &[u8] = b"y";

/// The opaque xattr for the layer store of this process: `user.` as a user, `trusted.` as root.
pub fn opaque_xattr() -> &'static str {
    if ct_layout::rootless::active() {
        USER_OVERLAY_OPAQUE_XATTR
    } else {
        OVERLAY_OPAQUE_XATTR
    }
}

/// What one (cleaned) tar path means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// An ordinary entry at this path.
    Entry(PathBuf),
    /// `DIR/.wh.NAME`: delete `DIR/NAME` from lower layers.
    Whiteout(PathBuf),
    /// `DIR/.wh..wh..opq`: `DIR` is opaque.
    Opaque(PathBuf),
}

/// Classify a cleaned tar path.
pub fn classify(path: &Path) -> Kind {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Kind::Entry(path.to_path_buf());
    };
    let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    if name == OPAQUE {
        return Kind::Opaque(dir);
    }
    match name.strip_prefix(PREFIX) {
        // `.wh.` alone, `.wh..`, `.wh...` would name the directory itself or its parent; treat
        // them as what they are: invalid whiteouts, which must not delete `DIR` or above.
        Some(target) if !target.is_empty() && target != "." && target != ".." => {
            Kind::Whiteout(dir.join(target))
        }
        Some(_) => Kind::Entry(path.to_path_buf()),
        None => Kind::Entry(path.to_path_buf()),
    }
}

/// Is this name a whiteout-ish name that must never appear in a container.
pub fn is_reserved(name: &str) -> bool {
    name.starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping() {
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(classify(&p("etc/passwd")), Kind::Entry(p("etc/passwd")));
        assert_eq!(
            classify(&p("etc/.wh.passwd")),
            Kind::Whiteout(p("etc/passwd"))
        );
        assert_eq!(classify(&p(".wh.etc")), Kind::Whiteout(p("etc")));
        assert_eq!(
            classify(&p("var/lib/.wh..wh..opq")),
            Kind::Opaque(p("var/lib"))
        );
        assert_eq!(classify(&p(".wh..wh..opq")), Kind::Opaque(p("")));
        // A file whose name merely contains the prefix is an ordinary file.
        assert_eq!(classify(&p("a/x.wh.y")), Kind::Entry(p("a/x.wh.y")));
        // `.wh..` would whiteout the parent directory: not a valid whiteout.
        assert_eq!(classify(&p("a/.wh..")), Kind::Entry(p("a/.wh..")));
        assert_eq!(classify(&p("a/.wh.")), Kind::Entry(p("a/.wh.")));
        // A whiteout of a name that itself looks like a whiteout.
        assert_eq!(classify(&p("a/.wh..wh.b")), Kind::Whiteout(p("a/.wh.b")));
        assert!(is_reserved(".wh.x"));
        assert!(!is_reserved("x"));
    }
}
