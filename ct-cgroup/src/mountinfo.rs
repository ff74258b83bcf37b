//! Where the cgroup controllers are: read from `/proc/self/mountinfo` (proc(5), "mountinfo";
//! the lines are parsed by `ct_layout::mountinfo`) and `/proc/cgroups` (cgroups(7)), never from
//! hard-coded paths.
//!
//! A host is in one of three layouts (cgroups(7), "CGROUPS VERSION 1 AND VERSION 2"):
//!
//! * **unified** (v2 only): one `cgroup2` mount; its root's `cgroup.controllers` lists the
//!   controllers (memory, cpu, pids, cpuset, io…). Every cgroup is one directory.
//! * **legacy** (v1 only): one `cgroup` mount per hierarchy, each with the controllers named in
//!   its super options (`rw,cpu,cpuacct` when co-mounted). One cgroup is a directory of the same
//!   name in every hierarchy.
//! * **hybrid**: v1 controllers plus a `cgroup2` mount (systemd's `/sys/fs/cgroup/unified`). A
//!   controller lives in exactly one version: the ones bound to v1 are absent from v2's
//!   `cgroup.controllers`. The v2 tree still offers `cgroup.procs`, `cgroup.kill`,
//!   `cgroup.freeze` and `cgroup.events` with no controller at all, so ct also creates its
//!   cgroups there (as runc does) and uses them.
//!
//! Steps: (1) read `/proc/cgroups` for the controller names this kernel has; (2) walk
//! mountinfo: a `cgroup` line gives a v1 hierarchy (controllers = super options that are
//! controller names), a `cgroup2` line the unified mount; (3) read the unified root's
//! `cgroup.controllers`. `CT_CGROUP_MODE=v1|v2` hides one version (to exercise the v2 code on a
//! hybrid host, or to ignore it).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::CgroupError;

/// Which cgroup versions the host has mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Unified,
    Legacy,
    Hybrid,
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Layout::Unified => "unified (cgroup v2 only)",
            Layout::Legacy => "legacy (cgroup v1 only)",
            Layout::Hybrid => "hybrid (cgroup v1 controllers plus a cgroup v2 mount)",
        })
    }
}

/// Where one controller lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A v1 hierarchy mounted at this directory.
    V1(PathBuf),
    /// The unified (v2) hierarchy.
    V2,
    /// Nowhere: not compiled in, disabled, or not mounted.
    Absent,
}

/// The host's cgroup hierarchies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// v1 controller name → mount point (co-mounted controllers share one).
    pub v1: BTreeMap<String, PathBuf>,
    /// The cgroup2 mount point, if any.
    pub v2: Option<PathBuf>,
    /// Controllers available at the v2 root (`cgroup.controllers`).
    pub v2_controllers: BTreeSet<String>,
}

/// Controller names from `/proc/cgroups` that the kernel has enabled.
pub fn parse_proc_cgroups(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4 && f[3] == "1").then(|| f[0].to_string())
        })
        .collect()
}

