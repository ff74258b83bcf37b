//! What the config asks for is what the container sees: each test runs the probe in a busybox
//! bundle with one part of the config changed, and checks the probe's report.

mod common;

use std::fs;
use std::process::Command;

use common::*;
use serde_json::json;

fn ns_list(v: &mut serde_json::Value) -> &mut Vec<serde_json::Value> {
    v["linux"]["namespaces"].as_array_mut().unwrap()
}

#[test]
fn runc_spec_bundle_is_isolated() {
    let f = Fixture::new();
    let b = f.bundle("b", |_| {});
    let p = f.probe(&b, &[]);
    // PID 1 of its own pid namespace, and alone with its children.
    assert_eq!(p.get("pid"), "1");
    let procs: Vec<&str> = p.get("procs").split_whitespace().collect();
    // (the probe itself, plus the subshell and pipeline listing /proc)
    assert!(procs.len() <= 6 && procs[0] == "1", "{procs:?}");
    assert_eq!(p.get("hostname"), "runc");
    assert_eq!(p.get("uid"), "0");
    // runc spec: bounding = KILL, NET_BIND_SERVICE, AUDIT_WRITE.
    let bits = (1u64 << 5) | (1 << 10) | (1 << 29);
    assert_eq!(p.get("CapBnd"), format!("{bits:016x}"));
    assert_eq!(p.get("CapEff"), format!("{bits:016x}"));
    assert_eq!(p.get("NoNewPrivs"), "1");
    // masked /proc/timer_list (this kernel has no /proc/kcore), read-only /proc/sys,
    // read-only root (runc spec has root.readonly).
    assert_eq!(p.get("timer_list"), "0");
    assert_eq!(p.get("procsys"), "ro");
    assert_eq!(p.get("root"), "ro");
    // Exactly the default devices, the std links, and the mounts of the config.
    let devs: Vec<&str> = p.get("devices").split_whitespace().collect();
    assert_eq!(
        devs,
        [
            "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin",
            "stdout", "tty", "urandom", "zero"
        ]
    );
    // The old root is gone: no mount from the host's tree is visible.
    // The old root is gone: every mount point is one the config asked for (or below /proc,
    // /sys/fs/cgroup and /sys/firmware for the masks, cgroup hierarchies, read-only paths).
    let allowed = [
        "/",
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/sys",
        "/sys/fs/cgroup",
    ];
    for m in p.all("mount") {
        let target = m.split(' ').nth(4).unwrap();
        assert!(
            allowed.contains(&target)
                || target.starts_with("/proc/")
                || target.starts_with("/sys/fs/cgroup/")
                || target == "/sys/firmware",
            "unexpected mount (old root?): {m}"
        );
    }
    assert_eq!(
        p.all("mount")
            .iter()
            .filter(|m| m.split(' ').nth(4) == Some("/"))
            .count(),
        1
    );
    assert!(p.mount("/").unwrap().contains(" ro,"), "{:?}", p.mount("/"));
    let host_ns = fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(p.get("ns_net"), host_ns.to_str().unwrap());
    assert_ne!(
        p.get("ns_ipc"),
        fs::read_link("/proc/self/ns/ipc")
            .unwrap()
            .to_str()
            .unwrap()
    );
    assert!(f.state_dirs().is_empty(), "foreground run left state");
}

