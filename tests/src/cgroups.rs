//! Removing a cgroup subtree (cgroups(7)). A cgroup is a directory of cgroupfs; its files are
//! the kernel's, not real ones, so it is removed with rmdir(2) alone — which the kernel
//! refuses (EBUSY) while the cgroup has child cgroups or member processes. So, depth first:
//! thaw it (a frozen task cannot die), SIGKILL every pid in `cgroup.procs`, wait (bounded)
//! until the list is empty, then rmdir. A sandbox's cgroup parent exists once per hierarchy
//! (`/sys/fs/cgroup/CTRL/PARENT` on v1, `/sys/fs/cgroup/unified/PARENT` on the cgroup2
//! mount), so [`remove_everywhere`] does this on each.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// `/sys/fs/cgroup/H/NAME` for every hierarchy H where it exists.
pub fn dirs_named(name: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(CGROUP_ROOT)
        .into_iter()
        .flatten()
        .flatten()
        .map(|h| h.path().join(name))
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v.dedup_by(|a, b| same_dir(a, b));
    v
}

/// v1 names some hierarchies twice (`cpu` and `cpuacct` are links to `cpu,cpuacct`).
fn same_dir(a: &Path, b: &Path) -> bool {
    matches!((fs::canonicalize(a), fs::canonicalize(b)), (Ok(x), Ok(y)) if x == y)
}

/// Remove `/sys/fs/cgroup/*/NAME` and everything below it, killing its processes.
pub fn remove_everywhere(name: &str) {
    for d in dirs_named(name) {
        remove_tree(&d);
    }
}

/// Remove the cgroup `dir` and every cgroup below it, killing their processes first.
pub fn remove_tree(dir: &Path) {
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_tree(&e.path());
        }
    }
    let _ = fs::write(dir.join("freezer.state"), "THAWED");
    let _ = fs::write(dir.join("cgroup.freeze"), "0");
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let pids = procs(dir);
        for pid in &pids {
            // SAFETY: kill(2) takes no pointers; the pid is a member of this test's cgroup.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        if (pids.is_empty() && fs::remove_dir(dir).is_ok()) || !dir.exists() {
            return;
        }
        if Instant::now() > end {
            eprintln!("cleanup: cgroup {} is still busy", dir.display());
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn procs(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .filter(|p: &i32| *p > 0)
        .collect()
}
