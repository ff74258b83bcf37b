//! The two OCI hooks that run inside the container (runtime-spec `config.md`, "POSIX-platform
//! Hooks"): `createContainer`, run by the container's process once its mounts are made and
//! before `pivot_root` (path looked up in the runtime's view, run in the container's
//! namespaces), and `startContainer`, run by it on `start` just before the user's program (path
//! looked up inside the container, with the container's credentials). Each runs under ct-exec
//! and runc side by side on the same bundle, expecting the same outcomes: the State on stdin,
//! the namespaces, the order, and what a failing or hanging hook does.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// One runtime with a state root of its own; deletes (force) every id it created.
struct Runtime {
    exe: PathBuf,
    root: PathBuf,
    env: Vec<(String, PathBuf)>,
    ids: std::cell::RefCell<Vec<String>>,
}

impl Runtime {
    fn both(f: &Fixture) -> [Runtime; 2] {
        [
            Runtime {
                exe: PathBuf::from(EXE),
                root: f.run.clone(),
                env: vec![("CT_ROOT".into(), f.root.clone())],
                ids: Default::default(),
            },
            Runtime {
                exe: PathBuf::from("runc"),
                root: f.tmp.path().join("runc-root"),
                env: Vec::new(),
                ids: Default::default(),
            },
        ]
    }

    fn name(&self) -> String {
        self.exe.file_name().unwrap().to_string_lossy().into_owned()
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.exe);
        c.arg("--root").arg(&self.root).args(args);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// One verb, its stdio in files (a created container keeps them), killed after 30 s.
    fn run(&self, args: &[&str]) -> Output {
        if let ["create" | "run", .., id] = args {
            self.ids.borrow_mut().push(id.to_string());
        }
        let out = tempfile::NamedTempFile::new().unwrap();
        let err = tempfile::NamedTempFile::new().unwrap();
        let child = self
            .cmd(args)
            .stdin(Stdio::null())
            .stdout(out.reopen().unwrap())
            .stderr(err.reopen().unwrap())
            .spawn()
            .unwrap();
        let o = wait_output(child, Duration::from_secs(30));
        Output {
            status: o.status,
            stdout: std::fs::read(out.path()).unwrap(),
            stderr: std::fs::read(err.path()).unwrap(),
        }
    }

    fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{} {args:?}: {}",
            self.name(),
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

/// A hook running `script` with /bin/sh (`$0` is the hook's name).
fn sh(path: &str, name: &str, script: &str) -> Value {
    json!([{
        "path": path,
        "args": ["sh", "-c", script, name],
        "env": ["PATH=/bin:/usr/bin"],
    }])
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

/// A shared directory, on the host at `dir` and at `/hooklog` in the container, writable by
/// the container's user.
fn hooklog(v: &mut Value, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let order = dir.join("order");
    std::fs::write(&order, "").unwrap();
    std::fs::set_permissions(order, std::fs::Permissions::from_mode(0o666)).unwrap();
    v["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/hooklog",
        "type": "bind",
        "source": dir,
        "options": ["rbind", "rw"],
    }));
}

