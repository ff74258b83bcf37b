//! A container cannot open the host's disk: the device cgroup (`linux.resources.devices`, then
//! the devices every runtime allows) is in place before the container's first instruction.
//!
//! The attack: as root in the container, `mknod` a block device of the host and read it (the
//! disk under `/`, or the first one the host's root can open where the host itself refuses
//! that one: `ct_tests::host_disk`). The bundle comes from the real `ct-unpack` (its docker-like default config,
//! with CAP_MKNOD), runs under `ct-exec` and under `runc`, and both must say the same: mknod
//! is allowed (`b *:* m`), opening the node fails with EPERM, and the devices a container
//! needs (null, zero, full, urandom, tty, ptmx, pts) still open. Inside, the container's own
//! v1 `devices.list` shows the allow list (this host has a v1 devices controller).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ct_layout::image_layout::ImageLayout;

use ct_tests::bins::bin;
use ct_tests::host_disk::{mknod, openable_block_device};
use ct_tests::image::{busybox_layer, Compression, Image};
use ct_tests::runc::Runc;
use ct_tests::sandbox::Sandbox;
use serde_json::json;

/// What the container tries, one `name=outcome` line each (outcome `ok` or the error).
fn attack(disk: (u32, u32)) -> String {
    format!(
        "try() {{ if sh -c \"$2\" 2>/tmp/e; then echo \"$1=ok\"; else echo \"$1=$(cat /tmp/e)\"; fi; }}; \
         try mknod 'mknod /tmp/disk b {} {}'; \
         try disk 'head -c 1 /tmp/disk >/dev/null'; \
         try disk-write 'exec 3>>/tmp/disk'; \
         try null 'echo x > /dev/null'; \
         try zero 'head -c 1 /dev/zero >/dev/null'; \
         try full 'head -c 1 /dev/full >/dev/null'; \
         try urandom 'head -c 1 /dev/urandom >/dev/null'; \
         try tty 'exec 3<>/dev/tty'; \
         try ptmx 'exec 3<>/dev/ptmx; ls /dev/pts | grep -qx 0'; \
         echo devices.list=$(sort /sys/fs/cgroup/devices/devices.list | tr '\\n' ';')",
        disk.0, disk.1
    )
}

fn lines(o: &Output) -> Vec<(String, String)> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn get<'a>(v: &'a [(String, String)], k: &str) -> &'a str {
    v.iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {k} in {v:?}"))
}

fn ct_exec(sb: &Sandbox, bundle: &Path, env: &[(&str, &str)]) -> Output {
    Command::new("timeout")
        .args(["-s", "KILL", "60"])
        .arg(bin("ct-exec"))
        .arg(bundle)
        .env("CT_ROOT", &sb.root)
        .env("CT_RUN", &sb.run)
        .env("CT_CGROUP_PARENT", sb.cgroup_parent())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

const EPERM: &str = "Operation not permitted";

#[test]
fn a_container_cannot_open_the_hosts_disk() {
    let disk = openable_block_device();
    let sb = Sandbox::new();
    let store = sb.store();
    Image::new()
        .layer(busybox_layer(), Compression::Gzip)
        .config(json!({"Entrypoint": ["/bin/sh", "-c"], "Cmd": [attack(disk)]}))
        .write(&ImageLayout::of_store(&store), "localhost/attack:1");
    let runc = Runc::new(&sb, "ct-dev-");
    let out = Command::new(bin("ct-unpack"))
        .args(["--flat", "--name", &runc.id, "localhost/attack:1"])
        .env("CT_ROOT", &store.root)
        .env("CT_RUN", &store.run)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bundle = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());

    let ct = ct_exec(&sb, &bundle, &[]);
    assert_eq!(
        ct.status.code(),
        Some(0),
        "ct-exec: {}",
        String::from_utf8_lossy(&ct.stderr)
    );
    let seen = lines(&ct);
    assert_eq!(get(&seen, "mknod"), "ok", "{seen:?}");
    for k in ["disk", "disk-write"] {
        assert!(get(&seen, k).ends_with(EPERM), "{k}: {seen:?}");
    }
    for k in ["null", "zero", "full", "urandom", "ptmx"] {
        assert_eq!(get(&seen, k), "ok", "{k}: {seen:?}");
    }
    // No controlling terminal: the kernel says ENXIO once the cgroup has let the open through.
    assert!(!get(&seen, "tty").ends_with(EPERM), "{seen:?}");
    assert_eq!(
        get(&seen, "devices.list"),
        "b *:* m;c *:* m;c 10:200 rwm;c 136:* rwm;c 1:3 rwm;c 1:5 rwm;c 1:7 rwm;c 1:8 rwm;\
         c 1:9 rwm;c 5:0 rwm;c 5:1 rwm;c 5:2 rwm;"
    );

    // runc on the same bundle sees the same.
    std::fs::remove_file(bundle.join("rootfs/tmp/disk")).ok();
    let r = runc.run(&bundle);
    assert_eq!(
        r.status.code(),
        Some(0),
        "runc: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert_eq!(lines(&r), seen);
}

#[test]
fn a_runc_spec_bundle_cannot_open_the_hosts_disk_under_ct_exec_on_v1_and_v2() {
    runc_spec_bundle_vs_the_hosts_disk(false);
}

/// No `linux.resources` at all: still a cgroup with the runtime's device rules, as runc.
#[test]
fn a_config_without_resources_cannot_open_the_hosts_disk_either() {
    runc_spec_bundle_vs_the_hosts_disk(true);
}

fn runc_spec_bundle_vs_the_hosts_disk(without_resources: bool) {
    let disk = openable_block_device();
    let sb = Sandbox::new();
    let bundle = sb.dir.path().join("bundle");
    let rootfs = bundle.join("rootfs");
    let layer = busybox_layer();
    let mut tar = tar::Archive::new(layer.as_slice());
    tar.unpack(&rootfs).unwrap();
    // The node is already in the image: runc spec's capabilities have no CAP_MKNOD.
    mknod(&rootfs.join("disk"), true, disk.0, disk.1);
    let spec = Command::new("runc")
        .args(["spec", "--bundle"])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(spec.status.success());
    let path = bundle.join("config.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(
        v["linux"]["resources"],
        json!({"devices": [{"allow": false, "access": "rwm"}]}),
        "runc spec's stock resources"
    );
    v["process"]["terminal"] = json!(false);
    v["process"]["args"] = json!([
        "/bin/sh",
        "-c",
        "head -c 1 /disk >/dev/null 2>/e && echo disk=ok || echo disk=$(cat /e); \
         head -c 1 /dev/urandom >/dev/null && echo urandom=ok"
    ]);
    v["root"]["readonly"] = json!(false);
    if without_resources {
        v["linux"].as_object_mut().unwrap().remove("resources");
    }
    std::fs::write(&path, v.to_string()).unwrap();

    let runc = Runc::new(&sb, "ct-dev-spec-");
    let r = runc.run(&bundle);
    let want = vec![
        ("disk".to_string(), format!("head: /disk: {EPERM}")),
        ("urandom".to_string(), "ok".to_string()),
    ];
    assert_eq!(
        lines(&r),
        want,
        "runc: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    // v1 (the devices controller) and v2 (a BPF program on the cgroup2 directory).
    for mode in ["auto", "v2"] {
        let ct = ct_exec(&sb, &bundle, &[("CT_CGROUP_MODE", mode)]);
        assert_eq!(
            lines(&ct),
            want,
            "{mode}: {}",
            String::from_utf8_lossy(&ct.stderr)
        );
    }
}
