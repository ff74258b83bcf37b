//! What ct-pull writes is a standard OCI image layout: skopeo and umoci read it as it is.

mod common;

use std::process::Command;

use common::*;
use ct_tests::registry::{Auth, Registry};

#[test]
fn skopeo_inspect_and_umoci_unpack_accept_the_store() {
    let t = Sandbox::new();
    let fx = fixtures(&t.dir.path().join("fx"));
    let reg = Registry::start(Auth::None);
    let r = reg.push_layout(&fx.dir, "multi:1", "test/multi:1");
    // umoci 0.4 knows no zstd layers: it unpacks multi:2 (gzip only).
    let r2 = reg.push_layout(&fx.dir, "multi:2", "test/multi:2");
    let env = Env::new();
    env.pull(&[&r]);
    env.pull(&[&r2]);
    let images = env.root().join("images");

    let out = Command::new("skopeo")
        .args(["inspect", &format!("oci:{}:{r}", images.display())])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Digest"], fx.multi.to_string());
    assert_eq!(v["Layers"].as_array().unwrap().len(), 3);

    let bundle = t.dir.path().join("bundle");
    let out = Command::new("umoci")
        .args(["unpack", "--image", &format!("{}:{r2}", images.display())])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(bundle.join("rootfs/bin/busybox").is_file());
    assert!(bundle.join("rootfs/data/c-0").is_file());
    assert!(bundle.join("config.json").is_file());
}
