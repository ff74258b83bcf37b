//! A new process moves itself into its cgroup through the files `prepare` opened
//! (`self_join.rs`): `0` to each v1 hierarchy's `tasks`, and — as without clone3 — to the v2
//! `cgroup.procs`. On this host's real hierarchies; the parent cgroup is removed on Drop.

mod common;

use std::os::unix::process::CommandExt;
use std::process::Command;

use common::Parent;

fn cgroup_lines(s: &str) -> Vec<(String, String)> {
    s.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrl, path) = (f.next()?, f.next()?, f.next()?);
            Some((ctrl.to_string(), path.to_string()))
        })
        .collect()
}

#[test]
fn a_new_process_enters_every_hierarchy_itself_and_only_it_moves() {
    let p = Parent::new("selfjoin");
    let cg = p.child("s");
    let join = cg.prepare(None).expect("prepare the cgroup");
    let before = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let mut cmd = Command::new("cat");
    cmd.arg("/proc/self/cgroup");
    // SAFETY: the closure only writes to fds opened before the fork.
    unsafe {
        cmd.pre_exec(move || join.enter(false).map_err(std::io::Error::other));
    }
    let out = cmd.output().expect("run cat");
    assert!(out.status.success(), "{out:?}");
    let seen = cgroup_lines(&String::from_utf8_lossy(&out.stdout));
    let want = format!("/{}/s", p.name);
    let hierarchies = cg.dirs().len();
    let inside = seen.iter().filter(|(_, path)| *path == want).count();
    assert_eq!(inside, hierarchies, "{seen:?}");
    if cg.v2_dir().is_some() {
        assert!(seen.contains(&(String::new(), want.clone())), "{seen:?}");
    }
    // The caller (this test) stayed where it was.
    assert_eq!(
        std::fs::read_to_string("/proc/self/cgroup").unwrap(),
        before
    );
}

#[test]
fn a_missing_cgroup_cannot_be_joined() {
    let p = Parent::new("selfjoin-missing");
    let err = p.child("absent").self_join().unwrap_err();
    assert!(err.to_string().starts_with("cannot open '"), "{err}");
}
