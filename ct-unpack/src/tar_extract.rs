//! Applying one layer tar (POSIX ustar + GNU and PAX extensions, `tar(5)`) to a directory,
//! safely and losslessly.
//!
//! The `tar` crate parses the stream (GNU long names and link targets, PAX `path`/`linkpath`/
//! `size`/`uid`/`gid`, GNU sparse maps); everything touching the filesystem is done here with
//! the `*at` family relative to directory fds found with `openat2(RESOLVE_IN_ROOT)` (see
//! `resolve_in_root.rs`), so no entry — absolute, `..`, through a planted symlink, a hardlink
//! to `/etc/shadow` — can reach outside the root.
//!
//! For every entry, in order:
//! 1. Clean the name and classify it (`whiteout.rs`): entry, whiteout or opaque marker.
//! 2. Open (or create, 0755) the parent directory inside the root.
//! 3. Remove what is in the way: a non-directory, or a directory replaced by a non-directory.
//! 4. Create the node: `openat(O_CREAT|O_EXCL|O_NOFOLLOW)`, `mkdirat`, `symlinkat`, `linkat`,
//!    `mknodat` (fifos, devices); file data with its holes (`tar_extract/sparse.rs`).
//! 5. Metadata, in the order the kernel needs: `chown` first (it clears setuid/setgid bits and
//!    `security.capability`), then `chmod`, then xattrs, then times. Directory times are set
//!    after the whole layer, because creating children changes them (`tar_extract/metadata.rs`).
//!
//! As a user (in the user namespace of ct_layout::rootless), owners the namespace does not map
//! are recorded instead and device nodes skipped (`id_map.rs`).
//!
//! Two targets: [`Target::Layer`] keeps whiteouts in overlayfs form (0:0 char device,
//! `trusted.overlay.opaque=y`, `user.` as a user) for the layer store; [`Target::Flat`] applies them (deletes) to a
//! tree that already holds the lower layers (`tar_extract/whiteouts.rs`). The `*at` helpers
//! that never follow a symlink are in `tar_extract/dir_fd.rs`.

mod dir_fd;
mod metadata;
mod sparse;
mod whiteouts;

use std::collections::HashSet;
use std::ffi::CString;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timespec};

use ct_layout::free_space::Meter;

use crate::resolve_in_root::{clean, cstr, mkdir_all_in_root, open_in_root, open_root};
use crate::whiteout::{self, Kind};
use dir_fd::{is_dir, lstat_at, open_subdir, openat, remove_all_at};
use metadata::{apply_meta_at, apply_meta_fd, Meta};
use sparse::PaxSparse;

pub use metadata::xattr_allowed;

/// Where whiteouts go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// One layer on its own (the layer store): whiteouts in overlayfs form.
    Layer,
    /// All layers applied in order into one tree (`--flat`): whiteouts delete.
    Flat,
}

/// One failed step on one tar entry (its path relative to the layer's root, which is `/`).
#[derive(Debug, thiserror::Error)]
#[error("cannot {step}{}", shown(.path))]
pub struct ExtractError {
    pub step: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// ` 'PATH'`, `/` for the layer's root itself, nothing when no entry is involved.
fn shown(p: &Path) -> String {
    if p == Path::new("") {
        String::new()
    } else {
        format!(" {}", ct_layout::pipe::quote_path(p))
    }
}

fn fail<'a>(step: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ExtractError + 'a {
    move |source| ExtractError {
        step,
        path: path.to_path_buf(),
        source,
    }
}

/// What a layer held, for humans.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub entries: u64,
    pub bytes: u64,
}

fn name_c(name: &std::ffi::OsStr) -> io::Result<CString> {
    cstr(Path::new(name))
}

/// Applies layers to one root directory.
pub struct Extractor {
    root: OwnedFd,
    target: Target,
    /// The last parent directory opened (entries come grouped by directory).
    parent_cache: Option<(PathBuf, OwnedFd)>,
    /// Directory times to set once the layer is done (children change them).
    dir_times: Vec<(PathBuf, Timespec)>,
    /// `Flat` only: paths this layer created, and all their ancestors.
    touched: HashSet<PathBuf>,
    buf: Vec<u8>,
    /// Free space and size limits (`ct_layout::free_space`), checked as data is written.
    meter: Option<Meter>,
}

