//! Limits for an ordinary user: cgroup delegation (cgroups(7), "Cgroups v2 delegation";
//! the kernel's `Documentation/admin-guide/cgroup-v2.rst`, "Delegation").
//!
//! The cgroup files belong to the host's root: a user — even root inside a user namespace —
//! can make no cgroup and write no limit, except in a v2 subtree *delegated* to them: a
//! directory of the unified hierarchy whose `cgroup.procs`, `cgroup.subtree_control` (and the
//! directory itself) were given to the user, as systemd does for `user@UID.service` (the user's
//! own cgroup, named in `/proc/self/cgroup`'s `0::/…` line). There the user may create child
//! cgroups, enable the controllers listed in the subtree's `cgroup.controllers` and set their
//! limits. cgroup v1 has no safe delegation: on a v1 or hybrid host (as here) a user's limits
//! cannot be applied at all.
//!
//! So, as rootless podman: where the user's cgroup is a writable v2 subtree offering the
//! controllers the limits need, ct's cgroups go below it (`OWN/ct/NAME`); elsewhere the limits
//! are not applied, with one warning saying why, and the container runs. [`decide`] is that
//! choice, from [`Facts`] read off the running host by [`Facts::read`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::mountinfo::{Hierarchy, Layout};

/// What decides whether a user's limits can be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub layout: Layout,
    /// The cgroup2 mount point.
    pub v2_mount: Option<PathBuf>,
    /// This process's v2 cgroup (`/proc/self/cgroup`'s `0::PATH`), e.g.
    /// `/user.slice/user-1000.slice/user@1000.service/app.slice`.
    pub own: Option<String>,
    /// The own cgroup's directory, `cgroup.procs` and `cgroup.subtree_control` are writable.
    pub writable: bool,
    /// The controllers the own cgroup offers to its children (its `cgroup.controllers`).
    pub controllers: BTreeSet<String>,
}

/// Where a user's limits go, or why they cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Below this delegated cgroup (a cgroups path, used as ct's parent).
    Delegated(String),
    /// Not applied: the reason, for the warning.
    NotDelegated(String),
}

/// The choice, for limits that need the controllers `wanted` (`memory`, `cpu`, `pids`…).
pub fn decide(f: &Facts, wanted: &BTreeSet<String>) -> Decision {
    let no = |why: String| Decision::NotDelegated(why);
    if f.layout != Layout::Unified {
        return no(format!(
            "this host's cgroups are {} and only cgroup v2 can be delegated to a user",
            f.layout
        ));
    }
    let Some(own) = f.own.as_deref().filter(|o| o.starts_with('/')) else {
        return no("this process is in no cgroup v2 cgroup".into());
    };
    if own == "/" || !f.writable {
        return no(format!(
            "your cgroup '{own}' is not delegated to you (not writable)"
        ));
    }
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|c| !f.controllers.contains(*c))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return no(format!(
            "your cgroup '{own}' does not offer the {} controller(s)",
            missing.join(", ")
        ));
    }
    Decision::Delegated(format!(
        "{}/{}",
        own.trim_end_matches('/'),
        crate::DEFAULT_PARENT
    ))
}

/// The controllers OCI resources need.
pub fn controllers_for(r: &oci_spec::runtime::LinuxResources) -> BTreeSet<String> {
    let mut s = BTreeSet::new();
    if r.memory().is_some() {
        s.insert("memory".to_string());
    }
    if let Some(c) = r.cpu() {
        if c.quota().is_some() || c.period().is_some() || c.shares().is_some() {
            s.insert("cpu".to_string());
        }
        if c.cpus().is_some() || c.mems().is_some() {
            s.insert("cpuset".to_string());
        }
    }
    if r.pids().is_some() {
        s.insert("pids".to_string());
    }
    s
}

/// The `0::PATH` line of a `/proc/PID/cgroup` text.
pub fn v2_path(proc_cgroup: &str) -> Option<String> {
    proc_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(str::to_string)
}

