//! Device rules on REAL cgroups, with a process inside that tries to open a disk of the host
//! (one the host's root can open: `ct_tests::host_disk`): the
//! v1 devices controller (`devices.list` after `ct-cgroup BUNDLE`), and a cgroup v2 BPF device
//! program attached to a directory of this host's cgroup2 mount (`/sys/fs/cgroup/unified` on
//! the hybrid CI machine, where it is the only thing enforcing: the process stays in the v1
//! devices root, which allows everything).

mod common;

use std::fs;
use std::path::Path;
use std::time::Duration;

use common::{ok, stderr, Gated, Parent};
use ct_cgroup::{devices_bpf, Hierarchy};
use ct_tests::host_disk::{mknod, openable_block_device};
use oci_spec::runtime::LinuxResources;
use serde_json::json;

/// A process that, once let go, mknods the host's disk and then opens each node, printing
/// `NAME: ok` or `NAME: <error>` per line.
fn prober(dir: &Path, disk: (u32, u32)) -> Gated {
    let d = dir.display();
    Gated::sh(&format!(
        "try() {{ if head -c 1 \"$2\" >/dev/null 2>{d}/err; then echo \"$1: ok\"; \
         else echo \"$1: $(cat {d}/err)\"; fi; }}; \
         if mknod {d}/made b {} {} 2>{d}/err; then echo 'mknod: ok'; else echo \"mknod: $(cat {d}/err)\"; fi; \
         try disk {d}/disk; try made {d}/made; try null /dev/null; try zero /dev/zero; \
         try urandom /dev/urandom; try mem-null {d}/null",
        disk.0, disk.1
    ))
}

/// Let the prober go and return its lines as (name, outcome).
fn outcomes(mut g: Gated) -> Vec<(String, String)> {
    g.go();
    let (code, out, err) = g.finish(Duration::from_secs(20));
    assert_eq!(code, Some(0), "prober failed: {err}\n{out}");
    out.lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn outcome<'a>(o: &'a [(String, String)], name: &str) -> &'a str {
    o.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} in {o:?}"))
}

fn nodes(dir: &Path, disk: (u32, u32)) {
    mknod(&dir.join("disk"), true, disk.0, disk.1);
    mknod(&dir.join("null"), false, 1, 3);
}

fn resources(v: serde_json::Value) -> LinuxResources {
    serde_json::from_value(json!({ "devices": v })).unwrap()
}

fn unified() -> Hierarchy {
    let root = Hierarchy::detect()
        .unwrap()
        .v2
        .expect("this machine has a cgroup2 mount");
    Hierarchy::unified_at(root)
}

#[test]
fn a_bpf_device_program_on_cgroup2_refuses_the_hosts_disk_and_allows_the_defaults() {
    let disk = openable_block_device();
    let p = Parent::on("devbpf", unified());
    let t = ct_tests::sandbox::Sandbox::new();
    nodes(t.dir.path(), disk);

    // The container's rules: runc spec's "deny all", then the runtime's defaults.
    let cg = p.child("c");
    let r = ct_cgroup::for_container(Some(&resources(json!([{"allow": false, "access": "rwm"}]))));
    let g = prober(t.dir.path(), disk);
    cg.apply(Some(&r), Some(g.pid())).unwrap();
    let o = outcomes(g);
    assert_eq!(outcome(&o, "mknod"), "ok", "b *:* m allows mknod: {o:?}");
    for name in ["disk", "made"] {
        assert!(
            outcome(&o, name).ends_with("Operation not permitted"),
            "{name}: {o:?}"
        );
    }
    for name in ["null", "zero", "urandom", "mem-null"] {
        assert_eq!(outcome(&o, name), "ok", "{name}: {o:?}");
    }
    // Applying again replaces ct's program instead of stacking a second one.
    let dir = cg.v2_dir().unwrap();
    assert_eq!(devices_bpf::count_attached(&dir).unwrap(), 1);
    cg.set(&r).unwrap();
    assert_eq!(devices_bpf::count_attached(&dir).unwrap(), 1);

    // An "allow all but" list: only the disk is refused, for reading, whatever node names it.
    let cg = p.child("d");
    let r = resources(json!([
        {"allow": true, "access": "rwm"},
        {"allow": false, "type": "b", "major": disk.0, "minor": disk.1, "access": "r"},
    ]));
    fs::remove_file(t.dir.path().join("made")).unwrap();
    let g = prober(t.dir.path(), disk);
    cg.apply(Some(&r), Some(g.pid())).unwrap();
    let o = outcomes(g);
    assert_disk_refused_null_allowed(&o);
    assert!(cg.remove().unwrap());
}

struct Store {
    _t: ct_tests::sandbox::Sandbox,
    root: std::path::PathBuf,
    bundle: std::path::PathBuf,
}

