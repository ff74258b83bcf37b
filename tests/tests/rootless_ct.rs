//! The `ct` script as an unprivileged user: it re-executes itself once through `ct-exec
//! unshare` (the user's namespaces, ct_layout::rootless), so that every stage it runs works on
//! the user's store, in the user's mount namespace, as root of the user's user namespace —
//! and sees nothing of root's store. Each test makes its own user (ct_tests::user).

mod rootless_ct_support;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};

use ct_tests::device_mode::{DeviceOpen, TUN};
use ct_tests::image::busybox_layer;
use ct_tests::sandbox::Sandbox;
use ct_tests::user::TestUser;
use rootless_ct_support::{curl_until, free_port, tools_dir, UserTerminal};

fn path() -> String {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    format!("{}:{}", tools_dir(), repo.display())
}

fn ct(u: &TestUser, args: &[&str]) -> Output {
    u.cmd(&path(), "ct", args).output().unwrap()
}

/// `ct ARGS…` as the user, which must succeed; its stdout.
fn ct_ok(u: &TestUser, args: &[&str]) -> String {
    let out = ct(u, args);
    assert!(out.status.success(), "ct {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A busybox root filesystem tarball in the user's home, `rootfs.tar`.
fn busybox_tarball(u: &TestUser) {
    let p = u.home.join("rootfs.tar");
    fs::write(&p, busybox_layer()).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
}

/// Run from the user's home, so that `rootfs.tar` is a relative path.
fn ct_in_home(u: &TestUser, args: &[&str]) -> Output {
    let mut c = u.cmd(&path(), "ct", args);
    c.current_dir(&u.home);
    c.output().unwrap()
}

/// A new user with subordinate ids, and a busybox image `localhost/USER:1` imported by the
/// user's `ct` (from a relative path in the home).
fn user_with_image() -> (TestUser, String) {
    let u = TestUser::create_with_subids();
    busybox_tarball(&u);
    let img = format!("localhost/{}:1", u.name);
    let out = ct_in_home(&u, &["import", "rootfs.tar", &img]);
    assert!(out.status.success(), "ct import: {out:?}");
    (u, img)
}

#[test]
fn a_users_ct_imports_lists_and_removes_images_in_the_users_store_only() {
    let u = TestUser::create_with_subids();
    busybox_tarball(&u);
    let name = format!("localhost/{}:1", u.name);
    // A relative path: ct runs through ct-exec unshare, whose setns(2) into the user's mount
    // namespace must keep the working directory.
    let out = ct_in_home(&u, &["import", "rootfs.tar", &name]);
    assert!(out.status.success(), "ct import: {out:?}");
    assert!(ct_ok(&u, &["images"]).contains(&name));
    let index = u.home.join(".local/share/ct/images/index.json");
    assert!(fs::read_to_string(&index).unwrap().contains(&name));
    assert_eq!(
        fs::metadata(&index).unwrap().uid(),
        u.uid,
        "the user's own file"
    );
    // Root's store does not have it.
    let roots = Command::new(tools_dir() + "/ct-ls")
        .arg("images")
        .env_remove("CT_ROOTLESS")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&roots.stdout).contains(&name));

    ct_ok(&u, &["rmi", &name]);
    ct_ok(&u, &["prune"]);
    assert!(!ct_ok(&u, &["images"]).contains(&name));
    let blobs = u.home.join(".local/share/ct/images/blobs/sha256");
    assert_eq!(
        fs::read_dir(&blobs).map(|d| d.count()).unwrap_or(0),
        0,
        "no blob left"
    );
}