#[test]
fn overrides_env_cwd_user_hostname_and_args() {
    let f = Fixture::new();
    let b = f.bundle("b", |v| {
        v["process"]["env"] = json!(["PATH=/bin", "KEEP=1", "FOO=old"]);
    });
    let out = f.run(&[
        b.to_str().unwrap(),
        "-e",
        "FOO=bar",
        "-w",
        "/tmp",
        "-u",
        "1000:1000",
        "--hostname",
        "h1",
        "--",
        "sh",
        "-c",
        "echo $FOO $KEEP $(pwd) $(id -u):$(id -g) $(hostname)",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "bar 1 /tmp 1000:1000 h1\n");
    let out = f.run(&[b.to_str().unwrap(), "-u", "app", "--", "id", "-u"]);
    assert_eq!(stdout(&out), "1000\n");
}

#[test]
fn user_identity_groups_umask_and_capabilities() {
    let f = Fixture::new();
    let b = f.bundle("b", |v| {
        v["process"]["user"] =
            json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 7], "umask": 0o027});
        v["process"]["capabilities"] = json!({
            "bounding": ["CAP_NET_BIND_SERVICE", "CAP_CHOWN", "CAP_KILL"],
            "permitted": ["CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
            "effective": ["CAP_NET_BIND_SERVICE"],
            "inheritable": ["CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_NET_BIND_SERVICE"]
        });
        v["process"]["noNewPrivileges"] = json!(false);
    });
    let p = f.probe(&b, &[]);
    assert_eq!(p.get("uid"), "1000");
    assert_eq!(p.get("gid"), "1000");
    assert_eq!(p.get("groups"), "1000 5 7");
    assert_eq!(p.get("umask"), "0027");
    // A non-root process keeps only the ambient set across execve.
    assert_eq!(p.get("CapAmb"), format!("{:016x}", 1u64 << 10));
    assert_eq!(p.get("CapInh"), format!("{:016x}", 1u64 << 10));
    assert_eq!(p.get("CapEff"), format!("{:016x}", 1u64 << 10));
    assert_eq!(
        p.get("CapBnd"),
        format!("{:016x}", (1u64 << 10) | 1 | (1 << 5))
    );
    assert_eq!(p.get("NoNewPrivs"), "0");
}

#[test]
fn rlimits_and_oom_score_adj() {
    let f = Fixture::new();
    let b = f.bundle("b", |v| {
        v["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654}]);
        v["process"]["oomScoreAdj"] = json!(345);
    });
    let p = f.probe(&b, &[]);
    assert_eq!(p.get("nofile"), "321");
    assert_eq!(p.get("nofile_hard"), "654");
    assert_eq!(p.get("oom"), "345");
}

#[test]
fn raising_a_hard_rlimit_without_cap_sys_resource_is_a_clear_error() {
    let (_, hard) = {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into l.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) };
        (l.rlim_cur, l.rlim_max)
    };
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap();
    let has = u64::from_str_radix(eff.trim(), 16).unwrap() & (1 << 24) != 0;
    let f = Fixture::new();
    let b = f.bundle("b", |v| {
        v["process"]["rlimits"] =
            json!([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": hard + 1000}]);
    });
    let out = f.run(&[b.to_str().unwrap()]);
    if has {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        return;
    }
    assert_eq!(out.status.code(), Some(125));
    let e = stderr(&out);
    let want = format!(
        "ct-exec: rlimit RLIMIT_NOFILE: cannot raise the hard limit to {}: it is {hard} and CAP_SYS_RESOURCE is not available",
        hard + 1000
    );
    assert!(e.lines().any(|l| l.starts_with(&want)), "{e}");
    assert!(f.state_dirs().is_empty());
}

#[test]
fn mounts_in_order_with_options() {
    let f = Fixture::new();
    let src = f.tmp.path().join("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("hello"), "hi").unwrap();
    let b = f.bundle("b", |v| {
        let m = v["mounts"].as_array_mut().unwrap();
        m.push(
            json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "nodev", "mode=711", "size=1m"]}),
        );
        // Order matters: this one lands inside the tmpfs above.
        m.push(
            json!({"destination": "/data/in", "type": "bind", "source": src,
            "options": ["rbind", "ro", "noexec"]}),
        );
        m.push(
            json!({"destination": "/file", "type": "bind", "source": src.join("hello"),
            "options": ["bind"]}),
        );
    });
    let p = f.probe(&b, &[]);
    let data = p.mount("/data").expect("tmpfs on /data");
    assert!(data.contains("nosuid,nodev"), "{data}");
    assert!(
        data.contains("size=1024k") && data.contains("mode=711"),
        "{data}"
    );
    let inner = p.mount("/data/in").expect("bind on /data/in");
    assert!(
        inner.contains(" ro,") && inner.contains("noexec"),
        "{inner}"
    );
    assert!(p.mount("/file").is_some());
    let out = f.run(&[b.to_str().unwrap(), "--", "cat", "/data/in/hello", "/file"]);
    assert_eq!(stdout(&out), "hihi");
}

