//! cgroup v2, the unified hierarchy (kernel docs `admin-guide/cgroup-v2.rst`): one tree, one
//! directory per cgroup, every controller's files side by side.
//!
//! Ordered steps to limit a cgroup:
//! 1. A controller's files appear in a cgroup only when its PARENT lists the controller in
//!    `cgroup.subtree_control`, so ct writes `+memory +cpu …` there at every level from the
//!    root down (only controllers the level's `cgroup.controllers` offers).
//! 2. The "no internal processes" rule: a cgroup that delegates controllers holds no processes
//!    itself — ct's parent never does, processes go in the leaves.
//! 3. Limits: `memory.max`, `memory.swap.max` (swap ONLY, unlike v1's memory+swap),
//!    `memory.low`, `cpu.max` (`QUOTA PERIOD` or `max PERIOD`), `cpu.weight` (1..10000, from
//!    OCI's v1-style shares with runc's formula), `cpuset.cpus`, `pids.max`.
//! 4. Core files that exist with no controller at all: `cgroup.procs`, `cgroup.kill` (Linux
//!    5.14; SIGKILL to the whole subtree), `cgroup.freeze` with `frozen` in `cgroup.events`,
//!    `populated` in `cgroup.events`, and `cpu.stat`'s `usage_usec`.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use oci_spec::runtime::{LinuxCpu, LinuxMemory};

use crate::cgroupfs::{read, read_key, read_num, read_opt, write};
use crate::error::CgroupError;
use crate::stats::{CpuStats, MemoryStats, PidsStats};

/// Enable `controllers` for the children of every cgroup from `root` down to `dir`'s parent.
pub fn enable_controllers(
    root: &Path,
    dir: &Path,
    controllers: &BTreeSet<String>,
) -> Result<(), CgroupError> {
    if controllers.is_empty() {
        return Ok(());
    }
    let Ok(rel) = dir.strip_prefix(root) else {
        return Ok(());
    };
    let mut cur = root.to_path_buf();
    let mut levels = vec![cur.clone()];
    let comps: Vec<_> = rel.components().collect();
    for c in comps.iter().take(comps.len().saturating_sub(1)) {
        cur.push(c);
        levels.push(cur.clone());
    }
    for level in levels {
        let offered: BTreeSet<String> = read_opt(&level.join("cgroup.controllers"))?
            .unwrap_or_default()
            .split_whitespace()
            .map(String::from)
            .collect();
        let enabled: BTreeSet<String> = read_opt(&level.join("cgroup.subtree_control"))?
            .unwrap_or_default()
            .split_whitespace()
            .map(String::from)
            .collect();
        let add: Vec<String> = controllers
            .iter()
            .filter(|c| offered.contains(*c) && !enabled.contains(*c))
            .map(|c| format!("+{c}"))
            .collect();
        if !add.is_empty() {
            write(&level.join("cgroup.subtree_control"), &add.join(" "))?;
        }
    }
    Ok(())
}

/// OCI's memory.swap is memory+swap (v1 semantics); v2's memory.swap.max is swap alone.
pub fn swap_max(swap: i64, limit: Option<i64>) -> Result<String, CgroupError> {
    if swap == -1 {
        return Ok("max".into());
    }
    let bad = |reason: &str| CgroupError::InvalidValue {
        what: "memory+swap limit",
        value: swap.to_string(),
        reason: reason.to_string(),
    };
    match limit {
        None | Some(-1) | Some(0) => Err(bad("a swap limit needs a memory limit")),
        Some(l) if l > swap => Err(bad("memory+swap must be at least the memory limit")),
        Some(l) => Ok((swap - l).to_string()),
    }
}

fn bytes_or_max(v: i64) -> String {
    if v > 0 {
        v.to_string()
    } else {
        "max".into()
    }
}

pub fn set_memory(dir: &Path, m: &LinuxMemory) -> Result<(), CgroupError> {
    if let Some(s) = m.swap() {
        let f = dir.join("memory.swap.max");
        if !f.exists() {
            return Err(CgroupError::SwapAccountingOff { path: f });
        }
        write(&f, &swap_max(s, m.limit())?)?;
    }
    if let Some(l) = m.limit() {
        write(&dir.join("memory.max"), &bytes_or_max(l))?;
    }
    if let Some(r) = m.reservation() {
        write(&dir.join("memory.low"), &bytes_or_max(r))?;
    }
    Ok(())
}

/// runc's conversion of v1 shares [2, 262144] to v2 weight [1, 10000].
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

