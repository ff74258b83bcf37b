//! Bundles from the three makers ct-exec must run (ct-unpack, `umoci unpack`, `runc spec`),
//! bundles it must refuse cleanly, and the absence of leaks after many runs.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::process::Command;

use common::*;
use ct_layout::image_layout::ImageLayout;
use serde_json::json;

#[test]
fn umoci_unpacked_bundle_runs() {
    let f = Fixture::new();
    let layout = ImageLayout::at(f.tmp.path().join("oci"));
    ct_tests::image::busybox_image(&layout, "localhost/busybox:1");
    let dest = f.tmp.path().join("umoci-bundle");
    ct_tests::image::umoci_unpack(&layout.dir, "localhost/busybox:1", &dest);
    let out = f.run(&[
        dest.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "echo from-umoci; hostname",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // umoci's config asks for a terminal: the output came through a pty (\r\n line ends).
    assert!(
        stdout(&out).starts_with("from-umoci\r\n"),
        "{:?}",
        stdout(&out)
    );
}

#[test]
fn ct_unpack_bundle_runs_with_its_seccomp_profile() {
    let f = Fixture::new();
    let layout = ImageLayout::at(f.root.join("images"));
    ct_tests::image::busybox_image(&layout, "localhost/busybox:1");
    let out = Command::new(ct_tests::bins::bin("ct-unpack"))
        .env("CT_ROOT", &f.root)
        .env("CT_RUN", &f.run)
        .args(["--flat", "--name", "web", "localhost/busybox:1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // By id, as the pipeline passes it; docker's default profile forbids unshare(2)
    // without CAP_SYS_ADMIN.
    let out = f.run(&[
        "web",
        "--",
        "sh",
        "-c",
        "grep Seccomp: /proc/self/status; unshare -n true || echo blocked",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("Seccomp:\t2\n"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).ends_with("blocked\n"));
    assert!(!stderr(&out).contains("config.json"), "{}", stderr(&out));
    // A bundle of the store keeps its exit (for ct ps -a), nothing else.
    assert_eq!(f.state_dirs(), ["web"]);
    assert_eq!(
        (
            f.state("web")["status"].clone(),
            f.state("web")["exitCode"].clone()
        ),
        (json!("stopped"), json!(0))
    );
}

/// The host's mount table, for before/after comparisons.
fn host_mounts() -> String {
    fs::read_to_string("/proc/self/mountinfo").unwrap()
}

fn mounts_under(p: &std::path::Path) -> usize {
    let p = p.to_str().unwrap();
    host_mounts().lines().filter(|l| l.contains(p)).count()
}

#[test]
fn bad_bundles_give_one_line_errors_and_leave_nothing() {
    let f = Fixture::new();
    let check = |args: &[&str], want: &str| {
        let out = f.run(args);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {}", stderr(&out));
        let e = stderr(&out);
        let first = e.lines().find(|l| !l.contains("warning:")).unwrap_or("");
        assert!(
            first.starts_with(want),
            "{args:?}: got {e:?}, want {want:?}"
        );
        assert!(
            e.lines()
                .filter(|l| !l.starts_with("hint:") && !l.contains("warning:"))
                .count()
                == 1,
            "{e}"
        );
        assert!(f.state_dirs().is_empty(), "{args:?} left state");
        assert_eq!(mounts_under(f.tmp.path()), 0, "{args:?} left mounts");
    };
    // No config.json.
    let empty = f.tmp.path().join("empty");
    fs::create_dir_all(&empty).unwrap();
    check(&[empty.to_str().unwrap()], "ct-exec: no bundle '");
    // Invalid JSON.
    let b = f.bundle("badjson", |_| {});
    fs::write(b.join("config.json"), "{ not json").unwrap();
    check(
        &[b.to_str().unwrap()],
        &format!("ct-exec: invalid config '{}/config.json': ", b.display()),
    );
    // Unknown namespace.
    let b = f.bundle("badns", |v| {
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "bogus"}));
    });
    check(&[b.to_str().unwrap()], "ct-exec: invalid config '");
    // Nonexistent rootfs.
    let b = f.bundle("noroot", |v| v["root"]["path"] = json!("missing"));
    check(
        &[b.to_str().unwrap()],
        &format!(
            "ct-exec: root filesystem '{}/missing' is not a directory",
            b.display()
        ),
    );
    // A mount destination through a symlink that climbs out of the rootfs: `..` stops at
    // the root, as after chroot (and in runc), so the mount lands inside.
    let outside = f.tmp.path().join("outside");
    let b = f.bundle("escape", |v| {
        v["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/evil/x", "type": "tmpfs", "source": "tmpfs"}));
    });
    symlink("../../outside", b.join("rootfs/evil")).unwrap();
    let out = f.run(&[b.to_str().unwrap(), "--", "true"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!outside.exists());
    assert!(b.join("rootfs/outside/x").is_dir());
    // Something ct-exec does not implement and must not ignore.
    let b = f.bundle("rdt", |v| v["linux"]["intelRdt"] = json!({"closID": "x"}));
    check(
        &[b.to_str().unwrap()],
        "ct-exec: config.json: linux.intelRdt is not supported",
    );
    // A key given twice: runc's parser takes the last, a checker may have looked at the
    // first; ct-exec takes neither. The key check sees every copy, the unsupported one here.
    let b = f.bundle("twice", |_| {});
    let text = fs::read_to_string(b.join("config.json")).unwrap();
    let twice = |extra: &str| text.replacen('{', &format!("{{{extra}, "), 1);
    fs::write(
        b.join("config.json"),
        twice(r#""linux": {"intelRdt": {"closID": "x"}}"#),
    )
    .unwrap();
    check(
        &[b.to_str().unwrap()],
        "ct-exec: config.json: linux.intelRdt is not supported",
    );
    fs::write(b.join("config.json"), twice(r#""hostname": "first""#)).unwrap();
    check(&[b.to_str().unwrap()], "ct-exec: invalid config '");
    let out = f.run(&[b.to_str().unwrap()]);
    assert!(
        stderr(&out).contains("duplicate field `hostname`"),
        "{}",
        stderr(&out)
    );
    // Something it ignores, saying so.
    let b = f.bundle("apparmor", |v| {
        v["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_IDLE"})
    });
    let out = f.run(&[b.to_str().unwrap(), "--", "true"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("ct-exec: warning: config.json: process.ioPriority is ignored"));
}

#[test]
fn no_leftovers_after_100_runs() {
    let f = Fixture::new();
    let mark = unique("ct-leak-");
    let b = f.bundle("b", |v| {
        v["process"]["env"] = json!([format!("MARK={mark}"), "PATH=/bin"]);
    });
    let before = mounts_under(f.tmp.path());
    for i in 0..100 {
        let out = f.run(&[b.to_str().unwrap(), "--", "true"]);
        assert_eq!(out.status.code(), Some(0), "run {i}: {}", stderr(&out));
    }
    assert!(f.state_dirs().is_empty());
    assert_eq!(mounts_under(f.tmp.path()), before);
    // No process carrying the container's environment survives.
    let mut alive = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(env) = fs::read(e.path().join("environ")) {
            if String::from_utf8_lossy(&env).contains(&mark) {
                alive.push(e.file_name());
            }
        }
    }
    assert!(alive.is_empty(), "leftover processes {alive:?}");
}

/// Unmounts the overlay of a ct bundle on drop (`ct-mount --unmount`).
struct Unmount<'a>(&'a Fixture, &'a str);
impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = Command::new(ct_tests::bins::bin("ct-mount"))
            .env("CT_ROOT", &self.0.root)
            .env("CT_RUN", &self.0.run)
            .args(["--unmount", self.1])
            .output();
        let _ = Command::new(ct_tests::bins::bin("ct-cgroup"))
            .env("CT_ROOT", &self.0.root)
            .env("CT_RUN", &self.0.run)
            .args(["rm", self.1])
            .output();
    }
}

#[test]
fn ct_pipeline_overlay_rootfs_with_cgroup_limits() {
    let f = Fixture::new();
    let layout = ImageLayout::at(f.root.join("images"));
    ct_tests::image::busybox_image(&layout, "localhost/busybox:1");
    let name = unique("pipe");
    let tool = |t: &str, args: &[&str]| {
        let o = Command::new(ct_tests::bins::bin(t))
            .env("CT_ROOT", &f.root)
            .env("CT_RUN", &f.run)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{t}: {}", stderr(&o));
        stdout(&o).trim().to_string()
    };
    let bundle = tool("ct-unpack", &["--name", &name, "localhost/busybox:1"]);
    let _guard = Unmount(&f, &name);
    tool("ct-mount", &[&bundle]);
    tool(
        "ct-cgroup",
        &["--memory", "64m", "--pids-limit", "50", &bundle],
    );
    let out = f.run(&[
        &name,
        "--",
        "sh",
        "-c",
        "echo written > /root/file; cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "67108864\n50\n");
    // The write went to the container's own overlay upper dir, not to the shared layer.
    let upper = std::path::Path::new(&bundle).join("upper/root/file");
    assert_eq!(fs::read_to_string(upper).unwrap(), "written\n");
    // A bundle of the store keeps its exit (for ct ps -a), nothing else.
    assert_eq!(f.state_dirs(), std::slice::from_ref(&name));
    assert_eq!(f.state(&name)["status"], "stopped");
}

/// ct-net's bundle: `mounts` bind `BUNDLE/hosts`, `hostname` and `resolv.conf` onto /etc files
/// the image may not have. The mount points are created inside the rootfs — /etc itself when
/// missing — and a dangling absolute symlink in the image (`/etc/resolv.conf ->
/// /HOSTDIR/resolv.conf`) is followed inside the rootfs, never to the host's path.
#[test]
fn ct_net_etc_files_are_created_inside_the_rootfs() {
    let f = Fixture::new();
    let host_dir = std::path::PathBuf::from("/").join(unique("ct-exec-test-nothere-"));
    let target = host_dir.join("resolv.conf");
    // Should the runtime follow the link to the host, remove what it made there.
    struct RmHost(std::path::PathBuf);
    impl Drop for RmHost {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
    let _guard = RmHost(host_dir.clone());
    let files = ["hosts", "hostname", "resolv.conf"];
    let mounts: Vec<serde_json::Value> = files
        .iter()
        .map(|n| {
            json!({"destination": format!("/etc/{n}"), "type": "bind", "source": n,
                        "options": ["rbind", "ro"]})
        })
        .collect();
    let b = f.bundle("b", |v| {
        v["mounts"].as_array_mut().unwrap().extend(mounts);
    });
    for n in files {
        fs::write(b.join(n), format!("from-{n}\n")).unwrap();
    }
    // An image without /etc at all …
    fs::remove_dir_all(b.join("rootfs/etc")).unwrap();
    let cat = "cat /etc/hosts /etc/hostname /etc/resolv.conf";
    let out = f.run(&[b.to_str().unwrap(), "--", "sh", "-c", cat]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "from-hosts\nfrom-hostname\nfrom-resolv.conf\n"
    );
    assert!(b.join("rootfs/etc/hosts").is_file());
    // … and one whose /etc/resolv.conf is a dangling absolute symlink.
    fs::remove_file(b.join("rootfs/etc/resolv.conf")).unwrap();
    symlink(&target, b.join("rootfs/etc/resolv.conf")).unwrap();
    let out = f.run(&[b.to_str().unwrap(), "--", "sh", "-c", cat]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "from-hosts\nfrom-hostname\nfrom-resolv.conf\n"
    );
    let inside = b.join("rootfs").join(target.strip_prefix("/").unwrap());
    assert!(inside.is_file(), "{}", inside.display());
    assert!(
        !host_dir.exists(),
        "created on the host: {}",
        host_dir.display()
    );
}
