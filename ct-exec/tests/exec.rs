//! `ct-exec exec ID [-- CMD]`: a new process in a running (detached) container, checked from
//! inside and against what the host sees of the container's first process: the same pid
//! namespace (its `ps` shows the container's PID 1), hostname, mount namespace and root (a
//! file the container wrote), cgroup, seccomp filter; the config's environment plus `-e`; the
//! exit status passed through; and a clean one-line failure for a stopped or missing container.
//!
//! Each test has its own CT_ROOT/CT_RUN and cgroup name; the Fixture kills the container even
//! when an assertion fails, and the container's monitor then removes its cgroup.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// A detached container that writes a file and sleeps; returns its id and host pid.
fn start(f: &Fixture, cgroup: &str) -> (String, i32) {
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    });
    let cg = cgroup.to_string();
    let b = f.bundle("b", move |v| {
        v["hostname"] = json!("exec-test");
        v["root"]["readonly"] = json!(false);
        v["process"]["env"] = json!(["PATH=/bin", "FROM_CONFIG=yes", "OVERRIDDEN=config"]);
        v["process"]["cwd"] = json!("/tmp");
        v["linux"]["seccomp"] = profile;
        v["linux"]["cgroupsPath"] = json!(cg);
        v["linux"]["resources"] = json!({"memory": {"limit": 67108864}});
    });
    let script = "echo written-by-pid-$$ > /tmp/from-container; exec sleep 60";
    let out = f.run(&[b.to_str().unwrap(), "-d", "--", "sh", "-c", script]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    let pid = f.state(&id)["pid"].as_i64().unwrap() as i32;
    assert!(
        wait_until(Duration::from_secs(10), || {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
        }),
        "the container did not start sleeping"
    );
    (id, pid)
}

