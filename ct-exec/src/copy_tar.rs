//! `ct-exec cp ID --out PATH` and `ct-exec cp ID --in DEST`: files out of and into a
//! container's root filesystem as a tar stream (tar(5), ustar/GNU headers), the way
//! `docker cp` moves them — without trusting anything the container put in its tree.
//!
//! The root filesystem is the container's to change while we copy: any component of a path
//! may be, or become, a symlink to `/` or to a host file. So nothing is looked up by name from
//! the host's `/`: the root is held as an fd ([`ct_layout::in_root::Root`]) and every path is
//! resolved with openat2(2) `RESOLVE_IN_ROOT` (a symlink resolves as it would after chroot),
//! and below that everything is opened relative to the fd of its parent with `O_NOFOLLOW`.
//!
//! Out (container → tar on stdout):
//! 1. open PATH in the root (its last component not followed: a symlink is copied as one);
//! 2. walk it depth first, each entry `openat(parent, name, O_NOFOLLOW)`: directories are
//!    read with getdents, symlinks with readlinkat and never descended, regular files read
//!    through their own fd, exactly the size fstat gave (a file that grows or shrinks meanwhile
//!    is cut or zero-padded: the archive stays well-formed); fifos and devices as headers only;
//! 3. names in the archive start at PATH's last component (`cp ID:/etc/hosts .` → `hosts`).
//!
//! In (tar on stdin → container):
//! 1. DEST an existing directory in the root: entries land inside it; else the archive's first
//!    top-level name is renamed to DEST (`cp file ID:/new-name`);
//! 2. each entry's name is cleaned (no `..` above DEST, absolute names made relative), its
//!    parent made with `mkdir_all` in the root, and the entry created relative to that parent
//!    fd: files `O_CREAT|O_EXCL|O_NOFOLLOW` after unlinking what was there (a symlink planted
//!    in its place is replaced, not written through), symlinks with symlinkat, directories
//!    with mkdirat; modes and mtimes from the archive, owned by root (as `docker cp`);
//!    hardlinks and devices are refused, by name.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use ct_layout::in_root::{clean, Root};
use ct_layout::pipe::quote;
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Timestamps};

/// What failed, with the path inside the container.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("cannot copy {path}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot copy {0}: hardlinks and device files are not copied into a container")]
    Unsupported(String),
}

/// The error for `path`, shown as the container sees it (from its `/`).
fn err(path: &Path) -> impl FnOnce(io::Error) -> CopyError + '_ {
    move |source| CopyError::Io {
        path: quote(Path::new("/").join(path).as_os_str().as_bytes()),
        source,
    }
}

fn e<T>(r: rustix::io::Result<T>) -> io::Result<T> {
    r.map_err(io::Error::from)
}

/// Out, steps 1 to 3: PATH from the container rooted at `rootfs`, as a tar on `out`. When
/// PATH cannot be found, `out` gets an empty archive (two zero blocks), so that the reader at
/// the other end of the pipe ends quietly and the one error is ours.
pub fn copy_out(rootfs: &Path, path: &str, mut out: impl Write) -> Result<(), CopyError> {
    let p = clean(Path::new(path));
    let start = || -> Result<(OwnedFd, OsString), CopyError> {
        let root = Root::open(rootfs).map_err(err(Path::new("/")))?;
        let (dir, name) = match (p.parent(), p.file_name()) {
            (Some(d), Some(n)) => (d, n.to_os_string()),
            // The root itself: its entries, under `.`.
            _ => (Path::new("/"), OsString::from(".")),
        };
        let parent = root
            .open_in(dir, OFlags::PATH | OFlags::DIRECTORY)
            .map_err(err(&p))?;
        if name != "." {
            e(rfs::statat(&parent, &name, AtFlags::SYMLINK_NOFOLLOW)).map_err(err(&p))?;
        }
        Ok((parent, name))
    };
    let (parent, name) = match start() {
        Ok(x) => x,
        Err(x) => {
            let _ = out.write_all(&[0u8; 1024]).and_then(|_| out.flush());
            return Err(x);
        }
    };
    let mut tar = tar::Builder::new(out);
    tar.mode(tar::HeaderMode::Complete);
    add(&mut tar, &parent, &name, Path::new(&name), &p)?;
    tar.into_inner().map_err(err(&p))?.flush().map_err(err(&p))
}

