//! The tools that `make` installs for a container's start — ct-exec, ct-mount, ct-net and
//! ct-cgroup — are linked statically by `build-static.sh` (musl where rustup has the target,
//! glibc otherwise — see that script for why), and those binaries, not only the debug builds
//! the other tests use, must run containers.
//!
//! Checked on each built file: its ELF program headers have no `PT_INTERP` (no dynamic loader
//! is named, so nothing from the host's /lib is mapped at start). Then the static ct-exec runs
//! a stock `runc spec` busybox bundle (new namespaces, its default mounts, the device cgroup):
//! the command's output arrives and its exit status is ct-exec's. And `ct run --rm` with all
//! four static tools first in PATH — overlay, bridge network, memory limit, teardown — gives
//! the command's output and status and leaves no mount, veth, namespace or cgroup behind.
//! (The containment they share with the debug builds, same code, is attacked in depth in
//! each crate's tests.)

use std::path::{Path, PathBuf};
use std::process::Command;

use ct_tests::mounts::mounts_under;
use ct_tests::sandbox::{stderr, stdout, Sandbox};

const STATIC: [&str; 4] = ["ct-exec", "ct-mount", "ct-net", "ct-cgroup"];

/// Run build-static.sh for the release profile; the paths it printed, one per tool.
fn build_static() -> Vec<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("target"));
    let o = Command::new(repo.join("build-static.sh"))
        .arg("release")
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(o.status.success(), "build-static.sh: {}", stderr(&o));
    let built: Vec<PathBuf> = stdout(&o).lines().map(PathBuf::from).collect();
    let names: Vec<String> = built
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, STATIC, "{built:?}");
    built
}

fn assert_static(exe: &Path) {
    assert!(exe.is_file(), "{}", exe.display());
    let headers = Command::new("readelf")
        .args(["-lW"])
        .arg(exe)
        .output()
        .unwrap();
    let headers = String::from_utf8_lossy(&headers.stdout);
    assert!(headers.contains("LOAD"), "{headers}");
    assert!(
        !headers.contains("INTERP"),
        "{} is not static: {headers}",
        exe.display()
    );
}

#[test]
fn the_installed_static_tools_run_a_container() {
    let built = build_static();
    built.iter().for_each(|b| assert_static(b));

    let sb = Sandbox::new();
    let b = sb.bundle("bundle", |c| {
        c["process"]["args"] =
            serde_json::json!(["sh", "-c", "echo hello from the container; exit 7"]);
    });
    let o = sb
        .program(&built[0].to_string_lossy(), 60)
        .arg(&b)
        .output()
        .unwrap();
    let out = stdout(&o);
    assert_eq!(
        o.status.code(),
        Some(7),
        "stdout: {out} stderr: {}",
        stderr(&o)
    );
    assert!(out.contains("hello from the container"), "{out}");

    // ct run --rm through the static tools: a directory of links to them, first in PATH.
    let image = sb.local_busybox("static/busybox:1");
    let bin = sb.dir.path().join("static-bin");
    std::fs::create_dir(&bin).unwrap();
    for exe in &built {
        std::os::unix::fs::symlink(exe, bin.join(exe.file_name().unwrap())).unwrap();
    }
    let mut run = sb.cmd(&[
        "run",
        "--rm",
        "--memory",
        "32m",
        &image,
        "sh",
        "-c",
        "echo via static tools; exit 3",
    ]);
    let path = run
        .get_envs()
        .find(|(k, _)| *k == "PATH")
        .and_then(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
        .unwrap();
    run.env("PATH", format!("{}:{path}", bin.display()));
    let o = run.output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(stdout(&o), "via static tools\n");
    assert!(
        mounts_under(&sb.root).is_empty(),
        "{:?}",
        mounts_under(&sb.root)
    );
    assert_eq!(sb.bridge_ports(), "", "a veth left on the bridge");
    assert!(sb.cgroups_left().is_empty(), "{:?}", sb.cgroups_left());
    assert!(sb.containers().is_empty(), "{:?}", sb.containers());
}
