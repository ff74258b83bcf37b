//! Named network namespaces, as ip-netns(8) keeps them: a namespace lives as long as something
//! holds it, and `ip netns add NAME` holds it by bind-mounting its `/proc/PID/ns/net` on
//! `/run/netns/NAME`; `ip netns del NAME` unmounts and removes that file, and the namespace
//! dies — with the bridge, veths and nftables tables inside it — once nothing else holds it.
//! Names are host-global, so tests make them unique and let their sandbox delete them.

use std::path::Path;
use std::process::Command;

pub fn exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

/// `ip netns add NAME`; panics if ip fails (test plumbing).
pub fn add(name: &str) {
    let out = Command::new("ip")
        .args(["netns", "add", name])
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip netns add {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ip netns del NAME`, if it exists.
pub fn del(name: &str) {
    if exists(name) {
        let _ = Command::new("ip").args(["netns", "del", name]).output();
    }
}
