//! Paths inside a directory tree that someone else controls (a container's root filesystem),
//! opened so that they can never lead outside it, even while that someone swaps components
//! for symlinks: openat2(2) with `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS` (Linux 5.6).
//!
//! With `RESOLVE_IN_ROOT` the kernel treats the root's fd as `/` for the whole lookup: `..`
//! stops at it and an absolute symlink restarts at it, exactly as the lookup would behave
//! after `chroot(2)`; `RESOLVE_NO_MAGICLINKS` refuses `/proc/self/fd/N`-style links, which
//! jump to whatever a file descriptor points at, host files included. The lookup is one
//! system call, so there is no window between "check" and "use": the caller gets an fd and
//! does everything else (mount onto it, create below it) through that fd, never by name.
//!
//! Steps:
//! 1. [`Root::open`]: hold the directory as an `O_PATH` fd.
//! 2. [`Root::open_in`]: the path is cleaned lexically ([`clean`]: no `.`, `..` clamped at the
//!    top, like runc's `filepath.Clean`), then opened with openat2. Where openat2 is missing
//!    (`ENOSYS`), the same walk in user space, one component at a time with `O_NOFOLLOW`,
//!    reading each symlink and splicing its target in (absolute targets restart at the root,
//!    `..` pops to the parent fd already held — never a lookup of `..` on disk).
//! 3. [`Root::mkdir_all`] / [`Root::create_file`]: open the longest existing prefix, then
//!    create each missing component with `mkdirat`/`openat(O_CREAT|O_EXCL|O_NOFOLLOW)`
//!    relative to the fd of the one before, reopening it with `O_NOFOLLOW`.
//!
//! Model: cyphar/libpathrs `Root`, runc's `pathrs.OpenInRoot`/`MkdirAllInRoot`.

use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{self as rfs, FileType, Mode, OFlags, ResolveFlags};

/// The kernel's own bound on symlinks in one lookup (`MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// A directory held open as the `/` of every lookup made through it.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
}

