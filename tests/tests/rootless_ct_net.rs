//! Networks and namespaces of an unprivileged user: `ct-exec unshare` runs a command in the
//! user's namespaces (user_namespaces(7): the pause process's user and mount namespaces),
//! and ct-net gives a user's container a network without root — `--network none` (loopback
//! only), and the default user-mode network, a network namespace under `$CT_RUN/netns`
//! connected by pasta or slirp4netns, with `-p HOSTPORT:PORT` published on the host. Every
//! test runs the real binaries as a user made for it (ct_tests::user).
//!
//! pasta and slirp4netns open `/dev/net/tun`: see [`DeviceOpen`].

mod rootless_ct_support;

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ct_tests::bins::bin;
use ct_tests::device_mode::{DeviceOpen, TUN};
use ct_tests::sandbox::Sandbox;
use ct_tests::user::TestUser;
use rootless_ct_support::{curl_until, free_port, pid_runs, tools_dir, Killed, UserProcess};

/// A bundle of the user's own (`runc spec --rootless`, an empty rootfs): ct-net reads only
/// its config.json.
fn user_bundle(u: &TestUser, name: &str) -> PathBuf {
    let dir = u.home.join(name);
    let out = u
        .cmd(
            "",
            "sh",
            &[
                "-c",
                &format!(
                    "mkdir -p {0}/rootfs && cd {0} && runc spec --rootless",
                    dir.display()
                ),
            ],
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "bundle: {out:?}");
    dir
}

fn ok(out: Output, what: &str) -> String {
    assert!(out.status.success(), "{what}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn net_json(bundle: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(bundle.join("net.json")).unwrap()).unwrap()
}

/// Is `path` there, seen from inside the user's mount namespace?
fn exists_inside(u: &TestUser, path: &str) -> bool {
    u.cmd(
        &tools_dir(),
        "ct-exec",
        &["unshare", "--", "test", "-e", path],
    )
    .status()
    .unwrap()
    .success()
}

/// The whole round trip with the helper the PATH offers: up with a published port, a web
/// server inside answers curl from the host, down leaves no helper, namespace or file.
fn published_port_round_trip(u: &TestUser, path: &str, program: &str) {
    round_trip(u, path, program, "")
}

/// The same with ct-net's `--network MODE` flag (`mode_flag`, empty: the default).
fn round_trip(u: &TestUser, path: &str, program: &str, mode_flag: &str) {
    let bundle = user_bundle(u, &format!("web-{program}"));
    let port = free_port();
    let tools = tools_dir();
    // Run with a lock held on an inherited descriptor (as `ct start` does): the helper, which
    // outlives ct-net, must not keep it. (The user's pause process is started first, without
    // it: see the_pause_process_keeps_no_descriptor_of_the_tool_that_started_it.)
    let mut pause = u.cmd(&tools, "ct-exec", &["unshare", "--", "true"]);
    ok(pause.output().unwrap(), "ct-exec unshare true");
    let held = u.home.join(format!("held-{program}.lock"));
    let script = format!(
        "exec 9>>{} && flock 9 && PATH={path} exec ct-net {mode_flag} -p 127.0.0.1:{port}:80 {}",
        held.display(),
        bundle.display()
    );
    let up = u.cmd(&tools, "sh", &["-c", &script]).output().unwrap();
    assert_eq!(ok(up, "ct-net up").trim(), bundle.to_str().unwrap());
    let rec = net_json(&bundle);
    assert_eq!(rec["userNet"]["program"], program, "{rec}");
    let helper = rec["userNet"]["pid"].as_u64().unwrap();
    let _guard = UserProcess {
        pid: helper,
        uid: u.uid,
    };
    assert!(pid_runs(helper), "the helper runs");
    let free = Command::new("flock")
        .args(["-n"])
        .arg(&held)
        .arg("true")
        .status()
        .unwrap();
    assert!(
        free.success(),
        "{program} holds no descriptor of ct-net's caller"
    );
    let nspath = rec["interfaces"][0]["sandbox"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        nspath.starts_with(&format!("{}/netns/", u.tmp_run().display())),
        "the namespace is under the user's CT_RUN: {nspath}"
    );
    assert!(!Path::new("/run/netns")
        .join(Path::new(&nspath).file_name().unwrap())
        .exists());

    // A web server in the container's network namespace, as the user.
    let www = u.home.join("www");
    let mk = format!(
        "mkdir -p {0} && echo hello-from-{program} > {0}/index.txt",
        www.display()
    );
    ok(u.cmd("", "sh", &["-c", &mk]).output().unwrap(), "www");
    let server = Killed(
        u.cmd(
            &tools,
            "ct-exec",
            &[
                "unshare",
                "--",
                "nsenter",
                &format!("--net={nspath}"),
                "busybox",
                "httpd",
                "-f",
                "-p",
                "80",
                "-h",
                www.to_str().unwrap(),
            ],
        )
        .stdin(Stdio::null())
        .spawn()
        .unwrap(),
    );
    assert_eq!(
        curl_until(port, "index.txt").as_deref(),
        Some(&*format!("hello-from-{program}\n")),
        "the published port answers on the host"
    );
    drop(server);

    let down = u
        .cmd(&tools, "ct-net", &["--down", bundle.to_str().unwrap()])
        .output()
        .unwrap();
    ok(down, "ct-net --down");
    assert!(!pid_runs(helper), "--down stopped {program} (pid {helper})");
    assert!(!exists_inside(u, &nspath), "--down removed {nspath}");
    assert!(!bundle.join("net.json").exists());
    assert!(
        TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "the port is free again"
    );
}

#[test]
fn a_users_published_port_answers_curl_on_the_host_through_pasta_and_down_leaves_nothing() {
    let _tun = DeviceOpen::new(TUN);
    let u = TestUser::create();
    published_port_round_trip(&u, &format!("{}:/usr/bin:/bin", tools_dir()), "pasta");
}

#[test]
fn without_pasta_slirp4netns_publishes_a_users_port_and_down_stops_it() {
    let _tun = DeviceOpen::new(TUN);
    let u = TestUser::create_with_subids();
    // A PATH with slirp4netns but no pasta.
    let sb = Sandbox::new();
    let only = &sb.dir;
    fs::set_permissions(only.path(), fs::Permissions::from_mode(0o755)).unwrap();
    for p in ["slirp4netns", "busybox", "nsenter", "sh", "env", "test"] {
        let target = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(p))
            .find(|t| t.exists())
            .unwrap();
        std::os::unix::fs::symlink(target, only.path().join(p)).unwrap();
    }
    let path = format!("{}:{}", tools_dir(), only.path().display());
    published_port_round_trip(&u, &path, "slirp4netns");
}

