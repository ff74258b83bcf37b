//! What a cgroup has used and what it may use, gathered from the controllers' accounting files
//! (v1: `memory.usage_in_bytes`, `memory.max_usage_in_bytes`, `memory.oom_control`,
//! `cpuacct.usage`, `pids.current`; v2: `memory.current`, `memory.peak`, `memory.events`,
//! `cpu.stat`, `pids.current`), as one serializable value for `ct-cgroup stats` and ct-ls.
//! A section is `None` when its controller is absent on this host. [`Cgroup::stats`] reads each
//! from the hierarchy where its controller is.

use serde::Serialize;

use crate::cgroup::Cgroup;
use crate::cgroup_v1 as v1;
use crate::cgroup_v2 as v2;
use crate::docker_units::human;
use crate::error::CgroupError;
use crate::mountinfo::Layout;
use crate::mountinfo::Place;

impl Cgroup {
    /// Usage and limits. Fails with NotFound when the cgroup exists nowhere.
    pub fn stats(&self) -> Result<Stats, CgroupError> {
        if !self.exists() {
            return Err(CgroupError::NotFound {
                path: self.path().to_string(),
            });
        }
        let existing = |c: &str| self.dir_of(c).filter(|d| d.is_dir());
        let memory = match (self.hierarchy().place("memory"), existing("memory")) {
            (Place::V1(_), Some(d)) => Some(v1::memory_stats(&d)?),
            (Place::V2, Some(d)) => Some(v2::memory_stats(&d)?),
            _ => None,
        };
        let cpu_v1 = matches!(self.hierarchy().place("cpuacct"), Place::V1(_))
            || matches!(self.hierarchy().place("cpu"), Place::V1(_));
        let cpu = if cpu_v1 {
            v1::cpu_stats(
                existing("cpu").as_deref(),
                existing("cpuacct").as_deref(),
                existing("cpuset").as_deref(),
            )?
        } else {
            match self.v2_dir().filter(|d| d.is_dir()) {
                Some(d) => v2::cpu_stats(&d, self.hierarchy().place("cpuset") == Place::V2)?,
                None => None,
            }
        };
        let pids = match (self.hierarchy().place("pids"), existing("pids")) {
            (Place::V1(_), Some(d)) => Some(v1::pids_stats(&d)?),
            (Place::V2, Some(d)) => Some(v2::pids_stats(&d)?),
            _ => None,
        };
        Ok(Stats {
            path: self.path().to_string(),
            layout: self.hierarchy().layout(),
            processes: self.pids()?,
            memory,
            cpu,
            pids,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// The absolute cgroups path (`/ct/web`).
    pub path: String,
    pub layout: Layout,
    /// Processes in the cgroup and below it.
    pub processes: Vec<i32>,
    pub memory: Option<MemoryStats>,
    pub cpu: Option<CpuStats>,
    pub pids: Option<PidsStats>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemoryStats {
    /// Bytes in use now (page cache included, as the kernel charges it).
    pub current: u64,
    /// Highest use seen (`None` if this kernel does not record it).
    pub peak: Option<u64>,
    /// The limit in bytes; `None` is unlimited.
    pub limit: Option<u64>,
    /// Memory+swap limit (v1 `memory.memsw.limit_in_bytes`) or swap limit (v2
    /// `memory.swap.max`); `None` is unlimited or not accounted.
    pub swap_limit: Option<u64>,
    /// Processes the OOM killer killed in this cgroup.
    pub oom_kills: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CpuStats {
    /// CPU time used, in nanoseconds.
    pub usage_ns: u64,
    /// CFS quota per period in microseconds; `None` is unlimited.
    pub quota_us: Option<u64>,
    pub period_us: Option<u64>,
    /// v1 `cpu.shares` (1024 is the default weight).
    pub shares: Option<u64>,
    /// v2 `cpu.weight` (100 is the default weight).
    pub weight: Option<u64>,
    /// Periods in which the quota ran out, and the time spent throttled.
    pub nr_throttled: Option<u64>,
    pub throttled_ns: Option<u64>,
    /// `cpuset.cpus` when the cpuset controller is there.
    pub cpuset_cpus: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PidsStats {
    /// Tasks (threads included) in the cgroup now.
    pub current: u64,
    /// `pids.max`; `None` is unlimited.
    pub limit: Option<u64>,
    /// fork(2)/clone(2) calls refused because of the limit (`pids.events` "max").
    pub refused: Option<u64>,
}

impl CpuStats {
    /// The limit in CPUs (`0.5`), if there is one.
    pub fn cpus(&self) -> Option<f64> {
        match (self.quota_us, self.period_us) {
            (Some(q), Some(p)) if p > 0 => Some(q as f64 / p as f64),
            _ => None,
        }
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

impl Stats {
    /// One short cell for a listing (ct-ls): `12MiB/64MiB 0.50cpu 3/100pids 1oom`, with `-`
    /// for an absent controller and no limit shown where there is none.
    pub fn brief(&self) -> String {
        let mem = match &self.memory {
            Some(m) => match m.limit {
                Some(l) => format!("{}/{}", human(m.current), human(l)),
                None => human(m.current),
            },
            None => "-".into(),
        };
        let cpu = match &self.cpu {
            Some(c) => match c.cpus() {
                Some(n) => format!("{:.1}s/{n:.2}cpu", c.usage_ns as f64 / 1e9),
                None => format!("{:.1}s", c.usage_ns as f64 / 1e9),
            },
            None => "-".into(),
        };
        let pids = match &self.pids {
            Some(p) => match p.limit {
                Some(l) => format!("{}/{l}pids", p.current),
                None => format!("{}pids", p.current),
            },
            None => format!("{}procs", self.processes.len()),
        };
        let mut s = format!("{mem} {cpu} {pids}");
        if let Some(n) = self
            .memory
            .as_ref()
            .and_then(|m| m.oom_kills)
            .filter(|n| *n > 0)
        {
            s.push_str(&format!(" {n}oom"));
        }
        s
    }

    /// A two-column table for people.
    pub fn table(&self) -> String {
        let mut rows: Vec<(&str, String)> = vec![
            ("CGROUP", self.path.clone()),
            ("LAYOUT", format!("{:?}", self.layout).to_lowercase()),
            (
                "PROCESSES",
                format!(
                    "{} {}",
                    self.processes.len(),
                    if self.processes.is_empty() {
                        String::new()
                    } else {
                        format!("{:?}", self.processes)
                    }
                )
                .trim_end()
                .to_string(),
            ),
        ];
        match &self.memory {
            Some(m) => {
                let limit = m.limit.map(human).unwrap_or_else(|| "unlimited".into());
                rows.push((
                    "MEMORY",
                    format!(
                        "{} / {} (peak {})",
                        human(m.current),
                        limit,
                        m.peak.map(human).unwrap_or_else(|| "-".into())
                    ),
                ));
                if let Some(s) = m.swap_limit {
                    rows.push(("SWAP LIMIT", human(s)));
                }
                rows.push(("OOM KILLS", opt(m.oom_kills)));
            }
            None => rows.push(("MEMORY", "- (no memory controller)".into())),
        }
        match &self.cpu {
            Some(c) => {
                let limit = c
                    .cpus()
                    .map(|n| format!("{n:.2} CPUs"))
                    .unwrap_or_else(|| "unlimited".into());
                rows.push((
                    "CPU",
                    format!("{:.3}s used, limit {limit}", c.usage_ns as f64 / 1e9),
                ));
                if let Some(t) = c.nr_throttled {
                    rows.push((
                        "THROTTLED",
                        format!(
                            "{t} periods, {:.3}s",
                            c.throttled_ns.unwrap_or(0) as f64 / 1e9
                        ),
                    ));
                }
                if let Some(s) = c.shares {
                    rows.push(("CPU SHARES", s.to_string()));
                }
                if let Some(w) = c.weight {
                    rows.push(("CPU WEIGHT", w.to_string()));
                }
                if let Some(cpus) = &c.cpuset_cpus {
                    rows.push(("CPUSET", cpus.clone()));
                }
            }
            None => rows.push(("CPU", "- (no cpu accounting)".into())),
        }
        match &self.pids {
            Some(p) => rows.push((
                "PIDS",
                format!(
                    "{} / {}{}",
                    p.current,
                    p.limit
                        .map(|l| l.to_string())
                        .unwrap_or_else(|| "unlimited".into()),
                    p.refused
                        .filter(|r| *r > 0)
                        .map(|r| format!(" ({r} forks refused)"))
                        .unwrap_or_default()
                ),
            )),
            None => rows.push(("PIDS", "- (no pids controller)".into())),
        }
        let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        rows.iter()
            .map(|(k, v)| format!("{k:<w$}  {v}\n"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brief_and_table() {
        let mut s = Stats {
            path: "/ct/web".into(),
            layout: Layout::Hybrid,
            processes: vec![7, 9],
            memory: Some(MemoryStats {
                current: 12 << 20,
                peak: Some(64 << 20),
                limit: Some(64 << 20),
                swap_limit: None,
                oom_kills: Some(1),
            }),
            cpu: Some(CpuStats {
                usage_ns: 1_500_000_000,
                quota_us: Some(50_000),
                period_us: Some(100_000),
                shares: Some(1024),
                weight: None,
                nr_throttled: Some(3),
                throttled_ns: Some(0),
                cpuset_cpus: None,
            }),
            pids: Some(PidsStats {
                current: 2,
                limit: Some(100),
                refused: Some(4),
            }),
        };
        assert_eq!(s.brief(), "12MiB/64MiB 1.5s/0.50cpu 2/100pids 1oom");
        let t = s.table();
        assert!(
            t.contains("MEMORY      12MiB / 64MiB (peak 64MiB)\n"),
            "{t}"
        );
        assert!(t.contains("PIDS        2 / 100 (4 forks refused)\n"), "{t}");
        assert!(
            t.contains("CPU         1.500s used, limit 0.50 CPUs\n"),
            "{t}"
        );
        s.memory = None;
        s.pids = None;
        s.cpu = None;
        assert_eq!(s.brief(), "- - 2procs");
    }
}
