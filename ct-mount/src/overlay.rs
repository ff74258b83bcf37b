//! overlayfs (`Documentation/filesystems/overlayfs.rst`): one merged view of read-only *lower*
//! directories (the image's layers, shared by every container) under one writable *upper*
//! directory (this container's changes). A whiteout — a 0:0 character device in a layer — hides
//! the name below it; a directory with `trusted.overlay.opaque=y` (`user.overlay.opaque=y` with
//! `userxattr`) hides everything below it.
//! ct-unpack already stores layers in exactly that form, so the kernel applies the image's
//! deletions itself and ct-mount only has to hand it the list.
//!
//! Why the new mount API. The classic `mount(2)` passes every option in one string that the
//! kernel copies into ONE page (4096 bytes). `$CT_ROOT/layers/sha256/<64 hex>` is about 90 bytes
//! with the default root, so `lowerdir=a:b:c…` overflows at ~45 layers; a 128-layer image fails
//! with EINVAL. The new API (`fsopen(2)`, `fsconfig(2)`, `fsmount(2)`, `move_mount(2)`, Linux 5.2)
//! configures a filesystem one key at a time, and overlayfs' `lowerdir+` key (Linux 6.8) appends
//! ONE layer per call, so the page limit is gone. fsconfig strings are themselves capped at 256
//! bytes, so ct passes every directory as an open `O_PATH` descriptor instead of a path
//! (`FSCONFIG_SET_FD`, accepted by overlayfs since 6.13) and falls back to the short magic link
//! `/proc/self/fd/N` (≤ 20 bytes) as the string on 6.8–6.12. On kernels without the new API or
//! without `lowerdir+`, the same short links make the classic string fit: 128 layers take ~2.3 KB.
//!
//! The steps, in order:
//! 1. `fsopen("overlay")` — a filesystem context; ENODEV means no overlayfs in this kernel.
//! 2. `fsconfig(SET_FD, "lowerdir+", fd)` for each layer, TOP layer first (the same order as
//!    the classic colon list: the first one wins).
//! 3. `upperdir` and `workdir` (same filesystem, work dir empty) — or none for a read-only view.
//!    In a user namespace (a user's own, see ct_layout::rootless) `userxattr` too: overlayfs
//!    then reads and writes `user.overlay.*` (as ct-unpack marks a user's opaque dirs), since
//!    `trusted.*` needs root on the host.
//! 4. `index=off`: the inode index ties an upper dir to the exact lower dirs it was made with;
//!    layers are shared and immutable, so ct does not need it.
//! 5. `fsconfig(CMD_CREATE)` builds the superblock. When it fails, the reason is in the
//!    context's message log, which `read(2)` on the context returns line by line.
//! 6. `fsmount` makes a mount that is not attached anywhere yet; `move_mount` attaches it at
//!    `rootfs` in one step. If any step fails, closing the descriptors throws everything away:
//!    nothing is ever half-mounted.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, CWD};
use rustix::mount::{
    fsconfig_create, fsconfig_set_fd, fsconfig_set_string, fsmount, move_mount, FsMountFlags,
    FsOpenFlags, MountAttrFlags, MountFlags, MoveMountFlags,
};

/// The kernel's page: the most the classic `mount(2)` data string may hold (with its NUL).
const PAGE: usize = 4096;

/// What to stack.
#[derive(Debug, Clone)]
pub struct Overlay {
    /// Lower directories, TOP layer first.
    pub lower: Vec<PathBuf>,
    /// `(upper, work)`; `None` mounts a read-only view of the layers.
    pub upper: Option<(PathBuf, PathBuf)>,
    /// Mounted in a user namespace (a user's, ct_layout::rootless): overlayfs' own xattrs are
    /// `user.overlay.*` instead of `trusted.overlay.*` (option `userxattr`, Linux 5.11).
    pub userxattr: bool,
}

/// Which kernel interface did the mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// fsopen/fsconfig/fsmount/move_mount with `lowerdir+`.
    New,
    /// mount(2) with one option string of short `/proc/self/fd/N` names.
    Classic,
}

