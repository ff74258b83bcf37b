//! ct-exec as a runc-compatible OCI runtime: runc's command line and the runtime spec's
//! lifecycle (create → start → kill → delete, and the error of each operation in the wrong
//! state), run against ct-exec and runc side by side on the same bundle, expecting the same
//! outcomes; the create/start split's guarantees (the waiting process is the caller's child
//! with the caller's stdio, non-dumpable, and keeps no fd of the runtime once started); the
//! terminal sent to `--console-socket`; `exec --process --detach --pid-file`; `--log` JSON.

mod common;

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// One runtime under test with a state root of its own; deletes (force) every id it created.
struct Runtime {
    exe: PathBuf,
    root: PathBuf,
    env: Vec<(String, PathBuf)>,
    ids: std::cell::RefCell<Vec<String>>,
}

impl Runtime {
    fn ct_exec(f: &Fixture) -> Runtime {
        Runtime {
            exe: PathBuf::from(EXE),
            root: f.run.clone(),
            env: vec![("CT_ROOT".into(), f.root.clone())],
            ids: Default::default(),
        }
    }

    fn runc(f: &Fixture) -> Runtime {
        Runtime {
            exe: PathBuf::from("runc"),
            root: f.tmp.path().join("runc-root"),
            env: Vec::new(),
            ids: Default::default(),
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.exe);
        c.arg("--root").arg(&self.root).args(args);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Run one verb. Its stdout and stderr are files, not pipes: a created container keeps
    /// the caller's stdio for as long as it lives, so a pipe would not end with the verb.
    fn run(&self, args: &[&str]) -> Output {
        if let ["create" | "run", .., id] = args {
            self.ids.borrow_mut().push(id.to_string());
        }
        let out = tempfile::tempfile().unwrap();
        let err = tempfile::tempfile().unwrap();
        let mut c = self.cmd(args);
        c.stdout(out.try_clone().unwrap())
            .stderr(err.try_clone().unwrap());
        let mut child = c.spawn().unwrap();
        let mut status = None;
        wait_until(Duration::from_secs(30), || {
            status = child.try_wait().unwrap();
            status.is_some()
        });
        let status = status.unwrap_or_else(|| {
            let _ = child.kill();
            panic!("{} {args:?} did not end", self.exe.display())
        });
        let read = |mut f: std::fs::File| {
            use std::io::{Read, Seek};
            let mut v = Vec::new();
            f.seek(std::io::SeekFrom::Start(0)).unwrap();
            f.read_to_end(&mut v).unwrap();
            v
        };
        Output {
            status,
            stdout: read(out),
            stderr: read(err),
        }
    }

    fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{} {args:?}: {}",
            self.exe.display(),
            stderr(&out)
        );
        out
    }

    fn state(&self, id: &str) -> Option<Value> {
        let out = self.run(&["state", id]);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).unwrap())
    }

    fn status(&self, id: &str) -> String {
        self.state(id)
            .map(|v| v["status"].as_str().unwrap().to_string())
            .unwrap_or_else(|| "none".into())
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self.cmd(&["delete", "--force", id]).output();
        }
    }
}

/// A bundle running `args`.
fn bundle(f: &Fixture, name: &str, args: &[&str], edit: impl FnOnce(&mut Value)) -> PathBuf {
    f.bundle(name, |v| {
        v["process"]["args"] = json!(args);
        edit(v);
    })
}

