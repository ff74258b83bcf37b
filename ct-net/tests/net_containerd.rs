//! ct-net as the CNI plugin of containerd: `ctr run --cni` (containerd's go-cni, which reads
//! `/etc/cni/net.d` and `/opt/cni/bin`). A private containerd (own root, state and socket)
//! runs in a lab host namespace (`lab/mod.rs`) and in a private mount namespace in which a
//! test directory is bind-mounted over those two paths, so the host's own CNI setup is
//! neither read nor changed. The image is busybox-static in an OCI layout made with umoci.

mod lab;

use std::fs;
use std::process::Command;

use lab::*;

#[test]
fn ctr_run_cni_wires_a_container_with_ct_net_and_releases_it() {
    let lab = Lab::new("10.231.71.0/24", false);
    let w = lab.root.path().join("containerd");
    for d in ["rfs/bin", "cni", "bin", "root", "state"] {
        fs::create_dir_all(w.join(d)).unwrap();
    }
    fs::copy("/bin/busybox", w.join("rfs/bin/busybox")).unwrap();
    for c in ["sh", "ip"] {
        std::os::unix::fs::symlink("busybox", w.join("rfs/bin").join(c)).unwrap();
    }
    std::os::unix::fs::symlink(BIN, w.join("bin/ct-net")).unwrap();
    let conf = serde_json::json!({"cniVersion": "1.0.0", "name": format!("cd{}", lab.tag),
        "plugins": [{"type": "ct-net", "bridge": lab.bridge, "subnet": "10.231.71.0/24",
                     "nftTable": lab.table, "dataDir": lab.store(),
                     "capabilities": {"portMappings": true}}]});
    fs::write(w.join("cni/10-ct.conflist"), conf.to_string()).unwrap();
    let d = w.display();
    fs::write(
        w.join("config.toml"),
        format!(
            "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n[grpc]\n  address = \"{d}/containerd.sock\"\n"
        ),
    )
    .unwrap();
    // The image: one layer with busybox, via umoci, as an OCI layout tar.
    let script = format!(
        r#"set -e
cd {d}
tar -C rfs -cf layer.tar .
umoci init --layout L
umoci new --image L:busybox
umoci raw add-layer --image L:busybox layer.tar
(cd L && tar -cf ../img.tar .)
mount --make-rprivate /
mkdir -p /etc/cni/net.d /opt/cni/bin
mount --bind {d}/cni /etc/cni/net.d
mount --bind {d}/bin /opt/cni/bin
containerd --config {d}/config.toml >{d}/containerd.log 2>&1 &
pid=$!
trap 'kill $pid; wait $pid || true' EXIT
for i in $(seq 100); do [ -S {d}/containerd.sock ] && break; sleep 0.1; done
c="ctr -a {d}/containerd.sock"
$c images import --snapshotter native img.tar >/dev/null
img=$($c images ls -q | head -1)
$c run --rm --cni --snapshotter native "$img" c{tag} /bin/sh -c 'ip -4 -o addr show dev eth0; ip route'
"#,
        tag = lab.tag
    );
    let out = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", lab.host))
        .args(["unshare", "-m", "bash", "-c", &script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        fs::read_to_string(w.join("containerd.log")).unwrap_or_default()
    );
    assert!(stdout.contains("10.231.71.2/24"), "{stdout}");
    assert!(stdout.contains("default via 10.231.71.1"), "{stdout}");
    // --rm: containerd called DEL, which gave everything back.
    assert!(lab.leases().is_empty(), "{:?}", lab.leases());
    let links = lab.links_without_veths();
    assert!(!links.iter().any(|l| l.starts_with("veth")), "{links:?}");
}
