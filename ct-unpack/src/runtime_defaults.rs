//! The defaults docker and `runc spec` put in every runtime config, whatever the image
//! (runtime-spec `config.md`, `config-linux.md`); step 7 and 8 of `runtime_config.rs`:
//!
//! - mounts: `/proc`, a `/dev` tmpfs, `/dev/pts` (its own `newinstance`), `/dev/shm`,
//!   `/dev/mqueue`, `/sys` read-only, the cgroup file system read-only;
//! - docker's 14 capabilities; the `/proc` and `/sys` paths it masks (bind-mounted over with
//!   `/dev/null` or an empty tmpfs) or makes read-only;
//! - the namespaces pid, ipc, uts, mount and cgroup, and the device cgroup list;
//! - for a user's container, what `runc spec --rootless` changes (see [`to_rootless`]).

use serde_json::{json, Value};

/// The device cgroup list docker and podman give a container (applied by ct-cgroup for
/// ct-exec): deny every device, then allow mknod of any character or block node (opening one
/// stays refused: a container's root cannot read the host's disk through a node it makes),
/// and read/write/mknod of null, zero, full, random, urandom, tty, console, ptmx and the pts.
/// Like docker's, no tun (10:200).
fn default_device_rules() -> serde_json::Value {
    let allow = |t: &str, major: Option<i64>, minor: Option<i64>, access: &str| {
        json!({"allow": true, "type": t, "major": major.unwrap_or(-1),
               "minor": minor.unwrap_or(-1), "access": access})
    };
    json!([
        {"allow": false, "access": "rwm"},
        allow("c", None, None, "m"),
        allow("b", None, None, "m"),
        allow("c", Some(1), Some(3), "rwm"),
        allow("c", Some(1), Some(5), "rwm"),
        allow("c", Some(1), Some(7), "rwm"),
        allow("c", Some(1), Some(8), "rwm"),
        allow("c", Some(1), Some(9), "rwm"),
        allow("c", Some(5), Some(0), "rwm"),
        allow("c", Some(5), Some(1), "rwm"),
        allow("c", Some(5), Some(2), "rwm"),
        allow("c", Some(136), None, "rwm"),
    ])
}

/// Docker's default capability set (moby `oci/caps/defaults.go`).
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Paths docker hides from containers (bind-mounted over with /dev/null or an empty tmpfs).
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths docker makes read-only in containers.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Step 7: the file systems every container gets (`runc spec`'s list; `/dev/pts` with
/// docker's `gid=5`, the tty group).
pub fn mounts() -> Vec<Value> {
    vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
    ]
}

/// Step 7: `linux`: the namespaces (ct-net adds network), masked and read-only paths, the
/// device cgroup rules, and `seccomp` when given.
pub fn linux(seccomp: Option<Value>) -> Value {
    let mut linux = json!({
        "namespaces": [
            {"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
        ],
        "maskedPaths": MASKED_PATHS,
        "readonlyPaths": READONLY_PATHS,
        "resources": {"devices": default_device_rules()},
    });
    if let Some(s) = seccomp {
        linux["seccomp"] = s;
    }
    linux
}

/// Step 8: the differences of `runc spec --rootless` (`libcontainer/specconv.ToRootless`)
/// but the user namespace.
pub fn to_rootless(spec: &mut Value) {
    if let Some(mounts) = spec["mounts"].as_array_mut() {
        for m in mounts.iter_mut() {
            if m["destination"] == "/sys" {
                *m = json!({"destination": "/sys", "type": "none", "source": "/sys",
                            "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
                continue;
            }
            if let Some(opts) = m["options"].as_array_mut() {
                opts.retain(|o| {
                    o.as_str()
                        .is_none_or(|o| !o.starts_with("uid=") && !o.starts_with("gid="))
                });
            }
        }
    }
    if let Some(linux) = spec["linux"].as_object_mut() {
        linux.remove("resources");
    }
}
