//! ct-pull, then ct-ls images: what a pull stores is listed with its reference, manifest
//! digest, platform, size and creation time; `-q` prints exactly the pulled names.
//! (ct-ls is called as a library: `cargo test` builds the ct-ls binary only for crates
//! with integration tests of their own.)

use std::process::Command;

use ct_layout::image_layout::ImageLayout;
use ct_tests::bins::bin;
use ct_tests::image::{busybox_layer, host_arch, write_index, Compression, Image};
use ct_tests::registry::{Auth, Registry};
use ct_tests::sandbox::Sandbox;

#[test]
fn ls_images_lists_what_ct_pull_stored() {
    let sb = Sandbox::new();
    let fx = ImageLayout::at(sb.dir.path().join("fx"));
    let one = Image::new()
        .layer(busybox_layer(), Compression::Gzip)
        .write(&fx, "one:1");
    write_index(
        &fx,
        "multi:1",
        &[
            Image::new().layer(busybox_layer(), Compression::Gzip),
            Image::new()
                .platform("linux", "s390x")
                .layer(busybox_layer(), Compression::Zstd),
        ],
    );
    let reg = Registry::start(Auth::None);
    let r1 = reg.push_layout(&fx.dir, "one:1", "t/one:1");
    let r2 = reg.push_layout(&fx.dir, "multi:1", "t/multi:1");
    let run = |cmd: &str, args: &[&str]| {
        let out = Command::new(bin(cmd))
            .args(args)
            .env("CT_ROOT", &sb.root)
            .env("CT_RUN", &sb.run)
            .env("HOME", sb.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{cmd} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let p1 = run("ct-pull", &[&r1]);
    assert_eq!(p1.trim(), format!("{r1}@{one}"));
    run("ct-pull", &["--platform", "linux/s390x", &r2]);

    let store = sb.store();
    let rows = ct_ls::images::rows(&store).unwrap();
    let fmt = |json, quiet| ct_ls::images::render(&rows, &ct_ls::Format { json, quiet });
    let q = fmt(false, true);
    let mut want = vec![r1.clone(), r2.clone()];
    want.sort();
    assert_eq!(q.lines().collect::<Vec<_>>(), want);

    let j: serde_json::Value = serde_json::from_str(&fmt(true, false)).unwrap();
    let rows = j.as_array().unwrap();
    let row1 = rows.iter().find(|r| r["reference"] == r1.as_str()).unwrap();
    assert_eq!(row1["digest"], one.to_string());
    assert_eq!(row1["platform"], format!("linux/{}", host_arch()));
    assert_eq!(row1["created"], "2026-01-01T00:00:00Z");
    let blob_bytes: u64 = std::fs::read_dir(sb.root.join("images/blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(
        row1["size"].as_u64().unwrap() > 500_000 && row1["size"].as_u64().unwrap() < blob_bytes
    );
    let row2 = rows.iter().find(|r| r["reference"] == r2.as_str()).unwrap();
    assert_eq!(row2["platform"], "linux/s390x");

    let table = fmt(false, false);
    assert!(table.starts_with("REFERENCE"), "{table}");
    assert!(
        table.contains(one.short()) && table.contains("2026-01-01 00:00:00"),
        "{table}"
    );
}