/// The lifecycle of the runtime spec, step by step; each step's outcome as a line.
fn lifecycle(rt: &Runtime, b: &Path, tag: &str) -> Vec<String> {
    let b = b.to_str().unwrap();
    let id = unique(&format!("lc-{tag}-"));
    let id2 = unique(&format!("lc2-{tag}-"));
    let pid_file = rt.root.with_extension(format!("{tag}.pid"));
    let pid_file = pid_file.to_str().unwrap();
    let log = std::cell::RefCell::new(Vec::new());
    let step = |what: &str, out: Output| {
        let code = out.status.code().unwrap_or(-1);
        log.borrow_mut().push(format!(
            "{what}: {}",
            if code == 0 { "ok" } else { "fails" }
        ));
        out
    };
    let out = step("state of an unknown id", rt.run(&["state", &id]));
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
    step("start of an unknown id", rt.run(&["start", &id]));
    step("kill of an unknown id", rt.run(&["kill", &id, "KILL"]));
    step(
        "create",
        rt.run(&["create", "--bundle", b, "--pid-file", pid_file, &id]),
    );
    log.borrow_mut().push(format!("status: {}", rt.status(&id)));
    let pid = std::fs::read_to_string(pid_file).unwrap();
    assert_eq!(rt.state(&id).unwrap()["pid"].to_string(), pid.trim());
    step(
        "create of an existing id",
        rt.run(&["create", "--bundle", b, &id]),
    );
    step(
        "exec into a created container",
        rt.run(&["exec", &id, "true"]),
    );
    step("start", rt.run(&["start", &id]));
    log.borrow_mut().push(format!("status: {}", rt.status(&id)));
    step("start again", rt.run(&["start", &id]));
    step("exec true", rt.run(&["exec", &id, "true"]));
    let out = rt.run(&["exec", &id, "sh", "-c", "exit 5"]);
    log.borrow_mut()
        .push(format!("exec status: {:?}", out.status.code()));
    step("delete of a running container", rt.run(&["delete", &id]));
    step("pause", rt.run(&["pause", &id]));
    log.borrow_mut().push(format!("status: {}", rt.status(&id)));
    step("pause again", rt.run(&["pause", &id]));
    step("resume", rt.run(&["resume", &id]));
    log.borrow_mut().push(format!("status: {}", rt.status(&id)));
    step("kill", rt.run(&["kill", &id, "KILL"]));
    let stopped = wait_until(Duration::from_secs(10), || rt.status(&id) == "stopped");
    log.borrow_mut()
        .push(format!("stopped after kill: {stopped}"));
    step(
        "kill of a stopped container",
        rt.run(&["kill", &id, "KILL"]),
    );
    step("start of a stopped container", rt.run(&["start", &id]));
    step(
        "exec into a stopped container",
        rt.run(&["exec", &id, "true"]),
    );
    step("delete", rt.run(&["delete", &id]));
    log.borrow_mut().push(format!("status: {}", rt.status(&id)));
    step("delete again", rt.run(&["delete", &id]));
    step(
        "delete --force of an unknown id",
        rt.run(&["delete", "--force", &id]),
    );
    step("create another", rt.run(&["create", "--bundle", b, &id2]));
    step("delete of a created container", rt.run(&["delete", &id2]));
    log.borrow_mut()
        .push(format!("status: {}", rt.status(&id2)));
    log.into_inner()
}

#[test]
fn the_lifecycle_state_machine_is_runcs() {
    let f = Fixture::new();
    let b = bundle(&f, "b", &["sleep", "100"], |_| {});
    let ours = lifecycle(&Runtime::ct_exec(&f), &b, "ct");
    let runc = lifecycle(&Runtime::runc(&f), &b, "runc");
    let expected = [
        "state of an unknown id: fails",
        "start of an unknown id: fails",
        "kill of an unknown id: fails",
        "create: ok",
        "status: created",
        "create of an existing id: fails",
        "exec into a created container: ok",
        "start: ok",
        "status: running",
        "start again: fails",
        "exec true: ok",
        "exec status: Some(5)",
        "delete of a running container: fails",
        "pause: ok",
        "status: paused",
        "pause again: fails",
        "resume: ok",
        "status: running",
        "kill: ok",
        "stopped after kill: true",
        "kill of a stopped container: fails",
        "start of a stopped container: fails",
        "exec into a stopped container: fails",
        "delete: ok",
        "status: none",
        "delete again: fails",
        "delete --force of an unknown id: ok",
        "create another: ok",
        "delete of a created container: ok",
        "status: none",
    ];
    assert_eq!(runc, expected, "runc itself changed");
    assert_eq!(ours, runc);
    // Nothing left: no state directory, no cgroup.
    assert!(f.state_dirs().is_empty(), "{:?}", f.state_dirs());
}

