//! An ordinary user asks for limits on a host that cannot delegate cgroups to them (this one
//! is cgroup v1 hybrid): `ct-cgroup --memory … | ct-exec` says once that the limits are not
//! applied and why, records nothing, creates no cgroup, and the container runs — as rootless
//! podman does. (Where the user has a delegated v2 subtree the limits go there: that choice is
//! unit-tested in `delegation.rs`, as no such subtree exists here.) Needs the workspace's
//! ct-exec built (`cargo test --workspace`).

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

use ct_tests::bins::bin;
use ct_tests::user::TestUser;

fn chown_r(p: &Path, uid: u32) {
    let st = Command::new("chown")
        .args(["-R", &format!("{uid}:{uid}")])
        .arg(p)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn a_users_limits_without_delegation_are_skipped_with_one_warning_and_the_container_runs() {
    let u = TestUser::create();
    let t = ct_tests::sandbox::Sandbox::new();
    fs::set_permissions(t.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let id = format!("rootless-limits-{}", std::process::id());
    let dir = t.dir.path().join(&id);
    let binp = dir.join("rootfs/bin");
    fs::create_dir_all(&binp).unwrap();
    fs::copy("/bin/busybox", binp.join("busybox")).unwrap();
    for applet in ["sh", "echo"] {
        symlink("busybox", binp.join(applet)).unwrap();
    }
    chown_r(&dir, u.uid);
    let d = dir.to_string_lossy().into_owned();
    let out = u
        .cmd("/usr/sbin", "runc", &["spec", "--rootless", "--bundle", &d])
        .output()
        .unwrap();
    assert!(out.status.success(), "runc spec: {out:?}");
    let cfg = dir.join("config.json");
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&cfg).unwrap()).unwrap();
    v["process"]["terminal"] = false.into();
    v["process"]["args"] = serde_json::json!(["echo", "ran"]);
    fs::write(&cfg, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    chown_r(&cfg, u.uid);
    let before = fs::read(&cfg).unwrap();

    let tools = bin("ct-cgroup")
        .parent()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let script = format!("echo '{d}' | ct-cgroup --memory 64m --pids-limit 20 | ct-exec");
    let out = u.cmd(&tools, "sh", &["-c", &script]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran\n");
    assert_eq!(
        err.matches("ct-cgroup: warning: limits not applied")
            .count(),
        1,
        "{err}"
    );
    assert!(err.contains("cgroup v2"), "{err}");
    assert!(
        !err.contains("ct-exec: warning: no cgroup"),
        "one warning: {err}"
    );
    assert_eq!(fs::read(&cfg).unwrap(), before, "nothing recorded");
    for ctrl in ["memory", "pids", "unified"] {
        let p = Path::new("/sys/fs/cgroup").join(ctrl).join("ct").join(&id);
        assert!(!p.exists(), "{} made", p.display());
    }
}