/// `/proc/self/fd/N`: the name under which mount(2), chmod(2) … reach exactly the file an fd
/// holds (runc mounts onto its verified fds this way).
pub fn fd_path(fd: BorrowedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// `path` as a relative path inside a root: no root, no `.`, `..` clamped at the top.
pub fn clean(path: &Path) -> PathBuf {
    let mut out: Vec<&OsStr> = Vec::new();
    for c in path.components() {
        match c {
            Component::Prefix(_) | Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
        }
    }
    out.iter().collect()
}

fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

impl Root {
    /// Step 1: hold `dir` (a trusted host path) as the root.
    pub fn open(dir: &Path) -> io::Result<Root> {
        let fd = rfs::open(
            dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root { fd })
    }

    /// A root from a directory fd the caller already holds.
    pub fn from_fd(fd: OwnedFd) -> Root {
        Root { fd }
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Step 2: open `path` (absolute or not, it is inside the root either way) with `flags`.
    /// A symlink as the last component is followed (inside the root) unless `flags` has
    /// `O_NOFOLLOW`. `O_CREAT` is not for this call: see [`Root::create_file`].
    pub fn open_in(&self, path: &Path, flags: OFlags) -> io::Result<OwnedFd> {
        let p = clean(path);
        let flags = flags | OFlags::CLOEXEC;
        let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        // The kernel says EAGAIN when a rename elsewhere raced the lookup: try again.
        for _ in 0..64 {
            let r = if p.as_os_str().is_empty() {
                rfs::openat2(&self.fd, ".", flags, Mode::empty(), how)
            } else {
                rfs::openat2(&self.fd, &p, flags, Mode::empty(), how)
            };
            match r {
                Ok(fd) => return Ok(fd),
                Err(rustix::io::Errno::AGAIN) => continue,
                Err(rustix::io::Errno::NOSYS) => return walk(self.fd.as_fd(), &p, flags),
                Err(e) => return Err(e.into()),
            }
        }
        Err(errno(libc::EAGAIN))
    }

    /// Read a small regular file inside the root (`/etc/passwd`): a FIFO, a device or a
    /// directory planted there is an error, not a read that never ends.
    pub fn read(&self, path: &Path, limit: u64) -> io::Result<Vec<u8>> {
        let fd = self.open_in(path, OFlags::RDONLY | OFlags::NONBLOCK)?;
        let st = rfs::fstat(&fd)?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a regular file",
            ));
        }
        let mut out = Vec::new();
        std::fs::File::from(fd).take(limit).read_to_end(&mut out)?;
        Ok(out)
    }

    /// Step 3: directory `path` inside the root, created (mode `mode`, less the umask) where
    /// missing, as an `O_PATH` fd. A dangling symlink on the way gets its target created,
    /// inside the root (as `mkdir -p` after `chroot` would).
    pub fn mkdir_all(&self, path: &Path, mode: u32) -> io::Result<OwnedFd> {
        self.mkdir_all_depth(&clean(path), mode, 0)
    }

    fn mkdir_all_depth(&self, p: &Path, mode: u32, depth: usize) -> io::Result<OwnedFd> {
        if depth > MAX_LINKS {
            return Err(errno(libc::ELOOP));
        }
        let comps: Vec<&OsStr> = p.iter().collect();
        let dir = OFlags::PATH | OFlags::DIRECTORY;
        // The longest prefix that exists, resolved in the root.
        let mut have = comps.len();
        let mut fd = loop {
            let prefix: PathBuf = comps[..have].iter().collect();
            match self.open_in(&prefix, dir) {
                Ok(fd) => break fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) && have > 0 => have -= 1,
                Err(e) => return Err(e),
            }
        };
        // The rest, one component at a time relative to the fd of its parent. O_NOFOLLOW: a
        // symlink planted after mkdirat is never followed by this open.
        for i in have..comps.len() {
            let c = comps[i];
            match rfs::mkdirat(&fd, c, Mode::from_raw_mode(mode)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            }
            let flags = dir | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            fd = match rfs::openat(&fd, c, flags, Mode::empty()) {
                Ok(next) => next,
                Err(rustix::io::Errno::NOTDIR | rustix::io::Errno::LOOP) => {
                    // A dangling symlink: make its target (a path in the root), then go on
                    // through the link, resolved in the root again.
                    let target = rfs::readlinkat(&fd, c, Vec::new())?;
                    let target = Path::new(OsStr::from_bytes(target.as_bytes()));
                    let here: PathBuf = comps[..i].iter().collect();
                    self.mkdir_all_depth(&clean(&here.join(target)), mode, depth + 1)?;
                    let upto: PathBuf = comps[..=i].iter().collect();
                    self.open_in(&upto, dir)?
                }
                Err(e) => return Err(e.into()),
            };
        }
        Ok(fd)
    }

    /// Step 3 for a file (a bind mount's target): its parent made with [`Root::mkdir_all`],
    /// then the file created with `O_CREAT|O_EXCL|O_NOFOLLOW` (never truncating or following
    /// anything). An existing one is opened in the root as `O_PATH`; a dangling symlink gets
    /// its target created, inside the root.
    pub fn create_file(&self, path: &Path, mode: u32) -> io::Result<OwnedFd> {
        self.create_file_depth(&clean(path), mode, 0)
    }

    fn create_file_depth(&self, p: &Path, mode: u32, depth: usize) -> io::Result<OwnedFd> {
        if depth > MAX_LINKS {
            return Err(errno(libc::ELOOP));
        }
        let (Some(parent), Some(name)) = (p.parent(), p.file_name()) else {
            return Err(errno(libc::EISDIR));
        };
        let dir = self.mkdir_all(parent, 0o755)?;
        let flags = OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::WRONLY;
        match rfs::openat(
            &dir,
            name,
            flags | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        ) {
            Ok(fd) => Ok(fd),
            Err(rustix::io::Errno::EXIST) => match self.open_in(p, OFlags::PATH) {
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    let target = rfs::readlinkat(&dir, name, Vec::new())?;
                    let target = Path::new(OsStr::from_bytes(target.as_bytes()));
                    self.create_file_depth(&clean(&parent.join(target)), mode, depth + 1)
                }
                r => r,
            },
            Err(e) => Err(e.into()),
        }
    }
}