#[test]
fn a_relative_pid_file_is_written_in_the_callers_directory_as_with_runc() {
    let f = Fixture::new();
    let b = bundle(&f, "rel", &["sleep", "100"], |_| {});
    let b = b.to_str().unwrap();
    for rt in [Runtime::ct_exec(&f), Runtime::runc(&f)] {
        let cwd = tempfile::tempdir().unwrap();
        let id = unique("relpid-");
        rt.ids.borrow_mut().push(id.clone());
        // stdio: /dev/null and a file, which the created container keeps (not a pipe).
        let err = tempfile::NamedTempFile::new().unwrap();
        let status = rt
            .cmd(&["create", "--bundle", b, "--pid-file", "pid", &id])
            .current_dir(cwd.path())
            .stdout(Stdio::null())
            .stderr(err.reopen().unwrap())
            .status()
            .unwrap();
        let msg = std::fs::read_to_string(err.path()).unwrap();
        assert!(status.success(), "{}: {msg}", rt.exe.display());
        let pid = std::fs::read_to_string(cwd.path().join("pid")).unwrap();
        assert_eq!(rt.state(&id).unwrap()["pid"].to_string(), pid.trim());
    }
}

/// A container that joins another's pid namespace is on the slow path of ct-exec's
/// namespaces (a fork inside it after the clone): its state and its pid file must name the
/// process that will run the command, not the clone that forked it and exited.
#[test]
fn a_created_container_in_a_joined_pid_namespace_records_its_own_process() {
    let f = Fixture::new();
    let a = bundle(&f, "pid-a", &["sleep", "100"], |_| {});
    for (i, rt) in [Runtime::ct_exec(&f), Runtime::runc(&f)]
        .into_iter()
        .enumerate()
    {
        let exe = rt.exe.display().to_string();
        let a_id = unique("pidns-a-");
        rt.ok(&["create", "--bundle", a.to_str().unwrap(), &a_id]);
        rt.ok(&["start", &a_id]);
        let a_pid = rt.state(&a_id).unwrap()["pid"].as_i64().unwrap();
        let a_ns = std::fs::read_link(format!("/proc/{a_pid}/ns/pid")).unwrap();
        let b = bundle(&f, &format!("pid-b-{i}"), &["sleep", "100"], |v| {
            for ns in v["linux"]["namespaces"].as_array_mut().unwrap() {
                if ns["type"] == "pid" {
                    ns["path"] = json!(format!("/proc/{a_pid}/ns/pid"));
                }
            }
        });
        let b_id = unique("pidns-b-");
        let pid_file = f.tmp.path().join(format!("{b_id}.pid"));
        let (b, pf) = (b.to_str().unwrap(), pid_file.to_str().unwrap());
        rt.ok(&["create", "--bundle", b, "--pid-file", pf, &b_id]);
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let state = rt.state(&b_id).unwrap();
        assert_eq!(state["pid"].to_string(), pid.trim(), "{exe}");
        assert_eq!(state["status"], "created", "{exe}");
        // That process lives, in A's pid namespace, and is the one that runs the command.
        let ns = std::fs::read_link(format!("/proc/{}/ns/pid", pid.trim()));
        assert_eq!(
            ns.ok(),
            Some(a_ns),
            "{exe}: pid {pid} is not a process in A's namespace"
        );
        rt.ok(&["start", &b_id]);
        assert!(
            wait_until(Duration::from_secs(10), || {
                std::fs::read_link(format!("/proc/{}/exe", pid.trim()))
                    .is_ok_and(|e| e.ends_with("busybox") || e.ends_with("sleep"))
            }),
            "{exe}: pid {pid} does not run the command"
        );
        for id in [&b_id, &a_id] {
            rt.ok(&["delete", "--force", id]);
        }
    }
}

