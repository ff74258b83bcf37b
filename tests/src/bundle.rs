//! An OCI runtime bundle (`config.json` + `rootfs/`, runtime-spec "Filesystem Bundle") made
//! from Debian's busybox-static: `/bin/busybox` plus one symlink per applet, a passwd/group
//! pair, and `/probe`, a script that prints what the container sees (ids, capabilities,
//! namespaces, mounts, …) as `key=value` lines. The config is `runc spec`'s default made
//! non-interactive, so ct-exec and runc run the very same bundle. [`Sandbox::bundle`]
//! (crate::sandbox::Sandbox::bundle) puts one in a sandbox's directory.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

/// What the container sees, printed by `/probe`.
pub const PROBE: &str = r#"#!/bin/sh
echo "pid=$$"
echo "hostname=$(hostname)"
echo "domainname=$(cat /proc/sys/kernel/domainname)"
echo "uid=$(id -u)"
echo "gid=$(id -g)"
echo "groups=$(id -G)"
grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status | sed 's/:[[:space:]]*/=/'
echo "umask=$(umask)"
echo "nofile=$(ulimit -n)"
echo "nofile_hard=$(ulimit -Hn)"
echo "oom=$(cat /proc/self/oom_score_adj)"
echo "timer_list=$(wc -c < /proc/timer_list)"
if echo 1 2>/dev/null > /proc/sys/vm/overcommit_memory; then echo procsys=rw; else echo procsys=ro; fi
if touch /.probe 2>/dev/null; then echo root=rw; rm -f /.probe; else echo root=ro; fi
echo "devices=$(ls -A /dev | tr '\n' ' ')"
echo "procs=$(ls /proc | grep -E '^[0-9]+$' | tr '\n' ' ')"
echo "cwd=$(pwd)"
echo "uid_map=$(tr -s ' ' < /proc/self/uid_map | tr '\n' ';')"
echo "gid_map=$(tr -s ' ' < /proc/self/gid_map | tr '\n' ';')"
for ns in pid mnt uts ipc net user cgroup time; do echo "ns_$ns=$(readlink /proc/self/ns/$ns)"; done
echo "cgroup=$(tr '\n' ';' < /proc/self/cgroup)"
while read -r line; do echo "mount=$line"; done < /proc/self/mountinfo
echo "probe=done"
"#;

/// A busybox root filesystem at `dir` with the probe at `/probe`.
pub fn busybox_rootfs(dir: &Path) {
    for d in ["bin", "proc", "sys", "dev", "etc", "tmp", "root"] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::copy("/bin/busybox", dir.join("bin/busybox")).unwrap();
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for a in String::from_utf8_lossy(&list.stdout).lines() {
        if a != "busybox" && !a.is_empty() {
            symlink("busybox", dir.join("bin").join(a)).unwrap();
        }
    }
    fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    fs::write(
        dir.join("etc/group"),
        "root:x:0:\napp:x:1000:\nnogroup:x:65534:\n",
    )
    .unwrap();
    fs::write(dir.join("probe"), PROBE).unwrap();
    fs::set_permissions(dir.join("probe"), fs::Permissions::from_mode(0o755)).unwrap();
}

/// `runc spec`'s config, made non-interactive, running the probe.
pub fn runc_spec(dir: &Path) -> Value {
    let out = Command::new("runc")
        .args(["spec", "--bundle"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: Value = serde_json::from_slice(&fs::read(dir.join("config.json")).unwrap()).unwrap();
    v["process"]["terminal"] = json!(false);
    v["process"]["args"] = json!(["/probe"]);
    // Cgroup limits are ct-cgroup's business; keep stderr quiet.
    v["linux"].as_object_mut().unwrap().remove("resources");
    v
}
