//! The `cgroup` entry of the mounts list: what the container sees at `/sys/fs/cgroup`.
//!
//! On a cgroup v1 (or hybrid) host it means "a tmpfs with one cgroup hierarchy per controller
//! below it", as the host has (the host's hierarchies come from `/proc/self/mountinfo`, read
//! with `ct_layout::mountinfo`); on a pure v2 host, one `cgroup2`. What each hierarchy shows is
//! the container's own cgroup, never the host's siblings (cgroups(7), cgroup_namespaces(7)):
//! * in a new cgroup namespace, a fresh mount of each hierarchy, whose root is the namespace's
//!   root — the container's cgroup;
//! * without one (or in a user namespace, where the kernel refuses to mount v1 hierarchies),
//!   as runc does: the container's own directory of each hierarchy (from `/proc/self/cgroup`,
//!   read once the parent has placed it) is bind-mounted there, then remounted with the
//!   entry's flags (`ro`, `nosuid` …).

use std::fs;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::OFlags;

use crate::mounts::{locked_flags, mount, MountPlan};
use crate::rootfs_path::{target, Rootfs};

/// The container's own cgroups, as `/proc/self/cgroup` lines (hierarchy id, controllers,
/// path), read after the parent placed it and before any cgroup namespace: what a `cgroup`
/// mount shows.
#[derive(Debug, Clone, Default)]
pub enum CgroupView {
    /// In a new cgroup namespace: fresh mounts show it (the lines are for the fallback).
    Namespace(Vec<(String, String)>),
    /// No cgroup namespace: bind the container's own directories.
    Own(Vec<(String, String)>),
    /// Not read yet (read when needed).
    #[default]
    None,
}

impl CgroupView {
    /// Read `/proc/self/cgroup`.
    pub fn read(namespace: bool) -> CgroupView {
        let own = read_own();
        if namespace {
            CgroupView::Namespace(own)
        } else {
            CgroupView::Own(own)
        }
    }
}

/// `/proc/self/cgroup` as (controllers, path) pairs.
fn read_own() -> Vec<(String, String)> {
    let text = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrl, path) = (f.next()?, f.next()?, f.next()?);
            Some((ctrl.to_string(), path.to_string()))
        })
        .collect()
}

/// Mount the `cgroup` entry `m` onto `fd`, as `view` says.
pub(crate) fn mount_entry(
    rootfs: &Rootfs,
    fd: &OwnedFd,
    m: &MountPlan,
    userns: bool,
    view: &CgroupView,
) -> io::Result<()> {
    match view {
        CgroupView::Namespace(own) => match mount_cgroup(rootfs, fd, m) {
            // Only the host's user namespace may mount cgroup v1 hierarchies.
            Err(e) if userns && e.raw_os_error() == Some(libc::EPERM) => {
                bind_cgroup(rootfs, fd, m, own, userns)
            }
            r => r,
        },
        CgroupView::Own(own) => bind_cgroup(rootfs, fd, m, own, userns),
        CgroupView::None => bind_cgroup(rootfs, fd, m, &read_own(), userns),
    }
}

/// A directory `name` in a tmpfs ct-exec just mounted (`top`), as an fd to mount onto.
fn subdir(top: &OwnedFd, name: &str) -> io::Result<OwnedFd> {
    match rustix::fs::mkdirat(top, name, rustix::fs::Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(e.into()),
    }
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(rustix::fs::openat(
        top,
        name,
        flags,
        rustix::fs::Mode::empty(),
    )?)
}

/// The host's cgroup hierarchies as (mount point basename, fstype, super options, root of
/// the mount within its hierarchy).
fn host_hierarchies() -> Vec<(String, String, String, String)> {
    let Ok(mounts) = ct_layout::mountinfo::read_self() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for m in mounts {
        let Ok(name) = m.mount_point.strip_prefix("/sys/fs/cgroup") else {
            continue;
        };
        if m.fs_type == "cgroup" || m.fs_type == "cgroup2" {
            let opts: Vec<&str> = m
                .super_options()
                .filter(|o| !matches!(*o, "rw" | "ro"))
                .collect();
            out.push((
                name.to_string_lossy().into_owned(),
                m.fs_type.clone(),
                opts.join(","),
                m.root.to_string_lossy().into_owned(),
            ));
        }
    }
    out
}