impl Extractor {
    pub fn new(root_dir: &Path, target: Target) -> io::Result<Extractor> {
        Ok(Extractor {
            root: open_root(root_dir)?,
            target,
            parent_cache: None,
            dir_times: Vec::new(),
            touched: HashSet::new(),
            buf: vec![0; 256 * 1024],
            meter: None,
        })
    }

    /// Count what the next layer writes against `meter`'s limits (one meter per layer).
    pub fn set_meter(&mut self, meter: Option<Meter>) {
        self.meter = meter;
    }

    /// Apply one layer's uncompressed tar stream.
    pub fn apply<R: Read>(&mut self, reader: R) -> Result<Stats, ExtractError> {
        let mut stats = Stats::default();
        self.touched.clear();
        self.dir_times.clear();
        let mut ar = tar::Archive::new(reader);
        let here = Path::new("");
        let entries = ar.entries().map_err(fail("read the tar stream", here))?;
        for entry in entries {
            let mut entry = entry.map_err(fail("read a tar entry", here))?;
            let mut raw = entry
                .path()
                .map_err(fail("read a tar entry name", here))?
                .into_owned();
            let sparse =
                sparse::pax_sparse(&mut entry).map_err(fail("read the PAX header of", &raw))?;
            if let Some(n) = sparse.as_ref().and_then(|s| s.name.clone()) {
                raw = n;
            }
            let path = clean(&raw);
            stats.entries += 1;
            if let Some(m) = &mut self.meter {
                m.entry()
                    .map_err(|e| fail("create", &path)(io::Error::other(e)))?;
            }
            match whiteout::classify(&path) {
                Kind::Opaque(dir) => self.opaque(&dir)?,
                Kind::Whiteout(p) => self.whiteout(&p)?,
                Kind::Entry(p) => stats.bytes += self.entry(&mut entry, &p, sparse.as_ref())?,
            }
        }
        self.finish_dirs()?;
        Ok(stats)
    }

    fn touch(&mut self, p: &Path) {
        if self.target != Target::Flat {
            return;
        }
        for a in p.ancestors() {
            if !self.touched.insert(a.to_path_buf()) {
                break;
            }
        }
    }

    /// Forget the cached parent if `p` (just removed or replaced) is it or above it.
    fn invalidate(&mut self, p: &Path) {
        if let Some((cached, _)) = &self.parent_cache {
            if cached.starts_with(p) {
                self.parent_cache = None;
            }
        }
    }

    fn parent(&mut self, dir: &Path) -> io::Result<&OwnedFd> {
        let hit = matches!(&self.parent_cache, Some((p, _)) if p == dir);
        if !hit {
            let fd = match mkdir_all_in_root(&self.root, dir) {
                Err(e)
                    if e.raw_os_error() == Some(libc::ENOTDIR) && self.target == Target::Layer =>
                {
                    self.revive_whited_out(dir)?;
                    mkdir_all_in_root(&self.root, dir)?
                }
                r => r?,
            };
            self.parent_cache = Some((dir.to_path_buf(), fd));
        }
        match &self.parent_cache {
            Some((_, fd)) => Ok(fd),
            None => Err(io::Error::other("parent cache empty")),
        }
    }

    fn split(p: &Path) -> io::Result<(PathBuf, CString)> {
        let parent = p.parent().unwrap_or(Path::new("")).to_path_buf();
        let name = p
            .file_name()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
        Ok((parent, name_c(name)?))
    }

