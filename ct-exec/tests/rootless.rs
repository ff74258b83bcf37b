//! ct-exec as an ordinary user, run through an unprivileged test user (`ct_tests::user`):
//! - a `runc spec --rootless` bundle (a user namespace of its own) runs in the foreground,
//!   detached, created and started, with a terminal (console socket or its own pty), takes
//!   exec, kill, state and delete — and runc, given the same bundle as the same user, does the
//!   same; its uid/gid maps are the user's own id (with `setgroups` denied) or, for a user
//!   with subordinate ids, the ranges newuidmap/newgidmap grant, so a chown inside lands on
//!   the subordinate id on the host;
//! - a bundle without a user namespace (what ct-unpack writes for a user) runs in the user's
//!   own namespaces: root inside is the user outside, files it makes in a bind-mounted
//!   directory are the user's, and a file the user cannot read (`/etc/shadow`) stays closed;
//! - limits the user cannot apply (no delegated cgroup on this v1 host) are skipped with one
//!   warning, and the container runs.

mod common;

use std::fs;
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use common::*;
use ct_tests::user::TestUser;
use serde_json::{json, Value};

/// Where runc is (for the user's PATH).
const SBIN: &str = "/usr/sbin";

/// A runtime, as the test user: ct-exec or runc, each with a state root in the user's home.
struct Runtime<'a> {
    user: &'a TestUser,
    exe: &'static str,
    root: PathBuf,
    ids: std::cell::RefCell<Vec<String>>,
}

impl<'a> Runtime<'a> {
    fn both(user: &'a TestUser) -> [Runtime<'a>; 2] {
        [EXE, "runc"].map(|exe| Runtime {
            user,
            exe,
            root: user
                .home
                .join(format!("state-{}", exe.rsplit('/').next().unwrap())),
            ids: Default::default(),
        })
    }

    fn name(&self) -> &str {
        self.exe.rsplit('/').next().unwrap()
    }

    /// One verb as the user, stdin from `input`; stdout and stderr in files (a detached
    /// container keeps them), bounded by TestUser's `timeout 120`.
    fn run_with(&self, args: &[&str], input: Option<&str>) -> Output {
        if let ["create" | "run", .., id] = args {
            self.ids.borrow_mut().push(id.to_string());
        }
        let root = self.root.to_string_lossy().into_owned();
        let mut all = vec!["--root", &root];
        all.extend_from_slice(args);
        let (out, err) = (tempfile::tempfile().unwrap(), tempfile::tempfile().unwrap());
        let mut c = self.user.cmd(SBIN, self.exe, &all);
        c.stdout(out.try_clone().unwrap())
            .stderr(err.try_clone().unwrap());
        let status = match input {
            None => c.stdin(Stdio::null()).status().unwrap(),
            Some(text) => {
                let mut child = c.stdin(Stdio::piped()).spawn().unwrap();
                use std::io::Write;
                let _ = child.stdin.take().unwrap().write_all(text.as_bytes());
                child.wait().unwrap()
            }
        };
        let read = |mut f: fs::File| {
            use std::io::{Read, Seek};
            let mut v = Vec::new();
            f.rewind().unwrap();
            f.read_to_end(&mut v).unwrap();
            v
        };
        Output {
            status,
            stdout: read(out),
            stderr: read(err),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, None)
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{} {args:?}: {}",
            self.name(),
            stderr(&out)
        );
        stdout(&out)
    }

    fn status(&self, id: &str) -> String {
        let out = self.run(&["state", id]);
        match serde_json::from_slice::<Value>(&out.stdout) {
            Ok(v) => v["status"].as_str().unwrap_or_default().to_string(),
            Err(_) => String::new(),
        }
    }
}

impl Drop for Runtime<'_> {
    /// Nothing of a failed test keeps running: every container it made is deleted by force.
    fn drop(&mut self) {
        for id in self.ids.take() {
            let _ = self.run(&["delete", "--force", &id]);
        }
    }
}

