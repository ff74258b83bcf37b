//! The ct-exec that `make` installs: `ct-exec/build-static.sh` links it statically (musl where
//! rustup has the target, glibc otherwise — see that script for why), and that binary, not
//! only the debug build the other tests use, must run containers.
//!
//! Checked on the built file: its ELF program headers have no `PT_INTERP` (no dynamic loader
//! is named, so nothing from the host's /lib is mapped at start). Then it runs a stock
//! `runc spec` busybox bundle (new namespaces, its default mounts, the device cgroup): the
//! command's output arrives and its exit status is ct-exec's. (The containment it shares
//! with the debug build, same code, is attacked in depth in ct-exec/tests/containment.rs.)

use std::path::Path;
use std::process::Command;

use ct_tests::sandbox::Sandbox;

#[test]
fn the_installed_static_ct_exec_runs_a_container() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo.join("target"));
    let o = Command::new(repo.join("ct-exec/build-static.sh"))
        .arg("release")
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "build-static.sh: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let exe = std::path::PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
    assert!(exe.is_file(), "{}", exe.display());

    let headers = Command::new("readelf")
        .args(["-lW"])
        .arg(&exe)
        .output()
        .unwrap();
    let headers = String::from_utf8_lossy(&headers.stdout);
    assert!(headers.contains("LOAD"), "{headers}");
    assert!(!headers.contains("INTERP"), "not static: {headers}");

    let sb = Sandbox::new();
    let b = sb.bundle("bundle", |c| {
        c["process"]["args"] =
            serde_json::json!(["sh", "-c", "echo hello from the container; exit 7"]);
    });
    let o = sb
        .program(&exe.to_string_lossy(), 60)
        .arg(&b)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(7),
        "stdout: {out} stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("hello from the container"), "{out}");
}
