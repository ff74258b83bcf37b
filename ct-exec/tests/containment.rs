//! Containment of ct-exec's own process: each test performs an attack from inside a container
//! (or by handing it something from the host) through the real binary, real namespaces and a
//! real pseudo-terminal, and asserts that the host is unchanged.
//!
//! * file descriptors: nothing above fd 2 reaches the container unless passed on purpose
//!   (`--preserve-fds N`, `LISTEN_FDS`);
//! * terminal and session: every container process leads its own session, so TIOCSTI into an
//!   inherited host terminal fails;
//! * the runtime binary: the CVE-2019-5736 class — a container process cannot open, write or
//!   ptrace the host's ct-exec;
//! * numeric ids: uid/gid 4294967295 or outside the user namespace are refused;
//! * one container per id: of concurrent runs with one `--id`, exactly one starts.
//!
//! The hostile program is `tests/attack.c`, built static with gcc and copied into the rootfs.

mod common;

use std::fs;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// `tests/attack.c`, compiled once per test binary into cargo's scratch directory (under a
/// name of its own, then renamed into place, so parallel test binaries never see half a file).
fn attack_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let out = dir.join("attack");
        let tmp = dir.join(format!("attack.{}", std::process::id()));
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/attack.c");
        let st = Command::new("gcc")
            .args(["-static", "-O2", "-o"])
            .arg(&tmp)
            .arg(&src)
            .status()
            .expect("gcc (apt-get install gcc libc6-dev)");
        assert!(st.success(), "cannot build {}", src.display());
        fs::rename(&tmp, &out).unwrap();
        out
    })
}

/// A bundle with `/attack` in its rootfs.
fn hostile_bundle(f: &Fixture, name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let b = f.bundle(name, edit);
    fs::copy(attack_bin(), b.join("rootfs/attack")).unwrap();
    b
}

/// A host directory holding a file with a marker only the host knows.
fn host_secret(f: &Fixture) -> (PathBuf, String) {
    let dir = f.tmp.path().join("host-secret");
    fs::create_dir_all(&dir).unwrap();
    let marker = unique("host-secret-");
    fs::write(dir.join("secret"), &marker).unwrap();
    (dir, marker)
}

