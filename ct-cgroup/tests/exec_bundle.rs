//! The whole path on real v1 controllers: `ct-cgroup BUNDLE --memory …` records the limits in
//! config.json, ct-exec (which applies them with this crate's `apply`) runs the container in
//! its cgroup, and a container allocating past its limit is OOM-killed: ct-exec exits 137.
//! The bundle is busybox-static plus `runc spec`'s config; needs the workspace's ct-exec built
//! (`cargo test --workspace`).

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{ok, Parent};

struct Bundle {
    t: ct_tests::sandbox::Sandbox,
    dir: PathBuf,
}

fn bundle(args: &[&str]) -> Bundle {
    bundle_with(args, false)
}

/// With `cgroupns`, a cgroup namespace is added, so the container's own cgroup is the root of
/// the cgroup hierarchies it mounts at /sys/fs/cgroup.
fn bundle_with(args: &[&str], cgroupns: bool) -> Bundle {
    let t = ct_tests::sandbox::Sandbox::new();
    let dir = t.dir.path().join("root/containers/box");
    let bin = dir.join("rootfs/bin");
    fs::create_dir_all(&bin).unwrap();
    fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
    for applet in ["sh", "dd", "cat", "echo", "sleep"] {
        symlink("busybox", bin.join(applet)).unwrap();
    }
    let st = Command::new("runc")
        .args(["spec", "--bundle"])
        .arg(&dir)
        .status()
        .unwrap();
    assert!(st.success(), "runc spec");
    let cfg = dir.join("config.json");
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&cfg).unwrap()).unwrap();
    v["process"]["terminal"] = false.into();
    v["process"]["args"] = args.iter().map(|a| serde_json::Value::from(*a)).collect();
    if cgroupns {
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "cgroup"}));
    }
    fs::write(&cfg, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    Bundle { t, dir }
}

impl Bundle {
    fn env(&self) -> [(String, String); 2] {
        [
            (
                "CT_ROOT".into(),
                self.t.dir.path().join("root").display().to_string(),
            ),
            (
                "CT_RUN".into(),
                self.t.dir.path().join("run").display().to_string(),
            ),
        ]
    }

    fn exec(&self, parent: &Parent) -> Output {
        let mut c = Command::new(ct_tests::bins::bin("ct-exec"));
        c.arg(&self.dir)
            .env("CT_CGROUP_PARENT", &parent.name)
            .stdin(Stdio::null());
        for (k, v) in self.env() {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn limit(&self, parent: &Parent, args: &[&str]) {
        let mut all = vec![self.dir.to_str().unwrap()];
        all.extend_from_slice(args);
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let out = ok(&parent.ct_env(&all, &env));
        assert_eq!(Path::new(&out), fs::canonicalize(&self.dir).unwrap());
    }
}

#[test]
fn container_allocating_past_its_memory_limit_exits_137() {
    let p = Parent::new("exec-oom");
    let b = bundle(&["dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1"]);
    b.limit(&p, &["--memory", "64m"]);
    let o = b.exec(&p);
    assert_eq!(
        o.status.code(),
        Some(137),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // ct-exec removed the container's cgroup when it ended.
    assert!(!p.child("box").exists());
    assert!(p.children_left().is_empty(), "{:?}", p.children_left());

    // Control: the same container with room for its buffer finishes normally.
    b.limit(&p, &["--memory", "512m"]);
    let o = b.exec(&p);
    assert_eq!(
        o.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn container_sees_its_limits_and_stops_forking_at_pids_limit() {
    let p = Parent::new("exec-pids");
    // The container's own cgroup is the root of its cgroup namespace and its cgroup mount.
    let b = bundle_with(
        &[
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us; \
         i=0; while [ $i -lt 100 ]; do sleep 5 & i=$((i+1)); done; echo all-forked",
        ],
        true,
    );
    b.limit(
        &p,
        &["--memory", "32m", "--pids-limit", "8", "--cpus", "0.25"],
    );
    let o = b.exec(&p);
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..3],
        [(32u64 << 20).to_string().as_str(), "8", "25000"],
        "{out}{err}"
    );
    assert!(
        !out.contains("all-forked"),
        "the fork loop was not stopped: {out}"
    );
    assert!(err.contains("fork"), "{err}");
    assert!(!p.child("box").exists());
}
