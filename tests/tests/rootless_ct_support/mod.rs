//! What the tests of ct without root share (`rootless_ct*.rs`): a child killed on Drop, a
//! free port, curl from the host until a server answers. (pasta and slirp4netns open
//! `/dev/net/tun`, 0600 on this machine: those tests hold `ct_tests::device_mode::DeviceOpen`
//! on it.)

#![allow(dead_code)]

use std::fs;
use std::net::TcpListener;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use ct_tests::bins::bin;

/// A child process (the user's server in the container's namespace), killed on Drop.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        // SAFETY: kill(2) of our own child, by its pid (`timeout`, which passes it on).
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

pub fn tools_dir() -> String {
    bin("ct-net")
        .parent()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn pid_runs(pid: u64) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// `curl` from the host (the test, root) to 127.0.0.1:PORT/FILE, retried for up to 10 s
/// while the server starts.
pub fn curl_until(port: u16, file: &str) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = Command::new("curl")
            .args(["-sf", "-m", "3", &format!("http://127.0.0.1:{port}/{file}")])
            .output()
            .unwrap();
        if out.status.success() {
            return Some(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A process of the test's user (a network helper), killed on Drop if it still runs as that
/// user: a failed test leaves no helper behind.
pub struct UserProcess {
    pub pid: u64,
    pub uid: u32,
}

impl Drop for UserProcess {
    fn drop(&mut self) {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        let mine = status.lines().any(|l| {
            l.strip_prefix("Uid:")
                .is_some_and(|ids| ids.split_whitespace().next() == Some(&self.uid.to_string()))
        });
        if mine {
            // SAFETY: kill(2) of a process of this test's own user, by pid.
            unsafe { libc::kill(self.pid as i32, libc::SIGKILL) };
        }
    }
}

/// A tmux server of the test's own (socket in `dir`), killed on Drop: a real terminal in
/// which the user runs `ct -t`, with keys typed into it and its screen read back. The
/// command runs without `timeout(1)`, which would put it in a background process group of the
/// terminal (reads and terminal settings would stop it with SIGTTIN/SIGTTOU); the waits here
/// are bounded instead, and Drop ends everything.
pub struct UserTerminal {
    sock: std::path::PathBuf,
}

impl UserTerminal {
    /// `ct ARGS…` as user `uid` with PATH `path`, in a new 100x30 window of a tmux server whose
    /// socket is `dir/NAME`; when it ends the window shows `EXIT=<status>` and stays open.
    pub fn start(dir: &std::path::Path, name: &str, uid: u32, path: &str, args: &[&str]) -> Self {
        let sock = dir.join(name);
        let q = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
        let mut line = format!(
            "setpriv --reuid {uid} --regid {uid} --init-groups --reset-env -- env {} ct",
            q(&format!("PATH={path}:/usr/local/bin:/usr/bin:/bin"))
        );
        for a in args {
            line += &format!(" {}", q(a));
        }
        line += "; echo EXIT=$?; sleep 60";
        let t = UserTerminal { sock };
        let out = t.tmux(&["new-session", "-d", "-x", "100", "-y", "30", &line]);
        assert!(out.status.success(), "tmux: {out:?}");
        t
    }

    pub fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.sock)
            .args(args)
            .output()
            .unwrap()
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut a = vec!["send-keys"];
        a.extend(keys);
        assert!(self.tmux(&a).status.success());
    }

    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p"]).stdout).into_owned()
    }

    /// The screen once it shows `what` (bounded: 30 s).
    pub fn wait_for(&self, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.screen();
            if s.contains(what) {
                return s;
            }
            assert!(Instant::now() < deadline, "no {what:?} on the screen:\n{s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for UserTerminal {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}