/// Step 2 without openat2: `path` (already cleaned) walked from `root` one component at a
/// time. Only `..` from symlink targets is left; it goes back to a parent fd already held.
fn walk(root: BorrowedFd, path: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    let split = |p: &[u8]| -> Vec<Vec<u8>> {
        p.split(|b| *b == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
            .rev()
            .map(<[u8]>::to_vec)
            .collect()
    };
    let mut todo = split(path.as_os_str().as_bytes());
    let mut stack: Vec<OwnedFd> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        if c == b".." {
            stack.pop();
            continue;
        }
        let cur = stack.last().map_or(root, |f| f.as_fd());
        let name = OsStr::from_bytes(&c);
        let fd = rfs::openat(
            cur,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let kind = FileType::from_raw_mode(rfs::fstat(&fd)?.st_mode);
        let follow_last = !flags.contains(OFlags::NOFOLLOW);
        if kind == FileType::Symlink && (follow_last || !todo.is_empty()) {
            links += 1;
            if links > MAX_LINKS {
                return Err(errno(libc::ELOOP));
            }
            let target = rfs::readlinkat(&fd, "", Vec::new())?;
            let target = target.as_bytes();
            if target.starts_with(b"/") {
                stack.clear();
            }
            todo.extend(split(target));
            continue;
        }
        if todo.is_empty() {
            // The last component, opened as asked; O_NOFOLLOW so a swap since is an error.
            return Ok(rfs::openat(
                cur,
                name,
                flags | OFlags::NOFOLLOW,
                Mode::empty(),
            )?);
        }
        if kind != FileType::Directory {
            return Err(errno(libc::ENOTDIR));
        }
        stack.push(fd);
    }
    let cur = stack.last().map_or(root, |f| f.as_fd());
    Ok(rfs::openat(cur, ".", flags, Mode::empty())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, MetadataExt};

    fn ino(fd: &OwnedFd) -> u64 {
        rfs::fstat(fd).unwrap().st_ino
    }

    /// A root with links out of it: absolute, relative `..`, magic, looping.
    fn hostile() -> (tempfile::TempDir, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let r = t.path().join("root");
        fs::create_dir_all(r.join("run/x")).unwrap();
        fs::create_dir_all(r.join("var")).unwrap();
        fs::create_dir_all(t.path().join("outside")).unwrap();
        fs::write(t.path().join("outside/secret"), "host").unwrap();
        symlink("/run", r.join("var/run")).unwrap();
        symlink("../../../../../outside", r.join("var/rel")).unwrap();
        symlink(t.path().join("outside"), r.join("abs")).unwrap();
        symlink("/proc/self/root", r.join("magic")).unwrap();
        symlink("loop", r.join("loop")).unwrap();
        (t, r)
    }

    fn check(open: &dyn Fn(&Root, &str, OFlags) -> io::Result<OwnedFd>) {
        let (t, r) = hostile();
        let root = Root::open(&r).unwrap();
        let a = open(&root, "/var/run/x", OFlags::PATH).unwrap();
        let b = open(&root, "run/x", OFlags::PATH).unwrap();
        assert_eq!(ino(&a), ino(&b));
        // `..` past the top and absolute links stay inside: no `outside` in the root.
        let e = open(&root, "var/rel/secret", OFlags::RDONLY).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        let e = open(&root, "abs/secret", OFlags::RDONLY).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        assert!(open(&root, "loop", OFlags::PATH).is_err());
        let top = open(&root, "/../..", OFlags::PATH).unwrap();
        assert_eq!(ino(&top), fs::metadata(&r).unwrap().ino());
        drop(t);
    }

    #[test]
    fn lookups_stay_inside_the_root() {
        check(&|r, p, f| r.open_in(Path::new(p), f));
        let (_t, r) = hostile();
        let root = Root::open(&r).unwrap();
        // Magic links are refused outright.
        assert!(root.open_in(Path::new("magic/etc"), OFlags::PATH).is_err());
    }

    #[test]
    fn the_fallback_walk_stays_inside_the_root() {
        check(&|r, p, f| walk(r.as_fd(), &clean(Path::new(p)), f));
    }

    #[test]
    fn creating_through_planted_links_lands_inside() {
        let (t, r) = hostile();
        let root = Root::open(&r).unwrap();
        root.mkdir_all(Path::new("/abs/new/deeper"), 0o755).unwrap();
        root.create_file(Path::new("var/rel/f"), 0o644).unwrap();
        root.create_file(Path::new("var/rel/f"), 0o644).unwrap();
        symlink(t.path().join("outside/secret"), r.join("file-link")).unwrap();
        root.create_file(Path::new("file-link"), 0o644).unwrap();
        assert_eq!(
            fs::read_to_string(t.path().join("outside/secret")).unwrap(),
            "host"
        );
        let outside: Vec<_> = fs::read_dir(t.path().join("outside")).unwrap().collect();
        assert_eq!(outside.len(), 1, "only the secret is outside");
        assert!(r.join("run/x").is_dir());
        assert!(r
            .join(t.path().join("outside").strip_prefix("/").unwrap())
            .join("new/deeper")
            .is_dir());
        assert!(r
            .join(t.path().join("outside/secret").strip_prefix("/").unwrap())
            .is_file());
        // A dangling link on the way gets its target made, inside.
        symlink("/nowhere/at/all", r.join("dangling")).unwrap();
        root.mkdir_all(Path::new("dangling/x"), 0o755).unwrap();
        assert!(r.join("nowhere/at/all/x").is_dir());
        assert!(!Path::new("/nowhere").exists());
        // A file in the way is an error.
        fs::write(r.join("run/file"), "").unwrap();
        assert!(root.mkdir_all(Path::new("run/file/x"), 0o755).is_err());
    }

    #[test]
    fn read_refuses_what_is_not_a_regular_file() {
        let (_t, r) = hostile();
        let root = Root::open(&r).unwrap();
        fs::write(r.join("run/passwd"), "a:x:1:1::/:/bin/sh\n").unwrap();
        assert_eq!(
            root.read(Path::new("/var/run/passwd"), 1 << 20).unwrap(),
            b"a:x:1:1::/:/bin/sh\n"
        );
        rfs::mknodat(
            root.as_fd(),
            "fifo",
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        assert!(root.read(Path::new("fifo"), 1 << 20).is_err());
        assert!(root.read(Path::new("run"), 1 << 20).is_err());
        assert!(root.read(Path::new("abs/secret"), 1 << 20).is_err());
    }
}
