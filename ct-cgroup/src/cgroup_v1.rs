//! cgroup v1 controllers (kernel docs `admin-guide/cgroup-v1/`): each controller is its own
//! hierarchy with its own files.
//!
//! * memory (`memory.rst`): `memory.limit_in_bytes`; `memory.memsw.limit_in_bytes` is memory
//!   PLUS swap and exists only with swap accounting on. The kernel keeps limit <= memsw at every
//!   moment, so when both change the one that must move first is written first (as runc does).
//!   Setting a limit below current use fails with EBUSY once reclaim cannot get under it.
//! * cpu (`sched-bwc.rst`): `cpu.cfs_period_us` then `cpu.cfs_quota_us` (-1 = no quota);
//!   `cpu.shares` is the relative weight. cpuacct counts CPU time in `cpuacct.usage` (ns).
//! * cpuset (`cpusets.rst`): a new cpuset cgroup starts with EMPTY `cpuset.cpus` and
//!   `cpuset.mems`, and a process cannot join it (ENOSPC) until both are filled: ct copies them
//!   from the parent at every level it creates.
//! * pids (`pids.rst`): `pids.max`, `pids.current`; a refused fork(2) counts in `pids.events`.
//! * devices (`devices.rst`): `devices.list` shows the allowed exceptions (or `a *:* rwm` for
//!   "allow all"); a line written to `devices.deny` or `devices.allow` changes them (see
//!   `device_rules.rs`). A fresh cgroup starts as its parent, usually "allow all", so the
//!   first write is the reset `a` to `devices.deny`, then each allowed exception (runc's
//!   order). When the cgroup already is an allow list (a second apply, processes may be
//!   running), only the difference is written, so no allowed device is refused meanwhile. The
//!   result is read back from `devices.list` and must match.
//! * freezer (`freezer-subsystem.rst`): write `FROZEN` to `freezer.state` and poll until it
//!   reads `FROZEN` (it may say `FREEZING` for a while); frozen processes cannot fork, so a
//!   SIGKILL sent to every listed pid reaches all of them, and they die when `THAWED`.

use std::path::Path;
use std::time::{Duration, Instant};

use oci_spec::runtime::{LinuxCpu, LinuxMemory};

use crate::cgroupfs::{read, read_key, read_num, read_opt, write};
use crate::device_rules::{Access, Policy};
use crate::error::CgroupError;
use crate::stats::{CpuStats, MemoryStats, PidsStats};

/// v1 reports "no limit" as the largest page-aligned counter (9223372036854771712 on 4 KiB pages).
const UNLIMITED: i64 = 1 << 62;

fn limit_of(v: Option<Option<i64>>) -> Option<u64> {
    match v {
        Some(Some(n)) if (0..UNLIMITED).contains(&n) => Some(n as u64),
        _ => None,
    }
}

pub fn set_memory(dir: &Path, m: &LinuxMemory) -> Result<(), CgroupError> {
    let limit_file = dir.join("memory.limit_in_bytes");
    let memsw_file = dir.join("memory.memsw.limit_in_bytes");
    let has_memsw = memsw_file.exists();
    if m.swap().is_some() && !has_memsw {
        return Err(CgroupError::SwapAccountingOff { path: memsw_file });
    }
    let mut swap = m.swap();
    // An unlimited memory limit with swap left out would fail while memsw is still lower.
    if m.limit() == Some(-1) && swap.is_none() && has_memsw {
        swap = Some(-1);
    }
    match (m.limit(), swap) {
        (Some(l), Some(s)) => {
            let cur = read_num(&limit_file)?.flatten().unwrap_or(i64::MAX);
            if s == -1 || cur < s {
                write(&memsw_file, &s.to_string())?;
                write(&limit_file, &l.to_string())?;
            } else {
                write(&limit_file, &l.to_string())?;
                write(&memsw_file, &s.to_string())?;
            }
        }
        (Some(l), None) => write(&limit_file, &l.to_string())?,
        (None, Some(s)) => write(&memsw_file, &s.to_string())?,
        (None, None) => {}
    }
    if let Some(r) = m.reservation() {
        write(&dir.join("memory.soft_limit_in_bytes"), &r.to_string())?;
    }
    if let Some(s) = m.swappiness() {
        write(&dir.join("memory.swappiness"), &s.to_string())?;
    }
    if m.disable_oom_killer() == Some(true) {
        write(&dir.join("memory.oom_control"), "1")?;
    }
    Ok(())
}

