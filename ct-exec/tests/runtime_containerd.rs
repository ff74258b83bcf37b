//! containerd driving the built ct-exec through its runc shim (`io.containerd.runc.v2`, what
//! Kubernetes' CRI plugin uses), with `ctr run --runc-binary`: the shim calls
//! `ct-exec --root /run/containerd/runc/NS --log …/log.json --log-format json` with `create`,
//! `start`, `state`, `exec --process --detach --pid-file`, `ps --format json`, `pause`,
//! `resume`, `kill`, `delete`. The test starts its own containerd on its own socket, root and
//! state (temp directories, the CRI plugin off) and works in a containerd namespace of its
//! own; the shim's files under `/run/containerd` are removed at the end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ct_layout::image_layout::ImageLayout;
use ct_tests::sandbox::Sandbox;

const EXE: &str = env!("CARGO_BIN_EXE_ct-exec");
const IMAGE: &str = "localhost/ct-exec-busybox:test";
const RUN_CONTAINERD: &str = "/run/containerd";

struct Containerd {
    /// Its temp dir holds the daemon's state; dropping it unmounts what is left there.
    tmp: Sandbox,
    daemon: Child,
    ns: String,
    /// /run/containerd did not exist before: remove what is left of it (empty) at the end.
    made_run_dir: bool,
}

impl Containerd {
    fn start() -> Containerd {
        let made_run_dir = !Path::new(RUN_CONTAINERD).exists();
        let tmp = Sandbox::with_prefix("ct-exec-containerd");
        let d = |n: &str| tmp.dir.path().join(n).to_string_lossy().into_owned();
        let config = format!(
            "version = 2\nroot = \"{}\"\nstate = \"{}\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{}\"\n[ttrpc]\n  address = \"{}.ttrpc\"\n\
             [debug]\n  address = \"{}\"\n[metrics]\n  address = \"\"\n",
            d("root"),
            d("state"),
            d("containerd.sock"),
            d("containerd.sock"),
            d("debug.sock"),
        );
        std::fs::write(tmp.dir.path().join("config.toml"), config).unwrap();
        let log = std::fs::File::create(tmp.dir.path().join("containerd.log")).unwrap();
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(tmp.dir.path().join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let c = Containerd {
            ns: format!("ct-test-{}", ct_layout::paths::new_id()),
            tmp,
            daemon,
            made_run_dir,
        };
        let up = (0..500).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            c.run(&["version"]).status.success()
        });
        assert!(up, "containerd did not start: {}", c.log());
        c
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.tmp.dir.path().join("containerd.log")).unwrap_or_default()
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ctr");
        c.arg("--address")
            .arg(self.tmp.dir.path().join("containerd.sock"))
            .args(["--namespace", &self.ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        ct_tests::child::output_killed_after(
            self.cmd(args).spawn().unwrap(),
            Duration::from_secs(60),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "ctr {args:?}: {}\ncontainerd: {}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// ct-exec's state root for our namespace, as the shim passes it (`--root`).
    fn runtime_root(&self) -> PathBuf {
        Path::new(RUN_CONTAINERD).join("runc").join(&self.ns)
    }

    /// The busybox fixture as an OCI archive, imported.
    fn import_busybox(&self) {
        let dir = self.tmp.dir.path().join("layout");
        let layout = ImageLayout::at(&dir);
        layout.init().unwrap();
        ct_tests::image::busybox_image(&layout, IMAGE);
        let tar_path = self.tmp.dir.path().join("busybox-oci.tar");
        let mut t = tar::Builder::new(std::fs::File::create(&tar_path).unwrap());
        t.append_dir_all(".", &dir).unwrap();
        t.finish().unwrap();
        self.ok(&["images", "import", tar_path.to_str().unwrap()]);
    }

    /// `task ls` as (id, status) pairs.
    fn tasks(&self) -> Vec<(String, String)> {
        self.ok(&["task", "ls"])
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f[0].to_string(), f.last().unwrap().to_string())
            })
            .collect()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        for (id, _) in self.tasks_quiet() {
            let _ = self.cmd(&["task", "kill", "-s", "KILL", &id]).output();
            let _ = self.cmd(&["task", "rm", "-f", &id]).output();
            let _ = self.cmd(&["container", "rm", &id]).output();
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let _ = std::fs::remove_dir_all(self.runtime_root());
        // ctr's default cgroupsPath is /NS/ID: the namespace's parent directory is ours.
        for d in cgroup_dirs(&format!("/{}", self.ns)) {
            let _ = std::fs::remove_dir(d);
        }
        // What the shim made there, when nobody else uses it (emptied directories only: a
        // containerd of another test or of the host may share /run/containerd).
        if self.made_run_dir {
            for d in ["runc", "fifo", "s", ""] {
                let _ = std::fs::remove_dir(Path::new(RUN_CONTAINERD).join(d));
            }
        }
    }
}

