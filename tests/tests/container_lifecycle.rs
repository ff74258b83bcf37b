//! minicontainer's user stories through `ct`: a detached container with `-e`, `-v`, `-p`,
//! `--memory`, `--cpus`, `--pids-limit` (checked where the kernel keeps them), `ps`, `logs`,
//! `stop`, `rm`; an interactive shell through a pty; `import`, `images`, `rmi`, `prune`.

use std::fs;
use std::process::Command;

use ct_tests::image::busybox_layer;
use ct_tests::registry::{free_port, Auth, Registry};
use ct_tests::sandbox::{http_get, stderr, stdout, wait_for, Sandbox};

#[test]
fn detached_with_env_volume_port_and_limits_then_stop_and_rm() {
    let reg = Registry::start(Auth::None);
    let ct = Sandbox::new();
    let r = ct.push_busybox(&reg, "mc/busybox:1");
    let vol = ct.dir.path().join("vol");
    fs::create_dir(&vol).unwrap();
    let port = free_port().to_string();
    let v = format!("{}:/data", vol.display());
    let p = format!("127.0.0.1:{port}:8080");
    let script = "echo $GREETING > /data/out; mkdir /www; echo pong > /www/index.html; \
                  echo serving; exec httpd -f -p 8080 -h /www";
    let id = ct.ok(&[
        "run",
        "-d",
        "--name",
        "svc",
        "-e",
        "GREETING=hello",
        "-v",
        &v,
        "-p",
        &p,
        "--memory",
        "48m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "30",
        &r,
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(id, "svc\n");

    let body = wait_for(15, || http_get(port.parse().unwrap()));
    assert_eq!(body.as_deref(), Some("pong\n"), "published port answers");
    assert_eq!(fs::read_to_string(vol.join("out")).unwrap(), "hello\n");
    let read = |c: &str, f: &str| fs::read_to_string(ct.cgroup_file(c, "svc", f)).unwrap();
    assert_eq!(read("memory", "memory.limit_in_bytes").trim(), "50331648");
    assert_eq!(read("cpu", "cpu.cfs_quota_us").trim(), "50000");
    assert_eq!(read("pids", "pids.max").trim(), "30");
    assert_eq!(ct.ok(&["logs", "svc"]), "serving\n");
    let inspect: serde_json::Value = serde_json::from_str(&ct.ok(&["inspect", "sv"])).unwrap();
    assert_eq!(inspect["Id"], "svc");
    assert_eq!(inspect["State"]["status"], "running");

    let o = ct.out(&["rm", "svc"]);
    assert!(
        stderr(&o).contains("container 'svc' is running"),
        "{}",
        stderr(&o)
    );
    assert_eq!(ct.containers(), vec!["svc"]);

    // httpd is PID 1 of its namespace with no TERM handler, so the kernel ignores TERM:
    // stop waits -t seconds, then KILLs.
    assert_eq!(ct.ok(&["stop", "-t", "1", "svc"]), "svc\n");
    let state: serde_json::Value =
        serde_json::from_slice(&fs::read(ct.run.join("containers/svc/state.json")).unwrap())
            .unwrap();
    assert_eq!(state["status"], "stopped");
    assert_eq!(state["exitCode"], 137, "httpd ended by SIGKILL");
    assert!(http_get(port.parse().unwrap()).is_none());

    assert_eq!(ct.ok(&["rm", "svc"]), "svc\n");
    assert!(ct.containers().is_empty());
    assert!(!ct.netns().contains(&"svc".to_string()));
    assert!(ct.cgroups_left().is_empty(), "{:?}", ct.cgroups_left());
    assert_eq!(ct.bridge_ports(), "");
}

#[test]
fn interactive_shell_through_a_pty() {
    let reg = Registry::start(Auth::None);
    let ct = Sandbox::new();
    let r = ct.push_busybox(&reg, "mc/busybox:2");
    ct.ok(&["pull", &r]);
    // script(1) gives ct a pty as its terminal and copies our stdin into it.
    let line = format!(
        "{} run -i -t --rm --network none {r} sh",
        ct_tests::sandbox::script().display()
    );
    let c = ct.cmd(&[]);
    let envs: Vec<(std::ffi::OsString, std::ffi::OsString)> = c
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_os_string(), v?.to_os_string())))
        .collect();
    let feed = "sleep 1; printf 'tty; echo $((6*7))\\n'; sleep 1; printf 'exit 5\\n'; sleep 2";
    let o = Command::new("timeout")
        .args(["-k", "5", "60", "sh", "-c"])
        .arg(format!("({feed}) | script -qec '{line}' /dev/null"))
        .envs(envs)
        .output()
        .unwrap();
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(5), "{out}{}", stderr(&o));
    assert!(out.contains("/dev/pts/0\r\n42\r\n"), "{out}");
    assert!(ct.containers().is_empty());
}