fn host_ns(pid: i32, ns: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn exec_joins_the_running_container() {
    let f = Fixture::new();
    let cg = format!("/ct-exec-test-{}", unique("x"));
    let (id, pid) = start(&f, &cg);
    let script = "echo ps=$(ps -o pid,comm | awk '$1 == 1 {print $2}'); \
        echo hostname=$(hostname); echo file=$(cat /tmp/from-container); \
        echo cgroup=$(tr '\\n' ';' < /proc/self/cgroup); \
        grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status | sed 's/:[[:space:]]*/=/'; \
        mkdir /tmp/denied 2>/dev/null; echo mkdir=$?; \
        for n in pid mnt uts ipc net; do echo ns_$n=$(readlink /proc/self/ns/$n); done; \
        echo env=$FROM_CONFIG,$OVERRIDDEN,$EXTRA; echo cwd=$(pwd); echo uid=$(id -u); \
        echo probe=done";
    let out = f.run(&[
        "exec",
        &id,
        "-e",
        "EXTRA=1",
        "-e",
        "OVERRIDDEN=flag",
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let p = Probe::parse(&stdout(&out));
    // The container's PID 1 (its `sleep`), seen from the new process.
    assert_eq!(p.get("ps"), "sleep");
    assert_eq!(p.get("hostname"), "exec-test");
    assert_eq!(p.get("file"), "written-by-pid-1", "{}", stderr(&out));
    let host_cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(p.get("cgroup"), host_cg.replace('\n', ";"));
    // Every hierarchy holds the container — each v1 controller (entered through `tasks`) and
    // the unified one (clone3 into it) — and so the process exec'd into it.
    for c in [
        "memory", "pids", "devices", "cpu", "cpuacct", "freezer", "blkio", "cpuset",
    ] {
        if host_cg.contains(&format!(":{c}:")) {
            assert!(host_cg.contains(&format!(":{c}:{cg}\n")), "{c}: {host_cg}");
        }
    }
    if std::path::Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists() {
        assert!(host_cg.contains(&format!("0::{cg}\n")), "{host_cg}");
    }
    assert_eq!(p.get("Seccomp"), "2");
    assert_eq!(p.get("NoNewPrivs"), "1");
    assert_eq!(p.get("mkdir"), "1");
    for n in ["pid", "mnt", "uts", "ipc", "net"] {
        assert_eq!(p.get(&format!("ns_{n}")), host_ns(pid, n), "{n} namespace");
    }
    assert_eq!(p.get("env"), "yes,flag,1");
    assert_eq!(p.get("cwd"), "/tmp");
    assert_eq!(p.get("uid"), "0");

    // -w, -u, a prefix of the id, and exit statuses passed through.
    let out = f.run(&[
        "exec",
        "-w",
        "/",
        "-u",
        "1000",
        &id[..6],
        "sh",
        "-c",
        "pwd; id -u",
    ]);
    assert_eq!(stdout(&out), "/\n1000\n", "{}", stderr(&out));
    let out = f.run(&["exec", &id, "--", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let out = f.run(&["exec", &id, "--", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(out.status.code(), Some(128 + 15), "{}", stderr(&out));
    let out = f.run(&["exec", &id, "--", "no-such-command"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    // -t: a terminal of its own.
    let out = f.run(&[
        "exec",
        "-t",
        &id,
        "--",
        "sh",
        "-c",
        "test -t 0 && test -t 1 && echo tty-ok",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("tty-ok"), "{}", stdout(&out));
    // Signals sent to ct-exec reach the process (and its exit status comes back).
    let mut c = f.cmd();
    let script = "trap 'echo got-term; exit 5' TERM; echo ready; while :; do sleep 0.05; done";
    c.args(["exec", &id, "--", "sh", "-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let cpid = child.id() as i32;
    // Watchdog: never wait for ever.
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    std::thread::spawn(move || {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) && !d.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        if !d.load(Ordering::SeqCst) {
            // SAFETY: kill(2) of our own child, not reaped before `done` is set.
            unsafe { libc::kill(cpid, libc::SIGKILL) };
        }
    });
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    // SAFETY: kill(2) of our own child (ct-exec), still running: it has not printed its end.
    unsafe { libc::kill(cpid, libc::SIGTERM) };
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    done.store(true, Ordering::SeqCst);
    assert_eq!(rest, "got-term\n");
    assert_eq!(status.code(), Some(5));
    // stdin passes through.
    let out = f.run_with(&["exec", &id, "--", "cat"], b"piped\n");
    assert_eq!(stdout(&out), "piped\n", "{}", stderr(&out));
    // Nothing left behind in the container: the exec'd processes are gone.
    // (The shell's own glob: no other process while it counts.)
    let ps = f.run(&[
        "exec",
        &id,
        "--",
        "sh",
        "-c",
        "set -- /proc/[0-9]*; echo $#",
    ]);
    assert_eq!(
        stdout(&ps),
        "2\n",
        "only PID 1 and the new sh: {}",
        stderr(&ps)
    );
}

#[test]
fn exec_into_a_stopped_or_missing_container_fails_cleanly() {
    let f = Fixture::new();
    let cg = format!("/ct-exec-test-{}", unique("x"));
    let (id, pid) = start(&f, &cg);
    let out = f.run(&["kill", &id, "KILL"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(wait_until(Duration::from_secs(10), || {
        ct_layout::state::pid_start_time(pid).is_none()
    }));
    // exec runs a command, so its own failures are 125 (1 could be the command's status).
    let out = f.run(&["exec", &id, "--", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!("ct-exec: container '{id}' is not running\n")
    );
    let out = f.run(&["exec", "no-such-container", "--", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert_eq!(stderr(&out), "ct-exec: no container 'no-such-container'\n");
}

/// A container with its own user namespace: exec joins it first (it owns the others), and the
/// new process is root inside it, mapped as the container's root is.
#[test]
fn exec_joins_a_user_namespace_first() {
    let f = Fixture::new();
    let b = f.bundle("b", |v| {
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 210000, "size": 65536}]);
        v["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 210000, "size": 65536}]);
    });
    let out = f.run(&[b.to_str().unwrap(), "-d", "--", "sleep", "60"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    let pid = f.state(&id)["pid"].as_i64().unwrap() as i32;
    let script = "echo uid=$(id -u); echo uid_map=$(tr -s ' ' < /proc/self/uid_map); \
        echo ns_user=$(readlink /proc/self/ns/user); echo ns_mnt=$(readlink /proc/self/ns/mnt); \
        echo probe=done";
    let out = f.run(&["exec", &id, "--", "sh", "-c", script]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let p = Probe::parse(&stdout(&out));
    assert_eq!(p.get("uid"), "0");
    assert_eq!(p.get("uid_map"), " 0 210000 65536");
    assert_eq!(p.get("ns_user"), host_ns(pid, "user"));
    assert_eq!(p.get("ns_mnt"), host_ns(pid, "mnt"));
}

/// Regression: the process that forks into the container's pid namespace used to be reaped
/// only later, so the new process could see itself counted twice in its cgroup's pids.
#[test]
fn exec_is_alone_in_the_cgroup_from_its_first_instruction() {
    let f = Fixture::new();
    let cg = format!("/ct-exec-test-{}", unique("p"));
    let (id, _pid) = start(&f, &cg);
    for i in 0..50 {
        let out = f.run(&["exec", &id, "--", "cat", "/sys/fs/cgroup/pids/pids.current"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        // The container's sleep and this cat: nothing of ct-exec's.
        assert_eq!(stdout(&out), "2\n", "run {i}: {}", stderr(&out));
    }
}
