//! seccomp through the real runtime: busybox bundles with a `linux.seccomp` profile run by the
//! `ct-exec` binary (as root: namespaces, pivot_root). One profile denies mkdir with EPERM and
//! the container's `mkdir` must say "Operation not permitted"; docker's default profile
//! (`ct_unpack::seccomp_default`, what ct-unpack puts in config.json) must run a shell normally
//! and still refuse `unshare` and `mount`.
//!
//! Each test has its own bundle, `CT_ROOT` and `CT_RUN` in a temp dir; the container's mounts
//! live in its own mount namespace and vanish with it.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct Bundle {
    dir: ct_tests::sandbox::Sandbox,
}

/// docker's default capabilities (what ct-unpack writes): enough for a shell, without
/// CAP_SYS_ADMIN.
const CAPS: [&str; 14] = ct_unpack::runtime_defaults::DEFAULT_CAPS;

/// A busybox bundle (rootfs from Debian's busybox-static) whose config carries `seccomp`.
fn bundle(seccomp: Value) -> Bundle {
    bundle_with(seccomp, |_| {})
}

/// The same, with `edit` applied to the config before it is written.
fn bundle_with(seccomp: Value, edit: impl FnOnce(&mut Value)) -> Bundle {
    let dir = ct_tests::sandbox::Sandbox::with_prefix("ct-exec-seccomp-");
    let rootfs = dir.dir.path().join("bundle/rootfs");
    std::fs::create_dir_all(&rootfs).unwrap_or_else(|e| panic!("mkdir rootfs: {e}"));
    let layer = ct_tests::image::busybox_layer();
    tar::Archive::new(layer.as_slice())
        .unpack(&rootfs)
        .unwrap_or_else(|e| panic!("unpack busybox: {e}"));
    let config = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/bin"],
            "cwd": "/",
            "noNewPrivileges": true,
            "capabilities": {
                "bounding": CAPS, "effective": CAPS, "permitted": CAPS
            }
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "seccomp",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}
        ],
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"},
                           {"type": "uts"}, {"type": "network"}],
            "seccomp": seccomp
        }
    });
    let mut config = config;
    edit(&mut config);
    let text = serde_json::to_vec_pretty(&config).unwrap_or_default();
    std::fs::write(dir.dir.path().join("bundle/config.json"), text)
        .unwrap_or_else(|e| panic!("config.json: {e}"));
    Bundle { dir }
}

impl Bundle {
    /// `ct-exec BUNDLE -- sh -c SCRIPT`, with this test's own CT_ROOT/CT_RUN; killed after
    /// 60 s.
    fn run(&self, script: &str) -> Output {
        let base = self.dir.dir.path();
        let mut child = Command::new(env!("CARGO_BIN_EXE_ct-exec"))
            .arg(base.join("bundle"))
            .args(["--", "sh", "-c", script])
            .env("CT_ROOT", base.join("root"))
            .env("CT_RUN", base.join("run"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn ct-exec: {e}"));
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("wait ct-exec: {e}"))
    }

    fn run_dir(&self) -> &Path {
        self.dir.dir.path()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn container_mkdir_fails_with_eperm_under_a_profile_denying_it() {
    let b = bundle(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    }));
    let out = b.run(
        "mkdir /tmp/denied; echo mkdir=$?; touch /tmp/file && echo touch-ok; \
         grep '^Seccomp:' /proc/self/status",
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert_eq!(
        stdout, "mkdir=1\ntouch-ok\nSeccomp:\t2\n",
        "stderr: {stderr}"
    );
    assert!(
        stderr.contains("mkdir: can't create directory '/tmp/denied': Operation not permitted"),
        "{stderr}"
    );
    assert!(!b.run_dir().join("bundle/rootfs/tmp/denied").exists());
    assert!(b.run_dir().join("bundle/rootfs/tmp/file").exists());
}

/// `noNewPrivileges: false`, a non-root user, no CAP_SYS_ADMIN: the kernel accepts the filter
/// only while the process still has CAP_SYS_ADMIN, so it must go in before the credentials
/// change (as runc does). Installed after them, the start fails with EACCES (exit 125).
#[test]
fn profile_without_no_new_privs_for_a_user_without_sys_admin() {
    let b = bundle_with(
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
        }),
        |c| {
            c["process"]["noNewPrivileges"] = json!(false);
            c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        },
    );
    let out = b.run(
        "mkdir /tmp/denied; echo mkdir=$?; id -u;          grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status",
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert_eq!(
        stdout, "mkdir=1\n1000\nCapEff:\t0000000000000000\nNoNewPrivs:\t0\nSeccomp:\t2\n",
        "stderr: {stderr}"
    );
    assert!(stderr.contains("Operation not permitted"), "{stderr}");
    assert!(!b.run_dir().join("bundle/rootfs/tmp/denied").exists());
}

#[test]
fn container_runs_normally_under_the_default_profile() {
    let profile = serde_json::to_value(ct_unpack::seccomp_default::profile()).unwrap_or_default();
    let b = bundle(profile);
    let out = b.run(
        "echo hello; ls /bin/busybox; mkdir /tmp/d && echo mkdir-ok; x=$(echo sub); \
         echo sub-$x; sleep 0 & wait $! && echo bg-ok; grep '^Seccomp:' /proc/self/status; \
         unshare -U true; echo unshare=$?; mount -t tmpfs none /tmp/d; echo mount=$?",
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert_eq!(
        stdout, "hello\n/bin/busybox\nmkdir-ok\nsub-sub\nbg-ok\nSeccomp:\t2\nunshare=1\nmount=1\n",
        "stderr: {stderr}"
    );
    assert!(stderr.contains("Operation not permitted"), "{stderr}");
}

/// The same default profile under Debian's runc: the profile is valid OCI for another runtime
/// (runc compiles it with its own libseccomp), and behaves the same there.
#[test]
fn runc_runs_the_default_profile_the_same_way() {
    let profile = serde_json::to_value(ct_unpack::seccomp_default::profile()).unwrap_or_default();
    let b = bundle(profile);
    let config_path = b.run_dir().join("bundle/config.json");
    let mut config: Value = std::fs::read(&config_path)
        .ok()
        .and_then(|t| serde_json::from_slice(&t).ok())
        .unwrap_or_else(|| panic!("read back config.json"));
    config["process"]["args"] = json!([
        "sh",
        "-c",
        "echo hello; grep '^Seccomp:' /proc/self/status; unshare -U true; echo unshare=$?"
    ]);
    std::fs::write(
        &config_path,
        serde_json::to_vec(&config).unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("config.json: {e}"));
    let id = format!("ct-seccomp-{}", std::process::id());
    let state = b.run_dir().join("runc-state");
    let mut child = Command::new("runc")
        .arg("--root")
        .arg(&state)
        .args(["run", "--bundle"])
        .arg(b.run_dir().join("bundle"))
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn runc: {e}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("wait runc: {e}"));
    // Whatever happened, leave no runc state behind.
    let _ = Command::new("runc")
        .arg("--root")
        .arg(&state)
        .args(["delete", "--force", &id])
        .output();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert_eq!(
        stdout, "hello\nSeccomp:\t2\nunshare=1\n",
        "stderr: {stderr}"
    );
}
