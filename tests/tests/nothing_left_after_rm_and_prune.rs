//! After `ct rm --all` and `ct prune` nothing is left: no mounts, no veths on the bridge, no
//! network namespaces, no cgroups, no address leases, no port rules, no runtime state, no
//! bundles, no blob or layer that no image names, and no lock file of a container or of a
//! removed layer (one per container ever made would pile up in `locks/`).

use std::fs;
use std::process::Command;

use ct_tests::mounts::mounts_under;
use ct_tests::registry::{free_port, Auth, Registry};
use ct_tests::sandbox::{stderr, wait_for, Sandbox};

#[test]
fn rm_all_and_prune_leave_nothing() {
    let reg = Registry::start(Auth::None);
    let ct = Sandbox::new();
    let keep = ct.push_busybox(&reg, "left/keep:1");
    let gone = ct.push_busybox(&reg, "left/gone:1");
    ct.ok(&["pull", &keep]);
    let port = free_port().to_string();
    let p = format!("127.0.0.1:{port}:80");
    ct.ok(&[
        "run", "-d", "--name", "a", "-p", &p, "--memory", "32m", &gone, "sleep", "300",
    ]);
    ct.ok(&[
        "run",
        "-d",
        "--name",
        "b",
        "--pids-limit",
        "10",
        &keep,
        "sleep",
        "300",
    ]);
    let o = ct.out(&["run", "--name", "c", "--init", &keep, "true"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    ct.ok(&["run", "--rm", "-d", "--name", "d", &keep, "true"]);
    ct.out(&["run", "--name", "e", &keep, "/no/such/command"]);
    // An orphan blob, as a crashed import would leave.
    fs::write(
        ct.root.join("images/blobs/sha256").join("ab".repeat(32)),
        b"x",
    )
    .unwrap();
    let lease_file = ct.leases_file();
    assert_ne!(fs::read_to_string(&lease_file).unwrap().trim(), "{}");
    assert!(!mounts_under(&ct.root).is_empty());
    assert!(!ct.cgroups_left().is_empty());
    // ct-unpack removes its container's lock file once the bundle is written.
    for id in ["a", "b", "c", "d", "e"] {
        let l = ct.root.join(format!("locks/container-{id}.lock"));
        assert!(!l.exists(), "{} left", l.display());
    }
    // A ct-unpack or a ct run --name killed while it held its lock leaves the file.
    fs::write(ct.root.join("locks/container-killed.lock"), b"").unwrap();
    fs::write(ct.root.join("locks/run-killed.lock"), b"").unwrap();
    // --rm -d: the container removes itself once it has exited.
    assert!(
        wait_for(10, || (!ct.containers().contains(&"d".to_string()))
            .then_some(()))
        .is_some()
    );

    assert_eq!(ct.ok(&["rmi", "-f", &gone]), format!("{gone}\n"));
    let o = ct.out(&["rm", "--all"]);
    assert!(
        stderr(&o).contains("container 'a' is running"),
        "{}",
        stderr(&o)
    );
    ct.ok(&["stop", "-t", "1", "a"]);
    ct.ok(&["stop", "-t", "1", "b"]);
    ct.ok(&["rm", "--all"]);
    // The name locks of `run --name` go with their containers, before any prune.
    let run_locks = || -> Vec<String> {
        fs::read_dir(ct.root.join("locks"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("run-") && n != "run-killed.lock")
            .collect()
    };
    assert!(run_locks().is_empty(), "{:?}", run_locks());
    let out = ct.cmd(&["prune"]).env("CT_GC_GRACE", "0").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    assert!(
        mounts_under(&ct.root).is_empty(),
        "{:?}",
        mounts_under(&ct.root)
    );
    assert_eq!(ct.bridge_ports(), "", "no veth left on the bridge");
    for id in ["a", "b", "c", "d", "e"] {
        assert!(!ct.netns().contains(&id.to_string()), "netns {id} left");
    }
    assert!(ct.cgroups_left().is_empty(), "{:?}", ct.cgroups_left());
    assert_eq!(fs::read_to_string(&lease_file).unwrap().trim(), "{}");
    let rules = Command::new("nft")
        .args(["list", "table", "ip", &ct.table])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&rules.stdout).contains(&port),
        "port rule left"
    );
    assert!(ct.containers().is_empty());
    let state: Vec<_> = fs::read_dir(ct.run.join("containers"))
        .unwrap()
        .flatten()
        .collect();
    assert!(state.is_empty(), "{state:?}");
    // Only what `keep` names is left: manifest, config, one layer blob, one layer dir.
    let blobs = fs::read_dir(ct.root.join("images/blobs/sha256"))
        .unwrap()
        .count();
    let layers = fs::read_dir(ct.root.join("layers/sha256")).unwrap().count();
    assert_eq!((blobs, layers), (3, 1));
    assert_eq!(ct.ok(&["images", "-q"]), format!("{keep}\n"));
    let kept_layer = fs::read_dir(ct.root.join("layers/sha256"))
        .unwrap()
        .flatten()
        .map(|e| format!("layer-{}.lock", e.file_name().to_string_lossy()))
        .collect::<Vec<_>>();
    let one_use_locks: Vec<_> = fs::read_dir(ct.root.join("locks"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            ["container-", "layer-", "run-"]
                .iter()
                .any(|p| n.starts_with(p))
        })
        .filter(|n| !kept_layer.contains(n))
        .collect();
    assert!(one_use_locks.is_empty(), "{one_use_locks:?}");
}