pub fn set_cpu(dir: &Path, c: &LinuxCpu) -> Result<(), CgroupError> {
    if let Some(shares) = c.shares() {
        let f = dir.join("cpu.shares");
        write(&f, &shares.to_string())?;
        // The kernel clamps shares to [2, 262144] silently; say so instead.
        if let Some(Some(got)) = read_num(&f)? {
            if got as u64 != shares {
                return Err(CgroupError::InvalidValue {
                    what: "cpu shares",
                    value: shares.to_string(),
                    reason: format!("the kernel clamped {} to {got}", f.display()),
                });
            }
        }
    }
    if let Some(p) = c.period() {
        write(&dir.join("cpu.cfs_period_us"), &p.to_string())?;
    }
    if let Some(q) = c.quota() {
        let q = if q > 0 { q } else { -1 };
        write(&dir.join("cpu.cfs_quota_us"), &q.to_string())?;
    }
    if let Some(b) = c.burst() {
        write(&dir.join("cpu.cfs_burst_us"), &b.to_string())?;
    }
    if let Some(i) = c.idle() {
        write(&dir.join("cpu.idle"), &i.to_string())?;
    }
    if let Some(p) = c.realtime_period() {
        write(&dir.join("cpu.rt_period_us"), &p.to_string())?;
    }
    if let Some(r) = c.realtime_runtime() {
        write(&dir.join("cpu.rt_runtime_us"), &r.to_string())?;
    }
    Ok(())
}

/// Make the devices cgroup at `dir` enforce `target`.
pub fn set_devices(dir: &Path, target: &Policy) -> Result<(), CgroupError> {
    let list = dir.join("devices.list");
    let (allow, deny) = (dir.join("devices.allow"), dir.join("devices.deny"));
    let current = read(&list)?;
    let current = Policy::parse_list(&current).ok_or_else(|| CgroupError::Parse {
        path: list.clone(),
        content: current.chars().take(80).collect(),
    })?;
    // Exceptions add to the default's opposite file, and are taken away through the other.
    let (add, take) = if target.default_allow {
        (&deny, &allow)
    } else {
        (&allow, &deny)
    };
    if current.default_allow || target.default_allow {
        // devices.list cannot show an allow-all cgroup's deny exceptions: start over.
        write(if target.default_allow { &allow } else { &deny }, "a")?;
        for line in target.lines() {
            write(add, &line)?;
        }
    } else {
        for (d, a) in &target.exceptions {
            let have = current.exceptions.get(d).copied().unwrap_or_default();
            let missing = Access(a.0 & !have.0);
            if !missing.is_empty() {
                write(add, &format!("{d} {missing}"))?;
            }
        }
        for (d, a) in &current.exceptions {
            let want = target.exceptions.get(d).copied().unwrap_or_default();
            let extra = Access(a.0 & !want.0);
            if !extra.is_empty() {
                write(take, &format!("{d} {extra}"))?;
            }
        }
    }
    if !target.default_allow {
        let now = read(&list)?;
        if Policy::parse_list(&now).as_ref() != Some(target) {
            return Err(CgroupError::InvalidValue {
                what: "device rules",
                value: target.lines().join(", "),
                reason: format!(
                    "'{}' reads '{}' after writing them",
                    list.display(),
                    now.replace('\n', ", ")
                ),
            });
        }
    }
    Ok(())
}

