//! A tar entry's metadata — owner, mode, extended attributes, modification time — read from
//! the header and its PAX records (`SCHILY.xattr.NAME`, `mtime` with a fraction), and put on
//! the node in the order the kernel needs:
//!
//! 1. `chown` first: it clears the setuid/setgid bits and `security.capability`
//!    (`chown(2)`, `capabilities(7)`), so anything set before it would be lost.
//! 2. `chmod`, now that the owner is final (setuid/setgid survive).
//! 3. xattrs (`setxattr(2)`), only the names [`xattr_allowed`] lets through.
//! 4. times last (`utimensat(2)`); a directory's wait until the whole layer is done, because
//!    creating its children changes its mtime.
//!
//! Regular files and directories are changed through an open fd (`fchown`, `fchmod`,
//! `fsetxattr`, `futimens`); symlinks, devices and fifos, which cannot be opened for that,
//! by name below their parent with `AT_SYMLINK_NOFOLLOW`. On an fd, `chown` and `chmod` are
//! skipped when `fstat` shows the node has its owner and mode already: a regular file is
//! created with its permission bits, by the caller (root:root for most of an image), so mostly
//! neither is needed, and each is a journaled inode update where `fstat` is not (~2% of an
//! unpack's CPU time on ext4). The umask, or a setgid parent giving its group, makes the
//! difference that `fstat` sees.

use std::ffi::CString;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, Gid, Mode, OFlags, Timespec, Timestamps, Uid, XattrFlags};

use super::{fail, ExtractError, Extractor};
use crate::id_map;
use crate::resolve_in_root::open_in_root;

/// xattrs a layer may carry into the store. `trusted.overlay.*` is overlayfs' own namespace,
/// and so is `user.overlay.*` for an overlay mounted with `userxattr` (as a user does): a layer
/// must not forge `overlay.redirect`, `overlay.opaque` and friends. `user.rootlesscontainers`
/// is ct-unpack's own record of owners (`id_map.rs`). Other `security.*` labels belong to the
/// host's LSM.
pub fn xattr_allowed(name: &str) -> bool {
    (name.starts_with("user.") && !name.starts_with("user.overlay.") && name != id_map::OWNER_XATTR)
        || name == "security.capability"
}

/// What an entry's header and PAX records say about its node.
pub(crate) struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: Timespec,
    pub xattrs: Vec<(CString, Vec<u8>)>,
}

impl Meta {
    pub fn read<R: Read>(entry: &mut tar::Entry<'_, R>, p: &Path) -> Result<Meta, ExtractError> {
        let h = entry.header();
        let mode = h.mode().map_err(fail("read the mode of", p))? & 0o7777;
        let uid = h.uid().map_err(fail("read the owner of", p))?;
        let gid = h.gid().map_err(fail("read the group of", p))?;
        let big = || io::Error::new(io::ErrorKind::InvalidData, "id does not fit in 32 bits");
        let uid = u32::try_from(uid).map_err(|_| fail("read the owner of", p)(big()))?;
        let gid = u32::try_from(gid).map_err(|_| fail("read the group of", p)(big()))?;
        let mtime = h.mtime().map_err(fail("read the mtime of", p))?;
        let mut m = Meta {
            mode,
            uid,
            gid,
            mtime: Timespec {
                tv_sec: mtime as i64,
                tv_nsec: 0,
            },
            xattrs: Vec::new(),
        };
        if let Some(pax) = entry
            .pax_extensions()
            .map_err(fail("read the PAX header of", p))?
        {
            for ext in pax {
                let ext = ext.map_err(fail("read the PAX header of", p))?;
                let Ok(key) = ext.key() else { continue };
                if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                    if xattr_allowed(name) {
                        if let Ok(k) = CString::new(name) {
                            m.xattrs.push((k, ext.value_bytes().to_vec()));
                        }
                    }
                } else if key == "mtime" {
                    if let Some(t) = ext.value().ok().and_then(parse_pax_time) {
                        m.mtime = t;
                    }
                }
            }
        }
        Ok(m)
    }

    /// The ids to `chown` to, and the owner to record when this user namespace does not map
    /// the image's (`id_map.rs`).
    fn owner(&self) -> (Option<Uid>, Option<Gid>, Option<Vec<u8>>) {
        let (uid, gid, record) = crate::id_map::owner(self.uid, self.gid);
        // Unchecked: an id of 2^32-1 is passed on as is, and chown(2) reads it as "unchanged",
        // as it always did here.
        (
            Some(Uid::from_raw_unchecked(uid)),
            Some(Gid::from_raw_unchecked(gid)),
            record,
        )
    }

    fn times(&self) -> Timestamps {
        Timestamps {
            last_access: self.mtime,
            last_modification: self.mtime,
        }
    }
}

impl Extractor {
    /// Set directory times, deepest first, now that no more children will be created.
    pub(super) fn finish_dirs(&mut self) -> Result<(), ExtractError> {
        self.parent_cache = None;
        let dirs = std::mem::take(&mut self.dir_times);
        for (p, t) in dirs.iter().rev() {
            let fd = match open_in_root(
                &self.root,
                p,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW,
            ) {
                Ok(fd) => fd,
                // Deleted or replaced later in the same layer.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP)
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(fail("open directory", p)(e)),
            };
            set_times_fd(&fd, *t).map_err(fail("set times on", p))?;
        }
        Ok(())
    }
}

