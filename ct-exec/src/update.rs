//! `update ID`: new cgroup limits for a running container (runc's update; CRI's
//! UpdateContainerResources, `podman update`). The limits are the runtime spec's
//! `linux.resources` (from `--resources FILE`, `-` for stdin) with the flags on top, written
//! by ct-cgroup's code to the cgroup the container was placed in.
//!
//! Device rules are never changed here, as with runc: they are what keeps the container off
//! the host's devices, and were fixed when it was created.

use std::io::Read;
use std::path::PathBuf;

use oci_spec::runtime::{LinuxCpu, LinuxPids, LinuxResources};

use crate::ExecError;
use ct_layout::Store;

/// What the command line asked for.
#[derive(Debug, Default)]
pub struct Limits {
    pub resources: Option<PathBuf>,
    pub memory: Option<String>,
    pub memory_swap: Option<String>,
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub pids_limit: Option<i64>,
}

fn size(what: &'static str, s: &str) -> Result<i64, ExecError> {
    if s == "-1" {
        return Ok(-1);
    }
    ct_cgroup::docker_units::parse_size(what, s).map_err(|e| ExecError::Usage(e.to_string()))
}

/// The resources to write: the JSON's, then the flags.
pub fn resources(l: &Limits) -> Result<LinuxResources, ExecError> {
    let mut r = match &l.resources {
        None => LinuxResources::default(),
        Some(p) => {
            let mut bytes = Vec::new();
            let read = if p.as_os_str() == "-" {
                std::io::stdin().read_to_end(&mut bytes).map(|_| ())
            } else {
                std::fs::read(p).map(|b| bytes = b)
            };
            read.map_err(|source| ExecError::ConfigRead {
                path: p.clone(),
                source,
            })?;
            serde_json::from_slice(&bytes).map_err(|source| ExecError::ConfigParse {
                path: p.clone(),
                source,
            })?
        }
    };
    r.set_devices(None);
    if l.memory.is_some() || l.memory_swap.is_some() {
        // LinuxMemory has no setters: through its JSON form.
        let m = r.memory().unwrap_or_default();
        let mut v = serde_json::to_value(m).unwrap_or_default();
        if let Some(s) = &l.memory {
            v["limit"] = size("--memory", s)?.into();
        }
        if let Some(s) = &l.memory_swap {
            v["swap"] = size("--memory-swap", s)?.into();
        }
        let m = serde_json::from_value(v).map_err(|e| ExecError::Usage(e.to_string()))?;
        r.set_memory(Some(m));
    }
    if l.cpu_shares.is_some() || l.cpu_quota.is_some() || l.cpu_period.is_some() {
        let mut c = r.cpu().clone().unwrap_or_else(LinuxCpu::default);
        if l.cpu_shares.is_some() {
            c.set_shares(l.cpu_shares);
        }
        if l.cpu_quota.is_some() {
            c.set_quota(l.cpu_quota);
        }
        if l.cpu_period.is_some() {
            c.set_period(l.cpu_period);
        }
        r.set_cpu(Some(c));
    }
    if let Some(n) = l.pids_limit {
        let mut p = LinuxPids::default();
        p.set_limit(n);
        r.set_pids(Some(p));
    }
    Ok(r)
}

pub fn update(store: &Store, id: &str, l: &Limits) -> Result<(), ExecError> {
    let r = resources(l)?;
    let st = crate::lifecycle::state(store, id)?;
    if !matches!(
        st["status"].as_str(),
        Some("running" | "created" | "paused")
    ) {
        return Err(ExecError::NotRunning(id.into()));
    }
    let cg = crate::lifecycle::cgroup_of(store, id, "update")?;
    cg.set(&r).map_err(|source| ExecError::CgroupOf {
        what: "update",
        id: id.into(),
        source,
    })
}