fn mount_cgroup(rootfs: &Rootfs, fd: &OwnedFd, m: &MountPlan) -> io::Result<()> {
    let hier = host_hierarchies();
    let dest = &target(fd);
    if hier.len() == 1 && hier[0].0.is_empty() {
        return mount(
            Some(Path::new("cgroup2")),
            dest,
            Some("cgroup2"),
            m.flags,
            None,
        );
    }
    let base = m.flags & (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC);
    mount(
        Some(Path::new("tmpfs")),
        dest,
        Some("tmpfs"),
        base,
        Some("mode=755"),
    )?;
    let top = rootfs.reopen(fd.as_fd())?;
    let dest = &target(&top);
    for (name, fstype, opts, _) in &hier {
        if name.is_empty() {
            continue;
        }
        let sub = subdir(&top, name)?;
        let d = target(&sub);
        mount(
            Some(Path::new(fstype)),
            &d,
            Some(fstype),
            m.flags & !libc::MS_REMOUNT,
            Some(opts),
        )?;
    }
    if m.flags & libc::MS_RDONLY != 0 {
        mount(
            None,
            dest,
            None,
            libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | base,
            None,
        )?;
    }
    Ok(())
}

/// The directory of our own cgroup in one host hierarchy: its mount point joined with our
/// path there (minus the mount's own root, when the host mounted a subtree).
fn own_dir(
    mount_point: &Path,
    fstype: &str,
    opts: &str,
    root: &str,
    own: &[(String, String)],
) -> Option<PathBuf> {
    let opts: Vec<&str> = opts.split(',').collect();
    let path = own.iter().find_map(|(ctrl, path)| {
        let hit = if fstype == "cgroup2" {
            ctrl.is_empty()
        } else {
            !ctrl.is_empty() && ctrl.split(',').all(|c| opts.contains(&c))
        };
        hit.then_some(path.as_str())
    })?;
    let rel = match root {
        "/" => path,
        r => path.strip_prefix(r)?,
    };
    Some(mount_point.join(rel.trim_start_matches('/')))
}

/// Bind `src` on `dst`, then remount it with the entry's flags.
fn bind_remount(
    rootfs: &Rootfs,
    src: &Path,
    dst: &OwnedFd,
    m: &MountPlan,
    userns: bool,
) -> io::Result<()> {
    mount(
        Some(src),
        &target(dst),
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )?;
    let flags = m.flags & (libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC);
    if flags != 0 {
        let now_fd = rootfs.reopen(dst.as_fd())?;
        let dst = &target(&now_fd);
        let keep = if userns { locked_flags(dst) } else { 0 };
        mount(
            None,
            dst,
            None,
            libc::MS_REMOUNT | libc::MS_BIND | flags | keep,
            None,
        )?;
    }
    Ok(())
}

/// runc's cgroup mount without a cgroup namespace: each hierarchy's directory of the
/// container's own cgroup, bound (read-only when asked) where the container looks for it.
fn bind_cgroup(
    rootfs: &Rootfs,
    fd: &OwnedFd,
    m: &MountPlan,
    own: &[(String, String)],
    userns: bool,
) -> io::Result<()> {
    let hier = host_hierarchies();
    let host = Path::new("/sys/fs/cgroup");
    if hier.len() == 1 && hier[0].0.is_empty() {
        let (_, fstype, opts, root) = &hier[0];
        let src = own_dir(host, fstype, opts, root, own)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        return bind_remount(rootfs, &src, fd, m, userns);
    }
    let dest = &target(fd);
    let base = m.flags & (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC);
    mount(
        Some(Path::new("tmpfs")),
        dest,
        Some("tmpfs"),
        base,
        Some("mode=755"),
    )?;
    let top = rootfs.reopen(fd.as_fd())?;
    for (name, fstype, opts, root) in &hier {
        if name.is_empty() {
            continue;
        }
        let Some(src) = own_dir(&host.join(name), fstype, opts, root, own) else {
            continue;
        };
        bind_remount(rootfs, &src, &subdir(&top, name)?, m, userns)?;
    }
    let dest = &target(&top);
    if m.flags & libc::MS_RDONLY != 0 {
        let keep = if userns { locked_flags(dest) } else { 0 };
        mount(
            None,
            dest,
            None,
            libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | base | keep,
            None,
        )?;
    }
    Ok(())
}
