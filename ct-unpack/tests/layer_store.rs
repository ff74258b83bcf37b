//! The layer store and the bundle: layers extracted once, keyed by diff_id, whiteouts in
//! overlayfs form, verified before they appear, shared by every container.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use common::{header, lgetxattr, read_json, Env};
use ct_layout::Digest;
use ct_tests::image::{busybox_layer, Compress, Compression, Image, TarBuilder};
use serde_json::json;

#[test]
fn bundle_from_busybox_and_second_container_reuses_layers() {
    let env = Env::new();
    let layer = busybox_layer();
    let diff_id = Digest::of(&layer);
    let manifest = Image::new()
        .layer(layer, Compression::Gzip)
        .config(json!({"Cmd": ["/bin/sh", "-c", "echo hi"], "Env": ["A=1"], "WorkingDir": "/tmp"}))
        .write(&env.layout(), "localhost/busybox:1");
    let bundle = env.unpack(&["--name", "web", "localhost/busybox:1"]);
    assert_eq!(bundle, env.store.bundle("web"));
    let note = read_json(&bundle.join("ct.json"));
    assert_eq!(note["id"], "web");
    assert_eq!(note["name"], "web");
    assert_eq!(note["image"], "localhost/busybox:1");
    assert_eq!(note["manifest"], manifest.to_string());
    assert_eq!(note["layers"], json!([diff_id.to_string()]));
    assert_eq!(note["rootfs"], "overlay");
    let cfg = read_json(&bundle.join("config.json"));
    assert_eq!(cfg["process"]["args"], json!(["/bin/sh", "-c", "echo hi"]));
    assert_eq!(cfg["process"]["cwd"], "/tmp");
    assert_eq!(cfg["hostname"], "web");
    // Docker's default seccomp profile (ct_unpack::seccomp_default) is in.
    let names: usize = cfg["linux"]["seccomp"]["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["names"].as_array().unwrap().len())
        .sum();
    assert!(names > 100, "{names} syscalls allowed");
    assert_eq!(cfg["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
    assert!(bundle.join("rootfs").is_dir());
    assert_eq!(
        fs::read_dir(bundle.join("rootfs")).unwrap().count(),
        0,
        "overlay mount point"
    );
    let layer_dir = env.store.layer(&diff_id);
    assert!(layer_dir.join("bin/busybox").is_file());
    assert_eq!(
        fs::read_link(layer_dir.join("bin/ls")).unwrap().to_str(),
        Some("busybox")
    );
    let ino = fs::metadata(&layer_dir).unwrap().ino();
    let stamp = fs::metadata(layer_dir.join("bin/busybox"))
        .unwrap()
        .ctime_nsec();

    // The second container: no layer work, only a bundle (input from stdin, as in a pipe).
    let mut c = env.cmd();
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = c.arg("--id").arg("second").spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("localhost/busybox:1@{manifest}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        env.store.bundle("second").to_str().unwrap()
    );
    assert_eq!(fs::metadata(&layer_dir).unwrap().ino(), ino);
    assert_eq!(
        fs::metadata(layer_dir.join("bin/busybox"))
            .unwrap()
            .ctime_nsec(),
        stamp
    );
    assert_eq!(env.layer_dirs().len(), 1);
    assert_eq!(env.layer_tmp_entries(), 0);

    // A fresh random id when none is given.
    let b3 = env.unpack(&["localhost/busybox:1"]);
    let b3 = b3.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        b3.chars().all(|c| c.is_ascii_hexdigit()) && b3.len() == 12,
        "{b3}"
    );

    // The same name twice is refused and leaves the first alone.
    let out = env.run(&["--name", "web", "localhost/busybox:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .starts_with("ct-unpack: container 'web' already exists"));
    assert!(bundle.join("config.json").is_file());
    // No temp bundles left behind.
    let hidden = fs::read_dir(env.store.containers())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count();
    assert_eq!(hidden, 0);
}

#[test]
fn whiteouts_are_stored_in_overlay_form() {
    let env = Env::new();
    let lower = TarBuilder::new()
        .dir("etc", 0o755)
        .file("etc/gone", 0o644, b"x")
        .dir("opq", 0o755)
        .file("opq/lower", 0o644, b"lower")
        .file("redo/old", 0o644, b"o")
        .finish();
    let mut upper = TarBuilder::new()
        .dir("etc", 0o755)
        .file("etc/.wh.gone", 0o644, b"")
        .file("opq/before", 0o644, b"b")
        .file("opq/.wh..wh..opq", 0o644, b"")
        .file("opq/after", 0o644, b"a")
        // A whiteout of a same-layer entry does not hide it (image-spec: lower layers only).
        .file("etc/mine", 0o644, b"m")
        .file("etc/.wh.mine", 0o644, b"")
        // An entry after its own whiteout replaces it.
        .file("etc/.wh.back", 0o644, b"")
        .file("etc/back", 0o644, b"again");
    // A whiteout for a directory that only exists below.
    upper = upper.file(".wh.var", 0o644, b"");
    // Deleted, then recreated below in the same layer: an opaque directory.
    upper = upper
        .file(".wh.redo", 0o644, b"")
        .file("redo/new", 0o644, b"n");
    let upper = upper.finish();
    let up_id = Digest::of(&upper);
    Image::new()
        .layer(lower, Compression::Gzip)
        .layer(upper, Compression::Zstd)
        .write(&env.layout(), "localhost/wh:1");
    env.unpack(&["localhost/wh:1"]);
    let l = env.store.layer(&up_id);
    let m = fs::symlink_metadata(l.join("etc/gone")).unwrap();
    assert!(m.file_type().is_char_device());
    assert_eq!(m.rdev(), 0);
    assert!(fs::symlink_metadata(l.join("var"))
        .unwrap()
        .file_type()
        .is_char_device());
    assert_eq!(
        lgetxattr(&l.join("opq"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert_eq!(fs::read(l.join("opq/before")).unwrap(), b"b");
    assert_eq!(fs::read(l.join("opq/after")).unwrap(), b"a");
    assert_eq!(fs::read(l.join("etc/mine")).unwrap(), b"m");
    assert_eq!(fs::read(l.join("etc/back")).unwrap(), b"again");
    assert_eq!(
        lgetxattr(&l.join("redo"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert_eq!(fs::read(l.join("redo/new")).unwrap(), b"n");
    // No `.wh.` name anywhere in the store.
    for d in env.layer_dirs() {
        for n in ct_tests::tree::snapshot(&d).0.keys() {
            let n = n.to_string_lossy();
            assert!(!n.contains(".wh."), "{n} materialised in {}", d.display());
        }
    }
}

#[test]
fn gzip_and_zstd_copies_are_one_layer_and_tar_works() {
    let env = Env::new();
    let tar = TarBuilder::new()
        .dir("d", 0o755)
        .file("d/f", 0o644, b"same")
        .finish();
    let id = Digest::of(&tar);
    Image::new()
        .layer(tar.clone(), Compression::Gzip)
        .write(&env.layout(), "localhost/g:1");
    Image::new()
        .layer(tar.clone(), Compression::Zstd)
        .write(&env.layout(), "localhost/z:1");
    Image::new()
        .layer(tar, Compression::None)
        .write(&env.layout(), "localhost/t:1");
    for name in ["localhost/g:1", "localhost/z:1", "localhost/t:1"] {
        env.unpack(&[name]);
    }
    assert_eq!(env.layer_dirs(), vec![env.store.layer(&id)]);
    for name in ["localhost/g:1", "localhost/z:1", "localhost/t:1"] {
        let b = env.unpack(&["--flat", name]);
        assert_eq!(fs::read(b.join("rootfs/d/f")).unwrap(), b"same");
    }
}

#[test]
fn layer_that_fails_verification_never_appears() {
    let env = Env::new();
    let good = TarBuilder::new().file("ok", 0o644, b"fine").finish();
    let bad = TarBuilder::new().file("evil", 0o644, b"tampered").finish();
    let layout = env.layout();
    // An image whose config promises `good` but whose blob holds `bad`.
    Image::new()
        .layer(good.clone(), Compression::Gzip)
        .write(&layout, "localhost/v:1");
    let blob = layout
        .blobs()
        .unwrap()
        .into_iter()
        .find(|d| {
            let b = fs::read(layout.blob_path(d)).unwrap();
            b.starts_with(&[0x1f, 0x8b])
        })
        .unwrap();
    // Overwrite the blob in place (the store's own digest check is ct-pull's; this models a
    // layer whose content does not match its diff_id).
    fs::write(layout.blob_path(&blob), Compression::Gzip.compress(&bad)).unwrap();
    // Leftovers of a crashed extraction of the same layer are cleaned up too.
    let stale = env
        .store
        .layers_tmp()
        .join(format!("{}-stale", Digest::of(&good).hex()));
    fs::create_dir_all(stale.join("junk")).unwrap();
    for flat in [false, true] {
        let mut args = vec!["--name", if flat { "f" } else { "o" }, "localhost/v:1"];
        if flat {
            args.insert(0, "--flat");
        }
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with(&format!(
                "ct-unpack: layer {blob}: uncompressed content is "
            )),
            "{err}"
        );
        assert!(err.contains("hint: "), "{err}");
        assert_eq!(
            err.lines().filter(|l| !l.starts_with("hint:")).count(),
            1,
            "{err}"
        );
    }
    assert!(env.layer_dirs().is_empty());
    assert_eq!(env.layer_tmp_entries(), 0);
    assert_eq!(fs::read_dir(env.store.containers()).unwrap().count(), 0);
}

#[test]
fn missing_image_and_bad_id_are_clear_errors() {
    let env = Env::new();
    ct_tests::image::busybox_image(&env.layout(), "localhost/busybox:1");
    let out = env.run(&["nope:1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("ct-unpack: no image 'nope:1' in the store; hint: "),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    let out = env.run(&["--id", "../x", "localhost/busybox:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("ct-unpack: invalid container id '../x'")
    );
    let out = env.run(&["--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    // Unknown user in the image.
    let out = env.run(&["-u", "ghost", "localhost/busybox:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .starts_with("ct-unpack: cannot resolve the container's user: user 'ghost' not found in the image's /etc/passwd"));
}

#[test]
fn user_is_resolved_through_the_layers_and_overrides_apply() {
    let env = Env::new();
    let mut top = TarBuilder::new()
        .dir("etc", 0o755)
        .file(
            "etc/passwd",
            0o644,
            b"root:x:0:0:root:/root:/bin/sh\napp:x:1234:2345:app:/home/app:/bin/sh\n",
        )
        .file(
            "etc/group",
            0o644,
            b"root:x:0:\napp:x:2345:\nextra:x:77:app\nwheel:x:10:\n",
        );
    let mut h = header(tar::EntryType::Directory, 0o750);
    h.set_uid(1234);
    h.set_gid(2345);
    top.inner()
        .append_data(&mut h, "data", std::io::empty())
        .unwrap();
    let top = top.finish();
    Image::new()
        .layer(busybox_layer(), Compression::Gzip)
        .layer(top, Compression::Gzip)
        .config(json!({
            "Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo default"], "User": "app",
            "Env": ["PATH=/bin", "KEEP=1", "CHANGE=old"], "WorkingDir": "/srv",
            "ExposedPorts": {"8080/tcp": {}}, "StopSignal": "SIGTERM",
            "Labels": {"com.example.k": "v"}, "Volumes": {"/data": {}}
        }))
        .write(&env.layout(), "localhost/app:1");
    let b = env.unpack(&["localhost/app:1"]);
    let cfg = read_json(&b.join("config.json"));
    let p = &cfg["process"];
    assert_eq!(
        p["user"],
        json!({"uid": 1234, "gid": 2345, "additionalGids": [77]})
    );
    assert_eq!(p["args"], json!(["/bin/sh", "-c", "echo default"]));
    assert_eq!(
        p["env"],
        json!(["PATH=/bin", "KEEP=1", "CHANGE=old", "HOME=/home/app"])
    );
    assert_eq!(
        cfg["annotations"]["org.opencontainers.image.exposedPorts"],
        "8080/tcp"
    );
    assert_eq!(
        cfg["annotations"]["org.opencontainers.image.stopSignal"],
        "SIGTERM"
    );
    assert_eq!(cfg["annotations"]["com.example.k"], "v");
    let vol = cfg["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["destination"] == "/data")
        .unwrap()
        .clone();
    let vm = fs::metadata(vol["source"].as_str().unwrap()).unwrap();
    assert!(vm.is_dir());
    assert_eq!(
        (vm.uid(), vm.gid(), vm.mode() & 0o7777),
        (1234, 2345, 0o750),
        "the volume has the owner and mode of the image's /data"
    );

    let b = env.unpack(&[
        "-e",
        "CHANGE=new",
        "-e",
        "ADDED=x",
        "-w",
        "/tmp",
        "-u",
        "app:wheel",
        "--hostname",
        "box",
        "localhost/app:1",
        "--",
        "id",
        "-u",
    ]);
    let cfg = read_json(&b.join("config.json"));
    let p = &cfg["process"];
    assert_eq!(p["user"], json!({"uid": 1234, "gid": 10}));
    assert_eq!(p["args"], json!(["/bin/sh", "-c", "id", "-u"]));
    assert_eq!(
        p["env"],
        json!([
            "PATH=/bin",
            "KEEP=1",
            "CHANGE=new",
            "ADDED=x",
            "HOME=/home/app"
        ])
    );
    assert_eq!(p["cwd"], "/tmp");
    assert_eq!(cfg["hostname"], "box");
    // With --flat the same user comes from the flat rootfs.
    let b = env.unpack(&["--flat", "localhost/app:1"]);
    let vm = fs::metadata(b.join("volumes/data")).unwrap();
    assert_eq!(
        (vm.uid(), vm.gid(), vm.mode() & 0o7777),
        (1234, 2345, 0o750)
    );
    assert_eq!(
        read_json(&b.join("config.json"))["process"]["user"]["uid"],
        1234
    );
    assert_eq!(read_json(&b.join("ct.json"))["rootfs"], "flat");
    let _ = header(tar::EntryType::Fifo, 0o644);
}

#[test]
fn an_index_picks_this_machines_platform() {
    let env = Env::new();
    let host = ct_tests::image::host_arch();
    let other = if host == "arm64" { "amd64" } else { "arm64" };
    let mk = |what: &[u8], arch: &str| {
        Image::new()
            .layer(
                TarBuilder::new().file("which", 0o644, what).finish(),
                Compression::Gzip,
            )
            .platform("linux", arch)
    };
    ct_tests::image::write_index(
        &env.layout(),
        "localhost/multi:1",
        &[mk(b"other", other), mk(b"host", host)],
    );
    let b = env.unpack(&["--flat", "localhost/multi:1"]);
    assert_eq!(fs::read(b.join("rootfs/which")).unwrap(), b"host");
    ct_tests::image::write_index(&env.layout(), "localhost/foreign:1", &[mk(b"other", other)]);
    let out = env.run(&["localhost/foreign:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).lines().next().unwrap(),
        format!("ct-unpack: image 'localhost/foreign:1' has no manifest for linux/{host}")
    );
}

#[test]
fn an_index_is_resolved_as_ct_pull_resolves_it() {
    // ct-pull prefers, for a host without a variant, the entry without one over an earlier
    // entry with a variant (ct_layout::platform::select); ct-unpack must take the same one.
    let env = Env::new();
    let mk = |what: &[u8]| {
        Image::new().layer(
            TarBuilder::new().file("which", 0o644, what).finish(),
            Compression::Gzip,
        )
    };
    ct_tests::image::write_index(
        &env.layout(),
        "localhost/variants:1",
        &[mk(b"variant").variant("v3"), mk(b"plain")],
    );
    let b = env.unpack(&["--flat", "localhost/variants:1"]);
    assert_eq!(fs::read(b.join("rootfs/which")).unwrap(), b"plain");
}

#[test]
fn docker_media_types_unpack() {
    let env = Env::new();
    let layout = env.layout();
    layout.init().unwrap();
    let tar = TarBuilder::new().file("from-docker", 0o644, b"d").finish();
    let blob = Compression::Gzip.compress(&tar);
    let ld = layout.write_blob(&blob).unwrap();
    let config = serde_json::to_vec(&json!({
        "architecture": ct_tests::image::host_arch(), "os": "linux",
        "config": {"Cmd": ["/x"]},
        "rootfs": {"type": "layers", "diff_ids": [Digest::of(&tar).to_string()]}
    }))
    .unwrap();
    let cd = layout.write_blob(&config).unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": cd.to_string(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": ld.to_string(), "size": blob.len()}]
    }))
    .unwrap();
    let md = layout.write_blob(&manifest).unwrap();
    let desc = json!({"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                      "digest": md.to_string(), "size": manifest.len()});
    layout
        .set_ref("localhost/docker:1", &serde_json::from_value(desc).unwrap())
        .unwrap();
    let b = env.unpack(&["--flat", "localhost/docker:1"]);
    assert_eq!(fs::read(b.join("rootfs/from-docker")).unwrap(), b"d");
    // An encrypted (unknown) layer type is refused by name.
    let m2 = String::from_utf8(manifest).unwrap().replace(
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.oci.image.layer.v1.tar+gzip+encrypted",
    );
    let md2 = layout.write_blob(m2.as_bytes()).unwrap();
    let desc = json!({"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                      "digest": md2.to_string(), "size": m2.len()});
    layout
        .set_ref("localhost/enc:1", &serde_json::from_value(desc).unwrap())
        .unwrap();
    let out = env.run(&["localhost/enc:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with(&format!(
        "ct-unpack: image 'localhost/enc:1': layer {ld} has unsupported media type 'application/vnd.oci.image.layer.v1.tar+gzip+encrypted'"
    )));
}

#[test]
fn user_xattr_on_a_symlink_is_skipped_not_fatal() {
    let env = Env::new();
    let mut t = TarBuilder::new().file("target", 0o644, b"t");
    let mut h = header(tar::EntryType::Symlink, 0o777);
    h.set_link_name("target").unwrap();
    ct_tests::image::append_with_pax(
        t.inner(),
        &mut h,
        "link",
        &[("SCHILY.xattr.user.k", b"v")],
        b"",
    );
    Image::new()
        .layer(t.finish(), Compression::Gzip)
        .write(&env.layout(), "localhost/sx:1");
    for flat in [false, true] {
        let args: &[&str] = if flat {
            &["--flat", "localhost/sx:1"]
        } else {
            &["localhost/sx:1"]
        };
        env.unpack(args);
    }
}

/// Implicit parents are 0755, and every file gets its image mode, whatever the caller's umask:
/// files are created with their mode and the umask may take bits from it, which the extractor
/// must see (fstat) and put back.
#[test]
fn implicit_directories_are_0755_and_files_keep_their_modes_whatever_the_umask() {
    let env = Env::new();
    let files = [
        ("no/dir/entries/f", 0o600),
        ("no/g", 0o644),
        ("no/w", 0o666),
        ("no/x", 0o775),
        ("no/none", 0o000),
    ];
    let mut t = TarBuilder::new();
    for (path, mode) in files {
        t = t.file(path, mode, b"x");
    }
    let tar = t.finish();
    let id = Digest::of(&tar);
    Image::new()
        .layer(tar, Compression::Gzip)
        .write(&env.layout(), "localhost/um:1");
    for flat in ["", "--flat"] {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("umask 077; exec \"$0\" {flat} localhost/um:1"))
            .arg(env!("CARGO_BIN_EXE_ct-unpack"))
            .env("CT_ROOT", &env.store.root)
            .env("CT_RUN", &env.store.run)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let b = std::path::PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
        let root = if flat.is_empty() {
            env.store.layer(&id)
        } else {
            b.join("rootfs")
        };
        for d in ["", "no", "no/dir", "no/dir/entries"] {
            let m = fs::metadata(root.join(d)).unwrap().mode() & 0o7777;
            assert_eq!(m, 0o755, "{flat} /{d}");
        }
        for (path, mode) in files {
            let m = fs::metadata(root.join(path)).unwrap().mode() & 0o7777;
            assert_eq!(m, mode, "{flat} /{path}: {m:o}");
        }
    }
}

#[test]
fn a_fifo_as_etc_passwd_does_not_hang_user_lookup() {
    let env = Env::new();
    let mut t = TarBuilder::new().dir("etc", 0o755);
    let mut h = header(tar::EntryType::Fifo, 0o644);
    t.inner()
        .append_data(&mut h, "etc/passwd", std::io::empty())
        .unwrap();
    Image::new()
        .layer(t.finish(), Compression::Gzip)
        .config(json!({"Cmd": ["/x"], "User": "app"}))
        .write(&env.layout(), "localhost/fifo:1");
    for flat in [false, true] {
        let mut c = env.cmd();
        c.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        if flat {
            c.arg("--flat");
        }
        let mut child = c.arg("localhost/fifo:1").spawn().unwrap();
        let start = std::time::Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break Some(s);
            }
            if start.elapsed() > std::time::Duration::from_secs(30) {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let status = status.expect("ct-unpack hung on a FIFO /etc/passwd");
        assert_eq!(status.code(), Some(1));
        let mut err = String::new();
        use std::io::Read;
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(err.contains("user 'app' not found"), "{err}");
    }
}

#[test]
fn env_without_value_is_copied_from_ours_like_docker() {
    let env = Env::new();
    ct_tests::image::busybox_image(&env.layout(), "localhost/busybox:1");
    let out = env
        .cmd()
        .env("CT_UNPACK_TEST_PASS", "through")
        .env_remove("CT_UNPACK_TEST_UNSET")
        .args([
            "-e",
            "CT_UNPACK_TEST_PASS",
            "-e",
            "CT_UNPACK_TEST_UNSET",
            "localhost/busybox:1",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let b = std::path::PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    let e = read_json(&b.join("config.json"))["process"]["env"].clone();
    let e: Vec<&str> = e
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(e.contains(&"CT_UNPACK_TEST_PASS=through"), "{e:?}");
    assert!(
        !e.iter().any(|v| v.starts_with("CT_UNPACK_TEST_UNSET")),
        "{e:?}"
    );
    let out = env.run(&["-e", "=x", "localhost/busybox:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .starts_with("ct-unpack: cannot make the runtime config: invalid environment entry '=x'"));
}