#[test]
fn rootfs_propagation_private_by_default_or_as_asked() {
    let f = Fixture::new();
    let b = f.bundle("b", |_| {});
    let p = f.probe(&b, &[]);
    let root = p.mount("/").unwrap();
    assert!(
        !root.contains("shared:") && !root.contains("master:"),
        "{root}"
    );
    let b2 = f.bundle("b2", |v| v["linux"]["rootfsPropagation"] = json!("rshared"));
    let p = f.probe(&b2, &[]);
    assert!(
        p.mount("/").unwrap().contains("shared:"),
        "{:?}",
        p.mount("/")
    );
}

#[test]
fn devices_from_the_config_are_created() {
    let f = Fixture::new();
    let b = f.bundle("b", |v| {
        v["linux"]["devices"] = json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640, "uid": 0, "gid": 0}]);
    });
    let out = f.run(&[
        b.to_str().unwrap(),
        "--",
        "stat",
        "-c",
        "%F %t:%T %a",
        "/dev/fuse",
    ]);
    assert_eq!(
        stdout(&out),
        "character special file a:e5 640\n",
        "{}",
        stderr(&out)
    );
}

#[test]
fn writable_root_masked_and_readonly_paths() {
    let f = Fixture::new();
    let b = f.bundle("b", |v| {
        v["root"]["readonly"] = json!(false);
        v["linux"]["maskedPaths"] = json!(["/etc/group"]);
        v["linux"]["readonlyPaths"] = json!(["/tmp"]);
    });
    let p = f.probe(&b, &[]);
    assert_eq!(p.get("root"), "rw");
    // Without the default masks, /proc/timer_list is readable again and /proc/sys writable.
    assert_ne!(p.get("timer_list"), "0");
    assert_eq!(p.get("procsys"), "rw");
    let out = f.run(&[
        b.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "cat /etc/group | wc -c; touch /tmp/x || echo ro",
    ]);
    assert!(stdout(&out).starts_with("0\n"), "{}", stdout(&out));
    assert!(stdout(&out).ends_with("ro\n"));
}

#[test]
fn sysctl_hostname_and_domainname() {
    let f = Fixture::new();
    let b = f.bundle("b", |v| {
        v["hostname"] = json!("box");
        v["domainname"] = json!("example.test");
        v["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.msgmax": "9000"});
    });
    let out = f.run(&[
        b.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "hostname; cat /proc/sys/kernel/domainname /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax",
    ]);
    assert_eq!(
        stdout(&out),
        "box\nexample.test\n1\n9000\n",
        "{}",
        stderr(&out)
    );
}

#[test]
fn user_namespace_with_mappings() {
    let f = Fixture::new();
    let b = f.bundle("b", |v| {
        ns_list(v).push(json!({"type": "user"}));
        v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        v["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        v["root"]["readonly"] = json!(false);
        v["process"]["args"] = json!(["sh", "-c", "/probe; touch /tmp/made-inside"]);
    });
    let p = f.probe(&b, &[]);
    assert_eq!(p.get("uid"), "0");
    assert_eq!(p.get("uid_map"), " 0 200000 65536;");
    assert_eq!(p.get("gid_map"), " 0 200000 65536;");
    assert_ne!(
        p.get("ns_user"),
        fs::read_link("/proc/self/ns/user")
            .unwrap()
            .to_str()
            .unwrap()
    );
    // Devices are bind mounts of the host's nodes in a user namespace: still all there.
    assert!(p.get("devices").contains("null"));
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(b.join("rootfs/tmp/made-inside")).unwrap();
    assert_eq!((m.uid(), m.gid()), (200000, 200000));
}

/// A helper process owning namespaces the container joins; killed on drop.
struct Holder(std::process::Child);
impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn holder(args: &[&str]) -> Holder {
    let c = Command::new("unshare")
        .args(args)
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    Holder(c)
}

/// The pid of the process at the end of `pid`'s chain of only-children (unshare -f forks).
fn leaf(pid: u32) -> u32 {
    let mut p = pid;
    for _ in 0..5 {
        match fs::read_to_string(format!("/proc/{p}/task/{p}/children")) {
            Ok(c) if !c.trim().is_empty() => {
                p = c.split_whitespace().next().unwrap().parse().unwrap()
            }
            _ => break,
        }
    }
    p
}

#[test]
fn namespaces_joined_by_path() {
    let f = Fixture::new();
    let h = holder(&[
        "--uts",
        "--net",
        "sh",
        "-c",
        "hostname joined-uts; exec sleep 60",
    ]);
    let pid = h.0.id();
    assert!(wait_until(std::time::Duration::from_secs(5), || {
        fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e.ends_with("sleep"))
    }));
    let b = f.bundle("b", |v| {
        for ns in ns_list(v).iter_mut() {
            if ns["type"] == "uts" || ns["type"] == "network" {
                let name = if ns["type"] == "uts" { "uts" } else { "net" };
                ns["path"] = json!(format!("/proc/{pid}/ns/{name}"));
            }
        }
        v.as_object_mut().unwrap().remove("hostname");
    });
    let p = f.probe(&b, &[]);
    assert_eq!(p.get("hostname"), "joined-uts");
    assert_eq!(
        p.get("ns_net"),
        fs::read_link(format!("/proc/{pid}/ns/net"))
            .unwrap()
            .to_str()
            .unwrap()
    );
    assert_eq!(p.get("pid"), "1");
}