impl Containerd {
    fn tasks_quiet(&self) -> Vec<(String, String)> {
        let out = self.run(&["task", "ls"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .filter_map(|l| {
                l.split_whitespace()
                    .next()
                    .map(|i| (i.to_string(), String::new()))
            })
            .collect()
    }
}

fn cgroup_dirs(path: &str) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let d = e.path().join(path.trim_start_matches('/'));
        if d.is_dir() {
            v.push(d);
        }
    }
    v
}

#[test]
fn containerd_runs_tasks_with_ct_exec_as_its_runc() {
    let c = Containerd::start();
    c.import_busybox();

    // --rm: the exit status comes back through the shim.
    let out = c.run(&[
        "run",
        "--rm",
        "--runc-binary",
        EXE,
        IMAGE,
        "once",
        "sh",
        "-c",
        "echo hello from $(cat /proc/1/comm); exit 4",
    ]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        c.log()
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from sh\n");
    assert_eq!(c.tasks(), Vec::<(String, String)>::new());

    // -d, then exec, ps, pause/resume, kill, rm.
    c.ok(&[
        "run",
        "-d",
        "--runc-binary",
        EXE,
        IMAGE,
        "bg",
        "sleep",
        "1000",
    ]);
    assert_eq!(c.tasks(), [("bg".to_string(), "RUNNING".to_string())]);
    let st: serde_json::Value = serde_json::from_slice(
        &std::fs::read(c.runtime_root().join("containers/bg/state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(st["status"], "running");
    let pid = st["pid"].as_i64().unwrap().to_string();
    let cgroup = std::fs::read_to_string(c.runtime_root().join("containers/bg/cgroup")).unwrap();
    assert_eq!(cgroup, format!("/{}/bg", c.ns));

    let out = c.run(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        "bg",
        "sh",
        "-c",
        "echo in-exec; exit 6",
    ]);
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "in-exec\n");

    let ps = c.ok(&["task", "ps", "bg"]);
    assert!(
        ps.lines()
            .any(|l| l.split_whitespace().next() == Some(&pid)),
        "{ps}"
    );

    c.ok(&["task", "pause", "bg"]);
    assert_eq!(c.tasks(), [("bg".to_string(), "PAUSED".to_string())]);
    c.ok(&["task", "resume", "bg"]);
    assert_eq!(c.tasks(), [("bg".to_string(), "RUNNING".to_string())]);

    c.ok(&["task", "kill", "--signal", "KILL", "bg"]);
    let start = Instant::now();
    while c.tasks() != [("bg".to_string(), "STOPPED".to_string())] {
        assert!(start.elapsed() < Duration::from_secs(20), "{:?}", c.tasks());
        std::thread::sleep(Duration::from_millis(50));
    }
    c.ok(&["task", "rm", "bg"]);
    c.ok(&["container", "rm", "bg"]);
    assert_eq!(c.tasks(), Vec::<(String, String)>::new());
    // Nothing of ct-exec's left: no state, no cgroup of the container.
    let left: Vec<_> = std::fs::read_dir(c.runtime_root().join("containers"))
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(cgroup_dirs(&cgroup), Vec::<PathBuf>::new());
}