/// A create that fails after its state and pid file were staged (the command does not exist)
/// leaves no temp file beside the pid file and no state directory, as runc leaves none.
#[test]
fn a_failed_create_leaves_no_staged_file_behind() {
    let f = Fixture::new();
    let b = bundle(&f, "nocmd", &["no-such-command"], |_| {});
    for rt in [Runtime::ct_exec(&f), Runtime::runc(&f)] {
        let dir = tempfile::tempdir().unwrap();
        let id = unique("failed-");
        let pf = dir.path().join("pid");
        let out = rt.run(&[
            "create",
            "--bundle",
            b.to_str().unwrap(),
            "--pid-file",
            pf.to_str().unwrap(),
            &id,
        ]);
        assert!(!out.status.success(), "{}", rt.exe.display());
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "{}: {left:?}", rt.exe.display());
        assert_eq!(rt.status(&id), "none", "{}", rt.exe.display());
    }
    assert!(f.state_dirs().is_empty(), "{:?}", f.state_dirs());
}

/// `sh -c SCRIPT` as a child subreaper (as conmon and containerd-shim are), with E, R, B set.
fn as_subreaper(rt: &Runtime, b: &Path, script: &str) -> Output {
    let mut c = Command::new("sh");
    c.args(["-c", script])
        .env("E", &rt.exe)
        .env("R", &rt.root)
        .env("B", b)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in &rt.env {
        c.env(k, v);
    }
    // SAFETY: prctl(2) with integer arguments, between fork and exec; the attribute stays
    // across execve.
    unsafe {
        c.pre_exec(|| {
            libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
            Ok(())
        });
    }
    wait_output(c.spawn().unwrap(), Duration::from_secs(30))
}

#[test]
fn a_created_container_is_the_callers_child_with_the_callers_stdio() {
    let f = Fixture::new();
    let b = bundle(&f, "b", &["sh", "-c", "echo from-the-container"], |_| {});
    for rt in [Runtime::ct_exec(&f), Runtime::runc(&f)] {
        let id = unique("stdio-");
        rt.ids.borrow_mut().push(id.clone());
        let script = format!(
            r#""$E" --root "$R" create --bundle "$B" --pid-file "$R.pid" {id} || exit 1
            echo "children=$(cat /proc/$$/task/$$/children)"
            echo "pid=$(cat "$R.pid")"
            "$E" --root "$R" start {id}"#
        );
        let out = as_subreaper(&rt, &b, &script);
        assert!(
            out.status.success(),
            "{}: {}",
            rt.exe.display(),
            stderr(&out)
        );
        let text = stdout(&out);
        let line = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k))
                .unwrap_or_else(|| panic!("no {k} in {text}"))
                .to_string()
        };
        let pid = line("pid=");
        assert!(
            line("children=").split(' ').any(|c| c == pid),
            "{}: {pid} is not the caller's child: {text}",
            rt.exe.display()
        );
        assert!(text.contains("from-the-container\n"), "{text}");
    }
}

/// The owner of `/proc/PID/fd`: the process's uid when it is dumpable, root when it is not.
fn proc_owner(pid: &str) -> u32 {
    std::fs::metadata(format!("/proc/{pid}/fd")).unwrap().uid()
}

fn proc_uid(pid: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    uid.split_whitespace().nth(1).unwrap().to_string()
}