#[test]
fn user_namespace_with_a_joined_network_namespace() {
    // The slow path: join first (with host privileges), then create the user namespace.
    let f = Fixture::new();
    let h = holder(&["--net", "sleep", "60"]);
    let pid = h.0.id();
    assert!(wait_until(std::time::Duration::from_secs(5), || {
        fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e.ends_with("sleep"))
    }));
    let b = f.bundle("b", |v| {
        for ns in ns_list(v).iter_mut() {
            if ns["type"] == "network" {
                ns["path"] = json!(format!("/proc/{pid}/ns/net"));
            }
        }
        ns_list(v).push(json!({"type": "user"}));
        v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
        v["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
    });
    let p = f.probe(&b, &[]);
    assert_eq!(p.get("pid"), "1");
    assert_eq!(p.get("uid_map"), " 0 300000 65536;");
    assert_eq!(
        p.get("ns_net"),
        fs::read_link(format!("/proc/{pid}/ns/net"))
            .unwrap()
            .to_str()
            .unwrap()
    );
    // sysfs could not be mounted by this user namespace: the host's /sys is bound instead.
    assert!(p.mount("/sys").is_some());
}

#[test]
fn pid_namespace_joined_by_path() {
    let f = Fixture::new();
    let h = holder(&["--pid", "--fork", "sleep", "60"]);
    let outer = h.0.id();
    let mut inner = outer;
    assert!(wait_until(std::time::Duration::from_secs(5), || {
        inner = leaf(outer);
        inner != outer
            && fs::read_link(format!("/proc/{inner}/exe")).is_ok_and(|e| e.ends_with("sleep"))
    }));
    let b = f.bundle("b", |v| {
        for ns in ns_list(v).iter_mut() {
            if ns["type"] == "pid" {
                ns["path"] = json!(format!("/proc/{inner}/ns/pid"));
            }
        }
    });
    let p = f.probe(&b, &[]);
    // The holder's sleep is PID 1 there; we are someone else in its namespace.
    assert_ne!(p.get("pid"), "1");
    assert_eq!(
        p.get("ns_pid"),
        fs::read_link(format!("/proc/{inner}/ns/pid"))
            .unwrap()
            .to_str()
            .unwrap()
    );
}

#[test]
fn time_namespace_when_the_kernel_has_it() {
    if !std::path::Path::new("/proc/self/ns/time").exists() {
        eprintln!("no time namespaces on this kernel: nothing to test");
        return;
    }
    let f = Fixture::new();
    let b = f.bundle("b", |v| ns_list(v).push(json!({"type": "time"})));
    let p = f.probe(&b, &[]);
    assert_ne!(
        p.get("ns_time"),
        fs::read_link("/proc/self/ns/time")
            .unwrap()
            .to_str()
            .unwrap()
    );
    assert_eq!(p.get("pid"), "1");
}

