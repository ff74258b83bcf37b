//! One cgroup, spread over the host's hierarchies: the same relative directory (`ct/web`) below
//! every v1 hierarchy's mount point and below the cgroup2 mount. Each resource goes to the
//! hierarchy where its controller really is (see `mountinfo.rs`); creating, joining, killing
//! and removing touch every hierarchy, so nothing is left behind on any of them.
//!
//! Ordered steps of [`Cgroup::apply`], as runc does them:
//! 1. mkdir(2) the cgroup in every hierarchy (v1 cpuset levels inherit cpus/mems; v2 levels
//!    get their parent's `cgroup.subtree_control` set first);
//! 2. write the limits and the device rules (v1 `devices.*` files, or a BPF program on v2),
//!    so the process never runs unlimited;
//! 3. write the pid to `cgroup.procs` in every hierarchy — or, for a process about to be
//!    cloned, open the files through which it moves itself in, much faster (`self_join.rs`).
//!
//! Freezing, killing and removing are in `cgroup_kill.rs`; reading usage in `stats.rs`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_spec::runtime::LinuxResources;

use crate::cgroup_v1 as v1;
use crate::cgroup_v2 as v2;
use crate::cgroupfs;
use crate::device_rules::Policy;
use crate::devices_bpf;
use crate::error::CgroupError;
use crate::mountinfo::{Hierarchy, Place};
use crate::self_join::SelfJoin;

/// How long kill and remove wait for the kernel (freezing, processes exiting) before failing.
pub const WAIT: Duration = Duration::from_secs(5);

/// A cgroup path on a host's hierarchies. Creating the value touches nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroup {
    path: String,
    hierarchy: Hierarchy,
}

/// The controllers ct writes limits to, with what the user asked that needs each.
const MEMORY: (&str, &str) = ("memory", "memory limits (--memory, --memory-swap)");
const CPU: (&str, &str) = ("cpu", "cpu limits (--cpus, --cpu-shares)");
const CPUSET: (&str, &str) = ("cpuset", "cpuset limits (--cpuset-cpus)");
const PIDS: (&str, &str) = ("pids", "a pids limit (--pids-limit)");

impl Cgroup {
    /// `cgroups_path` (read as in `cgroups_path.rs`, relative ones under `parent`) on `h`.
    pub fn new(h: &Hierarchy, cgroups_path: &str, parent: &str) -> Result<Cgroup, CgroupError> {
        Ok(Cgroup {
            path: crate::cgroups_path::resolve(cgroups_path, parent)?,
            hierarchy: h.clone(),
        })
    }

