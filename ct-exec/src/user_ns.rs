//! User namespaces (user_namespaces(7)): uid 0 inside, an unprivileged uid outside.
//!
//! A new user namespace starts with no ids mapped; its creator has every capability *in it*
//! but appears as the overflow uid 65534. Steps:
//!
//! 1. The child is created in the new namespace (`clone(CLONE_NEWUSER|…)`) and waits.
//! 2. The parent, still privileged in the host namespace, writes `/proc/CHILD/uid_map` and
//!    `/proc/CHILD/gid_map` — one line `INSIDE OUTSIDE COUNT` per `uidMappings` entry. Each file
//!    can be written once (through an fd checked to be on procfs, [`crate::procfs`]). A privileged writer need not deny `setgroups` first, so the
//!    container can still set its supplementary groups.
//! 3. The child, told to go on, calls `setresgid(0)` / `setresuid(0)` to become the mapped
//!    root, so the files it creates (device nodes, mount points) belong to the container's root.

use std::io;
use std::path::PathBuf;

use oci_spec::runtime::{LinuxIdMapping, Spec};

#[derive(Debug, thiserror::Error)]
pub enum UserNsError {
    #[error("a user namespace needs linux.uidMappings and linux.gidMappings")]
    NoMappings,
    #[error("cannot write '{path}' ({content})")]
    Write {
        path: PathBuf,
        content: String,
        #[source]
        source: io::Error,
    },
}

/// The `uid_map` / `gid_map` file contents for a config.
pub fn map_contents(spec: &Spec) -> Result<(String, String), UserNsError> {
    let linux = spec.linux().as_ref();
    let uids = linux
        .and_then(|l| l.uid_mappings().clone())
        .unwrap_or_default();
    let gids = linux
        .and_then(|l| l.gid_mappings().clone())
        .unwrap_or_default();
    if uids.is_empty() || gids.is_empty() {
        return Err(UserNsError::NoMappings);
    }
    Ok((lines(&uids), lines(&gids)))
}

fn lines(m: &[LinuxIdMapping]) -> String {
    m.iter()
        .map(|e| format!("{} {} {}\n", e.container_id(), e.host_id(), e.size()))
        .collect()
}

/// Step 2, run by the parent.
pub fn write_maps(pid: i32, uid_map: &str, gid_map: &str) -> Result<(), UserNsError> {
    for (file, content) in [("uid_map", uid_map), ("gid_map", gid_map)] {
        let rel = format!("{pid}/{file}");
        let path = PathBuf::from("/proc").join(&rel);
        crate::procfs::write(&rel, content.as_bytes()).map_err(|source| UserNsError::Write {
            path,
            content: content.trim().replace('\n', ", "),
            source,
        })?;
    }
    Ok(())
}

/// Step 3, run by the child once the maps are written.
pub fn become_root() -> io::Result<()> {
    use nix::unistd::{setresgid, setresuid, Gid, Uid};
    setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))?;
    setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))?;
    Ok(())
}