fn store(id: &str, resources: serde_json::Value) -> Store {
    let t = ct_tests::sandbox::Sandbox::new();
    let root = t.dir.path().join("root");
    let bundle = root.join("containers").join(id);
    fs::create_dir_all(bundle.join("rootfs")).unwrap();
    let config = json!({"ociVersion": "1.0.2", "root": {"path": "rootfs"},
                        "linux": {"resources": resources}});
    fs::write(bundle.join("config.json"), config.to_string()).unwrap();
    Store {
        _t: t,
        root,
        bundle,
    }
}

#[test]
fn ct_cgroup_applies_a_bundles_device_rules_on_cgroup_v1() {
    let Some(devices) = Hierarchy::detect().unwrap().v1.get("devices").cloned() else {
        eprintln!("no v1 devices controller on this host: the v2 test covers devices");
        return;
    };
    let disk = openable_block_device();
    let p = Parent::new("devv1");
    let s = store(
        "dev1",
        json!({"devices": [{"allow": false, "access": "rwm"},
                           {"allow": true, "type": "c", "major": 5, "minor": 1, "access": "rwm"}],
               "blockIO": {"weight": 10}}),
    );
    let env = [("CT_ROOT", s.root.to_str().unwrap())];
    let out = p.ct_env(&[s.bundle.to_str().unwrap()], &env);
    ok(&out);
    assert!(
        stderr(&out).contains("ct-cgroup: warning: linux.resources.blockIO is not applied"),
        "{}",
        stderr(&out)
    );
    let dir = devices.join(&p.name).join("dev1");
    let list = fs::read_to_string(dir.join("devices.list")).unwrap();
    let mut got: Vec<&str> = list.lines().collect();
    got.sort_unstable();
    let mut want = vec![
        "b *:* m",
        "c *:* m",
        "c 1:3 rwm",
        "c 1:5 rwm",
        "c 1:7 rwm",
        "c 1:8 rwm",
        "c 1:9 rwm",
        "c 5:0 rwm",
        "c 5:1 rwm",
        "c 5:2 rwm",
        "c 10:200 rwm",
        "c 136:* rwm",
    ];
    want.sort_unstable();
    assert_eq!(got, want);

    // A process that joins the cgroup (as ct-exec's `exec` does) cannot open the disk.
    let t = ct_tests::sandbox::Sandbox::new();
    nodes(t.dir.path(), disk);
    let g = prober(t.dir.path(), disk);
    p.child("dev1").add_pid(g.pid()).unwrap();
    let o = outcomes(g);
    assert_disk_refused_null_allowed(&o);

    // Applying again writes only the difference and ends at the same list.
    ok(&p.ct_env(&[s.bundle.to_str().unwrap(), "--pids-limit", "10"], &env));
    let again = fs::read_to_string(dir.join("devices.list")).unwrap();
    assert_eq!(again, list);
}

#[test]
fn ct_cgroup_attaches_one_bpf_program_per_bundle_cgroup_on_v2() {
    let root = Hierarchy::detect().unwrap().v2.expect("a cgroup2 mount");
    let p = Parent::on("devv2", unified());
    let s = store(
        "dev2",
        json!({"devices": [{"allow": false, "access": "rwm"}]}),
    );
    let env = [
        ("CT_ROOT", s.root.to_str().unwrap()),
        ("CT_CGROUP_MODE", "v2"),
    ];
    for _ in 0..2 {
        ok(&p.ct_env(&[s.bundle.to_str().unwrap()], &env));
    }
    let dir = root.join(&p.name).join("dev2");
    assert_eq!(devices_bpf::count_attached(&dir).unwrap(), 1);

    // A rule the device cgroup cannot express is refused, naming it, and nothing is made.
    let bad = store(
        "dev3",
        json!({"devices": [{"allow": true, "type": "p", "access": "rwm"}]}),
    );
    let out = p.ct_env(
        &[bad.bundle.to_str().unwrap()],
        &[
            ("CT_ROOT", bad.root.to_str().unwrap()),
            ("CT_CGROUP_MODE", "v2"),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).lines().next().unwrap_or_default(),
        "ct-cgroup: invalid linux.resources.devices rule '#0 p *:* rwm': the device cgroup knows types a, b and c only"
    );
    assert!(!root.join(&p.name).join("dev3").exists());
}

/// mknod of the disk works, opening it (the host's node or the one just made) is EPERM, and
/// /dev/null still opens.
fn assert_disk_refused_null_allowed(o: &[(String, String)]) {
    assert_eq!(outcome(o, "mknod"), "ok", "{o:?}");
    assert!(
        outcome(o, "disk").ends_with("Operation not permitted"),
        "{o:?}"
    );
    assert!(
        outcome(o, "made").ends_with("Operation not permitted"),
        "{o:?}"
    );
    assert_eq!(outcome(o, "null"), "ok", "{o:?}");
}
