//! Unprivileged users for tests of what ct does without root: made with `useradd(8)` (a home
//! of their own, optionally a range in `/etc/subuid` and `/etc/subgid` for user namespaces,
//! see subuid(5)), and removed with `userdel -r` on Drop — also when the test failed — with
//! the runtime directory ct gives them (`/tmp/ct-UID`) and the pause process ct started for them.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

static SEQ: AtomicU32 = AtomicU32::new(0);

pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub home: PathBuf,
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {out:?}");
    out
}

impl TestUser {
    /// A new user `ctuPIDxN` with a home directory and no subordinate ids.
    pub fn create() -> TestUser {
        TestUser::make(false)
    }

    /// The same, with a range of 65,536 subordinate uids and gids in `/etc/subuid` and
    /// `/etc/subgid` (useradd picks a free one), for `newuidmap`/`newgidmap`.
    pub fn create_with_subids() -> TestUser {
        TestUser::make(true)
    }

    fn make(subids: bool) -> TestUser {
        let name = format!(
            "ctu{}x{}",
            std::process::id() % 1_000_000,
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let mut c = Command::new("useradd");
        c.args(["-m", "-s", "/bin/sh"]);
        if !subids {
            c.args(["-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0"]);
        }
        run(c.arg(&name));
        let id = run(Command::new("id").args(["-u", &name]));
        let uid = String::from_utf8_lossy(&id.stdout).trim().parse().unwrap();
        TestUser {
            home: PathBuf::from("/home").join(&name),
            name,
            uid,
        }
    }

    /// This user's first subordinate id and count in `/etc/subuid`, if it has a range.
    pub fn subuids(&self) -> Option<(u32, u32)> {
        let text = std::fs::read_to_string("/etc/subuid").ok()?;
        text.lines().find_map(|l| {
            let mut f = l.split(':');
            (f.next()? == self.name).then_some(())?;
            Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
        })
    }

    /// `program ARGS…` as this user, with a login-like environment (HOME, USER, PATH with
    /// `extra_path` first) and nothing else of ours; bounded by `timeout 120`.
    pub fn cmd(&self, extra_path: &str, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid",
            &self.uid.to_string(),
            "--regid",
            &self.uid.to_string(),
            "--init-groups",
            "--reset-env",
            "--",
            "env",
            &format!("PATH={extra_path}:/usr/local/bin:/usr/bin:/bin"),
            "timeout",
            "-k",
            "5",
            "120",
            program,
        ]);
        c.args(args).current_dir("/");
        c
    }

    /// The runtime directory ct gives this user without `XDG_RUNTIME_DIR`.
    pub fn tmp_run(&self) -> PathBuf {
        PathBuf::from(format!("/tmp/ct-{}", self.uid))
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        // The pause process ct started for this user (ct_layout::rootless), by its pid.
        let pause = std::fs::read_to_string(self.tmp_run().join("pause.pid")).unwrap_or_default();
        if let Some(pid) = pause
            .split_whitespace()
            .next()
            .and_then(|p| p.parse::<i32>().ok())
        {
            // SAFETY: kill(2) of the pid recorded for this test's own user.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = std::fs::remove_dir_all(self.tmp_run());
        let _ = Command::new("userdel")
            .args(["-r", "-f", &self.name])
            .output();
    }
}
