//! Harness for ct-exec's integration tests (run as root): a busybox bundle per test, built
//! from Debian's busybox-static (`/bin/busybox` + one symlink per applet) and a config from
//! `runc spec`; a probe script in the rootfs that prints what the container sees as
//! `key=value` lines; each test with its own `CT_ROOT`/`CT_RUN`, and a guard that kills any
//! container process left behind, even when the test fails.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const EXE: &str = env!("CARGO_BIN_EXE_ct-exec");

/// What the container sees, printed by `/probe`.
pub const PROBE: &str = r#"#!/bin/sh
echo "pid=$$"
echo "hostname=$(hostname)"
echo "domainname=$(cat /proc/sys/kernel/domainname)"
echo "uid=$(id -u)"
echo "gid=$(id -g)"
echo "groups=$(id -G)"
grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status | sed 's/:[[:space:]]*/=/'
echo "umask=$(umask)"
echo "nofile=$(ulimit -n)"
echo "nofile_hard=$(ulimit -Hn)"
echo "oom=$(cat /proc/self/oom_score_adj)"
echo "timer_list=$(wc -c < /proc/timer_list)"
if echo 1 2>/dev/null > /proc/sys/vm/overcommit_memory; then echo procsys=rw; else echo procsys=ro; fi
if touch /.probe 2>/dev/null; then echo root=rw; rm -f /.probe; else echo root=ro; fi
echo "devices=$(ls -A /dev | tr '\n' ' ')"
echo "procs=$(ls /proc | grep -E '^[0-9]+$' | tr '\n' ' ')"
echo "cwd=$(pwd)"
echo "uid_map=$(tr -s ' ' < /proc/self/uid_map | tr '\n' ';')"
echo "gid_map=$(tr -s ' ' < /proc/self/gid_map | tr '\n' ';')"
for ns in pid mnt uts ipc net user cgroup time; do echo "ns_$ns=$(readlink /proc/self/ns/$ns)"; done
echo "cgroup=$(tr '\n' ';' < /proc/self/cgroup)"
while read -r line; do echo "mount=$line"; done < /proc/self/mountinfo
echo "probe=done"
"#;

pub struct Probe(pub BTreeMap<String, Vec<String>>);

impl Probe {
    pub fn parse(out: &str) -> Probe {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for l in out.lines() {
            if let Some((k, v)) = l.split_once('=') {
                m.entry(k.to_string()).or_default().push(v.to_string());
            }
        }
        assert!(m.contains_key("probe"), "probe did not finish:\n{out}");
        Probe(m)
    }
    pub fn get(&self, k: &str) -> &str {
        self.0
            .get(k)
            .and_then(|v| v.first())
            .map(String::as_str)
            .unwrap_or_else(|| panic!("probe has no {k}"))
    }
    pub fn all(&self, k: &str) -> &[String] {
        self.0.get(k).map(Vec::as_slice).unwrap_or(&[])
    }
    /// A mount by its mount point (field 5 of mountinfo).
    pub fn mount(&self, target: &str) -> Option<&str> {
        self.all("mount")
            .iter()
            .rev()
            .find(|l| l.split(' ').nth(4) == Some(target))
            .map(String::as_str)
    }
}

/// A busybox root filesystem at `dir` with the probe at `/probe`.
pub fn busybox_rootfs(dir: &Path) {
    for d in ["bin", "proc", "sys", "dev", "etc", "tmp", "root"] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::copy("/bin/busybox", dir.join("bin/busybox")).unwrap();
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for a in String::from_utf8_lossy(&list.stdout).lines() {
        if a != "busybox" && !a.is_empty() {
            symlink("busybox", dir.join("bin").join(a)).unwrap();
        }
    }
    fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    fs::write(
        dir.join("etc/group"),
        "root:x:0:\napp:x:1000:\nnogroup:x:65534:\n",
    )
    .unwrap();
    fs::write(dir.join("probe"), PROBE).unwrap();
    fs::set_permissions(dir.join("probe"), fs::Permissions::from_mode(0o755)).unwrap();
}