impl Hierarchy {
    /// Parse mountinfo and `/proc/cgroups` text. `v2_controllers` reads `cgroup.controllers`
    /// under the cgroup2 mount point (a closure so tests can feed text).
    pub fn parse(
        mountinfo: &str,
        proc_cgroups: &str,
        v2_controllers: impl Fn(&Path) -> String,
    ) -> Hierarchy {
        let known = parse_proc_cgroups(proc_cgroups);
        let mut v1 = BTreeMap::new();
        let mut v2 = None;
        for m in ct_layout::mountinfo::parse(mountinfo) {
            match m.fs_type.as_str() {
                "cgroup2" if v2.is_none() => v2 = Some(m.mount_point),
                "cgroup" => {
                    for opt in m.super_options() {
                        if known.contains(opt) {
                            v1.entry(opt.to_string())
                                .or_insert_with(|| m.mount_point.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        let v2_controllers = v2
            .as_deref()
            .map(|p| {
                v2_controllers(p)
                    .split_whitespace()
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        Hierarchy {
            v1,
            v2,
            v2_controllers,
        }
    }

    /// The running host's hierarchies, honouring `CT_CGROUP_MODE` (`v1`, `v2`, default `auto`).
    pub fn detect() -> Result<Hierarchy, CgroupError> {
        let read = |p: &str| {
            fs::read_to_string(p).map_err(|source| CgroupError::ReadProc {
                path: p.into(),
                source,
            })
        };
        let mountinfo = read("/proc/self/mountinfo")?;
        let proc_cgroups = read("/proc/cgroups")?;
        let mut h = Hierarchy::parse(&mountinfo, &proc_cgroups, |p| {
            fs::read_to_string(p.join("cgroup.controllers")).unwrap_or_default()
        });
        match std::env::var("CT_CGROUP_MODE").as_deref() {
            Ok("v1") => {
                h.v2 = None;
                h.v2_controllers.clear();
            }
            Ok("v2") => h.v1.clear(),
            Ok("auto") | Ok("") | Err(_) => {}
            Ok(other) => {
                return Err(CgroupError::InvalidValue {
                    what: "CT_CGROUP_MODE",
                    value: other.to_string(),
                    reason: "expected auto, v1 or v2".into(),
                })
            }
        }
        if h.v1.is_empty() && h.v2.is_none() {
            return Err(CgroupError::NoHierarchy);
        }
        Ok(h)
    }

    /// A unified hierarchy rooted at `root` (a real cgroup2 mount, or a temp directory laid out
    /// like one in tests); its controllers come from `root/cgroup.controllers`.
    pub fn unified_at(root: impl Into<PathBuf>) -> Hierarchy {
        let root = root.into();
        let v2_controllers = fs::read_to_string(root.join("cgroup.controllers"))
            .unwrap_or_default()
            .split_whitespace()
            .map(String::from)
            .collect();
        Hierarchy {
            v1: BTreeMap::new(),
            v2: Some(root),
            v2_controllers,
        }
    }

    /// A legacy hierarchy from explicit controller → mount point pairs.
    pub fn legacy_at<I, S, P>(mounts: I) -> Hierarchy
    where
        I: IntoIterator<Item = (S, P)>,
        S: Into<String>,
        P: Into<PathBuf>,
    {
        Hierarchy {
            v1: mounts
                .into_iter()
                .map(|(c, p)| (c.into(), p.into()))
                .collect(),
            v2: None,
            v2_controllers: BTreeSet::new(),
        }
    }

    pub fn layout(&self) -> Layout {
        match (self.v1.is_empty(), self.v2.is_some()) {
            (false, true) => Layout::Hybrid,
            (false, false) => Layout::Legacy,
            _ => Layout::Unified,
        }
    }

    /// Where `controller` lives: v1 wins (a controller bound to a v1 hierarchy is absent from
    /// v2), then v2 when the unified root offers it.
    pub fn place(&self, controller: &str) -> Place {
        if let Some(m) = self.v1.get(controller) {
            return Place::V1(m.clone());
        }
        if self.v2.is_some() && self.v2_controllers.contains(controller) {
            return Place::V2;
        }
        Place::Absent
    }

    /// The distinct v1 mount points, each with the controllers it carries.
    pub fn v1_mounts(&self) -> BTreeMap<PathBuf, Vec<String>> {
        let mut m: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
        for (c, p) in &self.v1 {
            m.entry(p.clone()).or_default().push(c.clone());
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
50 23 0:40 / /mnt/my\\040cg rw - cgroup cgroup rw,freezer
";
    const PROC_CGROUPS: &str = "\
#subsys_name\thierarchy\tnum_cgroups\tenabled
cpuset\t3\t1\t1
cpu\t1\t1\t1
cpuacct\t1\t1\t1
memory\t4\t21\t1
freezer\t6\t1\t1
pids\t8\t1\t1
hugetlb\t0\t1\t0
";

    #[test]
    fn hybrid_host_puts_controllers_where_they_are() {
        let h = Hierarchy::parse(HYBRID, PROC_CGROUPS, |_| String::new());
        assert_eq!(h.layout(), Layout::Hybrid);
        assert_eq!(
            h.place("cpu"),
            Place::V1("/sys/fs/cgroup/cpu,cpuacct".into())
        );
        assert_eq!(h.place("cpuacct"), h.place("cpu"));
        assert_eq!(h.place("memory"), Place::V1("/sys/fs/cgroup/memory".into()));
        assert_eq!(h.place("freezer"), Place::V1("/mnt/my cg".into()));
        assert_eq!(h.place("hugetlb"), Place::Absent);
        // name=systemd is a named hierarchy, not a controller.
        assert!(!h.v1.contains_key("name=systemd") && !h.v1.contains_key("xattr"));
        assert_eq!(h.v2.as_deref(), Some(Path::new("/sys/fs/cgroup/unified")));
        assert_eq!(h.v1_mounts().len(), 5);
    }

    #[test]
    fn unified_host_reads_controllers_from_root() {
        let mi = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        let h = Hierarchy::parse(mi, PROC_CGROUPS, |p| {
            assert_eq!(p, Path::new("/sys/fs/cgroup"));
            "cpuset cpu io memory pids\n".into()
        });
        assert_eq!(h.layout(), Layout::Unified);
        assert_eq!(h.place("memory"), Place::V2);
        assert_eq!(h.place("freezer"), Place::Absent);
    }

    #[test]
    fn legacy_host_has_no_v2() {
        let mi = "35 31 0:32 / /cg/memory rw - cgroup cgroup rw,memory\n";
        let h = Hierarchy::parse(mi, PROC_CGROUPS, |_| unreachable!());
        assert_eq!(h.layout(), Layout::Legacy);
        assert_eq!(h.place("pids"), Place::Absent);
    }

    #[test]
    fn this_host_is_detected() {
        // Whatever the machine, detection must find at least one hierarchy and agree with
        // /proc/self/cgroup's count of v1 hierarchies.
        let h = Hierarchy::detect().unwrap();
        let own = fs::read_to_string("/proc/self/cgroup").unwrap();
        let v2_line = own.lines().any(|l| l.starts_with("0::"));
        assert_eq!(h.v2.is_some(), v2_line);
    }
}