#[test]
fn import_images_rmi_prune() {
    let ct = Sandbox::new();
    let tar = ct.dir.path().join("rootfs.tar");
    fs::write(&tar, busybox_layer()).unwrap();
    let imported = ct.ok(&["import", tar.to_str().unwrap(), "local/bb:1"]);
    assert!(imported.starts_with("docker.io/local/bb:1@sha256:"));
    assert_eq!(ct.ok(&["images", "-q"]), "docker.io/local/bb:1\n");
    let image: serde_json::Value =
        serde_json::from_str(&ct.ok(&["inspect", "local/bb:1"])).unwrap();
    let digest = imported.trim().rsplit_once('@').unwrap().1;
    assert_eq!(image["Digest"], digest);
    assert_eq!(
        image["Config"]["rootfs"]["diff_ids"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let o = ct.out(&[
        "run",
        "--name",
        "u1",
        "--network",
        "none",
        "local/bb:1",
        "true",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    let o = ct.out(&["rmi", "local/bb:1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("ct-gc: image 'docker.io/local/bb:1' is used by container 'u1'"),
        "{}",
        stderr(&o)
    );
    // prune removes the stopped container, then what nothing uses; the image stays (named).
    let out = ct.ok(&["prune", "--grace", "0"]);
    assert!(out.starts_with("u1\nremoved 0 blobs, 0 layers,"), "{out}");
    assert!(ct.containers().is_empty());
    assert_eq!(ct.ok(&["rmi", "local/bb:1"]), "docker.io/local/bb:1\n");
    assert_eq!(ct.ok(&["images", "-q"]), "");
    let blobs = fs::read_dir(ct.root.join("images/blobs/sha256"))
        .unwrap()
        .count();
    let layers = fs::read_dir(ct.root.join("layers/sha256")).unwrap().count();
    assert_eq!((blobs, layers), (0, 0));
}

#[test]
fn exec_enters_a_running_container() {
    let reg = Registry::start(Auth::None);
    let ct = Sandbox::new();
    let r = ct.push_busybox(&reg, "mc/busybox:3");
    ct.ok(&[
        "run",
        "-d",
        "--name",
        "up",
        "-e",
        "WHO=inside",
        "--pids-limit",
        "20",
        &r,
        "sleep",
        "60",
    ]);
    let o = ct.out(&[
        "exec",
        "up",
        "sh",
        "-c",
        "echo $WHO; hostname; cat /proc/1/comm; cat /proc/self/cgroup | grep pids",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..3], &["inside", "up", "sleep"], "{out}");
    // In the container's cgroup namespace its own cgroup is the root ("/../x" if outside).
    assert!(lines[3].ends_with(":pids:/"), "{out}");
    // …and it is counted there: sleep plus this cat.
    let o = ct.out(&["exec", "up", "cat", "/sys/fs/cgroup/pids/pids.current"]);
    assert_eq!(stdout(&o), "2\n", "{}", stderr(&o));
    let o = ct.out(&["exec", "up", "sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3));
}