/// A directory the user owns (and can reach) under a temp dir of the test.
fn user_dir(u: &TestUser, parent: &Path, name: &str) -> PathBuf {
    fs::set_permissions(parent, fs::Permissions::from_mode(0o755)).unwrap();
    let d = parent.join(name);
    fs::create_dir_all(&d).unwrap();
    chown_r(&d, u.uid);
    d
}

fn chown_r(p: &Path, uid: u32) {
    let out = std::process::Command::new("chown")
        .args(["-R", &format!("{uid}:{uid}")])
        .arg(p)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// A busybox bundle in `dir`, owned by the user, with the config `runc spec --rootless`
/// writes when the user runs it, running `args`, then changed by `edit`.
fn rootless_bundle(u: &TestUser, dir: &Path, args: &[&str], edit: impl FnOnce(&mut Value)) {
    busybox_rootfs(&dir.join("rootfs"));
    chown_r(dir, u.uid);
    let d = dir.to_string_lossy();
    let out = u
        .cmd(SBIN, "runc", &["spec", "--rootless", "--bundle", &d])
        .output()
        .unwrap();
    assert!(out.status.success(), "runc spec --rootless: {out:?}");
    let path = dir.join("config.json");
    let mut v: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    v["process"]["terminal"] = json!(false);
    v["process"]["args"] = json!(args);
    edit(&mut v);
    fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    chown_r(&path, u.uid);
}

/// The lines of a `/proc/PID/[ug]id_map`, whitespace normalized.
fn map_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| l.split(' ').count() == 3)
        .collect()
}

#[test]
fn a_rootless_spec_bundle_runs_as_a_user_with_only_their_id_mapped_as_under_runc() {
    let u = TestUser::create();
    let t = ct_tests::sandbox::Sandbox::new();
    let b = user_dir(&u, t.dir.path(), "b");
    let script = "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups";
    rootless_bundle(&u, &b, &["sh", "-c", script], |_| {});
    let bundle = b.to_string_lossy().into_owned();
    let mut seen = Vec::new();
    for rt in Runtime::both(&u) {
        let id = unique("fg-");
        let out = rt.ok(&["run", "--bundle", &bundle, &id]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[..2], ["0", "0"], "{}: root inside: {out}", rt.name());
        let own = format!("0 {} 1", u.uid);
        assert_eq!(map_lines(&out), [own.clone(), own], "{}: {out}", rt.name());
        assert_eq!(
            lines.last(),
            Some(&"deny"),
            "{}: setgroups: {out}",
            rt.name()
        );
        seen.push(out);
    }
    assert_eq!(seen[0], seen[1], "ct-exec and runc agree");

    // The short form, the bundle given as an argument and on stdin.
    let rt = &Runtime::both(&u)[0];
    let out = rt.ok(&[&bundle]);
    assert_eq!(out, seen[0]);
    let out = rt.run_with(&[], Some(&format!("{bundle}\n")));
    assert_eq!(stdout(&out), seen[0], "{}", stderr(&out));
}

#[test]
fn a_rootless_bundle_maps_the_users_subordinate_ids_and_a_chown_inside_lands_on_them() {
    let u = TestUser::create_with_subids();
    let (start, count) = u.subuids().expect("subordinate ids");
    let t = ct_tests::sandbox::Sandbox::new();
    let b = user_dir(&u, t.dir.path(), "b");
    let script = "touch /tmp/f && chown 1000:1000 /tmp/f && cat /proc/self/uid_map";
    rootless_bundle(&u, &b, &["sh", "-c", script], |v| {
        for m in ["uidMappings", "gidMappings"] {
            let extra = json!({"containerID": 1, "hostID": start, "size": count});
            v["linux"][m].as_array_mut().unwrap().push(extra);
        }
        for set in ["bounding", "effective", "permitted"] {
            let caps = v["process"]["capabilities"][set].as_array_mut().unwrap();
            caps.push(json!("CAP_CHOWN"));
        }
        v["root"]["readonly"] = json!(false);
    });
    let bundle = b.to_string_lossy().into_owned();
    let file = b.join("rootfs/tmp/f");
    for rt in Runtime::both(&u) {
        let _ = fs::remove_file(&file);
        let id = unique("sub-");
        let out = rt.ok(&["run", "--bundle", &bundle, &id]);
        let want = [format!("0 {} 1", u.uid), format!("1 {start} {count}")];
        assert_eq!(map_lines(&out), want, "{}: {out}", rt.name());
        // Container uid 1000 is subordinate id start+999 on the host.
        let m = fs::metadata(&file).unwrap();
        assert_eq!(
            (m.uid(), m.gid()),
            (start + 999, start + 999),
            "{}",
            rt.name()
        );
    }
}

