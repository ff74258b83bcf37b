//! `--cpus 0.5` on the real cpu controller: a busy loop gets 40-60% of one CPU, measured by
//! the cgroup's own CPU accounting (cpuacct.usage on v1, cpu.stat on v2) against wall time.
//! This is pass/fail on the kernel's CFS bandwidth limit, not a timing of ct's code. Alone in
//! its test binary so the other tests of this crate do not compete for the 2 cores.

mod common;

use std::time::{Duration, Instant};

use common::{json, ok, Gated, Parent};

#[test]
fn busy_loop_under_half_a_cpu_gets_40_to_60_percent() {
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
    std::thread::sleep(Duration::from_millis(300));
    let usage = || cg.stats().unwrap().cpu.expect("cpu accounting").usage_ns;
    let (u0, t0) = (usage(), Instant::now());
    std::thread::sleep(Duration::from_secs(3));
    let (u1, t1) = (usage(), Instant::now());
    let share = (u1 - u0) as f64 / (t1 - t0).as_nanos() as f64;
    eprintln!(
        "busy loop under --cpus 0.5: {:.1}% of one CPU",
        share * 100.0
    );
    assert!(
        (0.40..=0.60).contains(&share),
        "the loop got {:.1}% of a CPU under --cpus 0.5",
        share * 100.0
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
