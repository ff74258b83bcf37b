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
//!    `mknodat` (fifos, devices).
//! 5. Metadata, in the order the kernel needs: `chown` first (it clears setuid/setgid bits and
//!    `security.capability`), then `chmod`, then xattrs, then times. Directory times are set
//!    after the whole layer, because creating children changes them.
//!
//! Two targets: [`Target::Layer`] keeps whiteouts in overlayfs form (0:0 char device,
//! `trusted.overlay.opaque=y`) for the layer store; [`Target::Flat`] applies them (deletes) to a
//! tree that already holds the lower layers.

use std::collections::HashSet;
use std::ffi::CString;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use ct_layout::free_space::Meter;

use crate::resolve_in_root::{clean, cstr, mkdir_all_in_root, open_in_root, open_root};
use crate::whiteout::{self, Kind};

/// Where whiteouts go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// One layer on its own (the layer store): whiteouts in overlayfs form.
    Layer,
    /// All layers applied in order into one tree (`--flat`): whiteouts delete.
    Flat,
}

/// One failed step on one tar entry.
#[derive(Debug, thiserror::Error)]
#[error("cannot {step} {}", ct_layout::pipe::quote_path(.path))]
pub struct ExtractError {
    pub step: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
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

/// xattrs a layer may carry into the store. `trusted.*` is overlayfs' own namespace (a layer
/// must not forge `trusted.overlay.redirect` and friends); other `security.*` labels belong to
/// the host's LSM.
pub fn xattr_allowed(name: &str) -> bool {
    name.starts_with("user.") || name == "security.capability"
}

struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: libc::timespec,
    xattrs: Vec<(CString, Vec<u8>)>,
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn name_c(name: &std::ffi::OsStr) -> io::Result<CString> {
    cstr(Path::new(name))
}

/// `fstatat(fd, name, AT_SYMLINK_NOFOLLOW)`, `None` if absent.
fn lstat_at(dir: &OwnedFd, name: &CString) -> io::Result<Option<libc::stat>> {
    // SAFETY: zeroed stat is a valid out-buffer; fd and name are valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let r = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r == 0 {
        return Ok(Some(st));
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ENOENT) {
        Ok(None)
    } else {
        Err(e)
    }
}

fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

fn openat(dir: &OwnedFd, name: &CString, flags: libc::c_int, mode: u32) -> io::Result<OwnedFd> {
    // SAFETY: valid fd and name; the returned fd is owned by us.
    let fd = cvt(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    })?;
    // SAFETY: fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The names in directory `dir` (read through a fresh fd so `dir`'s offset is untouched).
fn list_dir(dir: &OwnedFd) -> io::Result<Vec<CString>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))? {
        out.push(name_c(&e?.file_name())?);
    }
    Ok(out)
}

/// Remove `name` in `dir` and everything below it, never following a symlink.
pub fn remove_all_at(dir: &OwnedFd, name: &CString) -> io::Result<()> {
    let Some(st) = lstat_at(dir, name)? else {
        return Ok(());
    };
    if is_dir(&st) {
        let sub = openat(
            dir,
            name,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )?;
        for child in list_dir(&sub)? {
            remove_all_at(&sub, &child)?;
        }
        // SAFETY: valid fd and name.
        cvt(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), libc::AT_REMOVEDIR) })?;
    } else {
        // SAFETY: valid fd and name.
        cvt(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) })?;
    }
    Ok(())
}

/// `lsetxattr` on `name` in `dir` through procfs: the magic link pins the directory, the last
/// component is not followed. Used where no fd to the node itself can be opened (symlinks,
/// devices, fifos).
fn lsetxattr_at(dir: &OwnedFd, name: &CString, key: &CString, value: &[u8]) -> io::Result<()> {
    let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    p.extend_from_slice(name.as_bytes());
    let p = CString::new(p).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: valid NUL-terminated strings and a value slice that lives across the call.
    cvt(unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            key.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })?;
    Ok(())
}