#[test]
fn mapping_more_than_ones_own_id_without_subordinate_ids_fails_with_a_clear_error() {
    let u = TestUser::create();
    let t = ct_tests::sandbox::Sandbox::new();
    let b = user_dir(&u, t.dir.path(), "b");
    rootless_bundle(&u, &b, &["true"], |v| {
        let extra = json!({"containerID": 1, "hostID": 100000, "size": 1000});
        v["linux"]["uidMappings"]
            .as_array_mut()
            .unwrap()
            .push(extra);
    });
    let rt = &Runtime::both(&u)[0];
    let out = rt.run(&["run", "--bundle", b.to_str().unwrap(), &unique("no-")]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("newuidmap"), "{err}");
    assert_eq!(
        err.trim()
            .lines()
            .last()
            .unwrap()
            .matches("ct-exec:")
            .count(),
        1
    );
}

#[test]
fn a_rootless_container_runs_detached_and_takes_exec_kill_state_and_delete_as_under_runc() {
    let u = TestUser::create();
    let t = ct_tests::sandbox::Sandbox::new();
    let b = user_dir(&u, t.dir.path(), "b");
    rootless_bundle(&u, &b, &["sleep", "100"], |_| {});
    let bundle = b.to_string_lossy().into_owned();
    for rt in Runtime::both(&u) {
        let name = rt.name().to_string();
        // run -d, exec, kill, delete.
        let id = unique("d-");
        rt.ok(&["run", "--detach", "--bundle", &bundle, &id]);
        assert_eq!(rt.status(&id), "running", "{name}");
        let out = rt.ok(&["exec", &id, "sh", "-c", "id -u; cat /proc/self/setgroups"]);
        assert_eq!(out, "0\ndeny\n", "{name}");
        rt.ok(&["kill", &id, "KILL"]);
        let stopped = wait_until(Duration::from_secs(10), || rt.status(&id) == "stopped");
        assert!(stopped, "{name}: {}", rt.status(&id));
        rt.ok(&["delete", &id]);
        assert!(!rt.run(&["state", &id]).status.success(), "{name}: deleted");

        // create, start, delete --force.
        let id = unique("c-");
        rt.ok(&["create", "--bundle", &bundle, &id]);
        assert_eq!(rt.status(&id), "created", "{name}");
        rt.ok(&["start", &id]);
        assert_eq!(rt.status(&id), "running", "{name}");
        rt.ok(&["delete", "--force", &id]);
        assert!(!rt.run(&["state", &id]).status.success(), "{name}: deleted");
    }
}

/// Accept one connection on `listener` and receive the fd sent with its message.
fn receive_fd(listener: &UnixListener) -> OwnedFd {
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
    for c in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(v) = c {
            // SAFETY: the kernel installed this fd in our process for us.
            return unsafe { OwnedFd::from_raw_fd(v[0]) };
        }
    }
    panic!("no fd received");
}

