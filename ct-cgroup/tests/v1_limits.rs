//! ct-cgroup on this host's REAL cgroup controllers (v1 hierarchies on the hybrid CI machine;
//! whatever `/proc/self/mountinfo` shows elsewhere). Each test uses its own parent cgroup,
//! removed on Drop even when it fails; every wait is bounded.

mod common;

use std::fs;
use std::time::Duration;

use common::{json, ok, stderr, Gated, Parent};
use ct_cgroup::mountinfo::Place;

fn v1_file(p: &Parent, controller: &str, cg: &str, file: &str) -> String {
    let dir = p.child(cg).dir_of(controller).expect("controller present");
    fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
        .trim()
        .to_string()
}

#[test]
fn host_is_hybrid_with_v1_controllers() {
    // The proof below is about v1 controllers: make sure that is what this machine has.
    let p = Parent::new("layout");
    for c in ["memory", "cpu", "cpuacct", "pids", "freezer", "cpuset"] {
        assert!(
            matches!(p.h.place(c), Place::V1(_)),
            "{c} is not on v1 here"
        );
    }
    let out = ok(&p.ct(&["layout"]));
    assert!(out.starts_with("layout: hybrid"), "{out}");
    assert!(out.contains("memory   v1 /"), "{out}");
}

#[test]
fn allocating_past_memory_limit_is_oom_killed_with_137_and_host_survives() {
    let p = Parent::new("oom");
    // The shell survives; dd, which fills a 256 MiB buffer from /dev/zero, is the one killed.
    let mut sh =
        Gated::sh("dd if=/dev/zero of=/dev/null bs=256M count=1 2>/dev/null; echo status=$?");
    let pid = sh.pid().to_string();
    let path = ok(&p.ct(&["--pid", &pid, "--name", "oom", "--memory", "64m"]));
    assert_eq!(path, format!("/{}/oom", p.name));
    assert_eq!(
        v1_file(&p, "memory", "oom", "memory.limit_in_bytes"),
        (64u64 << 20).to_string()
    );
    sh.go();
    let (code, out, _) = sh.finish(Duration::from_secs(60));
    assert_eq!(
        out.trim(),
        "status=137",
        "dd was not SIGKILLed by the OOM killer"
    );
    assert_eq!(
        code,
        Some(0),
        "the shell outside the allocation must survive"
    );

    let s = json(&ok(&p.ct(&["stats", "oom", "--json"])));
    assert_eq!(s["memory"]["oom_kills"], 1, "{s}");
    assert_eq!(s["memory"]["limit"], 64u64 << 20);
    let peak = s["memory"]["peak"].as_u64().unwrap();
    assert!(peak > 48 << 20 && peak <= 64 << 20, "peak {peak}");
    let table = ok(&p.ct(&["stats", "oom"]));
    assert!(table.contains("OOM KILLS   1"), "{table}");
    assert!(table.contains("/ 64MiB"), "{table}");

    // Host unharmed: this process, and new processes outside the cgroup, run normally.
    let st = std::process::Command::new("true").status().unwrap();
    assert!(st.success());
    let own = fs::read_to_string("/proc/self/cgroup").unwrap();
    assert!(
        !own.contains(&p.name),
        "the test process itself was moved: {own}"
    );
}