fn writable(p: &Path) -> bool {
    use rustix::fs::{accessat, Access, AtFlags, CWD};
    accessat(CWD, p, Access::WRITE_OK, AtFlags::EACCESS).is_ok()
}

impl Facts {
    /// Read off the running host and process.
    pub fn read(h: &Hierarchy) -> Facts {
        let own = std::fs::read_to_string("/proc/self/cgroup")
            .ok()
            .and_then(|t| v2_path(&t));
        let dir = match (&h.v2, &own) {
            (Some(m), Some(o)) => Some(m.join(o.trim_start_matches('/'))),
            _ => None,
        };
        let writable = dir.as_deref().is_some_and(|d| {
            writable(d)
                && writable(&d.join("cgroup.procs"))
                && writable(&d.join("cgroup.subtree_control"))
        });
        let controllers = dir
            .as_deref()
            .and_then(|d| std::fs::read_to_string(d.join("cgroup.controllers")).ok())
            .unwrap_or_default()
            .split_whitespace()
            .map(String::from)
            .collect();
        Facts {
            layout: h.layout(),
            v2_mount: h.v2.clone(),
            own,
            writable,
            controllers,
        }
    }
}

/// Is this process an ordinary user's (outside, or inside the user's namespaces)?
pub fn rootless() -> bool {
    !rustix::process::geteuid().is_root() || ct_layout::rootless::active()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn unified(own: &str, writable: bool, controllers: &[&str]) -> Facts {
        Facts {
            layout: Layout::Unified,
            v2_mount: Some("/sys/fs/cgroup".into()),
            own: Some(own.into()),
            writable,
            controllers: set(controllers),
        }
    }

    const SVC: &str = "/user.slice/user-1000.slice/user@1000.service/app.slice";

    #[test]
    fn a_writable_v2_cgroup_offering_the_controllers_is_used() {
        let f = unified(SVC, true, &["cpu", "memory", "pids"]);
        assert_eq!(
            decide(&f, &set(&["memory", "pids"])),
            Decision::Delegated(format!("{SVC}/ct"))
        );
        assert_eq!(
            decide(&f, &set(&[])),
            Decision::Delegated(format!("{SVC}/ct"))
        );
    }

    #[test]
    fn anything_less_is_not_delegated_and_says_why() {
        let why = |f: &Facts, w: &[&str]| match decide(f, &set(w)) {
            Decision::NotDelegated(s) => s,
            d => panic!("{d:?}"),
        };
        let mut hybrid = unified(SVC, true, &["memory"]);
        hybrid.layout = Layout::Hybrid;
        assert!(why(&hybrid, &["memory"]).contains("only cgroup v2"));
        let mut legacy = hybrid.clone();
        legacy.layout = Layout::Legacy;
        assert!(why(&legacy, &["memory"]).contains("only cgroup v2"));
        assert!(why(&unified(SVC, false, &["memory"]), &["memory"]).contains("not writable"));
        assert!(why(&unified("/", true, &["memory"]), &["memory"]).contains("not delegated"));
        let w = why(&unified(SVC, true, &["pids"]), &["memory", "cpu", "pids"]);
        assert!(w.contains("cpu, memory"), "{w}");
        let mut none = unified(SVC, true, &["memory"]);
        none.own = None;
        assert!(why(&none, &["memory"]).contains("no cgroup v2"));
    }

    #[test]
    fn the_v2_line_of_proc_self_cgroup() {
        let t = "12:pids:/user.slice\n1:name=systemd:/x\n0::/user.slice/user-1000.slice/session-1.scope\n";
        assert_eq!(
            v2_path(t).as_deref(),
            Some("/user.slice/user-1000.slice/session-1.scope")
        );
        assert_eq!(v2_path("4:memory:/\n"), None);
    }

    #[test]
    fn resources_name_their_controllers() {
        let cli = crate::cli::Limits {
            memory: Some(1 << 26),
            pids_limit: Some(10),
            cpus: Some((50_000, 100_000)),
            ..Default::default()
        };
        let r = cli.resources().unwrap();
        assert_eq!(controllers_for(&r), set(&["cpu", "memory", "pids"]));
    }
}
