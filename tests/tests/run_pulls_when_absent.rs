//! mini-docker's user story through `ct`: `run` pulls the image when it is absent (and not when
//! it is present), and `--rootfs DIR` runs a command in a plain root filesystem, writing into
//! that very directory.

use std::fs;
use std::os::unix::fs::symlink;

use ct_tests::registry::{Auth, Registry};
use ct_tests::sandbox::{stderr, stdout, Sandbox};

#[test]
fn run_pulls_when_absent_and_only_then() {
    let reg = Registry::start(Auth::None);
    let ct = Sandbox::new();
    let r = ct.push_busybox(&reg, "minidocker/busybox:1");
    assert_eq!(ct.ok(&["images", "-q"]), "");
    let o = ct.out(&["run", "--rm", "--network", "none", &r, "echo", "hi"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "hi\n");
    assert_eq!(ct.ok(&["images", "-q"]), format!("{r}\n"));
    assert!(ct.containers().is_empty(), "--rm removed the container");

    // Present now: the pipeline starts at ct-unpack, so the registry is not asked again.
    let dry = ct.ok(&["--dry-run", "run", "--rm", "--name", "x", &r, "true"]);
    assert!(
        dry.starts_with(&format!(
            "bundle=$(ct-unpack --name x {r} -- true | ct-mount"
        )),
        "{dry}"
    );
    let before = reg.requests().len();
    let o = ct.out(&["run", "--rm", "--network", "none", &r, "true"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        reg.requests().len(),
        before,
        "no registry request for a present image"
    );

    // -w, -u, --hostname reach the container (through ct-unpack's config.json).
    let o = ct.out(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "--hostname",
        "h1",
        &r,
        "sh",
        "-c",
        "pwd; id -u; hostname",
    ]);
    assert_eq!(stdout(&o), "/tmp\n65534\nh1\n", "{}", stderr(&o));
}

#[test]
fn rootfs_runs_a_command_in_a_plain_directory() {
    let ct = Sandbox::new();
    let dir = ct.dir.path().join("myroot");
    for d in ["bin", "proc", "dev", "sys", "tmp", "etc"] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    fs::copy("/bin/busybox", dir.join("bin/busybox")).unwrap();
    for a in ["sh", "echo", "cat", "hostname"] {
        symlink("busybox", dir.join("bin").join(a)).unwrap();
    }
    let dirs = dir.to_str().unwrap();
    let o = ct.out(&[
        "run",
        "--name",
        "plain",
        "--network",
        "none",
        "--rootfs",
        dirs,
        "/bin/sh",
        "-c",
        "echo made inside > /made; hostname; exit 4",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert_eq!(stdout(&o), "plain\n");
    assert_eq!(
        fs::read_to_string(dir.join("made")).unwrap(),
        "made inside\n"
    );
    assert_eq!(ct.ok(&["rm", "plain"]), "plain\n");
    assert!(
        dir.join("bin/busybox").is_file(),
        "rm never touches the user's rootfs"
    );

    let o = ct.out(&["run", "--rootfs", "/nonexistent/dir", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(
        stderr(&o),
        "ct: --rootfs: '/nonexistent/dir' is not a directory\n"
    );
}

#[test]
fn a_failing_stage_leaves_nothing_behind() {
    let reg = Registry::start(Auth::None);
    let ct = Sandbox::new();
    let r = ct.push_busybox(&reg, "minidocker/busybox:2");
    let missing = reg.reference("minidocker/nope:1");
    let o = ct.out(&["run", "--name", "x", &missing, "true"]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("ct-pull: "), "{}", stderr(&o));
    assert!(ct.containers().is_empty());

    // ct-cgroup refuses the limit after ct-unpack, ct-mount and ct-net made their part:
    // all of it is undone.
    let o = ct.out(&["run", "--name", "y", "--cpuset-cpus", "99", &r, "true"]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(stderr(&o).contains("ct-cgroup: "), "{}", stderr(&o));
    assert!(ct.containers().is_empty(), "{:?}", ct.containers());
    assert!(ct_tests::mounts::mounts_under(&ct.root).is_empty());
    assert!(!ct.netns().contains(&"y".to_string()));
    assert_eq!(ct.bridge_ports(), "");
    assert!(ct.cgroups_left().is_empty());
}