    /// The absolute cgroups path (`/ct/web`), as it goes in `linux.cgroupsPath`.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn hierarchy(&self) -> &Hierarchy {
        &self.hierarchy
    }

    pub(crate) fn under(&self, mount: &Path) -> PathBuf {
        mount.join(self.path.trim_start_matches('/'))
    }

    /// This cgroup's directory for `controller`, wherever the controller lives.
    pub fn dir_of(&self, controller: &str) -> Option<PathBuf> {
        match self.hierarchy.place(controller) {
            Place::V1(m) => Some(self.under(&m)),
            Place::V2 => self.v2_dir(),
            Place::Absent => None,
        }
    }

    /// The directory in the unified hierarchy, if the host has one.
    pub fn v2_dir(&self) -> Option<PathBuf> {
        self.hierarchy.v2.as_deref().map(|m| self.under(m))
    }

    /// Every directory this cgroup has (one per v1 hierarchy, plus the v2 one), with the root
    /// of the hierarchy it is in.
    pub fn dirs(&self) -> Vec<(PathBuf, PathBuf)> {
        let mut out: Vec<(PathBuf, PathBuf)> = self
            .hierarchy
            .v1_mounts()
            .into_keys()
            .map(|m| (self.under(&m), m))
            .collect();
        if let Some(m) = &self.hierarchy.v2 {
            out.push((self.under(m), m.clone()));
        }
        out
    }

    /// Does the cgroup exist in any hierarchy?
    pub fn exists(&self) -> bool {
        self.dirs().iter().any(|(d, _)| d.is_dir())
    }

    fn v2_controllers_used(&self) -> BTreeSet<String> {
        [MEMORY, CPU, CPUSET, PIDS]
            .iter()
            .filter(|(c, _)| self.hierarchy.place(c) == Place::V2)
            .map(|(c, _)| c.to_string())
            .collect()
    }

    /// mkdir the cgroup in every hierarchy. Returns whether any directory was new. On failure
    /// every directory this call made is removed again.
    pub fn create(&self) -> Result<bool, CgroupError> {
        let cpuset_mount = match self.hierarchy.place("cpuset") {
            Place::V1(m) => Some(m),
            _ => None,
        };
        let mut made: Vec<PathBuf> = Vec::new();
        let r = (|| {
            for (dir, root) in self.dirs() {
                let is_cpuset = Some(&root) == cpuset_mount.as_ref();
                if let Some(top) = cgroupfs::mkdir_levels(&root, &dir, |level| {
                    if is_cpuset {
                        v1::inherit_cpuset(level)?;
                    }
                    Ok(())
                })? {
                    made.push(top);
                }
                // With every level there, delegate the controllers down to the leaf's parent
                // (the kernel adds their files to existing children).
                if Some(&root) == self.hierarchy.v2.as_ref() {
                    v2::enable_controllers(&root, &dir, &self.v2_controllers_used())?;
                }
            }
            Ok(())
        })();
        match r {
            Ok(()) => Ok(!made.is_empty()),
            Err(e) => {
                for top in made.iter().rev() {
                    let _ = cgroupfs::rmdir_tree(top, Duration::ZERO);
                }
                Err(e)
            }
        }
    }

    /// rmdir whatever is empty, killing nothing: the undo of a failed apply, which must not
    /// kill a process that was handed to it.
    fn discard(&self) {
        for (dir, _) in self.dirs() {
            let _ = cgroupfs::rmdir_tree(&dir, Duration::ZERO);
        }
    }

    fn need(
        &self,
        (controller, needed_for): (&'static str, &'static str),
    ) -> Result<(Place, PathBuf), CgroupError> {
        let place = self.hierarchy.place(controller);
        let dir = self.dir_of(controller);
        match (place, dir) {
            (Place::Absent, _) | (_, None) => Err(CgroupError::ControllerAbsent {
                controller,
                needed_for,
                where_: match &self.hierarchy.v2 {
                    Some(root) if self.hierarchy.v1.is_empty() => format!(
                        " in the unified hierarchy at '{}' (cgroup.controllers: {})",
                        root.display(),
                        v2::controllers(root)
                            .ok()
                            .filter(|s| !s.is_empty())
                            .unwrap_or_else(|| "none".into())
                    ),
                    _ => String::new(),
                },
            }),
            (p, Some(d)) => Ok((p, d)),
        }
    }

    /// Make the cgroup enforce `p`: the v1 devices controller where the host has one, else a
    /// BPF program on the cgroup2 directory (pure v2, or `CT_CGROUP_MODE=v2`).
    pub fn set_devices(&self, p: &Policy) -> Result<(), CgroupError> {
        match (self.hierarchy.place("devices"), self.v2_dir()) {
            (Place::V1(m), _) => v1::set_devices(&self.under(&m), p),
            (_, Some(d)) => devices_bpf::attach(&d, p),
            _ => Err(CgroupError::ControllerAbsent {
                controller: "devices",
                needed_for: "linux.resources.devices",
                where_: String::new(),
            }),
        }
    }

    /// Write the limits in `r` (memory, cpu, cpuset, pids, devices, and on v2 the `unified`
    /// map). The block I/O, hugetlb, network and rdma sections are not applied by ct (see
    /// `oci_config::resource_warnings`).
    pub fn set(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        if let Some(rules) = r.devices() {
            self.set_devices(&Policy::from_rules(rules)?)?;
        }
        if let Some(m) = r.memory() {
            let wants = m.limit().is_some()
                || m.swap().is_some()
                || m.reservation().is_some()
                || m.swappiness().is_some()
                || m.disable_oom_killer() == Some(true);
            if wants {
                match self.need(MEMORY)? {
                    (Place::V2, d) => v2::set_memory(&d, m)?,
                    (_, d) => v1::set_memory(&d, m)?,
                }
            }
        }
        if let Some(c) = r.cpu() {
            let wants = c.shares().is_some()
                || c.quota().is_some()
                || c.period().is_some()
                || c.burst().is_some()
                || c.idle().is_some()
                || c.realtime_period().is_some()
                || c.realtime_runtime().is_some();
            if wants {
                match self.need(CPU)? {
                    (Place::V2, d) => v2::set_cpu(&d, c)?,
                    (_, d) => v1::set_cpu(&d, c)?,
                }
            }
            let cpus = c.cpus().as_deref().filter(|s| !s.is_empty());
            let mems = c.mems().as_deref().filter(|s| !s.is_empty());
            if cpus.is_some() || mems.is_some() {
                let (_, d) = self.need(CPUSET)?;
                if let Some(v) = cpus {
                    cgroupfs::write(&d.join("cpuset.cpus"), v)?;
                }
                if let Some(v) = mems {
                    cgroupfs::write(&d.join("cpuset.mems"), v)?;
                }
            }
        }
        if let Some(p) = r.pids() {
            let (_, d) = self.need(PIDS)?;
            let v = if p.limit() > 0 {
                p.limit().to_string()
            } else {
                "max".into()
            };
            cgroupfs::write(&d.join("pids.max"), &v)?;
        }
        if let Some(map) = r.unified().as_ref().filter(|m| !m.is_empty()) {
            let Some(d) = self.v2_dir() else {
                return Err(CgroupError::ControllerAbsent {
                    controller: "cgroup2",
                    needed_for: "linux.resources.unified",
                    where_: String::new(),
                });
            };
            let mut keys: Vec<_> = map.iter().collect();
            keys.sort();
            for (k, v) in keys {
                if k.contains('/') || k.starts_with('.') || k.is_empty() {
                    return Err(CgroupError::InvalidValue {
                        what: "linux.resources.unified key",
                        value: k.clone(),
                        reason: "must be a plain cgroup file name like memory.high".into(),
                    });
                }
                cgroupfs::write(&d.join(k), v)?;
            }
        }
        Ok(())
    }

    /// Move process `pid` (and so, later, everything it forks) into the cgroup in every
    /// hierarchy.
    pub fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        for (dir, _) in self.dirs() {
            let procs = dir.join("cgroup.procs");
            cgroupfs::write(&procs, &pid.to_string()).map_err(|e| match e {
                CgroupError::Write { source, .. } => CgroupError::Move {
                    pid,
                    path: procs.clone(),
                    source,
                },
                other => other,
            })?;
        }
        Ok(())
    }

    /// create + set + add_pid. A cgroup this call created is removed again if a step fails
    /// (without killing anything: a pid half moved in keeps running, and its directories stay).
    pub fn apply(
        &self,
        resources: Option<&LinuxResources>,
        pid: Option<i32>,
    ) -> Result<(), CgroupError> {
        self.created_then(resources, || match pid {
            Some(pid) => self.add_pid(pid),
            None => Ok(()),
        })
    }

    /// create + set, then open the files through which a new process moves itself in
    /// ([`SelfJoin`]): the fast way in for a process the caller is about to clone. Undone
    /// like [`Cgroup::apply`] on failure.
    pub fn prepare(&self, resources: Option<&LinuxResources>) -> Result<SelfJoin, CgroupError> {
        self.created_then(resources, || self.self_join())
    }

    /// The entry files of this cgroup as it is (nothing is created), for a process that joins a
    /// running container's cgroup.
    pub fn self_join(&self) -> Result<SelfJoin, CgroupError> {
        let v1: Vec<PathBuf> = self
            .hierarchy
            .v1_mounts()
            .into_keys()
            .map(|m| self.under(&m))
            .collect();
        SelfJoin::open(&v1, self.v2_dir().as_deref())
    }

    fn created_then<T>(
        &self,
        resources: Option<&LinuxResources>,
        then: impl FnOnce() -> Result<T, CgroupError>,
    ) -> Result<T, CgroupError> {
        let created = self.create()?;
        let r = match resources {
            Some(r) => self.set(r).and_then(|_| then()),
            None => then(),
        };
        if r.is_err() && created {
            self.discard();
        }
        r
    }

    /// The processes in the cgroup and below it, in any hierarchy, sorted.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let mut out = Vec::new();
        for (dir, _) in self.dirs() {
            cgroupfs::procs_tree(&dir, &mut out)?;
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }
}
