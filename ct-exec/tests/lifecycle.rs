//! The container as a process: exit statuses, stdio, signals, --init, a terminal, detached
//! runs with kill/delete, and the runtime state they leave.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::json;

#[test]
fn exit_status_of_the_container_and_of_ct_exec_itself() {
    let f = Fixture::new();
    let b = f.bundle("b", |_| {});
    let b = b.to_str().unwrap();
    assert_eq!(
        f.run(&[b, "--", "sh", "-c", "exit 3"]).status.code(),
        Some(3)
    );
    let out = f.run(&[b, "--", "no-such-command"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(
        stderr(&out)
            .lines()
            .any(|l| l.starts_with("ct-exec: cannot run 'no-such-command': ")),
        "{}",
        stderr(&out)
    );
    let out = f.run(&[b, "--", "/etc/passwd"]);
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot run '/etc/passwd': Permission denied"));
    let out = f.run(&[f.tmp.path().join("nope").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125));
    // Killed by a signal: 128+N (the shell is not PID 1 under --init, so it can die of it).
    let out = f.run(&[b, "--init", "--", "sh", "-c", "kill -USR1 $$"]);
    assert_eq!(out.status.code(), Some(128 + 10), "{}", stderr(&out));
    assert!(f.state_dirs().is_empty());
}

#[test]
fn bundle_from_stdin_leaves_the_rest_of_stdin_to_the_container() {
    let f = Fixture::new();
    let b = f.bundle("b", |_| {});
    let input = format!("{}\nfirst line for cat\nsecond\n", b.display());
    let out = f.run_with(&["--", "cat"], input.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "first line for cat\nsecond\n");
}

#[test]
fn stdio_passes_through_both_ways() {
    let f = Fixture::new();
    let b = f.bundle("b", |_| {});
    let input: String = (0..2000).map(|i| format!("line {i}\n")).collect();
    let out = f.run_with(
        &[
            b.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "tr a-z A-Z; echo to-stderr >&2",
        ],
        input.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), input.to_uppercase());
    assert!(stderr(&out).ends_with("to-stderr\n"));
}

/// Spawn ct-exec with piped output collected by a thread.
struct Running {
    child: std::process::Child,
    out: Arc<Mutex<String>>,
}

impl Running {
    fn start(f: &Fixture, args: &[&str]) -> Running {
        let mut child = f
            .cmd()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = Arc::new(Mutex::new(String::new()));
        let o = out.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut s = o.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Running { child, out }
    }
    fn wait_for(&self, text: &str) {
        assert!(
            wait_until(Duration::from_secs(10), || self
                .out
                .lock()
                .unwrap()
                .contains(text)),
            "no '{text}' in {:?}",
            self.out.lock().unwrap()
        );
    }
    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) of our own, not yet reaped child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }
    fn wait(mut self) -> i32 {
        let mut code = None;
        wait_until(Duration::from_secs(10), || {
            code = self
                .child
                .try_wait()
                .unwrap()
                .map(|s| s.code().unwrap_or(-1));
            code.is_some()
        });
        code.unwrap_or_else(|| {
            let _ = self.child.kill();
            panic!("ct-exec did not exit")
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn signals_are_forwarded_to_the_container() {
    let f = Fixture::new();
    let b = f.bundle("b", |_| {});
    let script = "for s in INT HUP QUIT USR1 USR2 WINCH; do trap \"echo got $s\" $s; done; \
                  trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.02; done";
    let r = Running::start(&f, &[b.to_str().unwrap(), "--", "sh", "-c", script]);
    r.wait_for("ready");
    for (sig, name) in [
        (libc::SIGINT, "INT"),
        (libc::SIGHUP, "HUP"),
        (libc::SIGQUIT, "QUIT"),
        (libc::SIGUSR1, "USR1"),
        (libc::SIGUSR2, "USR2"),
        (libc::SIGWINCH, "WINCH"),
    ] {
        r.signal(sig);
        r.wait_for(&format!("got {name}"));
    }
    r.signal(libc::SIGTERM);
    r.wait_for("got TERM");
    assert_eq!(r.wait(), 7);
}

/// The descendants of `pid` with their state letter (`Z` for a zombie).
fn descendants(pid: i32) -> Vec<(i32, char)> {
    let mut todo = vec![pid];
    let mut out = Vec::new();
    while let Some(p) = todo.pop() {
        let kids =
            std::fs::read_to_string(format!("/proc/{p}/task/{p}/children")).unwrap_or_default();
        for k in kids.split_whitespace() {
            let k: i32 = k.parse().unwrap();
            let stat = std::fs::read_to_string(format!("/proc/{k}/stat")).unwrap_or_default();
            let state = stat
                .rsplit_once(") ")
                .and_then(|(_, r)| r.chars().next())
                .unwrap_or('?');
            out.push((k, state));
            todo.push(k);
        }
    }
    out
}

#[test]
fn init_reaps_zombies_and_forwards_signals() {
    let f = Fixture::new();
    let b = f.bundle("b", |_| {});
    let b = b.to_str().unwrap();
    let out = f.run(&[b, "--init", "--", "cat", "/proc/1/comm"]);
    assert_eq!(stdout(&out), "ct-init\n", "{}", stderr(&out));
    // An orphan is re-parented to PID 1; once it exits, only a reaping PID 1 clears it. With
    // `exec sleep` as PID 1 nobody reaps it; under --init, init does.
    let script = "(sleep 0.1 &); echo up; exec sleep 60";
    for init in [false, true] {
        let mut args = vec![b, "--id", if init { "with-init" } else { "no-init" }];
        if init {
            args.push("--init");
        }
        args.extend(["--", "sh", "-c", script]);
        let r = Running::start(&f, &args);
        r.wait_for("up");
        let id = if init { "with-init" } else { "no-init" };
        assert!(wait_until(Duration::from_secs(5), || f.state(id)["status"]
            == "running"));
        let pid = f.state(id)["pid"].as_i64().unwrap() as i32;
        let zombies = |d: &[(i32, char)]| d.iter().filter(|(_, s)| *s == 'Z').count();
        if init {
            // The orphan came and went: only `sleep 60` is left below init, no zombie.
            assert!(
                wait_until(Duration::from_secs(10), || {
                    let d = descendants(pid);
                    d.len() == 1 && zombies(&d) == 0
                }),
                "{:?}",
                descendants(pid)
            );
        } else {
            assert!(
                wait_until(Duration::from_secs(10), || zombies(&descendants(pid)) == 1),
                "{:?}",
                descendants(pid)
            );
        }
        // End the container itself, not ct-exec: ct-exec sees it go and removes its cgroup.
        // SAFETY: kill(2) of the container's pid, read from its state just above.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        r.wait();
    }
    // A plain `sleep` as PID 1 would ignore SIGTERM; under init it dies of it.
    let r = Running::start(
        &f,
        &[b, "--init", "--", "sh", "-c", "echo up; exec sleep 60"],
    );
    r.wait_for("up");
    r.signal(libc::SIGTERM);
    assert_eq!(r.wait(), 128 + 15);
}

#[test]
fn foreground_state_is_recorded_then_removed() {
    let f = Fixture::new();
    let b = f.bundle("b", |v| v["annotations"] = json!({"org.example/k": "v"}));
    let r = Running::start(
        &f,
        &[
            b.to_str().unwrap(),
            "--id",
            "fg1",
            "--",
            "sh",
            "-c",
            "echo up; sleep 60",
        ],
    );
    r.wait_for("up");
    assert!(wait_until(Duration::from_secs(5), || f.state("fg1")
        ["status"]
        == "running"));
    let st = f.state("fg1");
    assert_eq!(st["ociVersion"], "1.2.0");
    assert_eq!(st["id"], "fg1");
    assert_eq!(st["status"], "running");
    assert_eq!(st["bundle"], b.to_str().unwrap());
    assert_eq!(st["annotations"]["org.example/k"], "v");
    assert!(st["created"].as_str().unwrap().ends_with('Z'));
    let pid = st["pid"].as_i64().unwrap() as i32;
    assert_eq!(
        ct_layout::state::pid_start_time(pid),
        st["pidStart"].as_u64()
    );
    // The same id cannot run twice.
    let out = f.run(&[b.to_str().unwrap(), "--id", "fg1"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("container 'fg1' already exists"));
    let out = f.run(&["kill", "fg1", "KILL"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(r.wait(), 128 + 9);
    assert!(f.state_dirs().is_empty());
}

#[test]
fn detached_run_kill_and_delete() {
    let f = Fixture::new();
    let b = f.bundle("b", |_| {});
    let script = "trap 'echo bye; exit 9' TERM; echo started; while :; do sleep 0.02; done";
    let out = f.run(&[b.to_str().unwrap(), "-d", "--", "sh", "-c", script]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    assert!(ct_layout::paths::valid_id(&id) && stdout(&out).lines().count() == 1);
    let st = f.state(&id);
    assert_eq!(st["status"], "running");
    // ct-ls sees it (when the workspace's binaries are built, as `cargo test --workspace` does).
    let ls = |all: bool| {
        let mut c = Command::new(ct_tests::bins::bin("ct-ls"));
        c.env("CT_ROOT", &f.root)
            .env("CT_RUN", &f.run)
            .args(["containers", "--json"]);
        if all {
            c.arg("-a");
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let v = ls(false);
    assert_eq!(v[0]["id"], id.as_str());
    assert_eq!(v[0]["status"], "running");
    assert_eq!(v[0]["pid"], st["pid"]);
    assert!(v[0]["command"].as_str().unwrap().starts_with("sh -c trap"));
    let log = f.run.join("containers").join(&id).join("container.log");
    assert!(wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("started"))
    }));
    // Running: delete refuses.
    let out = f.run(&["delete", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with(&format!("ct-exec: container '{id}' is running")));
    // Signals by name or number.
    let out = f.run(&["kill", &id, "15"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(wait_until(Duration::from_secs(5), || f.state(&id)
        ["status"]
        == "stopped"));
    assert_eq!(f.state(&id)["exitCode"], 9);
    assert_eq!(ls(false).as_array().unwrap().len(), 0);
    assert_eq!(ls(true)[0]["exitCode"], 9);
    assert!(std::fs::read_to_string(&log).unwrap().contains("bye"));
    let out = f.run(&["kill", &id, "TERM"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is not running"));
    let out = f.run(&["kill", &id, "NOSUCHSIG"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "ct-exec: unknown signal 'NOSUCHSIG'\n");
    assert_eq!(f.run(&["delete", &id]).status.code(), Some(0));
    assert!(f.state_dirs().is_empty());

    // --force kills a running one first.
    let out = f.run(&[
        b.to_str().unwrap(),
        "-d",
        "--id",
        "forced",
        "--",
        "sleep",
        "60",
    ]);
    assert_eq!(stdout(&out), "forced\n", "{}", stderr(&out));
    let pid = f.state("forced")["pid"].as_i64().unwrap() as i32;
    let out = f.run(&["delete", "--force", "forced"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(f.state_dirs().is_empty());
    assert!(wait_until(Duration::from_secs(5), || {
        ct_layout::state::pid_start_time(pid).is_none()
    }));
}

/// `delete --force` right after a detached start, many times: the monitor may still be
/// recording the end when delete runs; delete waits for it (its lock on the state directory),
/// so delete never fails with "Directory not empty" and the directory never comes back.
#[test]
fn delete_force_of_a_fresh_detached_container_always_removes_it_for_good() {
    let f = Fixture::new();
    let b = f.bundle("b", |_| {});
    for round in 0..15 {
        let id = format!("fresh{round}");
        let out = f.run(&[b.to_str().unwrap(), "-d", "--id", &id, "--", "sleep", "60"]);
        assert_eq!(stdout(&out), format!("{id}\n"), "{}", stderr(&out));
        let out = f.run(&["delete", "--force", &id]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "round {round}: {}",
            stderr(&out)
        );
        assert!(
            f.state_dirs().is_empty(),
            "round {round}: {:?}",
            f.state_dirs()
        );
    }
    // Nothing re-creates a state directory afterwards.
    std::thread::sleep(Duration::from_millis(300));
    assert!(f.state_dirs().is_empty(), "{:?}", f.state_dirs());
}

#[test]
fn terminal_in_raw_mode_with_window_size_forwarded() {
    let f = Fixture::new();
    let b = f.bundle("b", |_| {});
    let ws = nix::pty::Winsize {
        ws_row: 33,
        ws_col: 101,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&ws), None).unwrap();
    let slave = pty.slave.as_raw_fd();
    let mut cmd = f.cmd();
    cmd.args([b.to_str().unwrap(), "-t", "-i", "--", "sh"])
        .stdin(Stdio::from(pty.slave.try_clone().unwrap()))
        .stdout(Stdio::from(pty.slave.try_clone().unwrap()))
        .stderr(Stdio::from(pty.slave.try_clone().unwrap()));
    // SAFETY: setsid and TIOCSCTTY between fork and exec touch only the child.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    drop(pty.slave);
    let _ = slave;
    let master = std::fs::File::from(pty.master);
    let out = Arc::new(Mutex::new(String::new()));
    let o = out.clone();
    let mut reader = master.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = reader.read(&mut buf) {
            o.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut w = master.try_clone().unwrap();
    let seen = |t: &str| wait_until(Duration::from_secs(10), || out.lock().unwrap().contains(t));
    w.write_all(b"[ -t 0 ] && echo IS-A-TTY; stty size | tr ' ' x\r")
        .unwrap();
    assert!(seen("IS-A-TTY"), "{:?}", out.lock().unwrap());
    assert!(seen("33x101"), "{:?}", out.lock().unwrap());
    // Resize the outer terminal: the kernel sends ct-exec SIGWINCH, which copies the size on.
    let ws2 = libc::winsize {
        ws_row: 40,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize.
    unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws2) };
    // The size reaches the container when ct-exec has handled its SIGWINCH: ask until it
    // has (a loaded machine can take longer than any fixed wait).
    let resized = (0..20).any(|_| {
        w.write_all(b"stty size | tr ' ' x\r").unwrap();
        wait_until(Duration::from_millis(500), || {
            out.lock().unwrap().contains("40x120")
        })
    });
    assert!(resized, "{:?}", out.lock().unwrap());
    // Raw mode: ^C goes through the terminal to the container's shell, not to ct-exec. Sent
    // once `sleep` runs: a ^C that reaches the shell itself while it reads its input would
    // drop the line typed after it.
    w.write_all(b"sleep 30\r").unwrap();
    let sleeping = || {
        descendants(child.id() as i32).iter().any(|(p, _)| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "sleep")
        })
    };
    assert!(
        wait_until(Duration::from_secs(10), sleeping),
        "{:?}",
        out.lock().unwrap()
    );
    w.write_all(b"\x03").unwrap();
    w.write_all(b"echo still-here; exit 5\r").unwrap();
    assert!(seen("still-here"), "{:?}", out.lock().unwrap());
    let mut code = None;
    wait_until(Duration::from_secs(10), || {
        code = child.try_wait().unwrap().map(|s| s.code());
        code.is_some()
    });
    if code.is_none() {
        let _ = child.kill();
    }
    assert_eq!(code, Some(Some(5)), "{:?}", out.lock().unwrap());
}

#[test]
fn interrupt_during_setup_ends_the_start_and_leaves_nothing() {
    let f = Fixture::new();
    // Opening a fifo as a namespace path blocks the child mid-setup, deterministically.
    let fifo = f.tmp.path().join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let b = f.bundle("b", |v| {
        for ns in v["linux"]["namespaces"].as_array_mut().unwrap() {
            if ns["type"] == "uts" {
                ns["path"] = json!(fifo);
            }
        }
        v.as_object_mut().unwrap().remove("hostname");
    });
    let r = Running::start(&f, &[b.to_str().unwrap(), "--id", "stuck"]);
    assert!(wait_until(Duration::from_secs(5), || f
        .state_dirs()
        .contains(&"stuck".to_string())));
    std::thread::sleep(Duration::from_millis(200));
    r.signal(libc::SIGINT);
    assert_eq!(r.wait(), 128 + libc::SIGINT);
    assert!(f.state_dirs().is_empty());
}

/// `-d --init` used to hang: ct-init, a forked copy of ct-exec that never execs, kept the
/// write end of the monitor's "ready" pipe (and every other close-on-exec fd), so the caller
/// never saw end-of-file and never printed the id.
#[test]
fn detach_with_init_returns_the_id() {
    let f = Fixture::new();
    let b = f.bundle("b", |_| {});
    let mut c = f.cmd();
    c.args([
        b.to_str().unwrap(),
        "-d",
        "--init",
        "--id",
        "dinit",
        "--",
        "sh",
        "-c",
        "echo started; exec sleep 60",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    // Bounded: a hang is killed after 10 s and shows up as a missing exit code.
    let out = wait_output(c.spawn().unwrap(), Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "dinit\n");
    let st = f.state("dinit");
    assert_eq!(st["status"], "running");
    let pid = st["pid"].as_i64().unwrap() as i32;
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap(),
        "ct-init\n"
    );
    // Init holds exactly the fds its command got through execve: none of ct-exec's own (the
    // rest, stdio and what the caller passed without close-on-exec, both have).
    let fds = |pid: i32| -> Vec<(String, String)> {
        let mut v: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .flatten()
            .map(|e| {
                let target = std::fs::read_link(e.path()).unwrap_or_default();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    target.to_string_lossy().into_owned(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let kids = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
    let cmd: i32 = kids.trim().parse().unwrap();
    assert_eq!(fds(pid), fds(cmd));
    let log = f.run.join("containers/dinit/container.log");
    assert!(wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("started"))
    }));
    // Init passes SIGTERM on to `sleep`, which dies of it; the monitor records the end.
    let out = f.run(&["kill", "dinit", "TERM"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(wait_until(Duration::from_secs(5), || f.state("dinit")
        ["status"]
        == "stopped"));
    assert_eq!(f.state("dinit")["exitCode"], 128 + 15);
    let out = f.run(&["delete", "dinit"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(f.state_dirs().is_empty());
    assert!(wait_until(Duration::from_secs(5), || {
        ct_layout::state::pid_start_time(pid).is_none()
    }));
}
