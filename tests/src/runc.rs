//! A container run by runc, the reference runtime, for the tests that check ct agrees with it.
//! `runc --root DIR` keeps runc's state (`DIR/ID/state.json`) in the test's sandbox instead
//! of `/run/runc`; the id is still host-wide — it names the container's cgroup — so it comes
//! from [`Sandbox::unique`]. On drop `runc delete --force ID` kills what still runs and removes
//! the container and its cgroup, also after a failed assertion.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::sandbox::Sandbox;

pub struct Runc {
    pub root: PathBuf,
    pub id: String,
}

impl Runc {
    /// A container id `PREFIX…` unique to `sb`, with runc's state in `sb`'s dir.
    pub fn new(sb: &Sandbox, prefix: &str) -> Runc {
        Runc {
            root: sb.dir.path().join("runc"),
            id: sb.unique(prefix),
        }
    }

    /// `runc --root ROOT`.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new("runc");
        c.arg("--root").arg(&self.root);
        c
    }

    /// `runc run --bundle BUNDLE ID` in the foreground, SIGKILLed after 60 s.
    pub fn run(&self, bundle: &Path) -> Output {
        Command::new("timeout")
            .args(["-s", "KILL", "60", "runc", "--root"])
            .arg(&self.root)
            .arg("run")
            .arg("--bundle")
            .arg(bundle)
            .arg(&self.id)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

impl Drop for Runc {
    fn drop(&mut self) {
        let _ = self
            .cmd()
            .args(["delete", "--force", &self.id])
            .stderr(Stdio::null())
            .output();
    }
}
