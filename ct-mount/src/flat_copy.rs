//! The last resort of a user whose overlay cannot be mounted at all (neither the kernel's nor
//! fuse-overlayfs): the merged view the overlay would show, copied once into the bundle's
//! `rootfs/` — what `ct-unpack --flat` makes, from the layer store instead of the blobs.
//!
//! The layers are applied bottom first, each read as overlayfs reads it
//! (`Documentation/filesystems/overlayfs.rst`):
//! 1. a whiteout — a 0:0 character device, or the file `.wh.NAME` a store on overlayfs keeps
//!    — deletes `NAME` from what is below;
//! 2. an opaque directory (`user.overlay.opaque` or `trusted.overlay.opaque` = `y`) replaces the
//!    directory below instead of merging with it;
//! 3. anything else replaces what is at its path (a directory over a directory merges), with
//!    owner, mode, `user.*`/`security.capability` xattrs and times; hardlinks become copies.
//!
//! Every path below `rootfs/` is made by this walk and checked with `lstat` before use (a
//! non-directory in the way of a directory is removed, never followed). A file `.ct-flat` in
//! the bundle marks the copy as done: a second ct-mount keeps it (the container's changes are
//! in it, as in `upper/`).

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Timespec, Timestamps, XattrFlags, CWD};

/// The bundle file that marks a copied rootfs.
pub const MARK: &str = ".ct-flat";

fn is_whiteout(m: &fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 64 * 1024];
    let n = rustix::fs::lgetxattr(path, name, &mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

fn is_opaque(dir: &Path) -> bool {
    ["user.overlay.opaque", "trusted.overlay.opaque"]
        .iter()
        .any(|x| xattr(dir, x).as_deref() == Some(b"y"))
}

/// Remove whatever is at `p` (not following a symlink); nothing there is fine.
fn remove(p: &Path) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Owner, mode, kept xattrs and times of `from` onto `to` (no symlink followed).
fn copy_meta(from: &Path, m: &fs::Metadata, to: &Path) -> io::Result<()> {
    std::os::unix::fs::lchown(to, Some(m.uid()), Some(m.gid()))?;
    if m.file_type().is_symlink() {
        return Ok(());
    }
    fs::set_permissions(to, fs::Permissions::from_mode(m.mode() & 0o7777))?;
    let mut names = vec![0u8; 64 * 1024];
    let n = rustix::fs::llistxattr(from, &mut names)?;
    for name in names[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name);
        let kept = (name.starts_with("user.") && !name.starts_with("user.overlay."))
            || name == "security.capability";
        if let (true, Some(v)) = (kept, xattr(from, &name)) {
            rustix::fs::lsetxattr(to, name.as_ref(), &v, XattrFlags::empty())?;
        }
    }
    let t = |s: i64, ns: i64| Timespec {
        tv_sec: s,
        tv_nsec: ns as _,
    };
    let times = Timestamps {
        last_access: t(m.atime(), m.atime_nsec()),
        last_modification: t(m.mtime(), m.mtime_nsec()),
    };
    rustix::fs::utimensat(CWD, to, &times, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(())
}

/// Apply the directory `layer/rel` onto `root/rel`.
fn apply_dir(layer: &Path, root: &Path, rel: &Path) -> io::Result<()> {
    for e in fs::read_dir(layer.join(rel))? {
        let e = e?;
        let name = e.file_name();
        let from = layer.join(rel).join(&name);
        let to_rel = rel.join(&name);
        let to = root.join(&to_rel);
        if let Some(hidden) = name.as_bytes().strip_prefix(b".wh.") {
            if !hidden.is_empty() && hidden != b"." && hidden != b".." {
                remove(&root.join(rel).join(OsStr::from_bytes(hidden)))?;
            }
            continue;
        }
        let m = fs::symlink_metadata(&from)?;
        if is_whiteout(&m) {
            remove(&to)?;
            continue;
        }
        if m.is_dir() {
            let there = fs::symlink_metadata(&to).ok();
            if is_opaque(&from) || !there.as_ref().is_some_and(|t| t.is_dir()) {
                remove(&to)?;
                fs::create_dir(&to)?;
            }
            apply_dir(layer, root, &to_rel)?;
            copy_meta(&from, &m, &to)?;
            continue;
        }
        remove(&to)?;
        let ft = m.file_type();
        if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&from)?, &to)?;
        } else if ft.is_file() {
            fs::copy(&from, &to)?;
        } else if ft.is_fifo() {
            rustix::fs::mknodat(
                CWD,
                &to,
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::from_raw_mode(0o600),
                0,
            )?;
        } else {
            // Devices (none in a user's store) and sockets are not copied.
            continue;
        }
        copy_meta(&from, &m, &to)?;
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
#[error("cannot copy layer '{layer}' into '{rootfs}'")]
pub struct CopyError {
    pub layer: PathBuf,
    pub rootfs: PathBuf,
    #[source]
    pub source: io::Error,
}

/// Has `bundle_dir`'s rootfs been copied already?
pub fn done(bundle_dir: &Path) -> bool {
    bundle_dir.join(MARK).is_file()
}

/// Copy the merged view of `lower` (TOP layer first, as the overlay takes them) into the empty
/// directory `rootfs`, then mark the bundle.
pub fn copy(lower: &[PathBuf], rootfs: &Path, bundle_dir: &Path) -> Result<(), CopyError> {
    for layer in lower.iter().rev() {
        let err = |source| CopyError {
            layer: layer.clone(),
            rootfs: rootfs.to_path_buf(),
            source,
        };
        apply_dir(layer, rootfs, Path::new("")).map_err(err)?;
        // The layer's root is the container's `/`: its owner and mode too.
        let m = fs::symlink_metadata(layer).map_err(err)?;
        copy_meta(layer, &m, rootfs).map_err(err)?;
    }
    let mark = bundle_dir.join(MARK);
    fs::write(&mark, b"").map_err(|source| CopyError {
        layer: mark.clone(),
        rootfs: rootfs.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> std::ffi::OsString {
        std::ffi::OsString::from(s)
    }

    #[test]
    fn layers_apply_bottom_first_with_whiteouts_and_opaque_dirs() {
        let t = tempfile::tempdir().unwrap();
        let (l1, l2, root) = (t.path().join("l1"), t.path().join("l2"), t.path().join("r"));
        for d in [&l1, &l2, &root] {
            fs::create_dir(d).unwrap();
        }
        fs::create_dir_all(l1.join("opq")).unwrap();
        fs::write(l1.join("opq/old"), "old").unwrap();
        fs::write(l1.join("gone"), "x").unwrap();
        fs::write(l1.join("gone2"), "x").unwrap();
        fs::write(l1.join("kept"), "lower").unwrap();
        fs::create_dir_all(l2.join("opq")).unwrap();
        rustix::fs::setxattr(
            l2.join("opq"),
            "user.overlay.opaque",
            b"y",
            XattrFlags::empty(),
        )
        .unwrap();
        fs::write(l2.join("opq/new"), "new").unwrap();
        fs::write(l2.join(".wh.gone"), "").unwrap();
        rustix::fs::mknodat(
            CWD,
            l2.join("gone2"),
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::empty(),
            0,
        )
        .unwrap();
        fs::write(l2.join("kept"), "upper").unwrap();
        copy(&[l2, l1], &root, t.path()).unwrap();
        let mut names: Vec<_> = fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, [os("kept"), os("opq")]);
        assert_eq!(fs::read_to_string(root.join("kept")).unwrap(), "upper");
        let opq: Vec<_> = fs::read_dir(root.join("opq"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(opq, [os("new")]);
        assert!(done(t.path()));
    }
}
