//! `linux.sysctl`: kernel parameters of the container's namespaces, written to `/proc/sys`
//! (sysctl(8)).
//!
//! Most sysctls are global: written from a container they change the host (`kernel.core_pattern`
//! makes the host's kernel run a program on every crash). A few belong to a namespace, and only
//! those are allowed, and only when that namespace is the container's own — runc's rules
//! (`libcontainer/configs/validate`), checked in the parent before anything starts:
//!
//! * `kernel.msgmax kernel.msgmnb kernel.msgmni kernel.sem kernel.shmall kernel.shmmax
//!   kernel.shmmni kernel.shm_rmid_forced` and `fs.mqueue.*`: the IPC namespace;
//! * `net.*`: the network namespace;
//! * `kernel.hostname`, `kernel.domainname`: the UTS namespace;
//! * anything else: refused.
//!
//! "The container's own" is a new namespace, or one joined by `path` that is not the one
//! ct-exec itself runs in (the host's): runc's `isHostNetNS`, compared by device and inode.
//!
//! Writing: after `pivot_root`, with the container's `/proc` mounted, and *before*
//! `readonlyPaths` makes `/proc/sys` read-only, each value goes to `/proc/sys/` + the key with
//! dots turned into slashes, through an fd proven to be on procfs ([`crate::procfs`]).

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use ct_layout::pipe::quote;
use oci_spec::runtime::LinuxNamespaceType;

use crate::namespaces::NsPlan;

#[derive(Debug, thiserror::Error)]
pub enum SysctlError {
    #[error("sysctl {}: not a valid key", quote(.0))]
    Key(String),
    #[error("sysctl {}: not allowed: it is not namespaced, so it would change the host", quote(.0))]
    Global(String),
    #[error("sysctl {}: not allowed without the container's own {} namespace (it would change the host's)", quote(.0), .1)]
    HostNs(String, &'static str),
    #[error("cannot set sysctl {}={} ('{}')", quote(key), quote(value), path.display())]
    Write {
        key: String,
        value: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

const IPC_KEYS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// The key as dots (runc also takes `net/ipv4/ip_forward`).
fn dotted(key: &str) -> String {
    key.replace('/', ".")
}

/// The file under `/proc/sys` for a key.
pub fn rel_path(key: &str) -> Result<String, SysctlError> {
    let k = dotted(key);
    let bad = k.is_empty()
        || k.split('.').any(|c| c.is_empty())
        || k.bytes().any(|b| b.is_ascii_control() || b == 0);
    if bad {
        return Err(SysctlError::Key(key.into()));
    }
    Ok(format!("sys/{}", k.replace('.', "/")))
}

/// The namespace a key belongs to, or `None` for a global one.
fn owner(key: &str) -> Option<LinuxNamespaceType> {
    let k = dotted(key);
    if IPC_KEYS.contains(&k.as_str()) || k.starts_with("fs.mqueue.") {
        Some(LinuxNamespaceType::Ipc)
    } else if k.starts_with("net.") {
        Some(LinuxNamespaceType::Network)
    } else if k == "kernel.hostname" || k == "kernel.domainname" {
        Some(LinuxNamespaceType::Uts)
    } else {
        None
    }
}

/// Is the namespace at `path` the one this process (the host's side) is in?
fn is_ours(path: &Path, t: LinuxNamespaceType) -> bool {
    let own = Path::new("/proc/self/ns").join(crate::namespaces::proc_name(t));
    match (std::fs::metadata(path), std::fs::metadata(own)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        // Unreadable: treat as the host's, refusing rather than risking it.
        _ => true,
    }
}

/// Does the container get its own namespace of type `t`?
fn own_namespace(ns: &NsPlan, t: LinuxNamespaceType) -> bool {
    if let Some((_, path)) = ns.joins.iter().find(|(j, _)| *j == t) {
        return !is_ours(path, t);
    }
    ns.new_flags & crate::namespaces::flag(t) != 0
}

/// runc's rules for one key, against the container's namespaces (in the parent, at plan time).
pub fn check(key: &str, ns: &NsPlan) -> Result<(), SysctlError> {
    rel_path(key)?;
    let Some(t) = owner(key) else {
        return Err(SysctlError::Global(key.into()));
    };
    if !own_namespace(ns, t) {
        return Err(SysctlError::HostNs(
            key.into(),
            crate::namespaces::proc_name(t),
        ));
    }
    Ok(())
}

/// Write one sysctl (in the container, after `pivot_root`).
pub fn set(key: &str, value: &str) -> Result<(), SysctlError> {
    let rel = rel_path(key)?;
    crate::procfs::write(&rel, value.as_bytes()).map_err(|source| SysctlError::Write {
        key: key.into(),
        value: value.into(),
        path: PathBuf::from("/proc").join(&rel),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_paths() {
        assert_eq!(
            rel_path("net.ipv4.ip_forward").unwrap(),
            "sys/net/ipv4/ip_forward"
        );
        assert_eq!(
            rel_path("net/ipv4/ip_forward").unwrap(),
            "sys/net/ipv4/ip_forward"
        );
        assert!(rel_path("../etc").is_err());
        assert!(rel_path("net..x").is_err());
    }

    #[test]
    fn only_keys_of_the_containers_own_namespaces() {
        let none = NsPlan::default();
        let all = NsPlan {
            new_flags: libc::CLONE_NEWIPC | libc::CLONE_NEWNET | libc::CLONE_NEWUTS,
            ..NsPlan::default()
        };
        for k in [
            "kernel.shmmax",
            "fs.mqueue.msg_max",
            "net.ipv4.ip_forward",
            "kernel.domainname",
        ] {
            assert!(check(k, &all).is_ok(), "{k}");
            assert!(
                matches!(check(k, &none), Err(SysctlError::HostNs(..))),
                "{k}"
            );
        }
        for k in [
            "kernel.core_pattern",
            "vm.overcommit_memory",
            "kernel.shm_next_id_x",
        ] {
            assert!(matches!(check(k, &all), Err(SysctlError::Global(_))), "{k}");
        }
        // Joining ct-exec's own network namespace by path is the host's.
        let joined = NsPlan {
            joins: vec![(LinuxNamespaceType::Network, "/proc/self/ns/net".into())],
            ..NsPlan::default()
        };
        assert!(check("net.ipv4.ip_forward", &joined).is_err());
    }
}