/// Set both times of an open file or directory to `t`.
fn set_times_fd(fd: &OwnedFd, t: Timespec) -> io::Result<()> {
    let ts = Timestamps {
        last_access: t,
        last_modification: t,
    };
    Ok(rustix::fs::futimens(fd, &ts)?)
}

/// chown, chmod, xattrs, times on an open regular file or directory.
pub(crate) fn apply_meta_fd(fd: &OwnedFd, m: &Meta, times: bool) -> io::Result<()> {
    let (uid, gid, record) = m.owner();
    // Only what the node lacks (module doc).
    let st = rustix::fs::fstat(fd)?;
    let differs = |want: Option<u32>, have: u32| want.is_some_and(|w| w != have);
    if differs(uid.map(Uid::as_raw), st.st_uid) || differs(gid.map(Gid::as_raw), st.st_gid) {
        rustix::fs::fchown(fd, uid, gid)?;
    }
    if st.st_mode & 0o7777 != m.mode {
        rustix::fs::fchmod(fd, Mode::from_raw_mode(m.mode))?;
    }
    if let Some(r) = record {
        rustix::fs::fsetxattr(fd, id_map::OWNER_XATTR, &r, XattrFlags::empty())?;
        id_map::note_recorded();
    }
    for (k, v) in &m.xattrs {
        rustix::fs::fsetxattr(fd, k, v, XattrFlags::empty())?;
    }
    if times {
        rustix::fs::futimens(fd, &m.times())?;
    }
    Ok(())
}

/// Metadata on a node that cannot be opened (symlink, device, fifo): by name, no-follow.
pub(crate) fn apply_meta_at(
    dir: &OwnedFd,
    name: &CString,
    m: &Meta,
    symlink: bool,
) -> io::Result<()> {
    let (uid, gid, record) = m.owner();
    rustix::fs::chownat(dir, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW)?;
    if !symlink {
        // The node was created by us a moment ago and is not a symlink, so following is moot;
        // fchmodat has no working NOFOLLOW flag before Linux 6.6's fchmodat2.
        rustix::fs::chmodat(dir, name, Mode::from_raw_mode(m.mode), AtFlags::empty())?;
        // A symlink cannot carry user.* xattrs (xattr(7)): its owner is not kept, as with umoci.
        if let Some(r) = record {
            let key = CString::new(id_map::OWNER_XATTR).map_err(io::Error::other)?;
            lsetxattr_at(dir, name, &key, &r)?;
            id_map::note_recorded();
        }
    }
    for (k, v) in &m.xattrs {
        match lsetxattr_at(dir, name, k, v) {
            // The kernel allows no user.* xattrs on symlinks (xattr(7)); GNU tar and umoci
            // skip them too.
            Err(e) if symlink && e.raw_os_error() == Some(libc::EPERM) => {}
            r => r?,
        }
    }
    rustix::fs::utimensat(dir, name, &m.times(), AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(())
}

/// `lsetxattr` on `name` in `dir` through procfs: the magic link pins the directory, the last
/// component is not followed. Used where no fd to the node itself can be opened (symlinks,
/// devices, fifos).
fn lsetxattr_at(dir: &OwnedFd, name: &CString, key: &CString, value: &[u8]) -> io::Result<()> {
    let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    p.extend_from_slice(name.as_bytes());
    Ok(rustix::fs::lsetxattr(p, key, value, XattrFlags::empty())?)
}

/// PAX `mtime` is decimal seconds with an optional fraction.
pub(crate) fn parse_pax_time(v: &str) -> Option<Timespec> {
    let (s, frac) = v.split_once('.').unwrap_or((v, ""));
    let sec: i64 = s.parse().ok()?;
    let mut nsec: i64 = 0;
    if !frac.is_empty() {
        let digits: String = frac.chars().take(9).collect();
        let n: i64 = digits.parse().ok()?;
        nsec = n * 10i64.pow(9 - digits.len() as u32);
        if sec < 0 && nsec > 0 {
            return Some(Timespec {
                tv_sec: sec - 1,
                tv_nsec: 1_000_000_000 - nsec,
            });
        }
    }
    Some(Timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times() {
        let t = parse_pax_time("1700000000.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1_700_000_000, 500_000_000));
        let t = parse_pax_time("12").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (12, 0));
        assert!(parse_pax_time("x").is_none());
    }

    #[test]
    fn xattr_filter() {
        assert!(xattr_allowed("user.foo"));
        assert!(xattr_allowed("security.capability"));
        assert!(!xattr_allowed("trusted.overlay.opaque"));
        assert!(!xattr_allowed("trusted.overlay.redirect"));
        assert!(!xattr_allowed("security.selinux"));
        assert!(!xattr_allowed("user.overlay.opaque"));
        assert!(!xattr_allowed("user.overlay.redirect"));
        assert!(!xattr_allowed("user.rootlesscontainers"));
        assert!(xattr_allowed("user.overlayish"));
    }
}