fn fsetxattr(fd: &OwnedFd, key: &CString, value: &[u8]) -> io::Result<()> {
    // SAFETY: valid fd, NUL-terminated key, and a value slice that lives across the call.
    cvt(unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            key.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })?;
    Ok(())
}

/// chown, chmod, xattrs, times on an open regular file or directory.
fn apply_meta_fd(fd: &OwnedFd, m: &Meta, times: bool) -> io::Result<()> {
    // SAFETY: plain syscalls on a valid fd.
    cvt(unsafe { libc::fchown(fd.as_raw_fd(), m.uid, m.gid) })?;
    // SAFETY: as above.
    cvt(unsafe { libc::fchmod(fd.as_raw_fd(), m.mode as libc::mode_t) })?;
    for (k, v) in &m.xattrs {
        fsetxattr(fd, k, v)?;
    }
    if times {
        let ts = [m.mtime, m.mtime];
        // SAFETY: valid fd and a two-element timespec array.
        cvt(unsafe { libc::futimens(fd.as_raw_fd(), ts.as_ptr()) })?;
    }
    Ok(())
}

/// Metadata on a node that cannot be opened (symlink, device, fifo): by name, no-follow.
fn apply_meta_at(dir: &OwnedFd, name: &CString, m: &Meta, symlink: bool) -> io::Result<()> {
    // SAFETY: valid fd and name; AT_SYMLINK_NOFOLLOW keeps it on the node itself.
    cvt(unsafe {
        libc::fchownat(
            dir.as_raw_fd(),
            name.as_ptr(),
            m.uid,
            m.gid,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    if !symlink {
        // The node was created by us a moment ago and is not a symlink, so following is moot;
        // fchmodat has no working NOFOLLOW flag before Linux 6.6's fchmodat2.
        // SAFETY: valid fd and name.
        cvt(unsafe { libc::fchmodat(dir.as_raw_fd(), name.as_ptr(), m.mode as libc::mode_t, 0) })?;
    }
    for (k, v) in &m.xattrs {
        match lsetxattr_at(dir, name, k, v) {
            // The kernel allows no user.* xattrs on symlinks (xattr(7)); GNU tar and umoci
            // skip them too.
            Err(e) if symlink && e.raw_os_error() == Some(libc::EPERM) => {}
            r => r?,
        }
    }
    let ts = [m.mtime, m.mtime];
    // SAFETY: valid fd, name and a two-element timespec array.
    cvt(unsafe {
        libc::utimensat(
            dir.as_raw_fd(),
            name.as_ptr(),
            ts.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    Ok(())
}

/// PAX `mtime` is decimal seconds with an optional fraction.
fn parse_pax_time(v: &str) -> Option<libc::timespec> {
    let (s, frac) = v.split_once('.').unwrap_or((v, ""));
    let sec: i64 = s.parse().ok()?;
    let mut nsec: i64 = 0;
    if !frac.is_empty() {
        let digits: String = frac.chars().take(9).collect();
        let n: i64 = digits.parse().ok()?;
        nsec = n * 10i64.pow(9 - digits.len() as u32);
        if sec < 0 && nsec > 0 {
            return Some(libc::timespec {
                tv_sec: sec - 1,
                tv_nsec: 1_000_000_000 - nsec,
            });
        }
    }
    Some(libc::timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    })
}

/// A file stored sparse in the PAX formats of GNU tar (`GNU.sparse.*` records, versions 0.1
/// and 1.0; the old GNU 'S' type is parsed by the `tar` crate itself).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaxSparse {
    /// The real name (`GNU.sparse.name`); the header's is `GNUSparseFile.N/NAME`.
    pub name: Option<PathBuf>,
    /// The file's real size.
    pub size: u64,
    /// 0.1: the map from the header; 1.0: `None`, the map leads the data.
    pub map: Option<Vec<(u64, u64)>>,
}

fn pax_sparse<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Option<PaxSparse>> {
    let Some(pax) = entry.pax_extensions()? else {
        return Ok(None);
    };
    let mut sp = PaxSparse::default();
    let mut is_sparse = false;
    let mut v1 = false;
    for ext in pax {
        let ext = ext?;
        let (Ok(k), Ok(v)) = (ext.key(), ext.value()) else {
            continue;
        };
        let num = || {
            v.parse::<u64>()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad {k}")))
        };
        match k {
            "GNU.sparse.major" => {
                is_sparse = true;
                v1 = v == "1";
            }
            "GNU.sparse.name" => sp.name = Some(PathBuf::from(v)),
            "GNU.sparse.realsize" | "GNU.sparse.size" => {
                is_sparse = true;
                sp.size = num()?;
            }
            "GNU.sparse.map" => {
                is_sparse = true;
                let nums: Result<Vec<u64>, _> = v.split(',').map(str::parse::<u64>).collect();
                let nums = nums.map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidData, "bad GNU.sparse.map")
                })?;
                sp.map = Some(
                    nums.chunks(2)
                        .filter(|c| c.len() == 2)
                        .map(|c| (c[0], c[1]))
                        .collect(),
                );
            }
            _ => {}
        }
    }
    if !is_sparse {
        return Ok(None);
    }
    if v1 {
        sp.map = None;
    }
    Ok(Some(sp))
}

/// Read the 1.0 sparse map that leads the data: decimal numbers, one per line (count, then
/// offset/size pairs), padded to a 512-byte block.
fn read_sparse_map<R: Read>(r: &mut R) -> io::Result<Vec<(u64, u64)>> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "bad GNU sparse 1.0 map");
    let mut block = [0u8; 512];
    let mut nums: Vec<u64> = Vec::new();
    let mut cur = String::new();
    let mut want: Option<usize> = None;
    loop {
        r.read_exact(&mut block)?;
        for &b in block.iter() {
            if b == b'\n' {
                nums.push(cur.parse().map_err(|_| bad())?);
                cur.clear();
                if want.is_none() {
                    let n = usize::try_from(nums[0]).map_err(|_| bad())?;
                    if n > 1 << 20 {
                        return Err(bad());
                    }
                    want = Some(1 + 2 * n);
                }
            } else if b.is_ascii_digit() {
                cur.push(b as char);
            } else {
                return Err(bad());
            }
            if want.is_some_and(|w| nums.len() == w) {
                return Ok(nums[1..].chunks(2).map(|c| (c[0], c[1])).collect());
            }
        }
    }
}