/// `ct-net ARGS…` as the user with a PATH of ct's tools only: neither pasta nor slirp4netns.
fn ct_net_without_helpers(u: &TestUser, args: &[&str]) -> Output {
    let path = format!("PATH={}", tools_dir());
    let mut a = vec![path.as_str(), "ct-net"];
    a.extend(args);
    u.cmd(&tools_dir(), "env", &a).output().unwrap()
}

/// `--network slirp4netns` (podman's name) takes slirp4netns although pasta, the default, is
/// installed; `--network pasta` takes pasta; one that is missing is one clear line.
#[test]
fn network_slirp4netns_or_pasta_chooses_the_helper() {
    let _tun = DeviceOpen::new(TUN);
    let u = TestUser::create_with_subids();
    let path = format!("{}:/usr/bin:/bin", tools_dir());
    round_trip(&u, &path, "slirp4netns", "--network slirp4netns");
    round_trip(&u, &path, "pasta", "--network pasta");

    let bundle = user_bundle(&u, "nopasta");
    let out = ct_net_without_helpers(&u, &["--network", "pasta", bundle.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("ct-net: no user-mode network helper: pasta is not in PATH"),
        "{err}"
    );
}

#[test]
fn without_pasta_or_slirp4netns_a_user_gets_one_clear_line_and_no_network() {
    let u = TestUser::create();
    let bundle = user_bundle(&u, "nohelper");
    let out = ct_net_without_helpers(&u, &[bundle.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(
            "ct-net: no user-mode network helper: neither pasta nor slirp4netns is in PATH"
        ),
        "{err}"
    );
    assert!(!bundle.join("net.json").exists());
    let left = u
        .cmd(
            &tools_dir(),
            "ct-exec",
            &["unshare", "--", "sh", "-c", "ls -A \"$CT_RUN/netns\""],
        )
        .output()
        .unwrap();
    assert_eq!(ok(left, "ls netns").trim(), "", "no namespace left behind");
}

#[test]
fn network_none_gives_a_users_container_only_loopback_and_down_removes_it() {
    let u = TestUser::create();
    let bundle = user_bundle(&u, "none");
    let tools = tools_dir();
    let up = u
        .cmd(
            &tools,
            "ct-net",
            &["--network", "none", bundle.to_str().unwrap()],
        )
        .output()
        .unwrap();
    ok(up, "ct-net --network none");
    let rec = net_json(&bundle);
    let nspath = rec["interfaces"][0]["sandbox"]
        .as_str()
        .unwrap()
        .to_string();
    let links = u
        .cmd(
            &tools,
            "ct-exec",
            &[
                "unshare",
                "--",
                "nsenter",
                &format!("--net={nspath}"),
                "ip",
                "-o",
                "link",
            ],
        )
        .output()
        .unwrap();
    let links = ok(links, "ip link");
    let names: Vec<&str> = links.lines().filter_map(|l| l.split(": ").nth(1)).collect();
    assert_eq!(names, ["lo"], "{links}");
    ok(
        u.cmd(&tools, "ct-net", &["--down", bundle.to_str().unwrap()])
            .output()
            .unwrap(),
        "down",
    );
    assert!(!exists_inside(&u, &nspath));
    assert!(!bundle.join("net.json").exists());
}

#[test]
fn ct_exec_unshare_runs_a_command_as_root_of_the_users_namespace() {
    let u = TestUser::create_with_subids();
    let (sub, n) = u.subuids().unwrap();
    let out = u
        .cmd(
            &tools_dir(),
            "ct-exec",
            &[
                "unshare",
                "--",
                "sh",
                "-c",
                "id -u; echo \"$CT_ROOTLESS\"; echo \"$CT_ROOT\"; cat /proc/self/uid_map; \
                 readlink /proc/self/ns/user",
            ],
        )
        .output()
        .unwrap();
    let text = ok(out, "ct-exec unshare");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "0", "root inside: {text}");
    let pause = fs::read_to_string(u.tmp_run().join("pause.pid")).unwrap();
    let pause = pause.split_whitespace().next().unwrap();
    assert_eq!(lines[1], pause, "CT_ROOTLESS is the pause process");
    assert_eq!(lines[2], u.home.join(".local/share/ct").to_str().unwrap());
    let map: Vec<Vec<&str>> = lines[3..5]
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(map[0], ["0", &u.uid.to_string(), "1"]);
    assert_eq!(map[1], ["1", &sub.to_string(), &n.to_string()]);
    let pause_ns = fs::read_link(format!("/proc/{pause}/ns/user")).unwrap();
    assert_eq!(
        lines[5],
        pause_ns.to_str().unwrap(),
        "the pause's namespace"
    );

    // The command's status is ct-exec's; chroot(1)'s codes for what cannot run.
    let code = |args: &[&str]| {
        u.cmd(&tools_dir(), "ct-exec", args)
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(code(&["unshare", "--", "sh", "-c", "exit 7"]), Some(7));
    assert_eq!(code(&["unshare", "--", "/nonexistent/cmd"]), Some(127));
    assert_eq!(code(&["unshare", "--", "/etc/passwd"]), Some(126));
}

#[test]
fn ct_exec_unshare_as_root_runs_the_command_in_roots_own_namespaces() {
    let out = Command::new(bin("ct-exec"))
        .args([
            "unshare",
            "--",
            "readlink",
            "/proc/self/ns/user",
            "/proc/self/ns/mnt",
        ])
        .env_remove("CT_ROOTLESS")
        .output()
        .unwrap();
    let text = ok(out, "ct-exec unshare as root");
    let mine: Vec<String> = ["user", "mnt"]
        .iter()
        .map(|n| {
            fs::read_link(format!("/proc/self/ns/{n}"))
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(text.lines().collect::<Vec<_>>(), mine);
}

#[test]
fn ct_exec_unshare_defaults_to_the_users_shell() {
    let u = TestUser::create();
    let mut c = u.cmd(
        &tools_dir(),
        "env",
        &["SHELL=/bin/sh", "ct-exec", "unshare"],
    );
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"id -u; exit 3\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
}

#[test]
fn the_pause_process_keeps_no_descriptor_of_the_tool_that_started_it() {
    let u = TestUser::create();
    let held = u.home.join("held.lock");
    let script = format!(
        "exec 9>>{} && flock 9 && exec ct-exec unshare -- true",
        held.display()
    );
    ok(
        u.cmd(&tools_dir(), "sh", &["-c", &script])
            .output()
            .unwrap(),
        "first tool",
    );
    assert!(
        u.tmp_run().join("pause.pid").exists(),
        "the pause process started"
    );
    let free = Command::new("flock")
        .arg("-n")
        .arg(&held)
        .arg("true")
        .status()
        .unwrap();
    assert!(
        free.success(),
        "the lock of the first tool's caller is free once it exits"
    );
}