#[test]
fn fork_loop_stops_at_pids_limit() {
    let p = Parent::new("pids");
    // 200 background sleeps if nothing stops it; dash gives up at the first refused fork.
    let mut sh = Gated::sh("i=0; while [ $i -lt 200 ]; do sleep 60 >/dev/null 2>&1 </dev/null & i=$((i+1)); done; echo all-forked");
    ok(&p.ct(&[
        "--pid",
        &sh.pid().to_string(),
        "--name",
        "forks",
        "--pids-limit",
        "10",
    ]));
    assert_eq!(v1_file(&p, "pids", "forks", "pids.max"), "10");
    sh.go();
    let (code, out, err) = sh.finish(Duration::from_secs(30));
    assert!(
        !out.contains("all-forked"),
        "the loop was not stopped: {out}"
    );
    assert!(err.contains("fork"), "no fork failure reported: {err}");
    assert_ne!(code, Some(0));

    let s = json(&ok(&p.ct(&["stats", "forks", "--json"])));
    // The shell is gone; its 9 sleeps are what the limit of 10 allowed next to it.
    assert_eq!(s["pids"]["current"], 9, "{s}");
    assert_eq!(s["pids"]["limit"], 10);
    assert!(s["pids"]["refused"].as_u64().unwrap() >= 1, "{s}");
    assert_eq!(s["processes"].as_array().unwrap().len(), 9);

    // rm kills what is left (freeze, SIGKILL, thaw) and removes the cgroup everywhere.
    let sleeps: Vec<i32> = s["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap() as i32)
        .collect();
    let rm = p.ct(&["rm", "forks"]);
    ok(&rm);
    assert!(stderr(&rm).contains("removed"), "{}", stderr(&rm));
    for pid in sleeps {
        common::wait_for(Duration::from_secs(5), || {
            // Orphans are reaped by init (or a subreaper): the pid disappears or is a zombie.
            match fs::read_to_string(format!("/proc/{pid}/stat")) {
                Err(_) => Some(()),
                Ok(s) if s.contains(") Z ") => Some(()),
                Ok(_) => None,
            }
        });
    }
    assert!(!p.child("forks").exists());
    assert!(p.children_left().is_empty(), "{:?}", p.children_left());
}

#[test]
fn limit_below_usage_is_refused_naming_file_and_value() {
    let p = Parent::new("busy");
    let shm = format!("/dev/shm/ctt-{}", p.name);
    struct Rm(String);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = fs::remove_file(&self.0);
        }
    }
    let _rm = Rm(shm.clone());
    // 32 MiB of tmpfs pages stay charged to the cgroup and cannot be reclaimed (no swap).
    let mut sh = Gated::sh(&format!(
        "head -c 33554432 /dev/zero > {shm}; echo written; read again"
    ));
    let pid = sh.pid().to_string();
    ok(&p.ct(&["--pid", &pid, "--name", "x", "--memory", "64m"]));
    sh.go();
    let cg = p.child("x");
    common::wait_for(Duration::from_secs(20), || {
        let s = cg.stats().unwrap();
        (s.memory.unwrap().current >= 32 << 20).then_some(())
    });
    let o = p.ct(&["--pid", &pid, "--name", "x", "--memory", "8m"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    let first = err.lines().next().unwrap();
    let file = cg.dir_of("memory").unwrap().join("memory.limit_in_bytes");
    let want = format!(
        "ct-cgroup: cannot write '8388608' to '{}': Device or resource busy",
        file.display()
    );
    assert!(first.starts_with(&want), "{first}");
    assert!(err.contains("hint: the limit is below"), "{err}");
    // The old limit stands and the cgroup was not removed (it was not this call's).
    assert_eq!(
        fs::read_to_string(&file).unwrap().trim(),
        (64u64 << 20).to_string()
    );
}

#[test]
fn memory_swap_is_memory_plus_swap_on_v1() {
    let p = Parent::new("swap");
    let sh = Gated::sh("true");
    let pid = sh.pid().to_string();
    let o = p.ct(&[
        "--pid",
        &pid,
        "--name",
        "s",
        "--memory",
        "64m",
        "--memory-swap",
        "96m",
    ]);
    let memsw = p
        .child("s")
        .dir_of("memory")
        .unwrap()
        .join("memory.memsw.limit_in_bytes");
    if memsw.exists() || o.status.success() {
        ok(&o);
        assert_eq!(
            fs::read_to_string(&memsw).unwrap().trim(),
            (96u64 << 20).to_string()
        );
        // Raising both reorders the writes (memsw first) so the kernel never sees limit > memsw.
        ok(&p.ct(&[
            "--pid",
            &pid,
            "--name",
            "s",
            "--memory",
            "200m",
            "--memory-swap",
            "300m",
        ]));
        assert_eq!(
            fs::read_to_string(&memsw).unwrap().trim(),
            (300u64 << 20).to_string()
        );
        // Lowering both writes the limit first.
        ok(&p.ct(&[
            "--pid",
            &pid,
            "--name",
            "s",
            "--memory",
            "32m",
            "--memory-swap",
            "40m",
        ]));
        assert_eq!(
            fs::read_to_string(&memsw).unwrap().trim(),
            (40u64 << 20).to_string()
        );
    } else {
        // Swap accounting off on this kernel: the error says so.
        assert!(
            stderr(&o).contains("swap accounting is off"),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn cpus_shares_and_cpuset_land_in_v1_files() {
    let p = Parent::new("cpu");
    let sh = Gated::sh("true");
    ok(&p.ct(&[
        "--pid",
        &sh.pid().to_string(),
        "--name",
        "c",
        "--cpus",
        "1.5",
        "--cpu-shares",
        "512",
        "--cpuset-cpus",
        "0",
    ]));
    assert_eq!(v1_file(&p, "cpu", "c", "cpu.cfs_quota_us"), "150000");
    assert_eq!(v1_file(&p, "cpu", "c", "cpu.cfs_period_us"), "100000");
    assert_eq!(v1_file(&p, "cpu", "c", "cpu.shares"), "512");
    assert_eq!(v1_file(&p, "cpuset", "c", "cpuset.cpus"), "0");
    // The process is in the cgroup on every v1 hierarchy and in the unified tree.
    let own = fs::read_to_string(format!("/proc/{}/cgroup", sh.pid())).unwrap();
    let n = own
        .lines()
        .filter(|l| l.ends_with(&format!("/{}/c", p.name)))
        .count();
    assert_eq!(
        n,
        p.h.v1_mounts().len() + usize::from(p.h.v2.is_some()),
        "{own}"
    );
    let s = json(&ok(&p.ct(&["stats", "c", "--json"])));
    assert_eq!(s["cpu"]["quota_us"], 150000);
    assert_eq!(s["cpu"]["shares"], 512);
    assert_eq!(s["cpu"]["cpuset_cpus"], "0");
    // A CPU this machine does not have is refused by the kernel, naming file and value.
    let o = p.ct(&[
        "--pid",
        &sh.pid().to_string(),
        "--name",
        "c",
        "--cpuset-cpus",
        "999",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.starts_with("ct-cgroup: cannot write '999' to '") && e.contains("cpuset.cpus'"),
        "{e}"
    );
}

#[test]
fn hundred_create_remove_cycles_leave_no_cgroup_directories() {
    let p = Parent::new("leak");
    let mut r = oci_spec::runtime::LinuxResources::default();
    let mut pids = oci_spec::runtime::LinuxPids::default();
    pids.set_limit(50);
    r.set_pids(Some(pids));
    r.set_memory(Some(ct_cgroup::oci_config::memory_with(
        None,
        Some(32 << 20),
        None,
        None,
    )));
    for i in 0..100 {
        // Exactly what ct-exec calls: apply with a live process, then remove.
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let path = format!("/{}/c{i}", p.name);
        let cg = ct_cgroup::apply(&path, Some(&r), child.id() as i32).unwrap();
        assert_eq!(cg.pids().unwrap(), vec![child.id() as i32]);
        assert!(ct_cgroup::remove(&path).unwrap());
        let st = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(st.signal(), Some(9));
    }
    assert!(p.children_left().is_empty(), "{:?}", p.children_left());
    // And the parent itself goes too (what `ct-cgroup rm /PARENT` does).
    ok(&p.ct(&["rm", &format!("/{}", p.name)]));
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn rm_of_unknown_cgroup_fails_with_one_line() {
    let p = Parent::new("rm");
    let o = p.ct(&["rm", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!("ct-cgroup: no cgroup '/{}/nope' on this host", p.name)
    );
    let o = p.ct(&["stats", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    // --parent wins over CT_CGROUP_PARENT.
    let other = format!("{}-flag", p.name);
    let o = p.ct(&["rm", "--parent", &other, "nope"]);
    assert_eq!(
        stderr(&o),
        format!("ct-cgroup: no cgroup '/{other}/nope' on this host")
    );
    // A process that is gone: one line plus a hint, and the cgroup made for it is removed.
    let mut c = std::process::Command::new("true").spawn().unwrap();
    let gone = c.id().to_string();
    c.wait().unwrap();
    let o = p.ct(&["--pid", &gone, "--name", "gone", "--memory", "64m"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.starts_with(&format!(
            "ct-cgroup: cannot move process {gone} into '/sys/fs/cgroup/"
        )),
        "{e}"
    );
    assert!(
        e.contains("No such process")
            && e.ends_with("hint: no such process (it may have exited already)"),
        "{e}"
    );
    assert!(!p.child("gone").exists());
    let o = p.ct(&["--memory", "64x", "--pid", "1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("invalid --memory '64x'"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn rm_kills_processes_that_keep_forking() {
    // auto: on this hybrid host cgroup.kill in the cgroup2 tree does it; v1: the cgroup2 mount
    // is ignored, so it is the v1 path alone: freezer.state FROZEN, SIGKILL each pid, THAWED.
    for mode in ["auto", "v1"] {
        let mut h = ct_cgroup::Hierarchy::detect().unwrap();
        if mode == "v1" {
            h.v2 = None;
            h.v2_controllers.clear();
        }
        let p = Parent::on(&format!("forker-{mode}"), h);
        let env = [("CT_CGROUP_MODE", mode)];
        // Three loops forking /bin/true as fast as they can: between reading cgroup.procs and
        // the kills new pids keep appearing, which is why v1 freezes the cgroup first.
        let mut sh = Gated::sh(
            "for i in 1 2 3; do (while :; do /bin/true; done) >/dev/null 2>&1 </dev/null & done; wait",
        );
        let pid = sh.pid().to_string();
        ok(&p.ct_env(&["--pid", &pid, "--name", "f", "--pids-limit", "64"], &env));
        sh.go();
        let cg = p.child("f");
        common::wait_for(Duration::from_secs(10), || {
            (cg.pids().unwrap().len() >= 4).then_some(())
        });
        ok(&p.ct_env(&["rm", "f"], &env));
        assert!(!cg.exists(), "{mode}");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(sh.child.wait().unwrap().signal(), Some(9), "{mode}");
        assert!(
            p.children_left().is_empty(),
            "{mode}: {:?}",
            p.children_left()
        );
    }
}