/// Applies layers to one root directory.
pub struct Extractor {
    root: OwnedFd,
    target: Target,
    /// The last parent directory opened (entries come grouped by directory).
    parent_cache: Option<(PathBuf, OwnedFd)>,
    /// Directory times to set once the layer is done (children change them).
    dir_times: Vec<(PathBuf, libc::timespec)>,
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
            let sparse = pax_sparse(&mut entry).map_err(fail("read the PAX header of", &raw))?;
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

    /// A layer that deletes `D` (`.wh.D`) and then puts entries below `D` means "a new `D`,
    /// nothing of the old one": in overlay form that is an opaque directory in place of the
    /// whiteout device.
    fn revive_whited_out(&mut self, dir: &Path) -> io::Result<()> {
        let mut sofar = PathBuf::new();
        for c in dir.components() {
            let parent = open_in_root(&self.root, &sofar, libc::O_PATH | libc::O_DIRECTORY)?;
            sofar.push(c);
            let name = name_c(c.as_os_str())?;
            let Some(st) = lstat_at(&parent, &name)? else {
                return Ok(());
            };
            if st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == 0 {
                // SAFETY: valid fd and name.
                cvt(unsafe { libc::unlinkat(parent.as_raw_fd(), name.as_ptr(), 0) })?;
                // SAFETY: valid fd and name.
                cvt(unsafe { libc::mkdirat(parent.as_raw_fd(), name.as_ptr(), 0o755) })?;
                let fd = openat(
                    &parent,
                    &name,
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                    0,
                )?;
                let key = CString::new(whiteout::OVERLAY_OPAQUE_XATTR)
                    .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
                fsetxattr(&fd, &key, whiteout::OVERLAY_OPAQUE_VALUE)?;
                self.parent_cache = None;
            } else if !is_dir(&st) {
                return Ok(());
            }
        }
        Ok(())
    }