#[test]
fn a_created_containers_process_is_not_dumpable_and_keeps_no_runtime_fd_once_started() {
    let f = Fixture::new();
    let b = bundle(&f, "b", &["sleep", "100"], |v| {
        v["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    });
    let rt = Runtime::ct_exec(&f);
    let id = unique("dump-");
    let pid_file = f.tmp.path().join("pid");
    rt.ok(&[
        "create",
        "--bundle",
        b.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    // Already the container's user, waiting before execve: nothing running as uid 1000 can
    // ptrace it or open its /proc files (they belong to root).
    assert_eq!(proc_uid(&pid), "1000");
    assert_eq!(proc_owner(&pid), 0, "the waiting process is dumpable");
    rt.ok(&["start", &id]);
    assert!(wait_until(Duration::from_secs(10), || {
        std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e.ends_with("busybox"))
    }));
    // The command itself is dumpable again (execve), and holds stdio only: the exec fifo and
    // everything else of ct-exec closed at execve.
    assert_eq!(proc_owner(&pid), 1000);
    let mut fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    fds.sort();
    assert_eq!(fds, ["0", "1", "2"]);
    rt.ok(&["delete", "--force", &id]);
}

/// Accept one connection on `listener` and receive the fd sent with its message.
fn receive_fd(listener: &UnixListener) -> (String, OwnedFd) {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let (conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 256];
    let mut cmsg = nix::cmsg_space!([i32; 1]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .unwrap();
    let mut fd = None;
    for c in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(v) = c {
            // SAFETY: the kernel installed this fd in our process for us.
            fd = Some(unsafe { OwnedFd::from_raw_fd(v[0]) });
        }
    }
    let n = msg.bytes;
    (
        String::from_utf8_lossy(&buf[..n]).into_owned(),
        fd.expect("no fd"),
    )
}

/// Read a pty master until `want` appears or the slave side is gone (EIO), bounded.
fn read_master(master: OwnedFd, want: &str) -> String {
    let mut f = std::fs::File::from(master);
    let want = want.to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 1024];
        while let Ok(n @ 1..) = std::io::Read::read(&mut f, &mut buf) {
            all.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&all).contains(&want) {
                break;
            }
        }
        let _ = tx.send(String::from_utf8_lossy(&all).into_owned());
    });
    rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default()
}

#[test]
fn create_and_exec_send_the_terminal_to_the_console_socket() {
    let f = Fixture::new();
    let b = bundle(
        &f,
        "b",
        &["sh", "-c", "[ -t 0 ] && echo tty-ok; sleep 100"],
        |v| {
            v["process"]["terminal"] = json!(true);
        },
    );
    for rt in [Runtime::ct_exec(&f), Runtime::runc(&f)] {
        let name = rt.exe.file_name().unwrap().to_string_lossy().into_owned();
        let sock = f.tmp.path().join(format!("{name}.sock"));
        let listener = UnixListener::bind(&sock).unwrap();
        let id = unique("tty-");
        let b = b.to_str().unwrap();
        let s = sock.to_str().unwrap();
        let r = std::thread::scope(|sc| {
            let h = sc.spawn(|| receive_fd(&listener));
            let out = rt.run(&["create", "--bundle", b, "--console-socket", s, &id]);
            if !out.status.success() {
                // Unblock the accept before failing.
                let _ = std::os::unix::net::UnixStream::connect(&sock);
                let _ = h.join();
                panic!("{name} create: {}", stderr(&out));
            }
            h.join().unwrap()
        });
        let (_, master) = r;
        rt.ok(&["start", &id]);
        let seen = read_master(master, "tty-ok");
        assert!(seen.contains("tty-ok"), "{name}: {seen:?}");

        // exec with a terminal: its own pty, named as the container sees it.
        let (tty, master) = std::thread::scope(|sc| {
            let h = sc.spawn(|| receive_fd(&listener));
            let args = [
                "exec",
                "--tty",
                "--detach",
                "--console-socket",
                s,
                &id,
                "sh",
                "-c",
                "tty; echo exec-done",
            ];
            let out = rt.run(&args);
            if !out.status.success() {
                let _ = std::os::unix::net::UnixStream::connect(&sock);
                let _ = h.join();
                panic!("{name} exec: {}", stderr(&out));
            }
            h.join().unwrap()
        });
        let _ = tty;
        let seen = read_master(master, "exec-done");
        // `tty` names a terminal that exists in the container: a pty of its own devpts.
        assert!(seen.starts_with("/dev/pts/"), "{name}: {seen:?}");
        assert!(seen.contains("\r\nexec-done"), "{name}: {seen:?}");
        rt.ok(&["delete", "--force", &id]);
    }
}

