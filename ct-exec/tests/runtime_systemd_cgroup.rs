//! `--systemd-cgroup` on the real cgroupfs: `linux.cgroupsPath` is systemd's
//! `SLICE:PREFIX:NAME`, and the container lands in the directory systemd would give that unit,
//! as runc's systemd driver asks for it — the slice expanded into its parents (`a-b.slice` is
//! `a.slice/a-b.slice`, systemd.slice(5)), then `PREFIX-NAME.scope` — on every hierarchy of
//! this hybrid host. systemd itself is not needed for that layout (runc refuses here: "systemd
//! not running on this host, cannot use systemd cgroups manager", so it is not compared).

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// Every cgroup hierarchy mounted under /sys/fs/cgroup (v1 controllers and the unified one).
fn hierarchies() -> Vec<PathBuf> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mi.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let fs = right.split(' ').next()?;
            let at = PathBuf::from(left.split(' ').nth(4)?);
            let named = right.contains("name=");
            (matches!(fs, "cgroup" | "cgroup2") && !named).then_some(at)
        })
        .collect()
}

/// Removes the slices the test made (and the scope, if delete did not), deepest first, on
/// every hierarchy, whatever the test's outcome; deletes the container first.
struct Cleanup {
    f: Fixture,
    id: String,
    dirs: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = self
            .f
            .cmd()
            .args(["--systemd-cgroup", "delete", "--force", &self.id])
            .output();
        for h in hierarchies() {
            for d in self.dirs.iter().rev() {
                let _ = std::fs::remove_dir(h.join(d));
            }
        }
    }
}

fn ct(f: &Fixture, args: &[&str]) -> Command {
    let mut c = f.cmd();
    c.arg("--systemd-cgroup")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

#[test]
fn systemd_cgroup_places_the_container_in_its_slice_and_scope_with_its_limits() {
    let u = unique("t").replace('-', "");
    let (top, slice) = (format!("ct{u}.slice"), format!("ct{u}-sub.slice"));
    let scope = "pfx-one.scope";
    let path = format!("{top}/{slice}/{scope}");
    let c = Cleanup {
        f: Fixture::new(),
        id: unique("sd-"),
        dirs: vec![top.clone(), format!("{top}/{slice}"), path.clone()],
    };
    let (f, id) = (&c.f, c.id.as_str());
    let b = f.bundle("b", |v| {
        v["process"]["args"] = json!(["sleep", "100"]);
        v["linux"]["cgroupsPath"] = json!(format!("{slice}:pfx:one"));
        v["linux"]["resources"] = json!({"memory": {"limit": 67108864}, "pids": {"limit": 42}});
    });
    let out = ct(f, &["create", "--bundle", b.to_str().unwrap(), id])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(out.success());
    let state = wait_output(
        ct(f, &["state", id]).spawn().unwrap(),
        Duration::from_secs(30),
    );
    let state: Value = serde_json::from_slice(&state.stdout).unwrap();
    let pid = state["pid"].as_i64().unwrap();

    // The process is in SLICE's parents/SLICE/PREFIX-NAME.scope on every hierarchy.
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for ctrl in ["memory", "pids", "devices", "freezer", ""] {
        let line = match ctrl {
            "" => format!("0::/{path}"),
            c => format!(":{c}:/{path}"),
        };
        assert!(own.lines().any(|l| l.ends_with(&line)), "{line}: {own}");
    }
    // The limits are written there.
    let read = |p: &str| std::fs::read_to_string(format!("/sys/fs/cgroup/{p}")).unwrap();
    assert_eq!(
        read(&format!("memory/{path}/memory.limit_in_bytes")).trim(),
        "67108864"
    );
    assert_eq!(read(&format!("pids/{path}/pids.max")).trim(), "42");

    let out = wait_output(
        ct(f, &["delete", "--force", id]).spawn().unwrap(),
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // delete removes the scope on every hierarchy; the slices stay, as systemd's do.
    for h in hierarchies() {
        assert!(!h.join(&path).exists(), "{} left", h.join(&path).display());
        assert!(h.join(&top).join(&slice).is_dir(), "{}", h.display());
    }
}

#[test]
fn systemd_cgroup_refuses_a_path_that_is_not_slice_prefix_name_or_leaves_its_slice() {
    let f = Fixture::new();
    let bad = [
        "/abs/path",
        "a.slice:pfx",
        "../x.slice:pfx:n",
        "a.slice:pfx:../../x",
    ];
    for (i, bad) in bad.into_iter().enumerate() {
        let b = f.bundle(&format!("b{i}"), |v| v["linux"]["cgroupsPath"] = json!(bad));
        let id = unique("sdbad-");
        let out = wait_output(
            ct(&f, &["run", "--bundle", b.to_str().unwrap(), &id])
                .spawn()
                .unwrap(),
            Duration::from_secs(30),
        );
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("is not slice:prefix:name"),
            "{bad}: {}",
            stderr(&out)
        );
        assert!(f.state_dirs().is_empty(), "{:?}", f.state_dirs());
    }
}