pub fn set_cpu(dir: &Path, c: &LinuxCpu) -> Result<(), CgroupError> {
    if let Some(s) = c.shares() {
        write(&dir.join("cpu.weight"), &shares_to_weight(s).to_string())?;
    }
    if c.quota().is_some() || c.period().is_some() {
        let quota = match c.quota() {
            Some(q) if q > 0 => q.to_string(),
            _ => "max".into(),
        };
        let period = c.period().unwrap_or(crate::docker_units::CFS_PERIOD_US);
        write(&dir.join("cpu.max"), &format!("{quota} {period}"))?;
    }
    if let Some(b) = c.burst() {
        write(&dir.join("cpu.max.burst"), &b.to_string())?;
    }
    if let Some(i) = c.idle() {
        write(&dir.join("cpu.idle"), &i.to_string())?;
    }
    Ok(())
}

pub fn memory_stats(dir: &Path) -> Result<MemoryStats, CgroupError> {
    let num = |f: &str| -> Result<Option<u64>, CgroupError> {
        Ok(read_num(&dir.join(f))?.flatten().map(|n| n as u64))
    };
    Ok(MemoryStats {
        current: num("memory.current")?.unwrap_or(0),
        peak: num("memory.peak")?,
        limit: num("memory.max")?,
        swap_limit: num("memory.swap.max")?,
        oom_kills: read_key(&dir.join("memory.events"), "oom_kill")?.map(|n| n as u64),
    })
}

/// `cpu.stat` is a core file: usage is there even without the cpu controller.
pub fn cpu_stats(dir: &Path, with_cpuset: bool) -> Result<Option<CpuStats>, CgroupError> {
    let stat = dir.join("cpu.stat");
    let Some(usage) = read_key(&stat, "usage_usec")? else {
        return Ok(None);
    };
    let (mut quota_us, mut period_us) = (None, None);
    if let Some(max) = read_opt(&dir.join("cpu.max"))? {
        let mut f = max.split_whitespace();
        quota_us = f.next().and_then(|q| q.parse().ok());
        period_us = f.next().and_then(|p| p.parse().ok());
    }
    Ok(Some(CpuStats {
        usage_ns: usage as u64 * 1000,
        quota_us,
        period_us,
        shares: None,
        weight: read_num(&dir.join("cpu.weight"))?
            .flatten()
            .map(|n| n as u64),
        nr_throttled: read_key(&stat, "nr_throttled")?.map(|n| n as u64),
        throttled_ns: read_key(&stat, "throttled_usec")?.map(|n| n as u64 * 1000),
        cpuset_cpus: if with_cpuset {
            read_opt(&dir.join("cpuset.cpus.effective"))?
        } else {
            None
        },
    }))
}

pub fn pids_stats(dir: &Path) -> Result<PidsStats, CgroupError> {
    Ok(PidsStats {
        current: read_num(&dir.join("pids.current"))?.flatten().unwrap_or(0) as u64,
        limit: read_num(&dir.join("pids.max"))?.flatten().map(|n| n as u64),
        refused: read_key(&dir.join("pids.events"), "max")?.map(|n| n as u64),
    })
}

/// Is anything alive in `dir` or below (`populated` in `cgroup.events`)?
pub fn populated(dir: &Path) -> Result<bool, CgroupError> {
    Ok(read_key(&dir.join("cgroup.events"), "populated")?.unwrap_or(0) != 0)
}

/// Write `cgroup.freeze` and wait (up to `wait`) for `frozen` in `cgroup.events` to follow.
pub fn freeze(dir: &Path, frozen: bool, wait: Duration) -> Result<(), CgroupError> {
    write(&dir.join("cgroup.freeze"), if frozen { "1" } else { "0" })?;
    let events = dir.join("cgroup.events");
    let want = i64::from(frozen);
    let deadline = Instant::now() + wait;
    loop {
        let now = read_key(&events, "frozen")?.unwrap_or(0);
        if now == want {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(CgroupError::FreezeTimeout {
                path: events,
                state: format!("frozen {now}"),
                secs: wait.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// SIGKILL every process in the subtree, in the kernel (`cgroup.kill`, Linux 5.14). Returns
/// false when this kernel has no `cgroup.kill`.
pub fn kill(dir: &Path) -> Result<bool, CgroupError> {
    let f = dir.join("cgroup.kill");
    if !f.exists() {
        return Ok(false);
    }
    write(&f, "1")?;
    Ok(true)
}

/// Read `cgroup.controllers` of `dir` (what this level may use).
pub fn controllers(dir: &Path) -> Result<String, CgroupError> {
    read(&dir.join("cgroup.controllers"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_values_become_v2_values() {
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(swap_max(-1, Some(64)).unwrap(), "max");
        assert_eq!(swap_max(128, Some(64)).unwrap(), "64");
        assert!(swap_max(32, Some(64)).is_err());
        assert!(swap_max(128, None).is_err());
        assert_eq!(bytes_or_max(-1), "max");
    }
}