    /// One ordinary entry; returns the bytes of file data written.
    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        p: &Path,
        sparse: Option<&PaxSparse>,
    ) -> Result<u64, ExtractError> {
        use tar::EntryType as T;
        let kind = entry.header().entry_type();
        if p.as_os_str().is_empty() {
            // The layer's root ("./"): only a directory makes sense; keep its metadata.
            if kind == T::Directory {
                let root = Path::new("/");
                let m = Meta::read(entry, root)?;
                let fd = open_in_root(&self.root, p, OFlags::RDONLY | OFlags::DIRECTORY)
                    .map_err(fail("open", root))?;
                apply_meta_fd(&fd, &m, false).map_err(fail("set metadata on", root))?;
                self.dir_times.push((p.to_path_buf(), m.mtime));
            }
            return Ok(0);
        }
        // Rule 3 of the whiteout rules: a `.wh.`-named file never materialises.
        if p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(whiteout::is_reserved)
        {
            return Ok(0);
        }
        let m = match kind {
            T::Regular
            | T::Continuous
            | T::GNUSparse
            | T::Directory
            | T::Symlink
            | T::Link
            | T::Char
            | T::Block
            | T::Fifo => Meta::read(entry, p)?,
            // Global PAX headers, volume labels and unknown types carry no file.
            _ => return Ok(0),
        };
        let (parent, name) = Self::split(p).map_err(fail("name", p))?;
        self.parent(&parent)
            .map_err(fail("create the parent directory of", p))?;
        // Borrow the cached parent fd for this entry (no dup). Whatever the entry does happens
        // to `parent/name`, never to `parent` or above it, so the fd stays valid to put back.
        let Some((ppath, pfd)) = self.parent_cache.take() else {
            return Err(fail("open the parent of", p)(io::Error::other("no parent")));
        };
        let r = self.node(entry, p, &pfd, &name, kind, &m, sparse);
        self.parent_cache = Some((ppath, pfd));
        let written = r?;
        self.touch(p);
        Ok(written)
    }

    /// Create the node of one entry as `name` in `pfd`. Creation is tried first; only when
    /// something is in the way (`EEXIST`) is it inspected and replaced, which saves a `stat`
    /// per entry in the common case.
    #[allow(clippy::too_many_arguments)]
    fn node<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        p: &Path,
        pfd: &OwnedFd,
        name: &CString,
        kind: tar::EntryType,
        m: &Meta,
        sparse: Option<&PaxSparse>,
    ) -> Result<u64, ExtractError> {
        use tar::EntryType as T;
        let exists = |e: &io::Error| e.raw_os_error() == Some(libc::EEXIST);
        let mut written = 0;
        match kind {
            T::Directory => {
                let r = rustix::fs::mkdirat(pfd, name, Mode::from_raw_mode(0o700));
                if let Err(e) = r.map_err(io::Error::from) {
                    if !exists(&e) {
                        return Err(fail("create directory", p)(e));
                    }
                    let st = lstat_at(pfd, name).map_err(fail("inspect", p))?;
                    if !st.as_ref().is_some_and(is_dir) {
                        self.remove(pfd, name, p)?;
                        self.mkdir(pfd, name, p)?;
                    }
                }
                let fd = open_subdir(pfd, name).map_err(fail("open directory", p))?;
                apply_meta_fd(&fd, m, false).map_err(fail("set metadata on", p))?;
                self.dir_times.push((p.to_path_buf(), m.mtime));
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW;
                // Created with its permission bits (the umask may take some; the special bits
                // come from fchmod after the owner is set), so that `apply_meta_fd` usually
                // finds nothing left to change.
                let mode = m.mode & 0o777;
                let fd = match openat(pfd, name, flags, mode) {
                    Ok(fd) => fd,
                    Err(e) if exists(&e) => {
                        self.remove(pfd, name, p)?;
                        openat(pfd, name, flags, mode).map_err(fail("create file", p))?
                    }
                    Err(e) => return Err(fail("create file", p)(e)),
                };
                written = match sparse {
                    Some(sp) => sparse::copy_pax_sparse(entry, &fd, sp, self.meter.as_mut()),
                    None => {
                        let size = entry.size();
                        let gnu_sparse = kind == T::GNUSparse;
                        let meter = self.meter.as_mut();
                        sparse::copy(entry, &fd, &mut self.buf, meter, gnu_sparse, size)
                    }
                }
                .map_err(fail("write file", p))?;
                apply_meta_fd(&fd, m, true).map_err(fail("set metadata on", p))?;
            }
            T::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| fail("read the link target of", p)(io::Error::other("none")))?;
                let target = CString::new(target.into_owned())
                    .map_err(|_| fail("read the link target of", p)(io::Error::other("NUL")))?;
                let link = || -> io::Result<()> { Ok(rustix::fs::symlinkat(&target, pfd, name)?) };
                match link() {
                    Ok(_) => {}
                    Err(e) if exists(&e) => {
                        self.remove(pfd, name, p)?;
                        link().map_err(fail("create symlink", p))?;
                    }
                    Err(e) => return Err(fail("create symlink", p)(e)),
                }
                self.invalidate(p);
                apply_meta_at(pfd, name, m, true).map_err(fail("set metadata on", p))?;
            }
            T::Link => {
                let target = entry
                    .link_name()
                    .map_err(fail("read the link target of", p))?
                    .ok_or_else(|| fail("read the link target of", p)(io::Error::other("none")))?;
                let target = clean(&target);
                // O_NOFOLLOW: a hardlink to a symlink links the symlink itself. The target is
                // resolved in the root, so `/etc/shadow` means the layer's own, never the host's.
                let tfd = open_in_root(&self.root, &target, OFlags::PATH | OFlags::NOFOLLOW)
                    .map_err(fail("find the hardlink target of", p))?;
                if let Some(st) = lstat_at(pfd, name).map_err(fail("inspect", p))? {
                    let t = rustix::fs::fstat(&tfd)
                        .map_err(|e| fail("inspect the hardlink target of", p)(e.into()))?;
                    if t.st_ino == st.st_ino && t.st_dev == st.st_dev {
                        return Ok(0);
                    }
                    self.remove(pfd, name, p)?;
                }
                // AT_EMPTY_PATH links the inode `tfd` refers to (root has CAP_DAC_READ_SEARCH,
                // which this needs).
                rustix::fs::linkat(&tfd, c"", pfd, name, AtFlags::EMPTY_PATH)
                    .map_err(|e| fail("create hardlink", p)(e.into()))?;
            }
            // Only root on the host may make device nodes (`id_map.rs`): skipped, said once.
            T::Char | T::Block if ct_layout::rootless::active() => crate::id_map::note_device(p),
            T::Char | T::Block | T::Fifo => {
                if lstat_at(pfd, name).map_err(fail("inspect", p))?.is_some() {
                    self.remove(pfd, name, p)?;
                }
                let h = entry.header();
                let major = h.device_major().ok().flatten().unwrap_or(0);
                let minor = h.device_minor().ok().flatten().unwrap_or(0);
                let file_type = match kind {
                    T::Char => FileType::CharacterDevice,
                    T::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let (mode, dev) = (
                    Mode::from_raw_mode(0o600),
                    rustix::fs::makedev(major, minor),
                );
                rustix::fs::mknodat(pfd, name, file_type, mode, dev)
                    .map_err(|e| fail("create device node", p)(e.into()))?;
                apply_meta_at(pfd, name, m, false).map_err(fail("set metadata on", p))?;
            }
            _ => {}
        }
        Ok(written)
    }

    fn mkdir(&mut self, pfd: &OwnedFd, name: &CString, p: &Path) -> Result<(), ExtractError> {
        rustix::fs::mkdirat(pfd, name, Mode::from_raw_mode(0o700))
            .map_err(|e| fail("create directory", p)(e.into()))?;
        Ok(())
    }

    fn remove(&mut self, pfd: &OwnedFd, name: &CString, p: &Path) -> Result<(), ExtractError> {
        self.invalidate(p);
        remove_all_at(pfd, name).map_err(fail("replace", p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_layers_root_and_never_an_empty_path() {
        let e = |step, p: &str| fail(step, Path::new(p))(io::Error::other("x")).to_string();
        assert_eq!(e("set metadata on", "/"), "cannot set metadata on '/'");
        assert_eq!(e("read the tar stream", ""), "cannot read the tar stream");
        assert_eq!(e("create file", "etc/a"), "cannot create file 'etc/a'");
    }
}
