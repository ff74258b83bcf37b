//! podman driving the built ct-exec as its OCI runtime (`podman --runtime PATH`), as a user
//! who picks ct-exec instead of runc or crun would: conmon calls `create`, `start`, `state`,
//! `exec --process --detach [--tty --console-socket]`, `kill`, `pause`, `resume`, `update`,
//! `delete --force`. Podman runs in temporary root, runroot and tmpdir with the cgroupfs
//! manager; ct-exec keeps its state in the default `/run/ct` (podman does not pass its
//! runtime flags to every call, so a `--root` would not reach `delete`), under podman's
//! random 64-hex ids. After the test: no ct-exec state, no cgroup, no mount of its own left.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use ct_tests::sandbox::Sandbox;

const EXE: &str = env!("CARGO_BIN_EXE_ct-exec");
const IMAGE: &str = "localhost/ct-exec-busybox:test";
/// What podman needs on this machine (see the issue): no systemd, no CAP_SYS_RESOURCE in
/// the bounding set to raise rlimits with.
const RUN: &[&str] = &[
    "--network",
    "none",
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
];

struct Podman {
    /// Its temp dir holds podman's storage; dropping it unmounts what is left there.
    tmp: Sandbox,
}

impl Podman {
    fn new() -> Podman {
        let tmp = Sandbox::with_prefix("ct-exec-podman");
        let p = Podman { tmp };
        let tar = p.tmp.dir.path().join("busybox.tar");
        std::fs::write(&tar, ct_tests::image::busybox_layer()).unwrap();
        p.ok(&["import", tar.to_str().unwrap(), IMAGE]);
        p
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let d = |n: &str| self.tmp.dir.path().join(n);
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(d("root"))
            .arg("--runroot")
            .arg(d("runroot"))
            .arg("--tmpdir")
            .arg(d("tmp"))
            .args([
                "--storage-driver",
                "overlay",
                "--cgroup-manager",
                "cgroupfs",
            ])
            .args(["--events-backend", "file", "--runtime", EXE])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        let child = self.cmd(args).spawn().unwrap();
        ct_tests::child::output_killed_after(child, Duration::from_secs(60))
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self
            .cmd(&["rm", "--all", "--force", "--time", "0"])
            .output();
        let _ = self.cmd(&["system", "reset", "--force"]).output();
    }
}

fn state_dir(id: &str) -> PathBuf {
    Path::new(ct_layout::paths::DEFAULT_RUN)
        .join("containers")
        .join(id)
}

/// The cgroup directories of a cgroupsPath on every hierarchy that has it.
fn cgroup_dirs(path: &str) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let d = e.path().join(path.trim_start_matches('/'));
        if d.is_dir() {
            v.push(d);
        }
    }
    v
}

#[test]
fn podman_runs_run_rm_and_a_terminal_with_ct_exec() {
    let p = Podman::new();
    let mut args = vec!["run", "--rm"];
    args.extend(RUN);
    args.extend([
        IMAGE,
        "sh",
        "-c",
        "echo hello from $(cat /proc/1/comm); exit 3",
    ]);
    let out = p.run(&args);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from sh\n");

    let mut args = vec!["run", "--rm", "-t"];
    args.extend(RUN);
    args.extend([IMAGE, "sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo tty-yes"]);
    let out = p.ok(&args);
    assert_eq!(out, "tty-yes\r\n");
    assert_eq!(p.ok(&["ps", "--all", "--quiet"]), "");
}

#[test]
fn podman_runs_detached_exec_pause_update_stop_and_rm_with_ct_exec() {
    let p = Podman::new();
    let mut args = vec!["run", "-d"];
    args.extend(RUN);
    args.extend([IMAGE, "sleep", "1000"]);
    let id = p.ok(&args).trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    // ct-exec holds the container's state and knows its cgroup.
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state_dir(&id).join("state.json")).unwrap()).unwrap();
    assert_eq!(st["status"], "running");
    let cgroup = std::fs::read_to_string(state_dir(&id).join("cgroup")).unwrap();
    assert!(!cgroup_dirs(&cgroup).is_empty());

    let out = p.run(&["exec", &id, "sh", "-c", "echo in-exec; exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "in-exec\n");
    // A terminal of the container's own devpts, which `tty` can name.
    let out = p.ok(&["exec", "-t", &id, "sh", "-c", "tty"]);
    assert!(out.starts_with("/dev/pts/"), "{out:?}");

    let top = p.ok(&["top", &id]);
    assert!(top.contains("sleep 1000"), "{top}");

    p.ok(&["pause", &id]);
    let status = |p: &Podman| p.ok(&["inspect", "--format", "{{.State.Status}}", &id]);
    assert_eq!(status(&p), "paused\n");
    p.ok(&["unpause", &id]);
    assert_eq!(status(&p), "running\n");

    p.ok(&["update", "--memory", "64m", &id]);
    let memory = Path::new("/sys/fs/cgroup/memory")
        .join(cgroup.trim_start_matches('/'))
        .join("memory.limit_in_bytes");
    assert_eq!(std::fs::read_to_string(memory).unwrap().trim(), "67108864");

    p.ok(&["stop", "--time", "1", &id]);
    assert_eq!(status(&p), "exited\n");
    p.ok(&["rm", &id]);
    assert_eq!(p.ok(&["ps", "--all", "--quiet"]), "");
    assert!(!state_dir(&id).exists(), "ct-exec state of {id} left");
    assert_eq!(cgroup_dirs(&cgroup), Vec::<PathBuf>::new());
}