#[test]
fn exec_runs_a_process_json_detached_and_writes_its_pid() {
    let f = Fixture::new();
    let b = bundle(&f, "b", &["sleep", "100"], |v| {
        v["root"]["readonly"] = json!(false);
    });
    let process = f.tmp.path().join("process.json");
    let p = json!({
        "args": ["sh", "-c", "echo $GREETING > /tmp/exec-out; exec sleep 100"],
        "env": ["PATH=/bin", "GREETING=hello-from-process-json"],
        "cwd": "/tmp",
        "user": {"uid": 0, "gid": 0},
        "terminal": false,
    });
    std::fs::write(&process, p.to_string()).unwrap();
    for rt in [Runtime::ct_exec(&f), Runtime::runc(&f)] {
        let id = unique("proc-");
        rt.ok(&["run", "--detach", "--bundle", b.to_str().unwrap(), &id]);
        let pid_file = f.tmp.path().join(format!("{id}.pid"));
        rt.ok(&[
            "exec",
            "--process",
            process.to_str().unwrap(),
            "--detach",
            "--pid-file",
            pid_file.to_str().unwrap(),
            &id,
        ]);
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let init = rt.state(&id).unwrap()["pid"].to_string();
        for ns in ["pid", "mnt"] {
            assert_eq!(
                std::fs::read_link(format!("/proc/{}/ns/{ns}", pid.trim())).unwrap(),
                std::fs::read_link(format!("/proc/{init}/ns/{ns}")).unwrap()
            );
        }
        let written = b.join("rootfs/tmp/exec-out");
        assert!(wait_until(Duration::from_secs(10), || {
            std::fs::read_to_string(&written).is_ok_and(|s| s == "hello-from-process-json\n")
        }));
        std::fs::remove_file(&written).unwrap();
        rt.ok(&["delete", "--force", &id]);
    }
}