#[test]
fn container_hooks_run_in_the_container_in_order_as_with_runc() {
    let f = Fixture::new();
    let mut seen = Vec::new();
    for rt in Runtime::both(&f) {
        let name = rt.name();
        let dir = f.tmp.path().join(format!("log-{name}"));
        let log = dir.display().to_string();
        let rootfs = f.tmp.path().join(format!("b-{name}/rootfs"));
        let rootfs = rootfs.display().to_string();
        let host = |n: &str| {
            let script = format!("cat > {log}/$0.json; echo $0 >> {log}/order");
            sh("/bin/sh", n, &script)
        };
        // createContainer: on the host's tree (before pivot_root), in the container's mount and
        // uts namespaces: it sees the container's bind mount of the log under the rootfs, which
        // the host does not.
        let create_container = sh(
            "/bin/sh",
            "createContainer",
            &format!(
                "cat > {log}/$0.json; echo $0 >> {log}/order; hostname > {log}/$0.hostname; \
                 readlink /proc/self/ns/mnt > {log}/$0.mnt; id -u > {log}/$0.uid; \
                 cat {rootfs}/hooklog/order > {log}/$0.seen"
            ),
        );
        let b = f.bundle(&format!("b-{name}"), |v| {
            v["process"]["args"] = json!(["sleep", "100"]);
            v["process"]["user"] = json!({"uid": 1000, "gid": 1000});
            v["hostname"] = json!("hooked");
            hooklog(v, &dir);
            v["hooks"] = json!({
                "prestart": host("prestart"),
                "createRuntime": host("createRuntime"),
                "createContainer": create_container,
                "startContainer": [{"path": "/hookbin", "args": ["startContainer"]}],
                "poststart": host("poststart"),
            });
        });
        // Only the container has /hookbin: the startContainer hook's path is looked up there.
        std::fs::write(
            b.join("rootfs/hookbin"),
            "#!/bin/sh\nh=/hooklog/startContainer\ncat > $h.json\n\
             echo startContainer >> /hooklog/order\nhostname > $h.hostname\nid -u > $h.uid\n",
        )
        .unwrap();
        std::fs::set_permissions(
            b.join("rootfs/hookbin"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();

        let id = unique("chooks-");
        let out = rt.ok(&["create", "--bundle", b.to_str().unwrap(), &id]);
        // No key of the config is ignored.
        assert!(
            !stderr(&out).contains("config.json"),
            "{name}: {}",
            stderr(&out)
        );
        let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
        let container_mnt = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap();
        let mut steps = vec![format!("after create: {}", read(&dir.join("order")))];
        rt.ok(&["start", &id]);
        assert!(
            wait_until(Duration::from_secs(10), || read(&dir.join("order"))
                .contains("startContainer")),
            "{name}: startContainer did not run"
        );
        rt.ok(&["kill", &id, "KILL"]);
        assert!(wait_until(Duration::from_secs(10), || rt.status(&id) == "stopped"));
        rt.ok(&["delete", &id]);

        for hook in ["createContainer", "startContainer"] {
            let s: Value = serde_json::from_str(&read(&dir.join(format!("{hook}.json")))).unwrap();
            assert_eq!(s["id"], json!(id), "{name} {hook}");
            assert_eq!(s["bundle"], json!(b), "{name} {hook}");
            steps.push(format!(
                "{hook}: status {} pid {} hostname {} uid {}",
                s["status"],
                s["pid"],
                read(&dir.join(format!("{hook}.hostname"))),
                read(&dir.join(format!("{hook}.uid"))),
            ));
        }
        let mnt = read(&dir.join("createContainer.mnt"));
        steps.push(format!(
            "createContainer in the container's mount namespace: {}",
            mnt == container_mnt.to_string_lossy()
        ));
        steps.push(format!(
            "createContainer sees the container's mounts: {:?}",
            read(&dir.join("createContainer.seen"))
        ));
        steps.push(format!(
            "order: {}",
            read(&dir.join("order")).replace('\n', " ")
        ));
        seen.push(steps);
    }
    let expected = [
        "after create: prestart\ncreateRuntime\ncreateContainer",
        "createContainer: status \"creating\" pid 1 hostname hooked uid 0",
        "startContainer: status \"created\" pid 1 hostname hooked uid 1000",
        "createContainer in the container's mount namespace: true",
        "createContainer sees the container's mounts: \"prestart\\ncreateRuntime\\ncreateContainer\"",
    ];
    assert_eq!(seen[0][..5], expected);
    // runc 1.1 differs in two ways the runtime spec leaves open or gets wrong: it runs
    // poststart during `create` (before the program runs), and sets the hostname after the
    // createContainer hooks (the hook is in the container's uts namespace all the same).
    let mut runc = seen[1].clone();
    runc[0] = runc[0].replace("\npoststart", "");
    let host = read(Path::new("/proc/sys/kernel/hostname"));
    runc[1] = runc[1].replace(&format!("hostname {host} "), "hostname hooked ");
    assert_eq!(runc[..5], expected, "runc changed");
    // ct-exec: poststart and startContainer run at the same time (`start` returns once the
    // process is told to go): only the order before is fixed.
    let order = &seen[0][5];
    assert!(
        order.starts_with("order: prestart createRuntime createContainer ")
            && order.contains("startContainer")
            && order.contains("poststart"),
        "{order}"
    );
}

/// Whether a process of the host runs `sleep ARG`.
fn sleeping(arg: &str) -> bool {
    let want = format!("sleep\0{arg}\0");
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c.ends_with(want.as_bytes()))
    })
}

