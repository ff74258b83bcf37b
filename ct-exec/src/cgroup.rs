//! `linux.cgroupsPath` and `linux.resources`: the container's process is put in its cgroup
//! (with memory, cpu and pids limits applied) *before* it executes anything, by the parent,
//! while the child waits in the handshake. The cgroup code is shared with ct-cgroup.
//!
//! Until the `ct_cgroup` library is wired in, nothing is applied: ct-exec says so on stderr
//! whenever the config asks for it, and `--help` says so too.

use crate::oci_config::Plan;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cannot place pid {pid} in cgroup '{path}': {message}")]
    Place {
        pid: i32,
        path: String,
        message: String,
    },
}

/// The warning to print for a config whose cgroup settings are not applied, if any.
pub fn ignored(plan: &Plan) -> Option<String> {
    match (&plan.cgroups_path, plan.has_resources) {
        (_, true) => Some("linux.resources is ignored: cgroup limits are not applied by this build of ct-exec (use ct-cgroup)".into()),
        (Some(p), false) => Some(format!("linux.cgroupsPath '{}' is ignored: the container stays in ct-exec's cgroup", p.display())),
        (None, false) => None,
    }
}

/// Place `pid` (the child, waiting in the handshake) in the container's cgroup.
pub fn place(_plan: &Plan, _pid: i32) -> Result<(), CgroupError> {
    Ok(())
}
