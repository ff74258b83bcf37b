//! `linux.cgroupsPath` and `linux.resources` (cgroups(7)): the container's process is put in
//! its cgroup, with the memory, cpu and pids limits and the device rules (the config's, then
//! the devices every runtime allows, as runc: opening any other device node fails with EPERM)
//! written, *before* it executes anything —
//! by the parent, while the child waits in the handshake. The cgroup code is ct-cgroup's
//! library (`ct_cgroup::apply`), so ct-exec and ct-cgroup agree on paths and on v1, v2 and
//! hybrid hosts.
//!
//! Steps:
//! 1. Which cgroup: `linux.cgroupsPath` as runc reads it (absolute from each hierarchy's root,
//!    relative under `$CT_CGROUP_PARENT` or `ct`); without a path, `/ct/ID` — even with no
//!    resources at all, as runc does: the device rules are what keeps a process with
//!    CAP_MKNOD from making and opening the host's disks, so every container started by root
//!    gets them. (Not root: only with a path or resources; rootless containers get no devices
//!    but those bind-mounted from the host.)
//! 2. Parent, on the child's "ready": create it on every hierarchy, write the limits, move the
//!    child's pid in (a fork on the slow path inherits it).
//! 3. When the container has exited (foreground run, or the monitor of a detached one): remove
//!    the cgroup again, so nothing is left behind.

use oci_spec::runtime::LinuxResources;

use crate::oci_config::Plan;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cannot place pid {pid} in cgroup '{path}'")]
    Place {
        pid: i32,
        path: String,
        #[source]
        source: ct_cgroup::CgroupError,
    },
}

/// Step 1.
pub fn path_for(plan: &Plan, id: &str) -> Option<String> {
    match (&plan.cgroups_path, plan.has_resources) {
        (Some(p), _) if !p.as_os_str().is_empty() => Some(p.to_string_lossy().into_owned()),
        (_, true) => Some(ct_cgroup::default_path(id)),
        _ if nix::unistd::geteuid().is_root() => Some(ct_cgroup::default_path(id)),
        _ => None,
    }
}

fn resources(plan: &Plan) -> Option<&LinuxResources> {
    plan.spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
}

/// Step 2.
pub fn place(plan: &Plan, path: &str, pid: i32) -> Result<(), CgroupError> {
    ct_cgroup::apply(path, resources(plan), pid)
        .map(|_| ())
        .map_err(|source| CgroupError::Place {
            pid,
            path: path.to_string(),
            source,
        })
}

/// Step 3. A failure is reported, not fatal: the container has already run.
pub fn remove(path: &str) {
    if let Err(e) = ct_cgroup::remove(path) {
        eprintln!(
            "ct-exec: warning: cannot remove cgroup '{path}': {}",
            ct_layout::pipe::chain(&e)
        );
    }
}
