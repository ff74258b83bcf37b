//! Imports: `oci:DIR[:REF]`, `oci-archive:` and `docker-archive:` files written by skopeo, a
//! hand-made `docker save` archive, and plain rootfs tarballs (.tar, .tar.gz, .tar.zst).

mod common;

use std::process::Command;

use common::*;
use ct_layout::Digest;
use ct_tests::image::{busybox_layer, host_arch, Compress, Compression};
use serde_json::Value;

fn skopeo(args: &[&str]) {
    let out = Command::new("skopeo").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn manifest_of(env: &Env, d: &Digest) -> Value {
    env.layout().read_json(d).unwrap()
}

fn digest_of_line(line: &str) -> Digest {
    line.rsplit_once('@').unwrap().1.parse().unwrap()
}

#[test]
fn imports_an_oci_layout_directory() {
    let t = Sandbox::new();
    let fx = fixtures(&t.dir.path().join("fx"));
    let env = Env::new();
    let dir = fx.dir.display().to_string();
    assert_eq!(
        env.pull(&[&format!("oci:{dir}:one:1")]),
        format!("docker.io/library/one:1@{}", fx.one)
    );
    assert_eq!(
        env.pull(&[
            "--tag",
            "localhost/renamed:2",
            &format!("oci:{dir}:multi:1")
        ]),
        format!("localhost/renamed:2@{}", fx.multi)
    );
    let host = index_entry(&fx.dir, &fx.index, host_arch());
    assert_eq!(
        env.pull(&[&format!("oci:{dir}:index:1")]),
        format!("docker.io/library/index:1@{host}")
    );
    let e = failure(&env.run(&[&format!("oci:{dir}")]), 1);
    assert!(e.contains("holds 4 images, name one with :REF"), "{e}");
    let e = failure(&env.run(&[&format!("oci:{dir}:nope:1")]), 1);
    assert!(e.contains("no image named 'nope:1'"), "{e}");
    let e = failure(&env.run(&["oci:/nonexistent"]), 1);
    assert!(e.contains("not an OCI image layout"), "{e}");
    assert_eq!(check_store(&env).len(), 3);
}

#[test]
fn imports_what_skopeo_wrote_as_oci_archive() {
    let t = Sandbox::new();
    let fx = fixtures(&t.dir.path().join("fx"));
    let archive = t.dir.path().join("multi.tar");
    skopeo(&[
        "copy",
        "-q",
        &format!("oci:{}:multi:1", fx.dir.display()),
        &format!("oci-archive:{}:example.com/multi:1", archive.display()),
    ]);
    let env = Env::new();
    let line = env.pull(&[&format!("oci-archive:{}", archive.display())]);
    assert!(line.starts_with("example.com/multi:1@sha256:"), "{line}");
    let m = manifest_of(&env, &digest_of_line(&line));
    assert_eq!(m["layers"].as_array().unwrap().len(), 3);
    check_store(&env);
    // The temporary extraction is gone.
    let left: Vec<_> = std::fs::read_dir(env.root().join("tmp")).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn imports_what_skopeo_wrote_as_docker_archive() {
    let t = Sandbox::new();
    let fx = fixtures(&t.dir.path().join("fx"));
    let archive = t.dir.path().join("docker.tar");
    skopeo(&[
        "copy",
        "-q",
        // multi:2 (gzip layers only: docker images cannot carry zstd)
        &format!("oci:{}:multi:2", fx.dir.display()),
        &format!("docker-archive:{}:test/multi:2", archive.display()),
    ]);
    let env = Env::new();
    let line = env.pull(&[&format!("docker-archive:{}", archive.display())]);
    assert!(line.starts_with("docker.io/test/multi:2@sha256:"), "{line}");
    let m = manifest_of(&env, &digest_of_line(&line));
    let layers = m["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    // skopeo stores docker-archive layers uncompressed: each is its own diff_id.
    let cfg: Value = env
        .layout()
        .read_json(&m["config"]["digest"].as_str().unwrap().parse().unwrap())
        .unwrap();
    for (l, d) in layers
        .iter()
        .zip(cfg["rootfs"]["diff_ids"].as_array().unwrap())
    {
        assert_eq!(l["mediaType"], "application/vnd.oci.image.layer.v1.tar");
        assert_eq!(l["digest"], *d);
    }
    // Asking for a tag the archive does not hold.
    let e = failure(
        &env.run(&[&format!("docker-archive:{}:other:1", archive.display())]),
        1,
    );
    assert!(e.contains("no image tagged 'other:1'"), "{e}");
    check_store(&env);
}

#[test]
fn imports_a_legacy_docker_save_archive() {
    // The layout of `docker save` before docker 25: HEX/layer.tar, HEX.json, manifest.json.
    let layer = busybox_layer();
    let diff = Digest::of(&layer);
    let config = serde_json::json!({
        "architecture": host_arch(), "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff.to_string()]},
    });
    let cb = serde_json::to_vec(&config).unwrap();
    let cd = Digest::of(&cb);
    let manifest = serde_json::json!([{
        "Config": format!("{}.json", cd.hex()),
        "RepoTags": null,
        "Layers": [format!("{}/layer.tar", diff.hex())],
    }]);
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, path, data).unwrap();
    };
    add(&format!("{}/layer.tar", diff.hex()), &layer);
    add(&format!("{}.json", cd.hex()), &cb);
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    let t = Sandbox::new();
    let file = t.dir.path().join("save.tar");
    std::fs::write(&file, b.into_inner().unwrap()).unwrap();
    let env = Env::new();
    let src = format!("docker-archive:{}", file.display());
    let e = failure(&env.run(&[&src]), 2);
    assert!(e.contains("needs --tag NAME"), "{e}");
    let line = env.pull(&["--tag", "saved:1", &src]);
    assert!(
        line.starts_with("docker.io/library/saved:1@sha256:"),
        "{line}"
    );
    let m = manifest_of(&env, &digest_of_line(&line));
    assert_eq!(m["layers"][0]["digest"], diff.to_string());
    assert_eq!(m["config"]["digest"], cd.to_string());
    check_store(&env);
}

#[test]
fn imports_rootfs_tarballs_as_one_layer_images() {
    let t = Sandbox::new();
    let tar = busybox_layer();
    let diff = Digest::of(&tar);
    let env = Env::new();
    for (name, c) in [
        ("rootfs.tar", Compression::None),
        ("rootfs.tar.gz", Compression::Gzip),
        ("rootfs.tar.zst", Compression::Zstd),
    ] {
        let f = t.dir.path().join(name);
        std::fs::write(&f, c.compress(&tar)).unwrap();
        let tag = format!("localhost/{}:1", name.replace('.', "-"));
        let line = env.pull(&["--tag", &tag, f.to_str().unwrap()]);
        assert!(line.starts_with(&format!("{tag}@sha256:")), "{line}");
        let m = manifest_of(&env, &digest_of_line(&line));
        assert_eq!(m["layers"][0]["mediaType"], c.media_type());
        let cfg: Value = env
            .layout()
            .read_json(&m["config"]["digest"].as_str().unwrap().parse().unwrap())
            .unwrap();
        assert_eq!(cfg["rootfs"]["diff_ids"][0], diff.to_string());
        assert_eq!(cfg["architecture"], host_arch());
        assert_eq!(cfg["config"]["Cmd"][0], "/bin/sh");
    }
    let f = t.dir.path().join("rootfs.tar");
    let e = failure(&env.run(&[f.to_str().unwrap()]), 2);
    assert!(e.contains("needs --tag NAME"), "{e}");
    let junk = t.dir.path().join("junk.tar.gz");
    std::fs::write(&junk, Compression::Gzip.compress(b"not a tar at all")).unwrap();
    let e = failure(&env.run(&["--tag", "j:1", junk.to_str().unwrap()]), 1);
    assert!(e.contains("not a tar archive"), "{e}");
    assert_eq!(check_store(&env).len(), 3);
}

#[test]
fn a_docker_archive_of_several_images_needs_a_reference_and_lists_them() {
    // `docker save a:1 b:2`: two entries in manifest.json. Without :REF, which one is meant?
    let layer = busybox_layer();
    let diff = Digest::of(&layer);
    let config = serde_json::json!({
        "architecture": host_arch(), "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff.to_string()]},
    });
    let cb = serde_json::to_vec(&config).unwrap();
    let cd = Digest::of(&cb);
    let entry = |tag: &str| {
        serde_json::json!({
            "Config": format!("{}.json", cd.hex()),
            "RepoTags": [tag],
            "Layers": [format!("{}/layer.tar", diff.hex())],
        })
    };
    let manifest = serde_json::json!([entry("first:1"), entry("second:2")]);
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, path, data).unwrap();
    };
    add(&format!("{}/layer.tar", diff.hex()), &layer);
    add(&format!("{}.json", cd.hex()), &cb);
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    let t = Sandbox::new();
    let file = t.dir.path().join("two.tar");
    std::fs::write(&file, b.into_inner().unwrap()).unwrap();
    let env = Env::new();
    let src = format!("docker-archive:{}", file.display());
    let e = failure(&env.run(&[&src]), 1);
    assert!(
        e.contains(
            "holds 2 images, name one with docker-archive:FILE:REF (it has: first:1, second:2)"
        ),
        "{e}"
    );
    let line = env.pull(&[&format!("{src}:second:2")]);
    assert!(
        line.starts_with("docker.io/library/second:2@sha256:"),
        "{line}"
    );
}