#[test]
fn seccomp_profile_blocks_a_syscall_with_its_errno() {
    let f = Fixture::new();
    let b = f.bundle("b", |v| {
        v["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]
        });
        v["root"]["readonly"] = json!(false);
    });
    let out = f.run(&[
        b.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "grep Seccomp: /proc/self/status; mkdir /tmp/d",
    ]);
    let o = stdout(&out);
    assert!(o.starts_with("Seccomp:\t2\n"), "{o}");
    assert!(
        stderr(&out).contains("Permission denied"),
        "{}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn cgroup_with_resources_is_in_place_before_the_command_and_removed_after() {
    let f = Fixture::new();
    let name = unique("ct-exec-test-");
    let b = f.bundle("b", |v| {
        v["linux"]["cgroupsPath"] = json!(format!("/{name}"));
        v["linux"]["resources"] = json!({"memory": {"limit": 67108864}, "pids": {"limit": 20}});
        ns_list(v).push(json!({"type": "cgroup"}));
    });
    // In its own cgroup namespace, the container's cgroup is the root of what it sees.
    let out = f.run(&[b.to_str().unwrap(), "--", "cat", "/proc/self/cgroup"]);
    assert!(
        stdout(&out).lines().all(|l| l.ends_with(":/")),
        "{}",
        stdout(&out)
    );
    let out = f.run(&[
        b.to_str().unwrap(),
        "--",
        "cat",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        "/sys/fs/cgroup/pids/pids.max",
    ]);
    assert_eq!(stdout(&out), "67108864\n20\n", "{}", stderr(&out));
    assert!(!std::path::Path::new("/sys/fs/cgroup/memory")
        .join(&name)
        .exists());
    assert!(!std::path::Path::new("/sys/fs/cgroup/pids")
        .join(&name)
        .exists());
}

/// Without a cgroup namespace (runc spec's namespaces), `/sys/fs/cgroup` shows the container's
/// own cgroup in each hierarchy (bound, read-only), as runc does: its limits are at the top
/// and nothing of the host's tree — no sibling, no parent — is reachable.
#[test]
fn cgroup_mount_without_a_namespace_shows_only_the_containers_own_cgroup() {
    let f = Fixture::new();
    let name = unique("ct-exec-test-");
    let b = f.bundle("b", |v| {
        v["linux"]["cgroupsPath"] = json!(format!("/{name}"));
        v["linux"]["resources"] = json!({"memory": {"limit": 67108864}, "pids": {"limit": 20}});
    });
    // A sibling of the container's cgroup on the host, which must stay invisible.
    let sibling = std::path::Path::new("/sys/fs/cgroup/memory").join(format!("{name}-sibling"));
    fs::create_dir(&sibling).unwrap();
    struct Rmdir(std::path::PathBuf);
    impl Drop for Rmdir {
        fn drop(&mut self) {
            let _ = fs::remove_dir(&self.0);
        }
    }
    let _guard = Rmdir(sibling.clone());
    let script = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; \
        find /sys/fs/cgroup/memory /sys/fs/cgroup/pids -mindepth 1 -type d | wc -l; \
        ls /sys/fs/cgroup/memory | grep -c sibling; \
        echo 1 > /sys/fs/cgroup/pids/pids.max 2>/dev/null && echo writable || echo read-only; \
        grep -c ' /sys/fs/cgroup/' /proc/self/mountinfo";
    let out = f.run(&[b.to_str().unwrap(), "--", "sh", "-c", script]);
    let hierarchies = fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(" /sys/fs/cgroup/") && l.contains(" - cgroup"))
        .count();
    assert_eq!(
        stdout(&out),
        format!("67108864\n20\n0\n0\nread-only\n{hierarchies}\n"),
        "{}",
        stderr(&out)
    );
    assert!(!std::path::Path::new("/sys/fs/cgroup/memory")
        .join(&name)
        .exists());
}

#[test]
fn umask_defaults_to_0022_whatever_ct_exec_had() {
    let f = Fixture::new();
    let b = f.bundle("b", |_| {});
    let mut c = f.cmd();
    c.args([b.to_str().unwrap(), "--", "sh", "-c", "umask"]);
    // SAFETY: umask(2) between fork and exec only affects the child.
    unsafe {
        use std::os::unix::process::CommandExt;
        c.pre_exec(|| {
            libc::umask(0o077);
            Ok(())
        });
    }
    let out = c.output().unwrap();
    assert_eq!(stdout(&out), "0022\n", "{}", stderr(&out));
}