/// Step 2 for one entry `name` of directory `dir`, archived as `arch`.
fn add<W: Write>(
    tar: &mut tar::Builder<W>,
    dir: &OwnedFd,
    name: &OsStr,
    arch: &Path,
    shown: &Path,
) -> Result<(), CopyError> {
    let st = e(rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)).map_err(err(shown))?;
    let mut h = tar::Header::new_gnu();
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => {
            h.set_entry_type(tar::EntryType::Directory);
            tar.append_data(&mut h, arch, io::empty())
                .map_err(err(shown))?;
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let d = e(rfs::openat(dir, name, flags, Mode::empty())).map_err(err(shown))?;
            let mut names = Vec::new();
            for ent in e(rfs::Dir::read_from(&d)).map_err(err(shown))? {
                let ent = e(ent).map_err(err(shown))?;
                let n = OsStr::from_bytes(ent.file_name().to_bytes()).to_os_string();
                if n != "." && n != ".." {
                    names.push(n);
                }
            }
            names.sort();
            for n in names {
                add(tar, &d, &n, &arch.join(&n), &shown.join(&n))?;
            }
        }
        FileType::RegularFile => {
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
            let f = e(rfs::openat(dir, name, flags, Mode::empty())).map_err(err(shown))?;
            let size = st.st_size.max(0) as u64;
            h.set_size(size);
            h.set_entry_type(tar::EntryType::Regular);
            // Exactly `size` bytes, whatever the file does meanwhile.
            let data = std::fs::File::from(f)
                .take(size)
                .chain(io::repeat(0))
                .take(size);
            tar.append_data(&mut h, arch, data).map_err(err(shown))?;
        }
        FileType::Symlink => {
            let target = e(rfs::readlinkat(dir, name, Vec::new())).map_err(err(shown))?;
            h.set_entry_type(tar::EntryType::Symlink);
            tar.append_link(&mut h, arch, OsStr::from_bytes(target.as_bytes()))
                .map_err(err(shown))?;
        }
        kind => {
            h.set_entry_type(match kind {
                FileType::Fifo => tar::EntryType::Fifo,
                FileType::CharacterDevice => tar::EntryType::Char,
                FileType::BlockDevice => tar::EntryType::Block,
                _ => return Ok(()), // a socket: nothing to archive
            });
            let dev = st.st_rdev;
            h.set_device_major(rustix::fs::major(dev))
                .map_err(err(shown))?;
            h.set_device_minor(rustix::fs::minor(dev))
                .map_err(err(shown))?;
            tar.append_data(&mut h, arch, io::empty())
                .map_err(err(shown))?;
        }
    }
    Ok(())
}

/// In, steps 1 and 2: the tar on `input` into DEST of the container rooted at `rootfs`.
pub fn copy_in(rootfs: &Path, dest: &str, input: impl Read) -> Result<(), CopyError> {
    let dest = clean(Path::new(dest));
    let root = Root::open(rootfs).map_err(err(Path::new("/")))?;
    let into_dir = root
        .open_in(&dest, OFlags::PATH | OFlags::DIRECTORY)
        .is_ok();
    let mut ar = tar::Archive::new(input);
    let mut first: Option<OsString> = None;
    for entry in ar.entries().map_err(err(&dest))? {
        let mut entry = entry.map_err(err(&dest))?;
        let name = clean(&entry.path().map_err(err(&dest))?);
        let Some(top) = name.iter().next().map(OsStr::to_os_string) else {
            continue;
        };
        // Not into a directory: the first top-level name becomes DEST.
        let target = if into_dir {
            dest.join(&name)
        } else {
            let first = first.get_or_insert_with(|| top.clone());
            if *first != top {
                continue;
            }
            let rest: PathBuf = name.iter().skip(1).collect();
            if rest.as_os_str().is_empty() {
                dest.clone()
            } else {
                dest.join(rest)
            }
        };
        let h = entry.header();
        let mode = h.mode().unwrap_or(0o644) & 0o7777;
        let mtime = h.mtime().unwrap_or(0);
        let kind = h.entry_type();
        let (Some(parent), Some(leaf)) = (target.parent(), target.file_name()) else {
            continue; // DEST is `/`: entries go inside it, never replace it
        };
        let leaf = leaf.to_os_string();
        let dir = root.mkdir_all(parent, 0o755).map_err(err(&target))?;
        let made: OwnedFd = match kind {
            tar::EntryType::Directory => {
                match rfs::mkdirat(&dir, &leaf, Mode::from_raw_mode(mode)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(x) => return Err(err(&target)(x.into())),
                }
                let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                e(rfs::openat(&dir, &leaf, flags, Mode::empty())).map_err(err(&target))?
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                unlink_file(&dir, &leaf).map_err(err(&target))?;
                let flags = OFlags::CREATE
                    | OFlags::EXCL
                    | OFlags::NOFOLLOW
                    | OFlags::WRONLY
                    | OFlags::CLOEXEC;
                let fd = e(rfs::openat(&dir, &leaf, flags, Mode::from_raw_mode(0o600)))
                    .map_err(err(&target))?;
                let mut f = std::fs::File::from(fd);
                io::copy(&mut entry, &mut f).map_err(err(&target))?;
                OwnedFd::from(f)
            }
            tar::EntryType::Symlink => {
                let link = entry
                    .link_name()
                    .map_err(err(&target))?
                    .unwrap_or_default()
                    .into_owned();
                unlink_file(&dir, &leaf).map_err(err(&target))?;
                e(rfs::symlinkat(&link, &dir, &leaf)).map_err(err(&target))?;
                continue; // a symlink's own mode and time are not kept
            }
            _ => {
                return Err(CopyError::Unsupported(quote(
                    Path::new("/").join(&target).as_os_str().as_bytes(),
                )))
            }
        };
        // Owned by root, with the archive's mode and time, set through the fd we made.
        e(rfs::fchown(
            &made,
            Some(rustix::process::Uid::ROOT),
            Some(rustix::process::Gid::ROOT),
        ))
        .map_err(err(&target))?;
        e(rfs::fchmod(&made, Mode::from_raw_mode(mode))).map_err(err(&target))?;
        let t = rfs::Timespec {
            tv_sec: mtime as i64,
            tv_nsec: 0,
        };
        let _ = rfs::futimens(
            made.as_fd(),
            &Timestamps {
                last_access: t,
                last_modification: t,
            },
        );
    }
    Ok(())
}

/// Remove what is at `name` in `dir` unless it is a directory (a file, or a symlink planted
/// there: it is replaced, never followed).
fn unlink_file(dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
    match rfs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(x) => Err(x.into()),
    }
}