#[test]
fn a_failing_or_hanging_create_container_hook_fails_the_create_and_leaves_nothing() {
    let f = Fixture::new();
    let failing = sh("/bin/sh", "createContainer", "echo broken >&2; exit 3");
    let hanging = json!([{
        "path": "/bin/sh",
        "args": ["sh", "-c", "exec sleep 61.4242"],
        "timeout": 1,
    }]);
    for (tag, hook) in [("fail", failing), ("hang", hanging)] {
        let b = f.bundle(&format!("b-{tag}"), |v| {
            v["process"]["args"] = json!(["sleep", "100"]);
            v["hooks"] = json!({ "createContainer": hook });
        });
        for rt in Runtime::both(&f) {
            let id = unique("ccfail-");
            let out = rt.run(&["create", "--bundle", b.to_str().unwrap(), &id]);
            assert!(!out.status.success(), "{} {tag}", rt.name());
            assert_eq!(rt.status(&id), "none", "{} {tag}", rt.name());
            if rt.name() != "ct-exec" {
                continue;
            }
            assert_eq!(out.status.code(), Some(1));
            let err = stderr(&out);
            let want = match tag {
                "fail" => "ct-exec: hook createContainer[0] ('/bin/sh'): exit status: 3: 'broken'",
                _ => "ct-exec: hook createContainer[0] ('/bin/sh'): timed out after 1s",
            };
            assert!(err.contains(want), "{err}");
            assert_eq!(
                err.lines().filter(|l| l.contains("hook")).count(),
                1,
                "{err}"
            );
            assert!(f.state_dirs().is_empty(), "{:?}", f.state_dirs());
            assert!(
                !Path::new("/sys/fs/cgroup/pids/ct").join(&id).exists(),
                "the container's cgroup is left"
            );
            // The hook was killed (with the container's process, in its pid namespace).
            assert!(wait_until(Duration::from_secs(5), || !sleeping("61.4242")));
        }
    }
}

#[test]
fn a_failing_start_container_hook_stops_the_container_before_its_program_as_with_runc() {
    let f = Fixture::new();
    let dir = f.tmp.path().join("log");
    let b = f.bundle("b", |v| {
        v["process"]["args"] = json!(["sh", "-c", "touch /hooklog/program-ran; sleep 100"]);
        v["hooks"] = json!({
            "startContainer": sh("/bin/sh", "startContainer", "echo no >&2; exit 4"),
        });
        hooklog(v, &dir);
    });
    let ran = dir.join("program-ran");
    for rt in Runtime::both(&f) {
        let name = rt.name();
        // create + start: `start` has told the process to go and returns (as runc); the
        // process ends before its program, saying why on the container's stderr.
        let id = unique("scfail-");
        rt.ok(&["create", "--bundle", b.to_str().unwrap(), &id]);
        rt.run(&["start", &id]);
        assert!(
            wait_until(Duration::from_secs(10), || rt.status(&id) == "stopped"),
            "{name}: {}",
            rt.status(&id)
        );
        assert!(!ran.exists(), "{name}: the program ran");
        rt.ok(&["delete", &id]);
        // run: the hook's failure is the run's.
        let id = unique("scfail-");
        let out = rt.run(&["run", "--bundle", b.to_str().unwrap(), &id]);
        assert!(!out.status.success(), "{name}");
        assert!(!ran.exists(), "{name}: the program ran");
        assert_eq!(rt.status(&id), "none", "{name}");
        if name == "ct-exec" {
            assert_eq!(out.status.code(), Some(125));
            let err = stderr(&out);
            assert!(
                err.contains("ct-exec: hook startContainer[0] ('/bin/sh'): exit status: 4: 'no'"),
                "{err}"
            );
        }
    }
}