    fn split(p: &Path) -> io::Result<(PathBuf, CString)> {
        let parent = p.parent().unwrap_or(Path::new("")).to_path_buf();
        let name = p
            .file_name()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
        Ok((parent, name_c(name)?))
    }

    fn meta<R: Read>(entry: &mut tar::Entry<'_, R>, p: &Path) -> Result<Meta, ExtractError> {
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
            mtime: libc::timespec {
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
                let m = Self::meta(entry, p)?;
                let fd = open_in_root(&self.root, p, libc::O_RDONLY | libc::O_DIRECTORY)
                    .map_err(fail("open the root of", p))?;
                apply_meta_fd(&fd, &m, false).map_err(fail("set metadata on", p))?;
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
            | T::Fifo => Self::meta(entry, p)?,
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
                // SAFETY: valid fd and name.
                let r = cvt(unsafe { libc::mkdirat(pfd.as_raw_fd(), name.as_ptr(), 0o700) });
                if let Err(e) = r {
                    if !exists(&e) {
                        return Err(fail("create directory", p)(e));
                    }
                    let st = lstat_at(pfd, name).map_err(fail("inspect", p))?;
                    if !st.as_ref().is_some_and(is_dir) {
                        self.remove(pfd, name, p)?;
                        self.mkdir(pfd, name, p)?;
                    }
                }
                let fd = openat(
                    pfd,
                    name,
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                    0,
                )
                .map_err(fail("open directory", p))?;
                apply_meta_fd(&fd, m, false).map_err(fail("set metadata on", p))?;
                self.dir_times.push((p.to_path_buf(), m.mtime));
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW;
                let fd = match openat(pfd, name, flags, 0o600) {
                    Ok(fd) => fd,
                    Err(e) if exists(&e) => {
                        self.remove(pfd, name, p)?;
                        openat(pfd, name, flags, 0o600).map_err(fail("create file", p))?
                    }
                    Err(e) => return Err(fail("create file", p)(e)),
                };
                written = match sparse {
                    Some(sp) => Self::copy_pax_sparse(entry, &fd, sp, self.meter.as_mut()),
                    None => {
                        let size = entry.size();
                        self.copy(entry, &fd, kind == T::GNUSparse, size)
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
                let link = || {
                    // SAFETY: valid strings and fd.
                    cvt(unsafe { libc::symlinkat(target.as_ptr(), pfd.as_raw_fd(), name.as_ptr()) })
                };
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
                let tfd = open_in_root(&self.root, &target, libc::O_PATH | libc::O_NOFOLLOW)
                    .map_err(fail("find the hardlink target of", p))?;
                if let Some(st) = lstat_at(pfd, name).map_err(fail("inspect", p))? {
                    let t = fstat(&tfd).map_err(fail("inspect the hardlink target of", p))?;
                    if t.st_ino == st.st_ino && t.st_dev == st.st_dev {
                        return Ok(0);
                    }
                    self.remove(pfd, name, p)?;
                }
                // SAFETY: valid fds and strings; AT_EMPTY_PATH links the inode `tfd` refers to
                // (root has CAP_DAC_READ_SEARCH, which this needs).
                cvt(unsafe {
                    libc::linkat(
                        tfd.as_raw_fd(),
                        c"".as_ptr(),
                        pfd.as_raw_fd(),
                        name.as_ptr(),
                        libc::AT_EMPTY_PATH,
                    )
                })
                .map_err(fail("create hardlink", p))?;
            }
            T::Char | T::Block | T::Fifo => {
                if lstat_at(pfd, name).map_err(fail("inspect", p))?.is_some() {
                    self.remove(pfd, name, p)?;
                }
                let h = entry.header();
                let major = h.device_major().ok().flatten().unwrap_or(0);
                let minor = h.device_minor().ok().flatten().unwrap_or(0);
                let fmt = match kind {
                    T::Char => libc::S_IFCHR,
                    T::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                // SAFETY: valid fd and name.
                cvt(unsafe {
                    libc::mknodat(
                        pfd.as_raw_fd(),
                        name.as_ptr(),
                        fmt | 0o600,
                        libc::makedev(major, minor),
                    )
                })
                .map_err(fail("create device node", p))?;
                apply_meta_at(pfd, name, m, false).map_err(fail("set metadata on", p))?;
            }
            _ => {}
        }
        Ok(written)
    }

    fn mkdir(&mut self, pfd: &OwnedFd, name: &CString, p: &Path) -> Result<(), ExtractError> {
        // SAFETY: valid fd and name.
        cvt(unsafe { libc::mkdirat(pfd.as_raw_fd(), name.as_ptr(), 0o700) })
            .map_err(fail("create directory", p))?;
        Ok(())
    }

    fn remove(&mut self, pfd: &OwnedFd, name: &CString, p: &Path) -> Result<(), ExtractError> {
        self.invalidate(p);
        remove_all_at(pfd, name).map_err(fail("replace", p))
    }

    /// Copy the entry's data. GNU sparse entries come with their holes as zeros from the tar
    /// crate; writing around all-zero blocks (lseek) keeps them holes on disk.
    fn copy<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        fd: &OwnedFd,
        sparse: bool,
        size: u64,
    ) -> io::Result<u64> {
        let mut total = 0u64;
        let mut pending_hole = false;
        loop {
            let n = entry.read(&mut self.buf)?;
            if n == 0 {
                break;
            }
            let chunk = &self.buf[..n];
            if sparse && chunk.iter().all(|&b| b == 0) {
                if let Some(m) = &mut self.meter {
                    m.add(0, n as u64).map_err(io::Error::other)?;
                }
                // SAFETY: plain lseek on a valid fd.
                if unsafe { libc::lseek(fd.as_raw_fd(), n as libc::off_t, libc::SEEK_CUR) } < 0 {
                    return Err(io::Error::last_os_error());
                }
                pending_hole = true;
            } else {
                if let Some(m) = &mut self.meter {
                    m.add(n as u64, 0).map_err(io::Error::other)?;
                }
                write_all_fd(fd, chunk)?;
                pending_hole = false;
            }
            total += n as u64;
        }
        if pending_hole || sparse {
            // SAFETY: plain ftruncate on a valid fd.
            cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), size as libc::off_t) })?;
        }
        Ok(total)
    }

    /// PAX sparse: write each (offset, size) chunk at its offset, leave the rest as holes.
    fn copy_pax_sparse<R: Read>(
        entry: &mut tar::Entry<'_, R>,
        fd: &OwnedFd,
        sp: &PaxSparse,
        mut meter: Option<&mut Meter>,
    ) -> io::Result<u64> {
        let map = match &sp.map {
            Some(m) => m.clone(),
            None => read_sparse_map(entry)?,
        };
        let mut buf = vec![0u8; 128 * 1024];
        let mut total = 0;
        for (off, len) in map {
            if off.checked_add(len).is_none_or(|end| end > sp.size) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "sparse chunk beyond the file size",
                ));
            }
            // SAFETY: plain lseek on a valid fd.
            if unsafe { libc::lseek(fd.as_raw_fd(), off as libc::off_t, libc::SEEK_SET) } < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut left = len;
            while left > 0 {
                let n = (left as usize).min(buf.len());
                entry.read_exact(&mut buf[..n])?;
                if let Some(m) = meter.as_deref_mut() {
                    m.add(n as u64, 0).map_err(io::Error::other)?;
                }
                write_all_fd(fd, &buf[..n])?;
                left -= n as u64;
            }
            total += len;
        }
        // The holes count against --max-layer-size: they cost no blocks here, but the file
        // is that large for every reader.
        if let Some(m) = meter {
            m.add(0, sp.size.saturating_sub(total))
                .map_err(io::Error::other)?;
        }
        // SAFETY: plain ftruncate on a valid fd.
        cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), sp.size as libc::off_t) })?;
        Ok(total)
    }

    /// `DIR/.wh.NAME`.
    fn whiteout(&mut self, p: &Path) -> Result<(), ExtractError> {
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
                // SAFETY: valid fd and name; a 0:0 char device is overlayfs' whiteout.
                cvt(unsafe {
                    libc::mknodat(
                        pfd.as_raw_fd(),
                        name.as_ptr(),
                        libc::S_IFCHR,
                        libc::makedev(0, 0),
                    )
                })
                .map_err(fail("create whiteout", p))?;
            }
            Target::Flat => {
                if self.touched.contains(p) {
                    return Ok(());
                }
                let pfd = match open_in_root(&self.root, &parent, libc::O_PATH | libc::O_DIRECTORY)
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
    fn opaque(&mut self, dir: &Path) -> Result<(), ExtractError> {
        match self.target {
            Target::Layer => {
                let fd = mkdir_all_in_root(&self.root, dir)
                    .and_then(|_| open_in_root(&self.root, dir, libc::O_RDONLY | libc::O_DIRECTORY))
                    .map_err(fail("create opaque directory", dir))?;
                let key = CString::new(whiteout::OVERLAY_OPAQUE_XATTR)
                    .map_err(|_| fail("name", dir)(io::Error::from_raw_os_error(libc::EINVAL)))?;
                fsetxattr(&fd, &key, whiteout::OVERLAY_OPAQUE_VALUE)
                    .map_err(fail("mark opaque", dir))?;
            }
            Target::Flat => {
                let fd = match open_in_root(&self.root, dir, libc::O_RDONLY | libc::O_DIRECTORY) {
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
            let p = dir.join(std::ffi::OsStr::from_bytes(child.as_bytes()));
            if !self.touched.contains(&p) {
                remove_all_at(fd, &child).map_err(fail("delete (opaque)", &p))?;
                continue;
            }
            let st = lstat_at(fd, &child).map_err(fail("inspect", &p))?;
            if st.as_ref().is_some_and(is_dir) {
                let sub = openat(
                    fd,
                    &child,
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                    0,
                )
                .map_err(fail("open", &p))?;
                self.prune(&sub, &p)?;
            }
        }
        Ok(())
    }

    /// Set directory times, deepest first, now that no more children will be created.
    fn finish_dirs(&mut self) -> Result<(), ExtractError> {
        self.parent_cache = None;
        let dirs = std::mem::take(&mut self.dir_times);
        for (p, t) in dirs.iter().rev() {
            let fd = match open_in_root(
                &self.root,
                p,
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
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
            let ts = [*t, *t];
            // SAFETY: valid fd and a two-element timespec array.
            cvt(unsafe { libc::futimens(fd.as_raw_fd(), ts.as_ptr()) })
                .map_err(fail("set times on", p))?;
        }
        Ok(())
    }
}

fn fstat(fd: &OwnedFd) -> io::Result<libc::stat> {
    // SAFETY: zeroed stat is a valid out-buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd (O_PATH fds may be fstat'ed) and out-buffer.
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(st)
}

fn write_all_fd(fd: &OwnedFd, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        // SAFETY: valid fd; the slice is valid for its length.
        let n = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::WriteZero));
        }
        data = &data[n as usize..];
    }
    Ok(())
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
    fn sparse_map_1_0() {
        let mut data = b"3\n0\n5\n4096\n10\n9000\n0\n".to_vec();
        data.resize(512, 0);
        data.extend_from_slice(b"payload");
        let mut r = &data[..];
        assert_eq!(
            read_sparse_map(&mut r).unwrap(),
            vec![(0, 5), (4096, 10), (9000, 0)]
        );
        assert_eq!(r, b"payload");
        let mut bad = b"x\n".to_vec();
        bad.resize(512, 0);
        assert!(read_sparse_map(&mut &bad[..]).is_err());
    }

    #[test]
    fn xattr_filter() {
        assert!(xattr_allowed("user.foo"));
        assert!(xattr_allowed("security.capability"));
        assert!(!xattr_allowed("trusted.overlay.opaque"));
        assert!(!xattr_allowed("trusted.overlay.redirect"));
        assert!(!xattr_allowed("security.selinux"));
    }
}
