//! Harness for ct-exec's integration tests (run as root), a thin layer on the workspace's one
//! [`Sandbox`]: a busybox bundle per test (`ct_tests::bundle`: Debian's busybox-static and a
//! config from `runc spec`, with a probe script in the rootfs that prints what the container
//! sees as `key=value` lines, parsed by [`Probe`]); each test with its own `CT_ROOT`/`CT_RUN`;
//! the sandbox kills any container process left behind when dropped, even when the test fails.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

// Re-exported under their old names for the suites that build bundles by hand.
#[allow(unused_imports)]
pub use ct_tests::bundle::{busybox_rootfs, runc_spec, PROBE};
pub use ct_tests::sandbox::{DirRef, Sandbox};

pub const EXE: &str = env!("CARGO_BIN_EXE_ct-exec");

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

/// One test's world: a [`Sandbox`] (its own CT_ROOT and CT_RUN in a temp dir, its cgroup
/// parent, …) with ct-exec's helpers on top. Dropping it drops the sandbox, which kills any
/// container still running — a failed test must not leave processes behind.
pub struct Fixture {
    pub sb: Sandbox,
    /// The sandbox's temp dir (`tmp.path()`).
    pub tmp: DirRef,
    pub root: PathBuf,
    pub run: PathBuf,
}

impl Fixture {
    pub fn new() -> Fixture {
        let sb = Sandbox::with_prefix("ct-exec-test");
        fs::create_dir_all(&sb.root).unwrap();
        Fixture {
            tmp: sb.dir_ref(),
            root: sb.root.clone(),
            run: sb.run.clone(),
            sb,
        }
    }

    /// A bundle `NAME` (busybox + probe) whose runc-spec config `edit` may change.
    pub fn bundle(&self, name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
        self.sb.bundle(name, edit)
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
        self.sb.runtime_states()
    }

    pub fn state(&self, id: &str) -> Value {
        serde_json::from_slice(
            &fs::read(self.run.join("containers").join(id).join("state.json")).unwrap(),
        )
        .unwrap()
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