#[test]
fn errors_go_to_the_json_log_as_runc_writes_them() {
    let f = Fixture::new();
    let log = f.tmp.path().join("log.json");
    let out = f
        .cmd()
        .args(["--log", log.to_str().unwrap(), "--log-format", "json"])
        .args(["state", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "ct-exec: container 'nope' does not exist\n");
    let text = std::fs::read_to_string(&log).unwrap();
    let v: Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(v["level"], "error");
    assert_eq!(v["msg"], "container 'nope' does not exist");
    assert!(v["time"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn runc_verbs_are_reserved_not_bundles() {
    let f = Fixture::new();
    // A bundle named like a verb in the current directory is not run.
    let b = bundle(&f, "list", &["sh", "-c", "echo ran-the-bundle"], |_| {});
    let out = f
        .cmd()
        .current_dir(b.parent().unwrap())
        .arg("list")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n");
    let out = f.cmd().args(["checkpoint", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("ct-exec: checkpoint, restore and events are not implemented"),
        "{}",
        stderr(&out)
    );
    let out = f.cmd().arg("features").output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ociVersionMax"], "1.2.0");
    assert!(v["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .contains(&json!("cgroup")));
}

/// runc's global flags go before the verb; after it they are no flag of the verb's, and runc
/// refuses them. ct-exec once took them there too and then ignored them: `state --root DIR
/// ID` looked in $CT_RUN, not in DIR, and answered for another store.
#[test]
fn a_global_flag_after_the_verb_is_refused_as_by_runc() {
    let f = Fixture::new();
    let b = bundle(&f, "globals", &["sleep", "30"], |_| {});
    for rt in [Runtime::ct_exec(&f), Runtime::runc(&f)] {
        rt.ok(&["create", "--bundle", b.to_str().unwrap(), "globals"]);
        let root = rt.root.to_str().unwrap();
        let mut c = Command::new(&rt.exe);
        c.args(["state", "--root", root, "globals"]);
        for (k, v) in &rt.env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let name = rt.exe.display();
        assert!(!out.status.success(), "{name}: {}", stdout(&out));
        assert!(stderr(&out).contains("-root"), "{name}: {}", stderr(&out));
        if rt.exe == Path::new(EXE) {
            assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
            assert_eq!(
                stderr(&out),
                "ct-exec: unexpected argument '--root'; see ct-exec --help\n"
            );
        }
        assert_eq!(rt.status("globals"), "created", "{name}");
    }
}

/// Hooks that each save the State they get on stdin as DIR/NAME.json.
fn recording_hooks(dir: &Path) -> Value {
    let hook = |name: &str| {
        json!([{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("cat > {}/$0.json", dir.display()), name],
            "env": ["PATH=/bin:/usr/bin"],
        }])
    };
    json!({
        "prestart": hook("prestart"),
        "createRuntime": hook("createRuntime"),
        "poststart": hook("poststart"),
        "poststop": hook("poststop"),
    })
}

#[test]
fn hooks_get_the_state_on_stdin_at_each_step_as_with_runc() {
    let f = Fixture::new();
    let mut seen = Vec::new();
    for rt in [Runtime::ct_exec(&f), Runtime::runc(&f)] {
        let name = rt.exe.file_name().unwrap().to_string_lossy().into_owned();
        let dir = f.tmp.path().join(format!("hooks-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        let b = bundle(&f, &format!("b-{name}"), &["sleep", "100"], |v| {
            v["hooks"] = recording_hooks(&dir);
        });
        let id = unique("hooks-");
        rt.ok(&["create", "--bundle", b.to_str().unwrap(), &id]);
        let pid = rt.state(&id).unwrap()["pid"].clone();
        rt.ok(&["start", &id]);
        rt.ok(&["kill", &id, "KILL"]);
        assert!(wait_until(Duration::from_secs(10), || rt.status(&id) == "stopped"));
        rt.ok(&["delete", &id]);
        let mut steps = Vec::new();
        for hook in ["prestart", "createRuntime", "poststart", "poststop"] {
            let text = std::fs::read_to_string(dir.join(format!("{hook}.json")))
                .unwrap_or_else(|e| panic!("{name}: {hook} did not run: {e}"));
            let s: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(s["id"], json!(id), "{name} {hook}");
            assert_eq!(s["bundle"], json!(b), "{name} {hook}");
            let same_pid = if s["pid"] == pid {
                "the container's pid"
            } else {
                "no pid"
            };
            steps.push(format!("{hook}: {} with {same_pid}", s["status"]));
        }
        seen.push(steps);
    }
    let expected = [
        "prestart: \"creating\" with the container's pid",
        "createRuntime: \"creating\" with the container's pid",
        "poststart: \"running\" with the container's pid",
        "poststop: \"stopped\" with no pid",
    ];
    assert_eq!(seen[0], expected);
    // runc 1.1 passes poststart the state it read before starting ("created"); the runtime
    // spec runs poststart after the process started, so ct-exec says "running". All else
    // is the same.
    let mut runc = seen[1].clone();
    runc[2] = runc[2].replace("\"created\"", "\"running\"");
    assert_eq!(runc, expected, "runc changed");
}

#[test]
fn a_hook_that_outlives_its_timeout_fails_the_create_and_leaves_nothing() {
    let f = Fixture::new();
    let marker = f.tmp.path().join("hook-pid");
    let b = bundle(&f, "b", &["sleep", "100"], |v| {
        v["hooks"] = json!({"createRuntime": [{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("echo $$ > {}; exec sleep 60", marker.display())],
            "timeout": 1,
        }]});
    });
    for rt in [Runtime::ct_exec(&f), Runtime::runc(&f)] {
        let id = unique("timeout-");
        let out = rt.run(&["create", "--bundle", b.to_str().unwrap(), &id]);
        assert!(!out.status.success(), "{}", rt.exe.display());
        assert_eq!(rt.status(&id), "none");
        if rt.exe.ends_with("ct-exec") {
            assert_eq!(out.status.code(), Some(1));
            let err = stderr(&out);
            assert!(
                err.contains("ct-exec: hook createRuntime[0] ('/bin/sh'): timed out after 1s"),
                "{err}"
            );
            // The hook was killed, and so was the container's process.
            let hook: i32 = std::fs::read_to_string(&marker)
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            assert!(wait_until(Duration::from_secs(5), || {
                ct_layout::state::pid_start_time(hook).is_none()
            }));
            assert!(f.state_dirs().is_empty(), "{:?}", f.state_dirs());
            assert!(
                !Path::new("/sys/fs/cgroup/pids/ct").join(&id).exists(),
                "the container's cgroup is left"
            );
        }
    }
}

#[test]
fn kill_all_reaches_every_process_of_the_container_as_with_runc() {
    let f = Fixture::new();
    let b = bundle(&f, "b", &["sleep", "100"], |_| {});
    for rt in [Runtime::ct_exec(&f), Runtime::runc(&f)] {
        let id = unique("all-");
        rt.ok(&["run", "--detach", "--bundle", b.to_str().unwrap(), &id]);
        let pid_file = f.tmp.path().join(format!("{id}.pid"));
        let p = pid_file.to_str().unwrap();
        rt.ok(&["exec", "--detach", "--pid-file", p, &id, "sleep", "200"]);
        let first = rt.state(&id).unwrap()["pid"].as_i64().unwrap() as i32;
        let second: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        rt.ok(&["kill", "--all", &id, "KILL"]);
        let gone = |p: i32| ct_layout::state::pid_start_time(p).is_none();
        assert!(
            wait_until(Duration::from_secs(10), || gone(first) && gone(second)),
            "{}: a process of the container survived kill --all",
            rt.exe.display()
        );
        rt.ok(&["delete", &id]);
    }
}

#[test]
fn kill_with_a_timeout_ends_a_container_that_ignores_the_signal() {
    let f = Fixture::new();
    // PID 1 of a pid namespace ignores TERM unless it handles it: sh does not.
    let b = bundle(&f, "b", &["sh", "-c", "sleep 100; true"], |_| {});
    let rt = Runtime::ct_exec(&f);
    let id = unique("timeout-kill-");
    rt.ok(&["run", "--detach", "--bundle", b.to_str().unwrap(), &id]);
    rt.ok(&["kill", "--timeout", "1", &id, "TERM"]);
    assert_eq!(rt.status(&id), "stopped");
    rt.ok(&["delete", &id]);
}

#[test]
fn spec_writes_a_config_ct_exec_runs_and_never_overwrites_one() {
    let f = Fixture::new();
    let dir = f.tmp.path().join("spec");
    busybox_rootfs(&dir.join("rootfs"));
    let spec = |f: &Fixture| {
        f.cmd()
            .args(["spec", "--bundle", dir.to_str().unwrap()])
            .output()
            .unwrap()
    };
    assert_eq!(spec(&f).status.code(), Some(0));
    let v: Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        v["linux"]["resources"]["devices"],
        json!([{"allow": false, "access": "rwm"}])
    );
    let out = f.run(&[dir.to_str().unwrap(), "--", "sh", "-c", "echo from-spec"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "from-spec\n");
    let again = spec(&f);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("File exists"), "{}", stderr(&again));
}
