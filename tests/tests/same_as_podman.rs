//! The same commands through `ct` and through podman, where podman is installed: the same
//! visible results — exit status, stdout, stderr, and what `wait` and `logs` report. Podman
//! runs with a store, a run directory and a containers.conf of the test's own (runc, cgroupfs,
//! no default ulimits: the settings under which it runs on this kind of host).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use ct_layout::image_layout::ImageLayout;
use ct_tests::image::{busybox_layer, Compression, Image};
use ct_tests::sandbox::{stderr, stdout, Sandbox};
use serde_json::json;

struct Podman {
    root: PathBuf,
    image: String,
}

impl Podman {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("timeout");
        c.args(["-k", "5", "120", "podman", "--runtime", "runc", "--root"])
            .arg(self.root.join("store"))
            .arg("--runroot")
            .arg(self.root.join("run"))
            .args(args)
            .env("CONTAINERS_CONF", self.root.join("containers.conf"))
            .stdin(Stdio::null());
        c
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.cmd(&["rm", "-f", "--all"]).output();
        let _ = self.cmd(&["system", "reset", "-f"]).output();
        ct_tests::mounts::unmount_all_under(&self.root);
    }
}

/// Both tools with the same busybox image; None where podman is missing or cannot run here.
fn setup(ct: &Sandbox) -> Option<(Podman, String)> {
    let which = Command::new("sh")
        .args(["-c", "command -v podman"])
        .output()
        .ok()?;
    if !which.status.success() {
        eprintln!("podman is not installed: nothing to compare with");
        return None;
    }
    let layout = ct.dir.path().join("layout");
    Image::new()
        .layer(busybox_layer(), Compression::Gzip)
        .config(json!({"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["/bin/sh"]}))
        .write(&ImageLayout::at(&layout), "fixture");
    let src = format!("oci:{}:fixture", layout.display());
    ct.ok(&["pull", "--tag", "localhost/compare:1", &src]);
    let root = ct.dir.path().join("podman");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(
        root.join("containers.conf"),
        "[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = \"cgroupfs\"\n",
    )
    .unwrap();
    let mut p = Podman {
        root,
        image: String::new(),
    };
    // The same image, as `docker save` writes it, for `podman load`.
    let archive = ct.dir.path().join("compare.tar");
    let o = Command::new("skopeo")
        .args(["copy", "-q", &src])
        .arg(format!(
            "docker-archive:{}:localhost/compare:1",
            archive.display()
        ))
        .output()
        .unwrap();
    assert!(o.status.success(), "skopeo: {}", stderr(&o));
    let o = p
        .cmd(&["load", "-q", "-i", archive.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "podman load: {}", stderr(&o));
    p.image = "localhost/compare:1".into();
    let probe = p
        .cmd(&["run", "--rm", "--network", "none", &p.image, "true"])
        .output()
        .unwrap();
    if !probe.status.success() {
        eprintln!("podman cannot run a container here: {}", stderr(&probe));
        return None;
    }
    Some((p, "localhost/compare:1".into()))
}

fn feed(mut c: Command, input: &str) -> Output {
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut w = child.stdin.take().unwrap();
    let _ = w.write_all(input.as_bytes());
    drop(w);
    child.wait_with_output().unwrap()
}

#[test]
fn ct_and_podman_show_the_same_results() {
    let ct = Sandbox::new();
    let Some((podman, img)) = setup(&ct) else {
        return;
    };
    let same = |args: &[&str], input: Option<&str>| {
        let with = |image: &str| -> Vec<String> {
            args.iter()
                .map(|a| {
                    if *a == "IMG" {
                        image.to_string()
                    } else {
                        a.to_string()
                    }
                })
                .collect()
        };
        let ca = with(&img);
        let pa = with(&podman.image);
        let ca: Vec<&str> = ca.iter().map(String::as_str).collect();
        let pa: Vec<&str> = pa.iter().map(String::as_str).collect();
        let (c, p) = match input {
            Some(i) => (feed(ct.cmd(&ca), i), feed(podman.cmd(&pa), i)),
            None => (ct.out(&ca), podman.cmd(&pa).output().unwrap()),
        };
        assert_eq!(
            (c.status.code(), stdout(&c), stderr(&c)),
            (p.status.code(), stdout(&p), stderr(&p)),
            "ct vs podman for {args:?}"
        );
        stdout(&c)
    };
    fn run<'a>(rest: &[&'a str]) -> Vec<&'a str> {
        [&["run", "--rm", "--network", "none"][..], rest].concat()
    }
    same(
        &run(&["IMG", "sh", "-c", "echo out; echo err >&2; exit 3"]),
        None,
    );
    same(
        &run(&["-e", "A=1", "-w", "/tmp", "IMG", "sh", "-c", "echo $A; pwd"]),
        None,
    );
    assert_eq!(same(&run(&["IMG", "cat"]), Some("hi\n")), "");
    assert_eq!(same(&run(&["-i", "IMG", "cat"]), Some("hi\n")), "hi\n");
    assert_eq!(
        same(
            &run(&["--rm=true", "-eX=y", "IMG", "sh", "-c", "echo $X"]),
            None
        ),
        "y\n"
    );

    // A named container: its log, its exit code after stop, as both report them.
    let trap = "echo up; trap 'echo bye; exit 7' TERM; while :; do sleep 0.1; done";
    for (tool, image) in [("ct", img.as_str()), ("podman", podman.image.as_str())] {
        let args = [
            "run",
            "-d",
            "--name",
            "s",
            "--network",
            "none",
            image,
            "sh",
            "-c",
            trap,
        ];
        let o = if tool == "ct" {
            ct.out(&args)
        } else {
            podman.cmd(&args).output().unwrap()
        };
        assert_eq!(o.status.code(), Some(0), "{tool}: {}", stderr(&o));
    }
    ct_tests::sandbox::wait_for(20, || ct.ok(&["logs", "s"]).contains("up").then_some(()));
    ct_tests::sandbox::wait_for(20, || {
        let o = podman.cmd(&["logs", "s"]).output().unwrap();
        stdout(&o).contains("up").then_some(())
    });
    same(&["stop", "-t", "5", "s"], None);
    same(&["wait", "s"], None);
    same(&["logs", "s"], None);
    same(&["logs", "--tail", "1", "s"], None);
}
