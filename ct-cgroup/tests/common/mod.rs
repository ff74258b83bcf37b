//! Shared by ct-cgroup's integration tests: a unique parent cgroup per test — the cgroup parent
//! of the workspace's one [`Sandbox`], killed and removed when it drops (even when the test
//! fails) —, child processes that are killed and reaped on Drop, and a runner for the real
//! `ct-cgroup` binary.

#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ct_cgroup::{Cgroup, Hierarchy};
pub use ct_tests::sandbox::Sandbox;

/// A parent cgroup of this test's own: the cgroup parent of a [`Sandbox`], which removes it
/// with every cgroup and process below it, on every hierarchy, when dropped (even when the
/// test fails). `h` is the hierarchy set ct-cgroup is asked to use.
pub struct Parent {
    pub name: String,
    pub h: Hierarchy,
    pub sb: Sandbox,
}

impl Parent {
    /// `tag` names the test in panics; the cgroup's name is the sandbox's.
    pub fn new(tag: &str) -> Parent {
        Parent::on(tag, Hierarchy::detect().expect("detect cgroup hierarchies"))
    }

    pub fn on(tag: &str, h: Hierarchy) -> Parent {
        let sb = Sandbox::with_prefix(&format!("ct-cgroup-{tag}-"));
        Parent {
            name: sb.cgroup_parent().to_string(),
            h,
            sb,
        }
    }

    /// The cgroup `/PARENT/name` on this parent's hierarchies.
    pub fn child(&self, name: &str) -> Cgroup {
        Cgroup::new(&self.h, name, &self.name).unwrap()
    }

    pub fn cgroup(&self) -> Cgroup {
        Cgroup::new(&self.h, &format!("/{}", self.name), "unused").unwrap()
    }

    /// Directories named after this parent on any hierarchy.
    pub fn leftovers(&self) -> Vec<PathBuf> {
        self.cgroup()
            .dirs()
            .into_iter()
            .map(|(d, _)| d)
            .filter(|d| d.exists())
            .collect()
    }

    /// Child cgroups below the parent, on any hierarchy.
    pub fn children_left(&self) -> Vec<PathBuf> {
        let mut out = vec![];
        for (d, _) in self.cgroup().dirs() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    out.push(e.path());
                }
            }
        }
        out
    }

    /// Run the real ct-cgroup with this parent in the environment.
    pub fn ct(&self, args: &[&str]) -> Output {
        self.ct_env(args, &[])
    }

    pub fn ct_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ct-cgroup"));
        c.args(args)
            .env("CT_CGROUP_PARENT", &self.name)
            .stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().expect("run ct-cgroup")
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

/// Assert success and return stdout.
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "ct-cgroup failed ({:?}): {}",
        o.status.code(),
        stderr(o)
    );
    stdout(o)
}

/// A shell script that waits for one line on stdin before doing its work, so that it can be
/// moved into a cgroup first. Killed and reaped on drop.
pub struct Gated {
    pub child: Child,
    stdin: Option<ChildStdin>,
}

impl Gated {
    pub fn sh(script: &str) -> Gated {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("read go; {script}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let stdin = child.stdin.take();
        Gated { child, stdin }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn go(&mut self) {
        let mut s = self.stdin.take().expect("go once");
        s.write_all(b"go\n").unwrap();
    }

    /// Wait (bounded) for the script to end; returns (status code, stdout, stderr).
    pub fn finish(mut self, within: Duration) -> (Option<i32>, String, String) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                let mut out = String::new();
                let mut err = String::new();
                use std::io::Read;
                if let Some(mut o) = self.child.stdout.take() {
                    o.read_to_string(&mut out).unwrap();
                }
                if let Some(mut e) = self.child.stderr.take() {
                    e.read_to_string(&mut err).unwrap();
                }
                return (st.code(), out, err);
            }
            assert!(
                Instant::now() < deadline,
                "script did not finish within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Gated {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Poll `f` until it returns Some, for at most `within`.
pub fn wait_for<T>(within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "condition not met within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}
