//! Ending a cgroup: freezing it, killing every process in it, and removing it. The kernel
//! refuses rmdir(2) of a cgroup while a process is left in it, so killing comes first:
//!
//! 1. v2 (a hybrid host's cgroup2 too): write `1` to `cgroup.kill`, and the kernel SIGKILLs the
//!    whole subtree itself (Linux 5.14);
//! 2. v1: `freezer.state` FROZEN, so that nothing forks between reading `cgroup.procs` and the
//!    kills; SIGKILL to each pid; THAWED, because a frozen task acts on SIGKILL only once
//!    thawed;
//! 3. wait (bounded by [`WAIT`]) until `cgroup.procs` is empty everywhere, then rmdir(2) the
//!    cgroup and its children in every hierarchy, deepest first.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::cgroup::{Cgroup, WAIT};
use crate::cgroup_v1 as v1;
use crate::cgroup_v2 as v2;
use crate::cgroupfs;
use crate::error::CgroupError;
use crate::mountinfo::Place;

impl Cgroup {
    /// Freeze (or thaw) every process: v1 `freezer.state`, else v2 `cgroup.freeze`.
    pub fn freeze(&self, frozen: bool) -> Result<(), CgroupError> {
        match (self.hierarchy().place("freezer"), self.v2_dir()) {
            (Place::V1(m), _) => v1::freeze(&self.under(&m), frozen, WAIT),
            (_, Some(d)) => v2::freeze(&d, frozen, WAIT),
            _ => Err(CgroupError::ControllerAbsent {
                controller: "freezer",
                needed_for: "freezing",
                where_: String::new(),
            }),
        }
    }

    /// SIGKILL everything inside and wait until the kernel has it all gone.
    pub fn kill(&self) -> Result<(), CgroupError> {
        if !self.exists() {
            return Ok(());
        }
        // v1: freeze first so that nothing forks between reading cgroup.procs and the kills.
        // A freeze that does not complete in time is still worth the kills; either way it is
        // undone (THAWED) below, because frozen tasks act on SIGKILL only once thawed.
        let v1_freezer = match self.hierarchy().place("freezer") {
            Place::V1(m) => Some(self.under(&m)).filter(|d| d.is_dir()),
            _ => None,
        };
        let mut to_thaw = None;
        if let Some(d) = v1_freezer {
            if !self.pids()?.is_empty() {
                let _ = v1::freeze(&d, true, Duration::from_secs(1));
                to_thaw = Some(d);
            }
        }
        let r = self.kill_all(&mut to_thaw);
        if let Some(d) = to_thaw {
            let _ = v1::freeze(&d, false, WAIT);
        }
        r
    }

    fn kill_all(&self, to_thaw: &mut Option<PathBuf>) -> Result<(), CgroupError> {
        // v2 (hybrid hosts too): the kernel kills the whole subtree itself.
        if let Some(d) = self.v2_dir().filter(|d| d.is_dir()) {
            v2::kill(&d)?;
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = self.pids()?;
            if left.is_empty() {
                return Ok(());
            }
            // Only positive pids: 0 or -1 would signal our own group or every process.
            for pid in &left {
                let Some(p) = (*pid > 0)
                    .then(|| rustix::process::Pid::from_raw(*pid))
                    .flatten()
                else {
                    continue;
                };
                match rustix::process::kill_process(p, rustix::process::Signal::KILL) {
                    Ok(()) | Err(rustix::io::Errno::SRCH) => {}
                    Err(e) => {
                        return Err(CgroupError::Kill {
                            pid: *pid,
                            path: PathBuf::from(self.path()),
                            source: e.into(),
                        })
                    }
                }
            }
            if let Some(d) = to_thaw.take() {
                v1::freeze(&d, false, WAIT)?;
            }
            if Instant::now() >= deadline {
                return Err(CgroupError::StillPopulated {
                    path: PathBuf::from(self.path()),
                    pids: left,
                    secs: WAIT.as_secs(),
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kill what is left, then rmdir the cgroup (and any child cgroups) in every hierarchy.
    /// Removing a cgroup that does not exist is not an error (returns false).
    pub fn remove(&self) -> Result<bool, CgroupError> {
        // The common case, a container that has exited: its cgroup is an empty leaf, and one
        // rmdir(2) per hierarchy removes it, with nothing read or killed. Only when one of them
        // is busy (processes left, or child cgroups) are they killed and the trees removed.
        let (mut existed, mut busy) = (false, false);
        for (dir, _) in self.dirs() {
            match std::fs::remove_dir(&dir) {
                Ok(()) => existed = true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(_) => (existed, busy) = (true, true),
            }
        }
        if !busy {
            return Ok(existed);
        }
        self.kill()?;
        for (dir, _) in self.dirs() {
            cgroupfs::rmdir_tree(&dir, WAIT)?;
        }
        Ok(true)
    }
}