/// Fill a fresh cpuset cgroup's empty `cpuset.cpus`/`cpuset.mems` from its parent.
pub fn inherit_cpuset(dir: &Path) -> Result<(), CgroupError> {
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    for f in ["cpuset.cpus", "cpuset.mems"] {
        if read_opt(&dir.join(f))?.is_some_and(|v| v.is_empty()) {
            let v = read(&parent.join(f))?;
            write(&dir.join(f), &v)?;
        }
    }
    Ok(())
}

pub fn memory_stats(dir: &Path) -> Result<MemoryStats, CgroupError> {
    Ok(MemoryStats {
        current: read_num(&dir.join("memory.usage_in_bytes"))?
            .flatten()
            .unwrap_or(0) as u64,
        peak: read_num(&dir.join("memory.max_usage_in_bytes"))?
            .flatten()
            .map(|n| n as u64),
        limit: limit_of(read_num(&dir.join("memory.limit_in_bytes"))?),
        swap_limit: limit_of(read_num(&dir.join("memory.memsw.limit_in_bytes"))?),
        oom_kills: read_key(&dir.join("memory.oom_control"), "oom_kill")?.map(|n| n as u64),
    })
}

/// CPU time from cpuacct (ns) and the limits from cpu, either of which may be absent.
pub fn cpu_stats(
    cpu: Option<&Path>,
    cpuacct: Option<&Path>,
    cpuset: Option<&Path>,
) -> Result<Option<CpuStats>, CgroupError> {
    if cpu.is_none() && cpuacct.is_none() {
        return Ok(None);
    }
    let mut s = CpuStats {
        usage_ns: 0,
        quota_us: None,
        period_us: None,
        shares: None,
        weight: None,
        nr_throttled: None,
        throttled_ns: None,
        cpuset_cpus: None,
    };
    if let Some(d) = cpuacct {
        s.usage_ns = read_num(&d.join("cpuacct.usage"))?.flatten().unwrap_or(0) as u64;
    }
    if let Some(d) = cpu {
        s.quota_us = read_num(&d.join("cpu.cfs_quota_us"))?
            .flatten()
            .filter(|q| *q > 0)
            .map(|q| q as u64);
        s.period_us = read_num(&d.join("cpu.cfs_period_us"))?
            .flatten()
            .map(|q| q as u64);
        s.shares = read_num(&d.join("cpu.shares"))?.flatten().map(|q| q as u64);
        s.nr_throttled = read_key(&d.join("cpu.stat"), "nr_throttled")?.map(|n| n as u64);
        s.throttled_ns = read_key(&d.join("cpu.stat"), "throttled_time")?.map(|n| n as u64);
    }
    if let Some(d) = cpuset {
        s.cpuset_cpus = read_opt(&d.join("cpuset.cpus"))?;
    }
    Ok(Some(s))
}

pub fn pids_stats(dir: &Path) -> Result<PidsStats, CgroupError> {
    Ok(PidsStats {
        current: read_num(&dir.join("pids.current"))?.flatten().unwrap_or(0) as u64,
        limit: read_num(&dir.join("pids.max"))?.flatten().map(|n| n as u64),
        refused: read_key(&dir.join("pids.events"), "max")?.map(|n| n as u64),
    })
}

/// Write `FROZEN` or `THAWED` to `freezer.state` and wait (up to `wait`) until it reads so.
pub fn freeze(dir: &Path, frozen: bool, wait: Duration) -> Result<(), CgroupError> {
    let file = dir.join("freezer.state");
    let want = if frozen { "FROZEN" } else { "THAWED" };
    write(&file, want)?;
    let deadline = Instant::now() + wait;
    loop {
        let state = read(&file)?;
        if state == want {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(CgroupError::FreezeTimeout {
                path: file,
                state,
                secs: wait.as_secs(),
            });
        }
        // FREEZING: some task is in an uninterruptible sleep; asking again nudges them.
        std::thread::sleep(Duration::from_millis(5));
        write(&file, want)?;
    }
}