#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error("overlayfs is not available in this kernel")]
    Unavailable(#[source] io::Error),
    #[error("cannot open '{path}'")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{call} failed")]
    Syscall {
        call: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("overlayfs refused {key} '{path}'{log}")]
    Config {
        key: &'static str,
        path: PathBuf,
        log: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot create an overlay for '{target}'{log}")]
    Create {
        target: PathBuf,
        log: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot attach the overlay at '{target}'")]
    Attach {
        target: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("overlay options for {layers} layers take {len} bytes, more than one page")]
    TooLong { layers: usize, len: usize },
}

impl OverlayError {
    /// The errno underneath, if any (used to choose a hint).
    pub fn errno(&self) -> Option<i32> {
        match self {
            OverlayError::Unavailable(e)
            | OverlayError::Open { source: e, .. }
            | OverlayError::Syscall { source: e, .. }
            | OverlayError::Config { source: e, .. }
            | OverlayError::Create { source: e, .. }
            | OverlayError::Attach { source: e, .. } => e.raw_os_error(),
            OverlayError::TooLong { .. } => None,
        }
    }
}

/// Mount `ov` at `target`, with the new API when the kernel has it.
pub fn mount(target: &Path, ov: &Overlay) -> Result<Api, OverlayError> {
    mount_as("overlay", target, ov)
}

/// [`mount`] with the filesystem type's name given: tests ask for one the kernel does not
/// have, to see the "overlayfs is not available" path taken for real.
pub fn mount_as(fs_type: &str, target: &Path, ov: &Overlay) -> Result<Api, OverlayError> {
    let fs = match fsopen(fs_type) {
        Ok(fs) => fs,
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => {
            return Err(OverlayError::Unavailable(e))
        }
        // No new mount API (before 5.2, or filtered by seccomp): the classic way.
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
            return mount_classic(target, ov).map(|()| Api::Classic)
        }
        Err(source) => {
            return Err(OverlayError::Syscall {
                call: "fsopen(overlay)",
                source,
            })
        }
    };
    match mount_new(&fs, target, ov, None) {
        Err(NewApiError::NoLowerdirPlus) => mount_classic(target, ov).map(|()| Api::Classic),
        Err(NewApiError::Failed(e)) => Err(e),
        Ok(()) => Ok(Api::New),
    }
}

enum NewApiError {
    /// The kernel has the new API but overlayfs predates `lowerdir+` (before 6.8).
    NoLowerdirPlus,
    Failed(OverlayError),
}

impl From<OverlayError> for NewApiError {
    fn from(e: OverlayError) -> Self {
        NewApiError::Failed(e)
    }
}

/// The 6.8–6.12 path on any kernel: `lowerdir+` with `/proc/self/fd/N` strings, never fds.
/// Tests use it, because this kernel would otherwise always take descriptors.
pub fn mount_by_strings(target: &Path, ov: &Overlay) -> Result<(), OverlayError> {
    let fs = fsopen("overlay").map_err(OverlayError::Unavailable)?;
    match mount_new(&fs, target, ov, Some(false)) {
        Ok(()) => Ok(()),
        Err(NewApiError::Failed(e)) => Err(e),
        Err(NewApiError::NoLowerdirPlus) => Err(OverlayError::Syscall {
            call: "fsconfig(lowerdir+)",
            source: io::Error::from_raw_os_error(libc::EINVAL),
        }),
    }
}

fn mount_new(
    fs: &OwnedFd,
    target: &Path,
    ov: &Overlay,
    by_fd: Option<bool>,
) -> Result<(), NewApiError> {
    // Open every directory first: a missing layer fails before the kernel sees anything.
    let lower = open_all(&ov.lower)?;
    let upper = match &ov.upper {
        Some((u, w)) => Some((open_dir(u)?, open_dir(w)?)),
        None => None,
    };
    // Unless told, unknown until the first layer: does overlayfs take descriptors (6.13+)?
    let mut by_fd = by_fd;
    for (i, (fd, path)) in lower.iter().zip(&ov.lower).enumerate() {
        match set_dir(fs, "lowerdir+", fd, path, &mut by_fd) {
            // The very first `lowerdir+` refused as a plain string: the key is unknown.
            Err(OverlayError::Config { source, .. })
                if i == 0
                    && by_fd == Some(false)
                    && source.raw_os_error() == Some(libc::EINVAL) =>
            {
                return Err(NewApiError::NoLowerdirPlus)
            }
            r => r?,
        }
    }
    if let (Some((ufd, wfd)), Some((u, w))) = (&upper, &ov.upper) {
        set_dir(fs, "upperdir", ufd, u, &mut by_fd)?;
        set_dir(fs, "workdir", wfd, w, &mut by_fd)?;
    }
    if ov.userxattr {
        rustix::mount::fsconfig_set_flag(fs, "userxattr").map_err(|e| OverlayError::Config {
            key: "userxattr",
            path: PathBuf::new(),
            log: log_of(fs),
            source: e.into(),
        })?;
    }
    set_string(fs, "index", "off").map_err(|source| OverlayError::Config {
        key: "index",
        path: PathBuf::from("off"),
        log: log_of(fs),
        source,
    })?;
    set_string(fs, "source", "ct").map_err(|source| OverlayError::Config {
        key: "source",
        path: PathBuf::from("ct"),
        log: log_of(fs),
        source,
    })?;

    if let Err(e) = fsconfig_create(fs) {
        return Err(OverlayError::Create {
            target: target.to_path_buf(),
            log: log_of(fs),
            source: e.into(),
        }
        .into());
    }

    let attrs = if ov.upper.is_none() {
        MountAttrFlags::MOUNT_ATTR_RDONLY
    } else {
        MountAttrFlags::empty()
    };
    let mnt =
        fsmount(fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs).map_err(|e| OverlayError::Syscall {
            call: "fsmount",
            source: e.into(),
        })?;

    move_mount(
        &mnt,
        c"",
        CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|e| OverlayError::Attach {
        target: target.to_path_buf(),
        source: e.into(),
    })?;
    Ok(())
}

/// Hand one directory to the context: as a descriptor if the kernel takes one (6.13+),
/// otherwise as the short string `/proc/self/fd/N` (never longer than fsconfig's 256 bytes).
/// `by_fd` is `None` until the first call found out which; only that call retries.
fn set_dir(
    fs: &OwnedFd,
    key: &'static str,
    fd: &OwnedFd,
    path: &Path,
    by_fd: &mut Option<bool>,
) -> Result<(), OverlayError> {
    if *by_fd != Some(false) {
        let Err(e) = fsconfig_set_fd(fs, key, fd) else {
            *by_fd = Some(true);
            return Ok(());
        };
        let e = io::Error::from(e);
        if *by_fd == Some(true) || e.raw_os_error() != Some(libc::EINVAL) {
            return Err(OverlayError::Config {
                key,
                path: path.to_path_buf(),
                log: log_of(fs),
                source: e,
            });
        }
        // Before 6.13 overlayfs only takes strings: drop the "bad value" message and retry.
        let _ = log_of(fs);
        *by_fd = Some(false);
    }
    set_string(fs, key, &proc_fd(fd)).map_err(|source| OverlayError::Config {
        key,
        path: path.to_path_buf(),
        log: log_of(fs),
        source,
    })
}

fn set_string(fs: &OwnedFd, key: &str, value: &str) -> io::Result<()> {
    Ok(fsconfig_set_string(fs, key, value)?)
}

/// The classic `mount(2)`: all options in one string, each directory by its short fd link.
pub fn mount_classic(target: &Path, ov: &Overlay) -> Result<(), OverlayError> {
    let lower = open_all(&ov.lower)?;
    let upper = match &ov.upper {
        Some((u, w)) => Some((open_dir(u)?, open_dir(w)?)),
        None => None,
    };
    let mut data = classic_options(
        &lower.iter().map(proc_fd).collect::<Vec<_>>(),
        upper.as_ref().map(|(u, w)| (proc_fd(u), proc_fd(w))),
    );
    if ov.userxattr {
        data.push_str(",userxattr");
    }
    if data.len() + 1 > PAGE {
        return Err(OverlayError::TooLong {
            layers: lower.len(),
            len: data.len(),
        });
    }
    let d = cstr(OsStr::new(&data)).map_err(|source| OverlayError::Attach {
        target: target.to_path_buf(),
        source,
    })?;
    let flags = if ov.upper.is_none() {
        MountFlags::RDONLY
    } else {
        MountFlags::empty()
    };
    if let Err(e) = rustix::mount::mount("ct", target, "overlay", flags, d.as_c_str()) {
        let e = io::Error::from(e);
        if e.raw_os_error() == Some(libc::ENODEV) {
            return Err(OverlayError::Unavailable(e));
        }
        return Err(OverlayError::Create {
            target: target.to_path_buf(),
            log: String::new(),
            source: e,
        });
    }
    Ok(())
}

/// `lowerdir=A:B,upperdir=U,workdir=W,index=off` — the classic option string.
pub fn classic_options(lower: &[String], upper: Option<(String, String)>) -> String {
    let mut s = format!("lowerdir={}", lower.join(":"));
    if let Some((u, w)) = upper {
        s.push_str(&format!(",upperdir={u},workdir={w}"));
    }
    s.push_str(",index=off");
    s
}

fn proc_fd(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

fn open_all(paths: &[PathBuf]) -> Result<Vec<OwnedFd>, OverlayError> {
    paths.iter().map(|p| open_dir(p)).collect()
}

/// An `O_PATH` descriptor of a directory: names it without reading it.
fn open_dir(path: &Path) -> Result<OwnedFd, OverlayError> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    rustix::fs::open(path, flags, Mode::empty()).map_err(|e| OverlayError::Open {
        path: path.to_path_buf(),
        source: e.into(),
    })
}

fn fsopen(name: &str) -> io::Result<OwnedFd> {
    Ok(rustix::mount::fsopen(name, FsOpenFlags::FSOPEN_CLOEXEC)?)
}

/// The context's message log (`e overlayfs: …` lines), as ` (kernel: a; b)`, or empty.
fn log_of(fs: &OwnedFd) -> String {
    let mut msgs = Vec::new();
    // The log holds at most 8 messages; the bound only guards against a misbehaving kernel.
    for _ in 0..16 {
        let mut buf = [0u8; 1024];
        let n = match rustix::io::read(fs, &mut buf) {
            Ok(n) if n > 0 => n,
            _ => break,
        };
        let line = String::from_utf8_lossy(&buf[..n]).trim().to_string();
        // Each message starts with its level: "e " error, "w " warning, "i " info.
        let text = line
            .strip_prefix("e ")
            .or_else(|| line.strip_prefix("w "))
            .or_else(|| line.strip_prefix("i "))
            .unwrap_or(&line)
            .to_string();
        if !text.is_empty() {
            msgs.push(text);
        }
    }
    if msgs.is_empty() {
        String::new()
    } else {
        format!(" (kernel: {})", msgs.join("; "))
    }
}

fn cstr(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_options_fit_a_page_for_128_layers() {
        let lower: Vec<String> = (3..131).map(|n| format!("/proc/self/fd/{n}")).collect();
        let s = classic_options(
            &lower,
            Some(("/proc/self/fd/131".into(), "/proc/self/fd/132".into())),
        );
        assert!(
            s.starts_with("lowerdir=/proc/self/fd/3:/proc/self/fd/4:"),
            "{s}"
        );
        assert!(s.ends_with(",upperdir=/proc/self/fd/131,workdir=/proc/self/fd/132,index=off"));
        assert!(s.len() < PAGE, "{}", s.len());
        // The same list as store paths would not fit: that is why the short names exist.
        let long: Vec<String> = (0..128)
            .map(|_| format!("/var/lib/ct/layers/sha256/{}", "a".repeat(64)))
            .collect();
        assert!(classic_options(&long, None).len() > PAGE);
    }

    #[test]
    fn read_only_has_no_upper() {
        let s = classic_options(&["/a".into(), "/b".into()], None);
        assert_eq!(s, "lowerdir=/a:/b,index=off");
    }
}
