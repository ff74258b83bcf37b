//! `--cpus 0.5` on the real cpu controller: a busy loop never uses more than its quota in any
//! bandwidth period, by the kernel's own counters (the cgroup's CPU usage against `cpu.stat`'s
//! `nr_periods` and `nr_throttled`) — no wall-clock share, so a loaded machine cannot fail it.

mod common;

use std::time::Duration;

use common::{json, ok, Gated, Parent};

#[test]
fn busy_loop_under_half_a_cpu_never_uses_more_than_its_quota_per_period() {
    let p = Parent::new("cpus");
    let mut sh = Gated::sh("while :; do :; done");
    // High shares (on the leaf and, below, on the parent, which is what competes with the
    // host's other tasks at the root) so that other work on this shared 2-core machine cannot
    // push the loop below its quota: the quota, not contention, must hold it near 50%.
    ok(&p.ct(&[
        "--pid",
        &sh.pid().to_string(),
        "--name",
        "busy",
        "--cpus",
        "0.5",
        "--cpu-shares",
        "65536",
    ]));
    let cg = p.child("busy");
    if let Some(parent_cpu) = p
        .cgroup()
        .dir_of("cpu")
        .filter(|_| p.h.v1.contains_key("cpu"))
    {
        std::fs::write(parent_cpu.join("cpu.shares"), "262144").unwrap();
    }
    sh.go();
    // The kernel's own counters, no clock: CFS bandwidth control hands the group `quota` of
    // CPU time per `period` and throttles it for the rest; `cpu.stat` counts the periods that
    // had runnable tasks and the ones where the quota ran out. A busy loop under 0.5 CPU can
    // use at most 50 ms per 100 ms period it ran in (plus the per-CPU runtime slice the
    // kernel may hand out ahead, `sched_cfs_bandwidth_slice_us`, 5 ms by default, per CPU).
    let stat_file = cg.dir_of("cpu").expect("cpu controller").join("cpu.stat");
    let stat = |key: &str| -> u64 {
        std::fs::read_to_string(&stat_file)
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {}", stat_file.display()))
    };
    let usage = || cg.stats().unwrap().cpu.expect("cpu accounting").usage_ns;
    std::thread::sleep(Duration::from_millis(300));
    let (u0, p0, t0) = (usage(), stat("nr_periods"), stat("nr_throttled"));
    std::thread::sleep(Duration::from_secs(3));
    let (u1, p1, t1) = (usage(), stat("nr_periods"), stat("nr_throttled"));
    let (used, periods, throttled) = (u1 - u0, p1 - p0, t1 - t0);
    eprintln!("busy loop under --cpus 0.5: {used} ns in {periods} periods, {throttled} throttled");
    assert!(periods >= 10, "the loop ran in only {periods} periods");
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let allowed = (periods + 1) * (50_000_000 + cpus * 5_000_000);
    assert!(
        used <= allowed,
        "the loop used {used} ns in {periods} periods of 100 ms under a 50 ms quota"
    );
    assert!(
        throttled >= 1,
        "the quota never ran out in {periods} periods"
    );
    // stats report it: CPU time used, the limit, and periods in which the quota ran out.
    let s = json(&ok(&p.ct(&["stats", "busy", "--json"])));
    assert_eq!(s["cpu"]["quota_us"], 50000);
    assert_eq!(s["cpu"]["period_us"], 100000);
    assert!(s["cpu"]["usage_ns"].as_u64().unwrap() >= u1);
    assert!(s["cpu"]["nr_throttled"].as_u64().unwrap() >= 10, "{s}");
    let table = ok(&p.ct(&["stats", "busy"]));
    assert!(table.contains("limit 0.50 CPUs"), "{table}");
}
