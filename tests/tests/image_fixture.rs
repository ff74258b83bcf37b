//! The fixture builder itself: a busybox image written into a layout is one skopeo reads.

use ct_layout::image_layout::ImageLayout;
use ct_tests::image::{busybox_image, is_layout};
use ct_tests::sandbox::Sandbox;

#[test]
fn busybox_fixture_is_a_valid_layout() {
    let sb = Sandbox::new();
    let layout = ImageLayout::at(sb.dir.path().join("img"));
    let d = busybox_image(&layout, "localhost/busybox:1");
    assert!(is_layout(&layout.dir));
    let out = std::process::Command::new("skopeo")
        .args([
            "inspect",
            &format!("oci:{}:localhost/busybox:1", layout.dir.display()),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Digest"], d.to_string());
    assert_eq!(v["Layers"].as_array().unwrap().len(), 1);
}