/// `cmd` gets `fds` (target number, fd) without close-on-exec, as a shell's `7</` does.
fn give_fds(cmd: &mut Command, fds: Vec<(i32, OwnedFd)>) {
    // SAFETY: only dup2(2)/fcntl(2) between fork and exec; the fds stay open in the parent
    // (owned by the closure) until the command has been spawned.
    unsafe {
        cmd.pre_exec(move || {
            for (to, from) in &fds {
                // dup2 onto itself keeps close-on-exec: clear it instead.
                let r = if from.as_raw_fd() == *to {
                    libc::fcntl(*to, libc::F_SETFD, 0)
                } else {
                    libc::dup2(from.as_raw_fd(), *to)
                };
                if r < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

fn dir_fd(p: &Path) -> OwnedFd {
    fs::File::open(p).unwrap().into()
}

fn run_cmd(mut c: Command) -> std::process::Output {
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    wait_output(c.spawn().unwrap(), Duration::from_secs(30))
}

/// A detached container sleeping; returns its id.
fn detached(f: &Fixture, b: &Path) -> String {
    let out = f.run(&[b.to_str().unwrap(), "-d", "--", "sleep", "60"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stdout(&out).trim().to_string()
}

/// `runc run` of the bundle with `args` as process.args (runc reads the command from the
/// config only), state under the test's temp dir; the same attack, to show both agree.
fn runc(f: &Fixture, b: &Path, args: &[&str]) -> Command {
    let mut v: Value = serde_json::from_slice(&fs::read(b.join("config.json")).unwrap()).unwrap();
    v["process"]["args"] = json!(args);
    fs::write(b.join("config.json"), serde_json::to_vec(&v).unwrap()).unwrap();
    let mut c = Command::new("runc");
    c.arg("--root")
        .arg(f.tmp.path().join("runc"))
        .args(["run", "--bundle"])
        .arg(b)
        .arg(unique("runc"));
    c
}

const READ_SECRET: &str = "cat /proc/self/fd/7/secret 2>&1; echo; ls /proc/self/fd | tr '\\n' ' '";

/// Point 3, foreground, `-d` and `exec`: an fd the caller left open (a directory of the host)
/// does not exist in the container, so the host's files cannot be read through it.
#[test]
fn an_inherited_fd_does_not_reach_the_container() {
    let f = Fixture::new();
    let (dir, marker) = host_secret(&f);
    let b = f.bundle("b", |_| {});

    let mut c = f.cmd();
    c.args([b.to_str().unwrap(), "--", "sh", "-c", READ_SECRET]);
    give_fds(&mut c, vec![(7, dir_fd(&dir))]);
    let out = run_cmd(c);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        !stdout(&out).contains(&marker),
        "foreground: {}",
        stdout(&out)
    );
    // runc agrees.
    let rb = f.bundle("runc", |_| {});
    let mut c = runc(&f, &rb, &["sh", "-c", READ_SECRET]);
    give_fds(&mut c, vec![(7, dir_fd(&dir))]);
    let out = run_cmd(c);
    assert_eq!(out.status.code(), Some(0), "runc: {}", stderr(&out));
    assert!(!stdout(&out).contains(&marker), "runc: {}", stdout(&out));

    let mut c = f.cmd();
    c.args([b.to_str().unwrap(), "-d", "--id", "fds-d", "--", "sh", "-c"])
        .arg(format!("{READ_SECRET}; echo done"));
    give_fds(&mut c, vec![(7, dir_fd(&dir))]);
    let out = run_cmd(c);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let log = f.run.join("containers/fds-d/container.log");
    assert!(wait_until(Duration::from_secs(10), || fs::read_to_string(
        &log
    )
    .is_ok_and(|l| l.contains("done"))));
    let text = fs::read_to_string(&log).unwrap();
    assert!(!text.contains(&marker), "-d: {text}");

    let id = detached(&f, &b);
    let mut c = f.cmd();
    c.args(["exec", &id, "--", "sh", "-c", READ_SECRET]);
    give_fds(&mut c, vec![(7, dir_fd(&dir))]);
    let out = run_cmd(c);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stdout(&out).contains(&marker), "exec: {}", stdout(&out));
}

/// Point 3: `-w /proc/self/fd/3` with the host's directory on fd 3 does not give the container
/// a working directory on the host.
#[test]
fn a_working_directory_through_an_inherited_fd_is_not_the_hosts() {
    let f = Fixture::new();
    let (dir, marker) = host_secret(&f);
    let b = f.bundle("b", |_| {});
    let mut c = f.cmd();
    c.args([
        b.to_str().unwrap(),
        "-w",
        "/proc/self/fd/3",
        "--",
        "cat",
        "secret",
    ]);
    give_fds(&mut c, vec![(3, dir_fd(&dir))]);
    let out = run_cmd(c);
    assert!(!stdout(&out).contains(&marker), "{}", stdout(&out));
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
}

/// Point 3: `--preserve-fds 1` passes fd 3, and only fd 3 (fd 4, also open, does not pass).
#[test]
fn preserve_fds_passes_exactly_the_fds_asked_for() {
    let f = Fixture::new();
    let (dir, marker) = host_secret(&f);
    let b = f.bundle("b", |_| {});
    for exec in [false, true] {
        let (r, w) = nix::unistd::pipe().unwrap();
        let mut c = f.cmd();
        let script = "echo through-fd-3 >&3; cat /proc/self/fd/4/secret 2>/dev/null";
        let id;
        if exec {
            id = detached(&f, &b);
            c.args(["exec", "--preserve-fds", "1", &id, "--", "sh", "-c", script]);
        } else {
            c.args([b.to_str().unwrap(), "--preserve-fds", "1", "--"])
                .args(["sh", "-c", script]);
        }
        give_fds(&mut c, vec![(3, w), (4, dir_fd(&dir))]);
        let out = run_cmd(c);
        assert!(!stdout(&out).contains(&marker), "{}", stdout(&out));
        let mut got = String::new();
        fs::File::from(r).read_to_string(&mut got).unwrap();
        assert_eq!(got, "through-fd-3\n", "exec={exec}: {}", stderr(&out));
    }
}

/// Point 3: socket activation as runc does it: with LISTEN_FDS=N and LISTEN_PID = ct-exec's
/// pid, fds 3..3+N pass, and the command sees LISTEN_FDS=N, LISTEN_PID=1.
#[test]
fn listen_fds_pass_socket_activation_through() {
    let f = Fixture::new();
    let b = f.bundle("b", |_| {});
    let (r, w) = nix::unistd::pipe().unwrap();
    let mut c = Command::new("sh");
    c.env("CT_ROOT", &f.root).env("CT_RUN", &f.run);
    c.args(["-c", "LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" \"$@\"", EXE])
        .args([b.to_str().unwrap(), "--", "sh", "-c"])
        .arg("echo fds=$LISTEN_FDS pid=$LISTEN_PID; echo activated >&3");
    give_fds(&mut c, vec![(3, w)]);
    let out = run_cmd(c);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "fds=1 pid=1\n");
    let mut got = String::new();
    fs::File::from(r).read_to_string(&mut got).unwrap();
    assert_eq!(got, "activated\n");
}

/// A pty pair whose slave is the controlling terminal of the ct-exec we start, as the terminal
/// of an interactive shell is.
struct HostTty {
    master: OwnedFd,
    slave: OwnedFd,
}

fn host_tty() -> HostTty {
    let p = nix::pty::openpty(None, None).unwrap();
    HostTty {
        master: p.master,
        slave: p.slave,
    }
}

impl HostTty {
    fn run(&self, mut c: Command) -> std::process::Output {
        let slave = self.slave.as_raw_fd();
        // SAFETY: setsid and ioctl between fork and exec, on the child's own copy of the fd.
        unsafe {
            c.pre_exec(move || {
                if libc::setsid() < 0 || libc::ioctl(slave, libc::TIOCSCTTY, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        c.stdin(Stdio::from(self.slave.try_clone().unwrap()))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        wait_output(c.spawn().unwrap(), Duration::from_secs(30))
    }

    /// What was typed into the host terminal (its input queue), read without blocking.
    fn typed(&self) -> String {
        // SAFETY: fcntl on our own fd.
        unsafe { libc::fcntl(self.slave.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
        let mut buf = [0u8; 256];
        let n = nix::unistd::read(self.slave.as_raw_fd(), &mut buf).unwrap_or(0);
        let _ = &self.master;
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

fn tty_probe(out: &std::process::Output) -> Probe {
    let text = stdout(out);
    Probe::parse(&format!("{text}probe=done\n"))
}

/// Point 4: run (with and without --init) and exec, without -t, stdin the caller's terminal:
/// TIOCSTI and TIOCSCTTY fail, nothing is typed on the host, and the process leads its own
/// session (PID 1 does).
#[test]
fn a_container_cannot_type_into_the_hosts_terminal() {
    let f = Fixture::new();
    let b = hostile_bundle(&f, "b", |_| {});
    let id = detached(&f, &b);
    for mode in ["run", "init", "exec"] {
        let tty = host_tty();
        let mut c = f.cmd();
        match mode {
            "run" => c.args([b.to_str().unwrap(), "--", "/attack", "tty"]),
            "init" => c.args([b.to_str().unwrap(), "--init", "--", "/attack", "tty"]),
            _ => c.args(["exec", &id, "--", "/attack", "tty"]),
        };
        let out = tty.run(c);
        assert_eq!(out.status.code(), Some(0), "{mode}: {}", stderr(&out));
        let p = tty_probe(&out);
        assert_eq!(tty.typed(), "", "{mode}: the container typed on the host");
        assert_eq!(
            p.get("tiocsti"),
            "E1",
            "{mode}: TIOCSTI must fail with EPERM"
        );
        assert_ne!(p.get("tiocscty"), "ok", "{mode}");
        match mode {
            "run" => assert_eq!((p.get("pid"), p.get("sid")), ("1", "1")),
            // --init: PID 1 (the init) leads the session the command is in.
            "init" => assert_eq!(p.get("sid"), "1"),
            _ => assert_eq!(p.get("sid"), p.get("pid"), "exec"),
        }
    }
    // runc agrees.
    let rb = hostile_bundle(&f, "runc", |_| {});
    let tty = host_tty();
    let out = tty.run(runc(&f, &rb, &["/attack", "tty"]));
    assert_eq!(out.status.code(), Some(0), "runc: {}", stderr(&out));
    let p = tty_probe(&out);
    assert_eq!(tty.typed(), "", "runc: the container typed on the host");
    assert_ne!(p.get("tiocsti"), "ok", "runc");
    assert_eq!((p.get("pid"), p.get("sid")), ("1", "1"), "runc");
}

/// Point 4, detached: the container's PID 1 leads its own session too.
#[test]
fn a_detached_containers_pid_1_leads_its_session() {
    let f = Fixture::new();
    let b = hostile_bundle(&f, "b", |_| {});
    let out = f.run(&[
        b.to_str().unwrap(),
        "-d",
        "--id",
        "sess",
        "--",
        "/attack",
        "tty",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let log = f.run.join("containers/sess/container.log");
    assert!(wait_until(Duration::from_secs(10), || fs::read_to_string(
        &log
    )
    .is_ok_and(|l| l.contains("pid="))));
    let p = Probe::parse(&format!(
        "{}probe=done\n",
        fs::read_to_string(&log).unwrap()
    ));
    assert_eq!((p.get("pid"), p.get("sid")), ("1", "1"));
}

fn sha256(p: &Path) -> String {
    let out = Command::new("sha256sum").arg(p).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split(' ')
        .next()
        .unwrap()
        .to_string()
}

const HOST_COPY: &str = "ct-exec-host-copy";

/// Point 5: while `/attack exe` runs in a container for `secs` seconds, `ct-exec exec` (a copy
/// of the built binary: "the host's ct-exec") runs `args` in it over and over. Returns what the
/// attacker reported; asserts the copy is byte for byte what it was.
fn exe_attack(edit: impl FnOnce(&mut Value), args: &[&str], secs: u64) -> Probe {
    // One at a time: each keeps a CPU busy, and they would slow each other's execs down.
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let f = Fixture::new();
    let b = hostile_bundle(&f, "b", |v| {
        v["root"]["readonly"] = json!(false);
        edit(v)
    });
    // `#!/proc/self/exe`: the container's own file, which makes the exec'ing process run
    // whatever /proc/self/exe is for it at that moment.
    fs::write(b.join("rootfs/evil"), "#!/proc/self/exe\n").unwrap();
    fs::set_permissions(
        b.join("rootfs/evil"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let host = f.tmp.path().join("host-bin");
    fs::create_dir_all(&host).unwrap();
    let copy = host.join(HOST_COPY);
    fs::copy(EXE, &copy).unwrap();
    let before = sha256(&copy);

    let attack_secs = secs + 2;
    let out = f.run(&[
        b.to_str().unwrap(),
        "-d",
        "--id",
        "victim",
        "--",
        "sh",
        "-c",
        &format!("/attack exe {attack_secs} {HOST_COPY} > /tmp/result 2>&1; sleep 60"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let start = Instant::now();
    let mut runs = 0;
    while start.elapsed() < Duration::from_secs(secs) && runs < 5000 {
        let mut c = Command::new(&copy);
        c.env("CT_ROOT", &f.root).env("CT_RUN", &f.run);
        c.args(["exec", "victim", "--"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // A copy that no longer runs (overwritten, or open for writing) ends the loop; the
        // hash below says why.
        let Ok(child) = c.spawn() else { break };
        let _ = wait_output(child, Duration::from_secs(30));
        runs += 1;
    }
    let result = b.join("rootfs/tmp/result");
    assert!(
        wait_until(Duration::from_secs(attack_secs + 10), || {
            fs::read_to_string(&result).is_ok_and(|r| r.contains("opath="))
        }),
        "the attacker did not report"
    );
    let p = Probe::parse(&format!(
        "{}probe=done\n",
        fs::read_to_string(&result).unwrap()
    ));
    assert_eq!(
        sha256(&copy),
        before,
        "the host's ct-exec was overwritten from the container after {runs} execs: {:?}",
        p.0
    );
    assert_eq!(p.get("wrote"), "0");
    assert!(runs > 10, "only {runs} execs");
    p
}

/// Point 5, CVE-2019-5736 as published: a root container (default capabilities) whose
/// `/evil` is `#!/proc/self/exe`, run with `exec`; a process in it takes every runtime
/// process's `/proc/PID/exe` and writes to it, directly and by reopening an O_PATH fd once
/// the runtime has exited.
#[test]
fn a_container_cannot_overwrite_the_host_ct_exec() {
    let p = exe_attack(|_| {}, &["/evil"], 5);
    assert_ne!(
        p.get("seen"),
        "0",
        "the attack never saw ct-exec: {:?}",
        p.0
    );
}

/// Point 5, the same with the host's pid namespace shared: the attacker also sees the host's
/// `ct-exec exec` processes themselves.
#[test]
fn a_container_in_the_hosts_pid_namespace_cannot_overwrite_the_host_ct_exec() {
    let p = exe_attack(
        |v| {
            v["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .retain(|n| n["type"] != "pid");
        },
        &["/evil"],
        5,
    );
    assert_ne!(
        p.get("seen"),
        "0",
        "the attack never saw ct-exec: {:?}",
        p.0
    );
}

/// Point 5: `ct-exec exec`'s process inside the container (from `setns` to `execve`) can
/// neither be ptraced nor have its executable opened.
#[test]
fn a_container_cannot_ptrace_or_open_ct_exec_exec() {
    let p = exe_attack(|_| {}, &["true"], 5);
    assert_ne!(
        p.get("seen"),
        "0",
        "the attack never saw ct-exec: {:?}",
        p.0
    );
    assert_eq!(p.get("ptraced"), "0", "{:?}", p.0);
    assert_eq!(p.get("opath"), "0", "{:?}", p.0);
}

/// Point 7: uid/gid 4294967295 ("no id": setresuid(-1) changes nothing, so the command would
/// run as root) is refused, from the config and from `-u`, before anything runs.
#[test]
fn an_id_of_4294967295_is_refused() {
    let f = Fixture::new();
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit, Vec<&str>)> = vec![
        (
            "uid",
            Box::new(|v| v["process"]["user"]["uid"] = json!(4294967295u32)),
            vec![],
        ),
        (
            "gid",
            Box::new(|v| v["process"]["user"]["gid"] = json!(4294967295u32)),
            vec![],
        ),
        (
            "groups",
            Box::new(|v| v["process"]["user"]["additionalGids"] = json!([4294967295u32])),
            vec![],
        ),
        ("u", Box::new(|_| {}), vec!["-u", "4294967295"]),
        ("ug", Box::new(|_| {}), vec!["-u", "0:4294967295"]),
    ];
    for (name, edit, extra) in cases {
        let b = f.bundle(name, |v| {
            v["root"]["readonly"] = json!(false);
            edit(v)
        });
        let mut args = vec![b.to_str().unwrap()];
        args.extend(extra);
        args.extend(["--", "touch", "/ran"]);
        let out = f.run(&args);
        assert_eq!(out.status.code(), Some(125), "{name}: {}", stderr(&out));
        let e = stderr(&out);
        assert!(
            e.starts_with("ct-exec: ") && e.lines().count() == 1 && e.contains("4294967295"),
            "{name}: {e}"
        );
        assert!(!b.join("rootfs/ran").exists(), "{name}: the command ran");
        assert!(f.state_dirs().is_empty(), "{name}");
    }
}

/// Point 7: with a user namespace, a uid, gid or additional gid outside the mappings is
/// refused by name before the container starts.
#[test]
fn an_id_outside_the_user_namespace_is_refused() {
    let f = Fixture::new();
    let userns = |v: &mut Value| {
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 220000, "size": 65536}]);
        v["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 220000, "size": 1000}]);
    };
    let b = f.bundle("ok", userns);
    let out = f.run(&[b.to_str().unwrap(), "-u", "65535:999", "--", "true"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for (name, what) in [
        ("uid", "uid 65536"),
        ("gid", "gid 1000"),
        ("groups", "gid 5000"),
    ] {
        let b = f.bundle(name, |v| {
            userns(v);
            match name {
                "uid" => v["process"]["user"]["uid"] = json!(65536),
                "gid" => v["process"]["user"]["gid"] = json!(1000),
                _ => v["process"]["user"]["additionalGids"] = json!([5, 5000]),
            }
        });
        let out = f.run(&[b.to_str().unwrap(), "--", "true"]);
        assert_eq!(out.status.code(), Some(125), "{name}: {}", stderr(&out));
        let e = stderr(&out);
        assert!(
            e.starts_with("ct-exec: config.json: ")
                && e.contains(what)
                && e.contains("not mapped")
                && e.lines().count() == 1,
            "{name}: {e}"
        );
    }
}

/// Starts `n` copies of `args` that all wait on a fifo, then opens its writing end: the
/// kernel lets every waiting open through at the same moment. Returns their outputs.
fn race(f: &Fixture, n: usize, args: &[&str]) -> Vec<std::process::Output> {
    let go = f.tmp.path().join(unique("go-"));
    nix::unistd::mkfifo(&go, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let mut kids = Vec::new();
    for _ in 0..n {
        let mut c = Command::new("sh");
        c.env("CT_ROOT", &f.root).env("CT_RUN", &f.run);
        c.args(["-c", ": < \"$0\"; exec \"$@\""])
            .arg(&go)
            .arg(EXE)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        kids.push(c.spawn().unwrap());
    }
    std::thread::sleep(Duration::from_millis(300));
    let w = fs::OpenOptions::new().write(true).open(&go).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    drop(w);
    kids.into_iter()
        .map(|k| wait_output(k, Duration::from_secs(30)))
        .collect()
}

fn check_one_winner(f: &Fixture, id: &str, outs: &[std::process::Output], round: usize) {
    let won: Vec<_> = outs.iter().filter(|o| o.status.success()).collect();
    assert_eq!(
        won.len(),
        1,
        "round {round}: {} of {} started: {:?}",
        won.len(),
        outs.len(),
        outs.iter().map(stderr).collect::<Vec<_>>()
    );
    for o in outs.iter().filter(|o| !o.status.success()) {
        assert_eq!(o.status.code(), Some(125), "round {round}: {}", stderr(o));
        let e = stderr(o);
        let errors: Vec<&str> = e
            .lines()
            .filter(|l| !l.starts_with("ct-exec: warning: "))
            .collect();
        assert_eq!(errors.len(), 1, "round {round}: {e}");
        assert!(
            errors[0].starts_with(&format!("ct-exec: container '{id}' already exists")),
            "round {round}: {e}"
        );
    }
    assert_eq!(f.state_dirs(), vec![id.to_string()], "round {round}");
    let st = f.state(id);
    let log = fs::read_to_string(f.run.join("containers").join(id).join("container.log"));
    assert_eq!(st["status"], "running", "round {round}: {st} {log:?}");
    let out = f.run(&["delete", "--force", id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(f.state_dirs().is_empty(), "round {round}");
}

/// Point 8: of 8 `ct-exec --id X -d` started at the same moment, exactly one runs and the
/// others fail with "already exists" — also when a stale state directory of a killed ct-exec
/// is there to be reclaimed.
#[test]
fn only_one_of_concurrent_runs_with_one_id_starts() {
    let f = Fixture::new();
    let b = f.bundle("b", |_| {});
    for round in 0..6 {
        let id = format!("race{round}");
        if round % 2 == 1 {
            // What a ct-exec killed while creating leaves: state "creating", nobody holds it.
            let dir = f.run.join("containers").join(&id);
            fs::create_dir_all(&dir).unwrap();
            let st = json!({"ociVersion": "1.2.0", "id": id, "status": "creating",
                "bundle": b.to_str().unwrap()});
            fs::write(dir.join("state.json"), st.to_string()).unwrap();
        }
        let outs = race(
            &f,
            8,
            &[b.to_str().unwrap(), "-d", "--id", &id, "--", "sleep", "60"],
        );
        check_one_winner(&f, &id, &outs, round);
    }
}
