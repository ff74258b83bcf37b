//! The v2 code paths on this host's REAL cgroup2 mount (`/sys/fs/cgroup/unified` on the hybrid
//! CI machine, found through mountinfo). No controller is enabled there, so what runs for real
//! is the core of cgroup v2: mkdir/rmdir, `cgroup.procs`, `cgroup.freeze` + `frozen` in
//! `cgroup.events`, `cgroup.kill`, `populated`, `cpu.stat`'s usage — and the refusal of a limit
//! whose controller the unified tree does not offer. Controller files are covered against a
//! temp directory in `v2_files.rs`.

mod common;

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use common::{json, ok, stderr, wait_for, Gated, Parent};
use ct_cgroup::{cgroup_v2, Hierarchy, Layout};

fn unified() -> Hierarchy {
    let root = Hierarchy::detect()
        .unwrap()
        .v2
        .expect("this machine has a cgroup2 mount");
    Hierarchy::unified_at(root)
}

#[test]
fn join_freeze_thaw_and_remove_on_real_cgroup2() {
    let p = Parent::on("v2", unified());
    assert_eq!(p.h.layout(), Layout::Unified);
    let mut sh = Gated::sh("sleep 60 & sleep 60 & wait");
    let cg = p.child("c");
    cg.apply(None, Some(sh.pid())).unwrap();
    sh.go();
    let pids = wait_for(Duration::from_secs(10), || {
        let v = cg.pids().unwrap();
        (v.len() == 3).then_some(v)
    });
    let own = fs::read_to_string(format!("/proc/{}/cgroup", sh.pid())).unwrap();
    assert!(own.contains(&format!("0::/{}/c\n", p.name)), "{own}");
    let dir = cg.v2_dir().unwrap();
    assert!(cgroup_v2::populated(&dir).unwrap());

    cg.freeze(true).unwrap();
    let events = fs::read_to_string(dir.join("cgroup.events")).unwrap();
    assert!(events.contains("frozen 1"), "{events}");
    cg.freeze(false).unwrap();
    let events = fs::read_to_string(dir.join("cgroup.events")).unwrap();
    assert!(events.contains("frozen 0"), "{events}");

    let s = cg.stats().unwrap();
    assert_eq!(s.layout, Layout::Unified);
    assert_eq!(s.processes, pids);
    assert!(s.cpu.is_some(), "cpu.stat is a core file in v2");
    assert!(
        s.memory.is_none() && s.pids.is_none(),
        "no controllers here: {s:?}"
    );

    assert!(cg.remove().unwrap());
    assert!(!dir.exists());
    let st = sh.child.wait().unwrap();
    assert_eq!(st.signal(), Some(9));
}

#[test]
fn cgroup_kill_kills_the_whole_subtree_on_real_cgroup2() {
    let p = Parent::on("v2kill", unified());
    let mut sh = Gated::sh("sleep 60 & wait");
    let cg = p.child("k");
    cg.apply(None, Some(sh.pid())).unwrap();
    sh.go();
    wait_for(Duration::from_secs(10), || {
        (cg.pids().unwrap().len() == 2).then_some(())
    });
    let dir = cg.v2_dir().unwrap();
    assert!(
        cgroup_v2::kill(&dir).unwrap(),
        "this kernel has cgroup.kill"
    );
    let st = sh.child.wait().unwrap();
    assert_eq!(st.signal(), Some(9));
    wait_for(Duration::from_secs(5), || {
        (!cgroup_v2::populated(&dir).unwrap()).then_some(())
    });
    assert!(cg.pids().unwrap().is_empty());
}

#[test]
fn cli_in_v2_mode_joins_reports_and_removes() {
    let p = Parent::on("v2cli", unified());
    let sh = Gated::sh("true");
    let pid = sh.pid().to_string();
    let env = [("CT_CGROUP_MODE", "v2")];
    let out = ok(&p.ct_env(&["--pid", &pid, "--name", "j"], &env));
    assert_eq!(out, format!("/{}/j", p.name));
    let s = json(&ok(&p.ct_env(&["stats", "j", "--json"], &env)));
    assert_eq!(s["layout"], "unified");
    assert_eq!(s["processes"][0].as_i64().unwrap().to_string(), pid);
    assert!(s["memory"].is_null());
    ok(&p.ct_env(&["rm", "j"], &env));
    let mut sh = sh;
    assert_eq!(sh.child.wait().unwrap().signal(), Some(9));
    assert!(!p.child("j").exists());
}

#[test]
fn limit_on_a_controller_the_unified_tree_lacks_is_refused() {
    let p = Parent::on("v2absent", unified());
    let sh = Gated::sh("true");
    let o = p.ct_env(
        &[
            "--pid",
            &sh.pid().to_string(),
            "--name",
            "m",
            "--memory",
            "64m",
        ],
        &[("CT_CGROUP_MODE", "v2")],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    let root = p.h.v2.as_ref().unwrap().display().to_string();
    assert!(
        err.starts_with(&format!(
            "ct-cgroup: the memory controller is not available on this host (needed for memory limits (--memory, --memory-swap)) in the unified hierarchy at '{root}' (cgroup.controllers: "
        )),
        "{err}"
    );
    assert!(err.contains("hint: `ct-cgroup layout`"), "{err}");
    // The cgroup this call made is gone again.
    assert!(!p.child("m").exists());
}