/// `runc spec`'s config, made non-interactive, running the probe.
pub fn runc_spec(dir: &Path) -> Value {
    let out = Command::new("runc")
        .args(["spec", "--bundle"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: Value = serde_json::from_slice(&fs::read(dir.join("config.json")).unwrap()).unwrap();
    v["process"]["terminal"] = json!(false);
    v["process"]["args"] = json!(["/probe"]);
    // Cgroup limits are ct-cgroup's business; keep stderr quiet.
    v["linux"].as_object_mut().unwrap().remove("resources");
    v
}

/// One test's world: its own CT_ROOT and CT_RUN in a temp dir.
pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub run: PathBuf,
}

impl Fixture {
    pub fn new() -> Fixture {
        let tmp = tempfile::Builder::new()
            .prefix("ct-exec-test")
            .tempdir()
            .unwrap();
        let root = tmp.path().join("root");
        let run = tmp.path().join("run");
        fs::create_dir_all(&root).unwrap();
        Fixture { tmp, root, run }
    }

    /// A bundle `NAME` (busybox + probe) whose runc-spec config `edit` may change.
    pub fn bundle(&self, name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
        let dir = self.tmp.path().join(name);
        busybox_rootfs(&dir.join("rootfs"));
        let mut v = runc_spec(&dir);
        edit(&mut v);
        fs::write(
            dir.join("config.json"),
            serde_json::to_vec_pretty(&v).unwrap(),
        )
        .unwrap();
        dir
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(EXE);
        c.env("CT_ROOT", &self.root).env("CT_RUN", &self.run);
        c
    }

    /// Run ct-exec with `args`, stdin from `input`, killed after 30 s.
    pub fn run_with(&self, args: &[&str], input: &[u8]) -> Output {
        let mut c = self.cmd();
        c.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input).ok();
        drop(stdin);
        wait_output(child, Duration::from_secs(30))
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, b"")
    }

    /// Probe a bundle: run it, expect exit 0, parse what the probe printed.
    pub fn probe(&self, bundle: &Path, extra: &[&str]) -> Probe {
        let mut args = extra.to_vec();
        args.insert(0, bundle.to_str().unwrap());
        let out = self.run(&args);
        assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
        Probe::parse(&stdout(&out))
    }

    pub fn state_dirs(&self) -> Vec<String> {
        match fs::read_dir(self.run.join("containers")) {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    pub fn state(&self, id: &str) -> Value {
        serde_json::from_slice(
            &fs::read(self.run.join("containers").join(id).join("state.json")).unwrap(),
        )
        .unwrap()
    }
}

impl Drop for Fixture {
    /// Kill any container still running (a failed test must not leave processes behind).
    fn drop(&mut self) {
        for id in self.state_dirs() {
            let p = self.run.join("containers").join(&id).join("state.json");
            let Ok(Ok(v)) = fs::read(&p).map(|b| serde_json::from_slice::<Value>(&b)) else {
                continue;
            };
            if let Some(pid) = v["pid"].as_i64() {
                let start = v["pidStart"].as_u64();
                if start.is_some() && ct_layout::state::pid_start_time(pid as i32) == start {
                    // SAFETY: kill(2) of a pid we checked is the container's.
                    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                }
            }
        }
    }
}

/// wait_with_output, but SIGKILL the process after `limit` (tests never hang).
pub fn wait_output(child: Child, limit: Duration) -> Output {
    let pid = child.id() as i32;
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    std::thread::spawn(move || {
        let start = Instant::now();
        while start.elapsed() < limit {
            if d.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if !d.load(Ordering::SeqCst) {
            // SAFETY: kill(2) of our own child, which has not been reaped yet.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    });
    let out = child.wait_with_output().unwrap();
    done.store(true, Ordering::SeqCst);
    out
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Poll `f` every 10 ms for up to `limit`.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// A random suffix for names shared with the host (netns names).
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", ct_layout::paths::new_id())
}