/// Read a pty master until `want` appears or the slave side is gone (EIO), bounded.
fn read_master(master: OwnedFd, want: &str) -> String {
    let mut f = fs::File::from(master);
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
fn a_rootless_container_gets_a_terminal_through_the_console_socket_or_its_own_pty() {
    let u = TestUser::create();
    let t = ct_tests::sandbox::Sandbox::new();
    let b = user_dir(&u, t.dir.path(), "b");
    let script = "[ -t 0 ] && [ -t 1 ] && echo tty-ok; id -u; exec sleep 100";
    rootless_bundle(&u, &b, &["sh", "-c", script], |v| {
        v["process"]["terminal"] = json!(true);
    });
    let bundle = b.to_string_lossy().into_owned();
    for rt in Runtime::both(&u) {
        let name = rt.name().to_string();
        let sock = user_dir(&u, t.dir.path(), &format!("sock-{name}")).join("console.sock");
        let listener = UnixListener::bind(&sock).unwrap();
        chown_r(&sock, u.uid);
        let id = unique("tty-");
        let s = sock.to_string_lossy().into_owned();
        let master = std::thread::scope(|sc| {
            let h = sc.spawn(|| receive_fd(&listener));
            let out = rt.run(&["create", "--bundle", &bundle, "--console-socket", &s, &id]);
            if !out.status.success() {
                // Unblock the accept before failing.
                let _ = std::os::unix::net::UnixStream::connect(&sock);
                let _ = h.join();
                panic!("{name} create: {}", stderr(&out));
            }
            h.join().unwrap()
        });
        rt.ok(&["start", &id]);
        let seen = read_master(master, "tty-ok\r\n0\r\n");
        assert!(seen.contains("tty-ok\r\n0\r\n"), "{name}: {seen:?}");

        // exec with a terminal of its own, sent to the console socket too.
        let master = std::thread::scope(|sc| {
            let h = sc.spawn(|| receive_fd(&listener));
            let args = [
                "exec",
                "--tty",
                "--detach",
                "--console-socket",
                &s,
                &id,
                "sh",
                "-c",
                "[ -t 0 ] && echo exec-tty; id -u",
            ];
            let out = rt.run(&args);
            if !out.status.success() {
                let _ = std::os::unix::net::UnixStream::connect(&sock);
                let _ = h.join();
                panic!("{name} exec: {}", stderr(&out));
            }
            h.join().unwrap()
        });
        let seen = read_master(master, "exec-tty\r\n0");
        assert!(seen.contains("exec-tty\r\n0"), "{name}: {seen:?}");
        rt.ok(&["delete", "--force", &id]);
    }
    // In the foreground, ct-exec makes the pty itself and relays it to its stdout.
    let path = b.join("config.json");
    let mut v: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    v["process"]["args"] = json!(["sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo tty-ok; id -u"]);
    fs::write(&path, v.to_string()).unwrap();
    let rt = &Runtime::both(&u)[0];
    let out = rt.ok(&[&bundle]);
    assert_eq!(out, "tty-ok\r\n0\r\n");
}

#[test]
fn limits_a_user_cannot_apply_are_skipped_with_one_warning_and_the_container_runs() {
    let u = TestUser::create();
    let t = ct_tests::sandbox::Sandbox::new();
    let b = user_dir(&u, t.dir.path(), "b");
    let cg = unique("ctrootless-");
    rootless_bundle(&u, &b, &["sh", "-c", "echo ran"], |v| {
        v["linux"]["cgroupsPath"] = json!(format!("/{cg}"));
        v["linux"]["resources"] = json!({"pids": {"limit": 50}, "memory": {"limit": 100_000_000}});
    });
    let rt = &Runtime::both(&u)[0];
    let out = rt.run(&["run", "--bundle", b.to_str().unwrap(), &unique("lim-")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "ran\n");
    let err = stderr(&out);
    assert_eq!(err.matches("no cgroup").count(), 1, "{err}");
    assert!(err.contains("delegated"), "{err}");
    for ctrl in ["pids", "memory", "unified"] {
        let p = Path::new("/sys/fs/cgroup").join(ctrl).join(&cg);
        assert!(!p.exists(), "{} made", p.display());
    }
}

/// The pause process's user namespace (`ct_layout::rootless`) of `u`.
fn pause_user_ns(u: &TestUser) -> PathBuf {
    let text = fs::read_to_string(u.tmp_run().join("pause.pid")).expect("a pause process");
    let pid = text.split_whitespace().next().unwrap().to_string();
    fs::read_link(format!("/proc/{pid}/ns/user")).unwrap()
}

#[test]
fn a_users_bundle_without_a_user_namespace_runs_in_the_users_namespaces() {
    for u in [TestUser::create_with_subids(), TestUser::create()] {
        let t = ct_tests::sandbox::Sandbox::new();
        let b = user_dir(&u, t.dir.path(), "b");
        let vol = user_dir(&u, t.dir.path(), "vol");
        let script = "id -u; touch /vol/made; readlink /proc/self/ns/user; cat /shadow";
        rootless_bundle(&u, &b, &["sh", "-c", script], |v| {
            // As ct-unpack writes it for a user: no user namespace, no maps.
            let linux = v["linux"].as_object_mut().unwrap();
            linux.remove("uidMappings");
            linux.remove("gidMappings");
            let nss = linux["namespaces"].as_array_mut().unwrap();
            nss.retain(|n| n["type"] != "user");
            let mounts = v["mounts"].as_array_mut().unwrap();
            for (src, dst, rw) in [
                (vol.to_str().unwrap(), "/vol", "rw"),
                ("/etc/shadow", "/shadow", "ro"),
            ] {
                mounts.push(json!({"destination": dst, "type": "bind", "source": src,
                                   "options": ["rbind", rw]}));
            }
        });
        fs::create_dir(b.join("rootfs/vol")).unwrap();
        fs::write(b.join("rootfs/shadow"), "").unwrap();
        chown_r(&b.join("rootfs"), u.uid);
        let bundle = b.to_string_lossy().into_owned();
        let rt = &Runtime::both(&u)[0];
        // The bundle as an argument, then as a pipeline hands it on stdin.
        for input in [None, Some(format!("{bundle}\n"))] {
            let _ = fs::remove_file(vol.join("made"));
            let out = match &input {
                None => rt.run(&[&bundle]),
                Some(line) => rt.run_with(&[], Some(line)),
            };
            let (so, se) = (stdout(&out), stderr(&out));
            let lines: Vec<&str> = so.lines().collect();
            assert_eq!(lines.first(), Some(&"0"), "root inside: {out:?}");
            let m = fs::metadata(vol.join("made")).expect("a file made in the volume");
            assert_eq!(m.uid(), u.uid, "it is the user's on the host");
            let ns = pause_user_ns(&u);
            assert_eq!(
                lines.get(1).copied(),
                ns.to_str(),
                "in the user's namespace"
            );
            assert!(se.contains("'/shadow': Permission denied"), "{se}");
            assert_eq!(out.status.code(), Some(1), "cat fails: {se}");
        }
        // Detached, exec'd into, killed and deleted by the user's later ct-exec calls.
        let ns = pause_user_ns(&u);
        let mut v: Value =
            serde_json::from_slice(&fs::read(b.join("config.json")).unwrap()).unwrap();
        v["process"]["args"] = json!(["sleep", "100"]);
        fs::write(b.join("config.json"), v.to_string()).unwrap();
        let id = unique("p-");
        rt.ok(&["run", "--detach", "--bundle", &bundle, &id]);
        let out = rt.ok(&[
            "exec",
            &id,
            "sh",
            "-c",
            "id -u; readlink /proc/self/ns/user",
        ]);
        assert_eq!(out, format!("0\n{}\n", ns.display()));
        rt.ok(&["kill", &id, "KILL"]);
        assert!(wait_until(Duration::from_secs(10), || rt.status(&id) == "stopped"));
        rt.ok(&["delete", &id]);
    }
}
