//! Applying a layer's whiteouts (the OCI image spec's `layer.md`; the names are classified in
//! `whiteout.rs`) to the tree being extracted, in one of two ways:
//!
//! - [`Target::Layer`] (the layer store, later stacked by overlayfs): a whiteout `DIR/.wh.NAME`
//!   becomes overlayfs' own form, a 0:0 character device `DIR/NAME` (`mknodat(2)`); an opaque
//!   marker `DIR/.wh..wh..opq` becomes the xattr `trusted.overlay.opaque=y` on `DIR`
//!   (`user.overlay.opaque=y` in a user's store, see `whiteout.rs`). A layer
//!   that deletes `D` and then adds entries below it gets an opaque `D` in place of the device.
//! - [`Target::Flat`] (`--flat`, every layer into one tree): a whiteout deletes `DIR/NAME` from
//!   the lower layers, an opaque marker deletes everything in `DIR` this layer did not put there.
//!
//! Either way an entry of the same layer is never hidden by that layer's own whiteout.
//!
//! A user's layer store on a filesystem where even a 0:0 device cannot be made (overlayfs:
//! ct in a container) keeps the tar's form `DIR/.wh.NAME` instead: the kernel's overlay cannot
//! be mounted there anyway, and fuse-overlayfs, which can, reads both forms.

use std::ffi::OsStr;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, XattrFlags};

use super::dir_fd::{is_dir, list_dir, lstat_at, open_subdir, remove_all_at};
use super::{fail, name_c, ExtractError, Extractor, Target};
use crate::resolve_in_root::{mkdir_all_in_root, open_in_root};
use crate::whiteout;

/// Mark the open directory `fd` opaque for overlayfs.
fn set_opaque(fd: &OwnedFd) -> io::Result<()> {
    Ok(rustix::fs::fsetxattr(
        fd,
        whiteout::opaque_xattr(),
        whiteout::OVERLAY_OPAQUE_VALUE,
        XattrFlags::empty(),
    )?)
}

impl Extractor {
    /// `DIR/.wh.NAME`.
    pub(super) fn whiteout(&mut self, p: &Path) -> Result<(), ExtractError> {
        let (parent, name) = Self::split(p).map_err(fail("name", p))?;
        match self.target {
            Target::Layer => {
                let pfd = self
                    .parent(&parent)
                    .map_err(fail("create the parent directory of whiteout", p))?
                    .try_clone()
                    .map_err(fail("open the parent of", p))?;
                // An entry of this same layer is not hidden by its own whiteout (rule 1).
                if lstat_at(&pfd, &name).map_err(fail("inspect", p))?.is_some() {
                    return Ok(());
                }
                // A 0:0 char device is overlayfs' whiteout.
                let dev = rustix::fs::makedev(0, 0);
                match rustix::fs::mknodat(
                    &pfd,
                    &name,
                    FileType::CharacterDevice,
                    Mode::empty(),
                    dev,
                ) {
                    // A user's store on a filesystem that refuses even that (overlayfs, when
                    // ct runs in a container): the tar's own `.wh.NAME`, which fuse-overlayfs
                    // (the only overlay that mounts there) reads as a whiteout.
                    Err(rustix::io::Errno::PERM) if ct_layout::rootless::active() => {
                        let wh = name_c(OsStr::new(&format!(
                            "{}{}",
                            whiteout::PREFIX,
                            name.to_string_lossy()
                        )))
                        .map_err(fail("name", p))?;
                        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::NOFOLLOW;
                        super::dir_fd::openat(&pfd, &wh, flags, 0)
                            .map_err(fail("create whiteout", p))?;
                    }
                    r => r.map_err(|e| fail("create whiteout", p)(e.into()))?,
                }
            }
            Target::Flat => {
                if self.touched.contains(p) {
                    return Ok(());
                }
                let pfd = match open_in_root(&self.root, &parent, OFlags::PATH | OFlags::DIRECTORY)
                {
                    Ok(fd) => fd,
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                        return Ok(())
                    }
                    Err(e) => return Err(fail("open the parent of whiteout", p)(e)),
                };
                self.invalidate(p);
                remove_all_at(&pfd, &name).map_err(fail("delete (whiteout)", p))?;
            }
        }
        Ok(())
    }

    /// `DIR/.wh..wh..opq`.
    pub(super) fn opaque(&mut self, dir: &Path) -> Result<(), ExtractError> {
        match self.target {
            Target::Layer => {
                let fd = mkdir_all_in_root(&self.root, dir)
                    .and_then(|_| open_in_root(&self.root, dir, OFlags::RDONLY | OFlags::DIRECTORY))
                    .map_err(fail("create opaque directory", dir))?;
                set_opaque(&fd).map_err(fail("mark opaque", dir))?;
            }
            Target::Flat => {
                let fd = match open_in_root(&self.root, dir, OFlags::RDONLY | OFlags::DIRECTORY) {
                    Ok(fd) => fd,
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                        self.touch(dir);
                        return Ok(());
                    }
                    Err(e) => return Err(fail("open opaque directory", dir)(e)),
                };
                self.parent_cache = None;
                self.prune(&fd, dir)?;
                self.touch(dir);
            }
        }
        Ok(())
    }

    /// Flat opaque: remove everything below `dir` that this layer did not put there.
    fn prune(&mut self, fd: &OwnedFd, dir: &Path) -> Result<(), ExtractError> {
        for child in list_dir(fd).map_err(fail("list", dir))? {
            let p = dir.join(OsStr::from_bytes(child.as_bytes()));
            if !self.touched.contains(&p) {
                remove_all_at(fd, &child).map_err(fail("delete (opaque)", &p))?;
                continue;
            }
            let st = lstat_at(fd, &child).map_err(fail("inspect", &p))?;
            if st.as_ref().is_some_and(is_dir) {
                let sub = open_subdir(fd, &child).map_err(fail("open", &p))?;
                self.prune(&sub, &p)?;
            }
        }
        Ok(())
    }

    /// A layer that deletes `D` (`.wh.D`) and then puts entries below `D` means "a new `D`,
    /// nothing of the old one": in overlay form that is an opaque directory in place of the
    /// whiteout device.
    pub(super) fn revive_whited_out(&mut self, dir: &Path) -> io::Result<()> {
        let mut sofar = PathBuf::new();
        for c in dir.components() {
            let parent = open_in_root(&self.root, &sofar, OFlags::PATH | OFlags::DIRECTORY)?;
            sofar.push(c);
            let name = name_c(c.as_os_str())?;
            let Some(st) = lstat_at(&parent, &name)? else {
                return Ok(());
            };
            if FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice && st.st_rdev == 0 {
                rustix::fs::unlinkat(&parent, &name, AtFlags::empty())?;
                rustix::fs::mkdirat(&parent, &name, Mode::from_raw_mode(0o755))?;
                let fd = open_subdir(&parent, &name)?;
                set_opaque(&fd)?;
                self.parent_cache = None;
            } else if !is_dir(&st) {
                return Ok(());
            }
        }
        Ok(())
    }
}
