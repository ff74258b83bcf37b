//! Reading one file of an image without mounting it: look through the layer directories top
//! first, the way overlayfs would (kernel `Documentation/filesystems/overlayfs.rst`):
//!
//! 1. In each layer, every parent directory on the way must be a directory; a 0:0 character
//!    device (whiteout) or any other non-directory there ends the search: the file is gone.
//! 2. The file itself: a regular file is the answer; a whiteout means deleted; a symlink is
//!    followed inside that layer only (`RESOLVE_IN_ROOT`), which covers the usual case.
//! 3. A parent marked opaque (`trusted.overlay.opaque=y`, or `user.` in a user's store) hides
//!    all lower layers: stop there.
//!
//! Used for the image's `/etc/passwd` and `/etc/group` when resolving `User`, and for the
//! owner and mode of the image's `VOLUME` directories.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::OFlags;

use crate::resolve_in_root::{open_in_root, open_root};
use crate::whiteout;

fn is_whiteout(m: &fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

/// `NAME` in `dir` is deleted by a `.wh.NAME` file (the form a user's store keeps where no
/// whiteout device can be made, see `tar_extract/whiteouts.rs`).
fn whiteout_file(dir: &Path, name: &std::ffi::OsStr) -> bool {
    let mut wh = std::ffi::OsString::from(whiteout::PREFIX);
    wh.push(name);
    fs::symlink_metadata(dir.join(wh)).is_ok()
}

fn is_opaque(dir: &Path) -> bool {
    let mut buf = [0u8; 4];
    let n = rustix::fs::lgetxattr(dir, whiteout::opaque_xattr(), &mut buf);
    matches!(n, Ok(1)) && buf[0] == b'y'
}

/// The layer directory (of `layers`, bottom first) whose entry at `path` (relative) is the one
/// overlayfs would show, with that entry's `lstat`; `None` if the image has nothing there.
pub fn locate(layers: &[PathBuf], path: &Path) -> Option<(PathBuf, fs::Metadata)> {
    'layers: for dir in layers.iter().rev() {
        let mut sofar = dir.clone();
        let parents: Vec<_> = path
            .parent()
            .map(|p| p.components().collect())
            .unwrap_or_default();
        let mut opaque = is_opaque(dir);
        for c in parents {
            if whiteout_file(&sofar, c.as_os_str()) {
                return None;
            }
            sofar.push(c);
            match fs::symlink_metadata(&sofar) {
                Ok(m) if m.is_dir() => opaque |= is_opaque(&sofar),
                Ok(_) => return None,
                Err(_) => {
                    if opaque {
                        return None;
                    }
                    continue 'layers;
                }
            }
        }
        if path.file_name().is_some_and(|n| whiteout_file(&sofar, n)) {
            return None;
        }
        match fs::symlink_metadata(dir.join(path)) {
            Ok(m) if is_whiteout(&m) => return None,
            Ok(m) => return Some((dir.clone(), m)),
            Err(_) if opaque => return None,
            Err(_) => {}
        }
    }
    None
}

/// The contents of `path` (relative, e.g. `etc/passwd`) in the image made of `layers` (layer
/// directories, bottom first), or `None` if the image has no such regular file. Reads at most
/// `limit` bytes.
pub fn read(layers: &[PathBuf], path: &Path, limit: u64) -> Option<String> {
    let (dir, m) = locate(layers, path)?;
    if !(m.is_file() || m.file_type().is_symlink()) {
        return None;
    }
    read_in_root(&dir, path, limit)
}

/// Read `path` inside the tree at `dir` (resolved with `RESOLVE_IN_ROOT`), only if it is a
/// regular file: `O_NONBLOCK` and the type check keep an image's `/etc/passwd` that is a FIFO
/// or a device from hanging or flooding us.
pub fn read_in_root(dir: &Path, path: &Path, limit: u64) -> Option<String> {
    let root = open_root(dir).ok()?;
    let fd = open_in_root(
        &root,
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY,
    )
    .ok()?;
    let f = fs::File::from(fd);
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut s = String::new();
    f.take(limit).read_to_string(&mut s).ok()?;
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_layer_wins_and_whiteouts_hide() {
        let t = tempfile::tempdir().unwrap();
        let l1 = t.path().join("l1");
        let l2 = t.path().join("l2");
        let l3 = t.path().join("l3");
        for l in [&l1, &l2, &l3] {
            fs::create_dir_all(l.join("etc")).unwrap();
        }
        fs::write(l1.join("etc/passwd"), "one").unwrap();
        fs::write(l1.join("etc/group"), "g1").unwrap();
        let p = Path::new("etc/passwd");
        let g = Path::new("etc/group");
        assert_eq!(
            read(&[l1.clone(), l2.clone()], p, 100).as_deref(),
            Some("one")
        );
        fs::write(l2.join("etc/passwd"), "two").unwrap();
        assert_eq!(
            read(&[l1.clone(), l2.clone()], p, 100).as_deref(),
            Some("two")
        );
        assert_eq!(
            read(&[l1.clone(), l2.clone()], g, 100).as_deref(),
            Some("g1")
        );
        // A whiteout in l3 hides both.
        // A 0:0 char device (needs root, like the whole crate).
        use rustix::fs::{FileType, Mode, CWD};
        let (kind, dev) = (FileType::CharacterDevice, rustix::fs::makedev(0, 0));
        rustix::fs::mknodat(CWD, l3.join("etc/passwd"), kind, Mode::empty(), dev).unwrap();
        let all = [l1.clone(), l2.clone(), l3.clone()];
        assert_eq!(read(&all, p, 100), None);
        // Symlinks are followed inside their layer.
        std::os::unix::fs::symlink("/etc/group", l2.join("etc/alias")).unwrap();
        assert_eq!(read(&all, Path::new("etc/alias"), 100).as_deref(), None);
        fs::write(l2.join("etc/group"), "g2").unwrap();
        assert_eq!(
            read(&all, Path::new("etc/alias"), 100).as_deref(),
            Some("g2")
        );
    }
}
