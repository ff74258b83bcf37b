//! File-level tests of the cgroup v2 (and v1) controller writes against temp directories laid
//! out like the kernel's: this host's cgroup2 mount offers no memory/cpu/pids controller, so
//! these are where `memory.max`, `memory.swap.max`, `cpu.max`, `cpu.weight`, `cpuset.cpus`,
//! `pids.max`, `cgroup.subtree_control` and the v2 stats files are checked. Nothing here is a
//! kernel: the files are plain files the test pre-creates, as mkdir(2) would on cgroupfs.

use std::fs;
use std::path::Path;

use ct_cgroup::{Cgroup, CgroupError, Hierarchy};
use oci_spec::runtime::{LinuxCpu, LinuxPids, LinuxResources};

const ALL: &str = "cpuset cpu io memory hugetlb pids";

fn level(dir: &Path, controllers: &str) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("cgroup.controllers"), format!("{controllers}\n")).unwrap();
    fs::write(dir.join("cgroup.subtree_control"), "").unwrap();
    fs::write(dir.join("cgroup.procs"), "").unwrap();
}

fn fake_v2(controllers: &str) -> (tempfile::TempDir, Hierarchy) {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    level(root, controllers);
    level(&root.join("p"), controllers);
    let c = root.join("p/c");
    level(&c, controllers);
    for (f, v) in [
        ("memory.max", "max"),
        ("memory.swap.max", "max"),
        ("memory.low", "0"),
        ("memory.current", "12345"),
        ("memory.peak", "99999"),
        ("memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"),
        ("cpu.max", "max 100000"),
        ("cpu.weight", "100"),
        ("cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 10\nnr_throttled 4\nthrottled_usec 200\n"),
        ("cpuset.cpus", ""),
        ("cpuset.cpus.effective", "0-1"),
        ("pids.max", "max"),
        ("pids.current", "3"),
        ("pids.events", "max 2\n"),
    ] {
        fs::write(c.join(f), v).unwrap();
    }
    let h = Hierarchy::unified_at(root);
    (t, h)
}

fn resources() -> LinuxResources {
    let mut r = LinuxResources::default();
    r.set_memory(Some(ct_cgroup::oci_config::memory_with(
        None,
        Some(64 << 20),
        Some(96 << 20),
        None,
    )));
    let mut c = LinuxCpu::default();
    c.set_quota(Some(50_000));
    c.set_period(Some(100_000));
    c.set_shares(Some(512));
    c.set_cpus(Some("0".into()));
    r.set_cpu(Some(c));
    let mut p = LinuxPids::default();
    p.set_limit(20);
    r.set_pids(Some(p));
    r
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap()
}

#[test]
fn v2_limits_go_to_the_unified_files() {
    let (t, h) = fake_v2(ALL);
    let cg = Cgroup::new(&h, "c", "p").unwrap();
    assert_eq!(cg.path(), "/p/c");
    cg.apply(Some(&resources()), Some(4321)).unwrap();
    let c = t.path().join("p/c");
    assert_eq!(read(&c.join("memory.max")), (64u64 << 20).to_string());
    // OCI's swap is memory+swap; v2's memory.swap.max is swap alone.
    assert_eq!(read(&c.join("memory.swap.max")), (32u64 << 20).to_string());
    assert_eq!(read(&c.join("cpu.max")), "50000 100000");
    assert_eq!(read(&c.join("cpu.weight")), "20");
    assert_eq!(read(&c.join("cpuset.cpus")), "0");
    assert_eq!(read(&c.join("pids.max")), "20");
    assert_eq!(read(&c.join("cgroup.procs")), "4321");
    // Controllers were delegated from the root down to the leaf's parent, not in the leaf.
    assert_eq!(
        read(&t.path().join("cgroup.subtree_control")),
        "+cpu +cpuset +memory +pids"
    );
    assert_eq!(
        read(&t.path().join("p/cgroup.subtree_control")),
        "+cpu +cpuset +memory +pids"
    );
    assert_eq!(read(&c.join("cgroup.subtree_control")), "");
}

#[test]
fn v2_unlimited_values_are_max() {
    let (t, h) = fake_v2(ALL);
    let cg = Cgroup::new(&h, "/p/c", "unused").unwrap();
    let mut r = LinuxResources::default();
    r.set_memory(Some(ct_cgroup::oci_config::memory_with(
        None,
        Some(-1),
        Some(-1),
        None,
    )));
    let mut c = LinuxCpu::default();
    c.set_quota(Some(-1));
    r.set_cpu(Some(c));
    let mut p = LinuxPids::default();
    p.set_limit(-1);
    r.set_pids(Some(p));
    cg.set(&r).unwrap();
    let c = t.path().join("p/c");
    assert_eq!(read(&c.join("memory.max")), "max");
    assert_eq!(read(&c.join("memory.swap.max")), "max");
    assert_eq!(read(&c.join("cpu.max")), "max 100000");
    assert_eq!(read(&c.join("pids.max")), "max");
}

