//! `ct-cgroup BUNDLE --memory …` as a pipe stage on real cgroups: the cgroup is made and
//! limited, `linux.cgroupsPath` and `linux.resources` land in config.json (merged, atomically),
//! the bundle is printed; stats and rm find the cgroup through the bundle or its id.

mod common;

use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};

use common::{json, ok, stderr, Parent};

struct Store {
    _t: ct_tests::sandbox::Sandbox,
    root: std::path::PathBuf,
    bundle: std::path::PathBuf,
}

fn store(id: &str) -> Store {
    let t = ct_tests::sandbox::Sandbox::new();
    let root = t.dir.path().join("root");
    let bundle = root.join("containers").join(id);
    fs::create_dir_all(bundle.join("rootfs")).unwrap();
    let spec = oci_spec::runtime::Spec::default();
    fs::write(
        bundle.join("config.json"),
        serde_json::to_vec_pretty(&spec).unwrap(),
    )
    .unwrap();
    Store {
        _t: t,
        root,
        bundle,
    }
}

fn config(b: &std::path::Path) -> serde_json::Value {
    json(&fs::read_to_string(b.join("config.json")).unwrap())
}

#[test]
fn bundle_gets_cgroup_limits_recorded_and_printed() {
    let p = Parent::new("bundle");
    let s = store("web1");
    let root = s.root.to_str().unwrap();
    let env = [("CT_ROOT", root)];
    let b = s.bundle.to_str().unwrap();
    let out = ok(&p.ct_env(
        &[b, "--memory", "64m", "--cpus", "0.5", "--pids-limit", "50"],
        &env,
    ));
    assert_eq!(out, fs::canonicalize(&s.bundle).unwrap().to_str().unwrap());
    let c = config(&s.bundle);
    let path = format!("/{}/web1", p.name);
    assert_eq!(c["linux"]["cgroupsPath"], path.as_str());
    let r = &c["linux"]["resources"];
    assert_eq!(r["memory"]["limit"], 64u64 << 20);
    assert_eq!(r["cpu"]["quota"], 50000);
    assert_eq!(r["cpu"]["period"], 100000);
    assert_eq!(r["pids"]["limit"], 50);
    // What was there before stays (oci-spec's default device rule, namespaces).
    assert!(r["devices"].is_array());
    assert!(c["linux"]["namespaces"].is_array());
    let cg = p.child("web1");
    let mem = cg.dir_of("memory").unwrap();
    assert_eq!(
        fs::read_to_string(mem.join("memory.limit_in_bytes"))
            .unwrap()
            .trim(),
        (64u64 << 20).to_string()
    );

    // As a pipe stage: the container id on stdin; limits merge with what was recorded.
    let mut child = Command::new(env!("CARGO_BIN_EXE_ct-cgroup"))
        .args(["--memory", "32m"])
        .env("CT_CGROUP_PARENT", &p.name)
        .env("CT_ROOT", root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"web1\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(ok(&o), s.bundle.to_str().unwrap());
    let c = config(&s.bundle);
    assert_eq!(c["linux"]["resources"]["memory"]["limit"], 32u64 << 20);
    assert_eq!(c["linux"]["resources"]["cpu"]["quota"], 50000);

    // stats and rm by bundle directory and by container id.
    let st = json(&ok(&p.ct_env(&["stats", b, "--json"], &env)));
    assert_eq!(st["path"], path.as_str());
    assert_eq!(st["memory"]["limit"], 32u64 << 20);
    assert_eq!(st["pids"]["limit"], 50);
    // What ct-ls calls for a container's row.
    let b1 = ct_layout::bundle::Bundle::new(&s.bundle);
    let lib = ct_cgroup::stats_of_bundle(&b1)
        .unwrap()
        .expect("cgroup exists");
    assert_eq!(lib.path, path);
    assert_eq!(lib.memory.unwrap().limit, Some(32 << 20));
    ok(&p.ct_env(&["rm", "web1"], &env));
    assert!(!cg.exists());
    assert!(ct_cgroup::stats_of_bundle(&b1).unwrap().is_none());
    let o = p.ct_env(&["stats", "web1"], &env);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!("ct-cgroup: no cgroup '{path}' on this host")
    );
}

#[test]
fn refused_value_leaves_config_and_cgroups_as_they_were() {
    let p = Parent::new("bundlebad");
    let s = store("web2");
    let before = fs::read(s.bundle.join("config.json")).unwrap();
    let o = p.ct_env(
        &[
            s.bundle.to_str().unwrap(),
            "--memory",
            "64m",
            "--cpuset-cpus",
            "999",
        ],
        &[("CT_ROOT", s.root.to_str().unwrap())],
    );
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.starts_with("ct-cgroup: cannot write '999' to '") && e.contains("/web2/cpuset.cpus'"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "one line, its hint included: {e}");
    assert!(e.contains("; hint: "), "{e}");
    assert_eq!(fs::read(s.bundle.join("config.json")).unwrap(), before);
    assert!(!p.child("web2").exists());
    assert!(o.stdout.is_empty());
}

#[test]
fn missing_bundle_is_one_line_error() {
    let p = Parent::new("nob");
    let t = ct_tests::sandbox::Sandbox::new();
    let o = p.ct_env(
        &["nope", "--memory", "64m"],
        &[("CT_ROOT", t.dir.path().to_str().unwrap())],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "ct-cgroup: bundle 'nope': no bundle 'nope' (neither a directory with config.json nor a container id)"
    );
    // No argument and an empty stdin: a usage error.
    let o = p.ct(&["--memory", "64m"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "ct-cgroup: no bundle given: pass it as an argument or as one line on stdin"
    );
}
