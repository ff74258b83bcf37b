//! `pause`, `resume`, `state` and `ps` on a pure cgroup v2 layout, for real: this hybrid host's
//! cgroup2 mount (`/sys/fs/cgroup/unified`, no controllers) is the only hierarchy ct-exec uses
//! with `CT_CGROUP_MODE=v2` (ct-cgroup's switch, see ct-cgroup/src/mountinfo.rs). Freezing
//! there is cgroup v2's core `cgroup.freeze`, read back from `frozen` in `cgroup.events` —
//! not the v1 freezer controller.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const MODE: (&str, &str) = ("CT_CGROUP_MODE", "v2");

/// The cgroup2 mount point, from mountinfo.
fn cgroup2_root() -> PathBuf {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mi.lines()
        .find_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            (right.split(' ').next() == Some("cgroup2"))
                .then(|| PathBuf::from(left.split(' ').nth(4).unwrap()))
        })
        .expect("this machine has a cgroup2 mount")
}

/// Deletes (force) the container when the test ends, passed or not.
struct Container<'a> {
    f: &'a Fixture,
    id: String,
}

impl Container<'_> {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.f.cmd();
        c.env(MODE.0, MODE.1)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    fn ok(&self, args: &[&str]) -> Output {
        let out = wait_output(self.cmd(args).spawn().unwrap(), Duration::from_secs(30));
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        out
    }

    fn state(&self) -> Value {
        serde_json::from_slice(&self.ok(&["state", &self.id]).stdout).unwrap()
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = self.cmd(&["delete", "--force", &self.id]).output();
    }
}

fn frozen(dir: &Path) -> String {
    let events = std::fs::read_to_string(dir.join("cgroup.events")).unwrap();
    events
        .lines()
        .find_map(|l| l.strip_prefix("frozen "))
        .unwrap()
        .to_string()
}

#[test]
fn pause_resume_state_and_ps_work_on_a_pure_cgroup_v2_layout() {
    let f = Fixture::new();
    let b = f.bundle("b", |v| v["process"]["args"] = json!(["sleep", "100"]));
    let c = Container {
        f: &f,
        id: unique("v2-"),
    };
    let id = c.id.as_str();
    // create's stdio stays with the container: not pipes, or the call would not end.
    let out = c
        .cmd(&["create", "--bundle", b.to_str().unwrap(), id])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(out.success());
    c.ok(&["start", id]);
    let pid = c.state()["pid"].as_i64().unwrap();

    // On the unified hierarchy only: its v1 freezer is the root's.
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(own.contains(&format!("\n0::/ct/{id}\n")), "{own}");
    assert!(own.contains(":freezer:/\n"), "{own}");
    let dir = cgroup2_root().join("ct").join(id);
    assert_eq!(frozen(&dir), "0");

    c.ok(&["pause", id]);
    assert_eq!(c.state()["status"], json!("paused"));
    assert_eq!(frozen(&dir), "1");
    // ps reads the cgroup, frozen or not.
    let ps: Value = serde_json::from_slice(&c.ok(&["ps", "--format", "json", id]).stdout).unwrap();
    assert_eq!(ps, json!([pid]));
    let table = stdout(&c.ok(&["ps", id]));
    assert!(
        table.lines().any(|l| l.starts_with(&format!("{pid}\t"))),
        "{table}"
    );
    c.ok(&["resume", id]);
    assert_eq!(c.state()["status"], json!("running"));
    assert_eq!(frozen(&dir), "0");

    c.ok(&["kill", id, "KILL"]);
    assert!(wait_until(Duration::from_secs(10), || c.state()["status"]
        == json!("stopped")));
    c.ok(&["delete", id]);
    assert!(!dir.exists(), "the v2 cgroup is left");
}
