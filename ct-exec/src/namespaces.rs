//! Linux namespaces (namespaces(7)): what makes a process see its own pids, mounts, hostname,
//! IPC objects, network, users, cgroup root and clocks.
//!
//! The config's `linux.namespaces` lists each one either *new* (no `path`) or *joined* (a
//! `path` such as `/proc/PID/ns/net` or a bind-mounted `/run/netns/NAME`, which is how ct-net
//! hands over a network namespace). How ct-exec gets there, in order:
//!
//! 1. `clone(2)` with the `CLONE_NEW*` flags of every new namespace, in one syscall, when it
//!    can: the kernel creates the user namespace first and makes it own the others, so the
//!    child is root in all of them. (The *fast path*: one process, no extra fork.)
//! 2. The child joins every `path` namespace with `setns(2)`, user namespace first.
//! 3. The cgroup namespace is unshared only after the parent has moved the child into its
//!    cgroup, so the namespace's root is the container's cgroup and not ct-exec's.
//!
//! Two cases need the *slow path* (clone without flags, then `setns`, then `unshare(2)`, then
//! `fork(2)` — the pid and time namespaces only apply to children):
//! * a pid namespace joined by `path`, or a new time namespace;
//! * a user namespace together with a namespace joined by `path`: joining a namespace owned
//!   by the host's user namespace needs the host's privileges, which a process inside a new
//!   user namespace no longer has, so joining must come before creating the user namespace.

use std::fs::File;
use std::io;
use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

/// Which namespaces to create and which to join.
#[derive(Debug, Clone, Default)]
pub struct NsPlan {
    /// `CLONE_NEW*` flags of the new namespaces, cgroup and time excluded.
    pub new_flags: libc::c_int,
    pub new_cgroup: bool,
    pub new_time: bool,
    /// Namespaces joined by path, user first.
    pub joins: Vec<(LinuxNamespaceType, PathBuf)>,
    pub user: bool,
    pub new_user: bool,
    pub new_pid: bool,
    pub pid_joined: bool,
    pub mount: bool,
    pub uts_new: bool,
    pub net_new: bool,
    pub slow: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum NsError {
    #[error("namespace '{0}' listed twice")]
    Duplicate(String),
    #[error("the kernel has no {0} namespace (no /proc/self/ns/{0})")]
    Unavailable(String),
    #[error("cannot open namespace '{path}'")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot join namespace '{path}' (setns)")]
    Setns {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot create namespaces (unshare)")]
    Unshare(#[source] io::Error),
}

pub fn flag(t: LinuxNamespaceType) -> libc::c_int {
    match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => 0x80, // CLONE_NEWTIME
    }
}

/// The name under `/proc/self/ns/`.
pub fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

impl NsPlan {
    pub fn from_spec(spec: &Spec) -> Result<NsPlan, NsError> {
        let mut p = NsPlan::default();
        let list = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().clone())
            .unwrap_or_default();
        let mut seen = Vec::new();
        for ns in &list {
            let t = ns.typ();
            if seen.contains(&t) {
                return Err(NsError::Duplicate(proc_name(t).into()));
            }
            seen.push(t);
            if !std::path::Path::new("/proc/self/ns")
                .join(proc_name(t))
                .exists()
            {
                return Err(NsError::Unavailable(proc_name(t).into()));
            }
            match ns.path() {
                Some(path) if !path.as_os_str().is_empty() => {
                    if t == LinuxNamespaceType::User {
                        p.joins.insert(0, (t, path.clone()));
                    } else {
                        p.joins.push((t, path.clone()));
                    }
                    if t == LinuxNamespaceType::Pid {
                        p.pid_joined = true;
                    }
                }
                _ => match t {
                    LinuxNamespaceType::Cgroup => p.new_cgroup = true,
                    LinuxNamespaceType::Time => p.new_time = true,
                    _ => {
                        p.new_flags |= flag(t);
                        match t {
                            LinuxNamespaceType::User => p.new_user = true,
                            LinuxNamespaceType::Pid => p.new_pid = true,
                            LinuxNamespaceType::Uts => p.uts_new = true,
                            LinuxNamespaceType::Network => p.net_new = true,
                            _ => {}
                        }
                    }
                },
            }
            match t {
                LinuxNamespaceType::User => p.user = true,
                LinuxNamespaceType::Mount => p.mount = true,
                _ => {}
            }
        }
        let other_joins = p.joins.iter().any(|(t, _)| *t != LinuxNamespaceType::User);
        let user_joined = p.joins.iter().any(|(t, _)| *t == LinuxNamespaceType::User);
        p.slow = p.pid_joined || p.new_time || user_joined || (p.user && other_joins);
        Ok(p)
    }

    /// Flags for `clone(2)` itself: everything new on the fast path, nothing on the slow one.
    pub fn clone_flags(&self) -> libc::c_int {
        if self.slow {
            0
        } else {
            self.new_flags
        }
    }
}

/// Join every namespace given by path (user first). On the fast path the pid namespace
/// is never among them.
pub fn join_all(joins: &[(LinuxNamespaceType, PathBuf)]) -> Result<(), NsError> {
    // Open all first: once in another mount namespace, the paths may no longer resolve.
    let mut files = Vec::with_capacity(joins.len());
    for (t, path) in joins {
        let f = File::open(path).map_err(|source| NsError::Open {
            path: path.clone(),
            source,
        })?;
        files.push((*t, path, f));
    }
    for (t, path, f) in files {
        // The nstype makes the kernel refuse a file that is not a namespace of that type.
        let nstype = nix::sched::CloneFlags::from_bits_retain(flag(t));
        nix::sched::setns(&f, nstype).map_err(|e| NsError::Setns {
            path: path.clone(),
            source: e.into(),
        })?;
    }
    Ok(())
}

pub fn unshare(flags: libc::c_int) -> Result<(), NsError> {
    if flags == 0 {
        return Ok(());
    }
    nix::sched::unshare(nix::sched::CloneFlags::from_bits_retain(flags))
        .map_err(|e| NsError::Unshare(e.into()))
}