#[test]
fn v2_stats_are_read_from_the_unified_files() {
    let (_t, h) = fake_v2(ALL);
    let cg = Cgroup::new(&h, "c", "p").unwrap();
    cg.set(&resources()).unwrap();
    let s = cg.stats().unwrap();
    let m = s.memory.unwrap();
    assert_eq!(
        (m.current, m.peak, m.limit, m.oom_kills),
        (12345, Some(99999), Some(64 << 20), Some(1))
    );
    let c = s.cpu.unwrap();
    assert_eq!(c.usage_ns, 1_500_000);
    assert_eq!(
        (c.quota_us, c.period_us, c.weight),
        (Some(50_000), Some(100_000), Some(20))
    );
    assert_eq!((c.nr_throttled, c.throttled_ns), (Some(4), Some(200_000)));
    assert_eq!(c.cpuset_cpus.as_deref(), Some("0-1"));
    let p = s.pids.unwrap();
    assert_eq!((p.current, p.limit, p.refused), (3, Some(20), Some(2)));
}

#[test]
fn v2_missing_swap_file_means_swap_accounting_is_off() {
    let (t, h) = fake_v2(ALL);
    fs::remove_file(t.path().join("p/c/memory.swap.max")).unwrap();
    let cg = Cgroup::new(&h, "c", "p").unwrap();
    let e = cg.set(&resources()).unwrap_err();
    assert!(matches!(e, CgroupError::SwapAccountingOff { .. }), "{e}");
    assert!(e.to_string().ends_with("memory.swap.max' is absent: swap accounting is off, so a memory+swap limit cannot be set"), "{e}");
}

#[test]
fn v2_controller_not_offered_is_named_in_the_error() {
    let (_t, h) = fake_v2("cpu memory");
    let cg = Cgroup::new(&h, "c", "p").unwrap();
    let mut r = LinuxResources::default();
    let mut p = LinuxPids::default();
    p.set_limit(5);
    r.set_pids(Some(p));
    let e = cg.set(&r).unwrap_err().to_string();
    assert!(e.starts_with("the pids controller is not available on this host (needed for a pids limit (--pids-limit)) in the unified hierarchy at '"), "{e}");
    assert!(e.ends_with("(cgroup.controllers: cpu memory)"), "{e}");
}

#[test]
fn v1_missing_memsw_means_swap_accounting_is_off() {
    let t = tempfile::tempdir().unwrap();
    let mem = t.path().join("memory");
    fs::create_dir_all(mem.join("p/c")).unwrap();
    fs::write(mem.join("p/c/memory.limit_in_bytes"), "9223372036854771712").unwrap();
    let h = Hierarchy::legacy_at([("memory", &mem)]);
    let cg = Cgroup::new(&h, "c", "p").unwrap();
    let mut r = LinuxResources::default();
    r.set_memory(Some(ct_cgroup::oci_config::memory_with(
        None,
        Some(64 << 20),
        Some(96 << 20),
        None,
    )));
    let e = cg.set(&r).unwrap_err();
    assert!(
        e.to_string()
            .contains("memory.memsw.limit_in_bytes' is absent: swap accounting is off"),
        "{e}"
    );
    assert!(e.hints()[0].contains("swapaccount=1"));
    // Without --memory-swap the same host takes the memory limit.
    r.set_memory(Some(ct_cgroup::oci_config::memory_with(
        None,
        Some(64 << 20),
        None,
        None,
    )));
    cg.set(&r).unwrap();
    assert_eq!(
        read(&mem.join("p/c/memory.limit_in_bytes")),
        (64u64 << 20).to_string()
    );
    // And a controller this legacy host lacks is named.
    let mut p = LinuxPids::default();
    p.set_limit(5);
    r.set_pids(Some(p));
    let e = cg.set(&r).unwrap_err().to_string();
    assert_eq!(e, "the pids controller is not available on this host (needed for a pids limit (--pids-limit))");
}

#[test]
fn v2_new_parent_is_created_then_delegated() {
    // Only the root exists: ct creates p and p/c, then enables controllers from the root down.
    let t = tempfile::tempdir().unwrap();
    level(t.path(), ALL);
    let h = Hierarchy::unified_at(t.path());
    let cg = Cgroup::new(&h, "c", "p").unwrap();
    assert!(cg.create().unwrap());
    assert!(t.path().join("p/c").is_dir());
    assert_eq!(
        read(&t.path().join("cgroup.subtree_control")),
        "+cpu +cpuset +memory +pids"
    );
    assert!(!cg.create().unwrap(), "second create makes nothing new");
}
