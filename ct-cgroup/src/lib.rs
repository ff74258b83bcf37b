//! ct-cgroup: cgroup limits (memory, cpu, pids, devices) on cgroup v1, v2 and hybrid hosts.
//!
//! cgroups(7) group processes so the kernel can account and limit what they use together. ct
//! gives each container one cgroup, found by its OCI `linux.cgroupsPath`, and writes the OCI
//! `linux.resources` to the controllers wherever this host has them.
//!
//! # The API ct-exec and ct-ls use
//!
//! ```no_run
//! # fn main() -> Result<(), ct_cgroup::CgroupError> {
//! # let spec_resources = None;
//! // ct-exec, before clone(2): the cgroup with its limits, and its entry files open.
//! let (cg, join) = ct_cgroup::prepare("/ct/web", spec_resources)?;
//! // ... the new process, as its first step (clone3 may already have put it in on v2):
//! join.enter(false)?;
//! // ... later, on delete:
//! ct_cgroup::remove(cg.path())?;
//! // ct-ls, for a container's row:
//! let s = ct_cgroup::stats("/ct/web")?;
//! println!("{}", serde_json::to_string(&s).unwrap());
//! # Ok(()) }
//! ```
//!
//! * [`prepare`] creates the cgroup in every hierarchy (each v1 controller, and the unified
//!   tree), writes the limits and the container's device rules (`linux.resources.devices`
//!   followed by the devices every runtime allows, [`device_rules::RUNTIME_DEFAULTS`]; v1's
//!   `devices.allow`/`devices.deny`, or a BPF program on v2), then opens the files through
//!   which a new process moves itself in ([`SelfJoin`]: no `cgroup.procs` write, whose lock
//!   costs an RCU grace period). Idempotent for an existing cgroup (as ct-cgroup leaves it for
//!   a bundle): limits are rewritten. [`apply`] does the same for a process that already
//!   runs, moving `pid` in through `cgroup.procs`.
//! * [`remove`] SIGKILLs whatever is left inside (`cgroup.kill` on v2, freeze + kill + thaw on
//!   v1) and removes the cgroup on every hierarchy; a missing cgroup is not an error.
//! * [`stats`] reads usage and limits ([`Stats`], `serde::Serialize`).
//! * [`stats_of_bundle`] is [`stats`] for the cgroup a bundle's config.json names.
//!
//! cgroupsPath is read as runc reads it: absolute paths from each hierarchy's root, relative
//! ones under ct's parent (`ct`, or `$CT_CGROUP_PARENT`); see [`cgroups_path`].
//!
//! Modules: [`mountinfo`] (finding the hierarchies), [`delegation`] (a user's limits), [`cgroups_path`], [`cgroupfs`] (files,
//! mkdir/rmdir), [`cgroup_v1`] and [`cgroup_v2`] (controller files), [`device_rules`] and
//! [`devices_bpf`] (device access), [`cgroup`] (one cgroup on all hierarchies), [`self_join`], [`stats`], [`docker_units`] (`64m`, `--cpus 0.5`), [`oci_config`]
//! (recording limits in a bundle), [`cli`].

pub mod cgroup;
mod cgroup_kill;
pub mod cgroup_v1;
pub mod cgroup_v2;
pub mod cgroupfs;
pub mod cgroups_path;
pub mod cli;
pub mod delegation;
pub mod device_rules;
pub mod devices_bpf;
pub mod docker_units;
pub mod error;
pub mod mountinfo;
pub mod oci_config;
pub mod run;
pub mod self_join;
pub mod stats;

pub use cgroup::Cgroup;
pub use cgroups_path::{default_path, parent_from_env, DEFAULT_PARENT, PARENT_ENV};
pub use error::CgroupError;
pub use mountinfo::{Hierarchy, Layout};
pub use self_join::SelfJoin;
pub use stats::{CpuStats, MemoryStats, PidsStats, Stats};

use oci_spec::runtime::LinuxResources;

/// `cgroups_path` on this host (detected from /proc/self/mountinfo), relative paths under
/// `$CT_CGROUP_PARENT` or `ct`. Touches nothing.
pub fn open(cgroups_path: &str) -> Result<Cgroup, CgroupError> {
    Cgroup::new(&Hierarchy::detect()?, cgroups_path, &parent_from_env())
}

/// Create a container's cgroup `cgroups_path` on every hierarchy, write `resources` and the
/// container's device rules ([`for_container`]), and open the files through which the
/// container's first process, cloned next, moves itself in ([`SelfJoin`]). On failure a cgroup
/// this call created is removed again.
pub fn prepare(
    cgroups_path: &str,
    resources: Option<&LinuxResources>,
) -> Result<(Cgroup, SelfJoin), CgroupError> {
    let cg = open(cgroups_path)?;
    let join = cg.prepare(Some(&for_container(resources)))?;
    Ok((cg, join))
}

/// Create a container's cgroup `cgroups_path` on every hierarchy, write `resources` and the
/// container's device rules ([`for_container`]), move `pid` in. On failure a cgroup this call
/// created is removed again.
pub fn apply(
    cgroups_path: &str,
    resources: Option<&LinuxResources>,
    pid: i32,
) -> Result<Cgroup, CgroupError> {
    let cg = open(cgroups_path)?;
    cg.apply(Some(&for_container(resources)), Some(pid))?;
    Ok(cg)
}

/// What an OCI runtime applies to a container's cgroup: `resources` with the runtime's own
/// devices ([`device_rules::RUNTIME_DEFAULTS`]) after its device rules, as runc does — so a
/// config without device rules still denies every other device.
pub fn for_container(resources: Option<&LinuxResources>) -> LinuxResources {
    let mut r = resources.cloned().unwrap_or_default();
    let mut rules = r.devices().clone().unwrap_or_default();
    rules.extend(device_rules::RUNTIME_DEFAULTS.iter().map(|d| {
        let mut o = oci_spec::runtime::LinuxDeviceCgroup::default();
        o.set_allow(d.allow);
        o.set_typ(d.kind.map(|k| match k {
            device_rules::Kind::Char => oci_spec::runtime::LinuxDeviceType::C,
            device_rules::Kind::Block => oci_spec::runtime::LinuxDeviceType::B,
        }));
        o.set_major(d.major.map(i64::from));
        o.set_minor(d.minor.map(i64::from));
        o.set_access(Some(d.access.to_string()));
        o
    }));
    r.set_devices(Some(rules));
    r
}

/// Kill what is left in `cgroups_path` and remove it on every hierarchy. Returns false when
/// there was no such cgroup.
pub fn remove(cgroups_path: &str) -> Result<bool, CgroupError> {
    open(cgroups_path)?.remove()
}

/// Usage and limits of `cgroups_path` (NotFound if it exists on no hierarchy).
pub fn stats(cgroups_path: &str) -> Result<Stats, CgroupError> {
    open(cgroups_path)?.stats()
}

/// Stats of the cgroup named by a bundle's `linux.cgroupsPath`; `None` when the config names
/// none or the cgroup does not exist (the container never ran, or was removed).
pub fn stats_of_bundle(bundle: &ct_layout::bundle::Bundle) -> Result<Option<Stats>, CgroupError> {
    let Some(path) = oci_config::cgroups_path(bundle)? else {
        return Ok(None);
    };
    match stats(&path) {
        Ok(s) => Ok(Some(s)),
        Err(CgroupError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}