/// The whole docker-like session of issue 17 as a user: run, run -d with a published port
/// answering curl from the host, exec, logs, ps, stop, start, rm, rmi, prune — and nothing of
/// it left in the user's store or processes. Needs the rootless ct-unpack, ct-mount and
/// ct-exec (cgroups skipped with a warning) of issue 17.
#[test]
fn a_user_runs_a_web_server_with_ct_and_nothing_is_left_after_rm_and_prune() {
    let _tun = DeviceOpen::new(TUN);
    let (u, img) = user_with_image();

    assert_eq!(ct_ok(&u, &["run", "--rm", &img, "echo", "hi"]), "hi\n");

    // Files the container's root makes in a volume are the user's on the host.
    let vol = u.home.join("vol");
    fs::create_dir(&vol).unwrap();
    fs::set_permissions(&vol, fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&vol, Some(u.uid), Some(u.uid)).unwrap();
    let v = format!("{}:/vol", vol.display());
    ct_ok(&u, &["run", "--rm", "-v", &v, &img, "touch", "/vol/made"]);
    assert_eq!(fs::metadata(vol.join("made")).unwrap().uid(), u.uid);

    let port = free_port();
    let p = format!("127.0.0.1:{port}:80");
    let serve = "mkdir -p /w && echo hello > /w/i.txt && exec httpd -f -p 80 -h /w";
    ct_ok(
        &u,
        &[
            "run", "-d", "--name", "web", "-p", &p, &img, "sh", "-c", serve,
        ],
    );
    assert_eq!(curl_until(port, "i.txt").as_deref(), Some("hello\n"));
    assert_eq!(ct_ok(&u, &["exec", "web", "cat", "/w/i.txt"]), "hello\n");
    assert!(ct_ok(&u, &["ps"]).contains("web"));
    ct_ok(&u, &["logs", "web"]);
    ct_ok(&u, &["stop", "-t", "1", "web"]);
    ct_ok(&u, &["start", "web"]);
    assert_eq!(curl_until(port, "i.txt").as_deref(), Some("hello\n"));
    ct_ok(&u, &["rm", "-f", "web"]);
    ct_ok(&u, &["rmi", &img]);
    ct_ok(&u, &["prune"]);

    assert!(!ct_ok(&u, &["ps", "-a"]).contains("web"));
    let root = u.home.join(".local/share/ct");
    for d in ["containers", "layers/sha256", "images/blobs/sha256"] {
        let left: Vec<_> = fs::read_dir(root.join(d))
            .map(|r| r.filter_map(Result::ok).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{d} is empty: {left:?}");
    }
    let run = u.tmp_run();
    let netns = u
        .cmd(
            &tools_dir(),
            "ct-exec",
            &[
                "unshare",
                "--",
                "sh",
                "-c",
                "ls -A \"$CT_RUN/netns\" \"$CT_RUN/containers\"",
            ],
        )
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&netns.stdout)
            .lines()
            .filter(|l| !l.is_empty() && !l.ends_with(':'))
            .count(),
        0,
        "{netns:?} in {}",
        run.display()
    );
    let helpers = Command::new("pgrep")
        .args([
            "-u",
            &u.uid.to_string(),
            "-x",
            "pasta|passt.avx2|passt|slirp4netns",
        ])
        .output()
        .unwrap();
    // Zombies do not count: a helper that exited holds nothing, and this machine's PID 1
    // does not reap the orphans it adopts.
    let alive: Vec<String> = String::from_utf8_lossy(&helpers.stdout)
        .split_whitespace()
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
                !s.lines()
                    .any(|l| l.starts_with("State:") && l.contains('Z'))
            })
        })
        .map(String::from)
        .collect();
    assert!(alive.is_empty(), "no network helper left: {alive:?}");
}

/// The script's own steps see what the stages made in the user's mount namespace: `ct
/// export` tars the container's overlay (mounted there, invisible to the user's own mount
/// namespace), with the owners the container sees (root, not the user's host id).
#[test]
fn a_users_ct_export_reads_the_containers_overlay_in_the_users_namespaces() {
    let (u, img) = user_with_image();
    ct_ok(
        &u,
        &["create", "--name", "c", "--network", "none", &img, "true"],
    );
    let out = ct(&u, &["export", "c"]);
    assert!(
        out.status.success(),
        "ct export: {:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut ar = tar::Archive::new(&out.stdout[..]);
    let busybox = ar
        .entries()
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.path().is_ok_and(|p| p.ends_with("bin/busybox")))
        .map(|e| e.header().uid().unwrap());
    assert_eq!(
        busybox,
        Some(0),
        "bin/busybox is in the export, owned by the container's root"
    );
    ct_ok(&u, &["rm", "c"]);
}

/// `ct run -it` and `ct exec -it` as the user, in a real terminal (tmux): the process gets a
/// terminal of the container's own devpts (`/dev/pts/0`), `TERM`, and is root of the user's
/// user namespace; keys typed reach it, a full-screen program draws and quits, and the
/// status comes back.
#[test]
fn a_user_gets_a_terminal_with_run_it_and_exec_it() {
    let (u, img) = user_with_image();
    let sb = Sandbox::new();
    let dir = &sb.dir;
    let run_it =
        |name: &str, args: &[&str]| UserTerminal::start(dir.path(), name, u.uid, &path(), args);

    let t = run_it(
        "sh",
        &["run", "-it", "--rm", "--network", "none", &img, "sh"],
    );
    t.wait_for("#");
    t.keys(&["echo T=$TERM U=$(id -u) $(tty); exit 3", "Enter"]);
    let s = t.wait_for("EXIT=");
    assert!(s.contains("T=xterm U=0 /dev/pts/0"), "{s}");
    assert!(s.contains("EXIT=3"), "{s}");
    drop(t);

    let t = run_it(
        "top",
        &["run", "-it", "--rm", "--network", "none", &img, "top"],
    );
    t.wait_for("Mem:");
    t.keys(&["q"]);
    let s = t.wait_for("EXIT=");
    assert!(s.contains("EXIT=0"), "{s}");
    drop(t);

    ct_ok(
        &u,
        &[
            "run",
            "-d",
            "--name",
            "x",
            "--network",
            "none",
            &img,
            "sleep",
            "60",
        ],
    );
    let t = run_it("exec", &["exec", "-it", "x", "sh"]);
    t.wait_for("#");
    t.keys(&["echo T=$TERM $(tty); exit 4", "Enter"]);
    let s = t.wait_for("EXIT=");
    assert!(s.contains("T=xterm /dev/pts/"), "{s}");
    assert!(s.contains("EXIT=4"), "{s}");
    drop(t);
    ct_ok(&u, &["rm", "-f", "x"]);
    assert!(!ct_ok(&u, &["ps", "-a"]).contains(" x"));
}
