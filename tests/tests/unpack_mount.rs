//! ct-unpack + ct-mount together, as root, on real overlay mounts, against the industry tools:
//! the tree seen through the overlay equals what `umoci unpack` makes of the same image, and
//! Debian's `runc run` runs the bundle with the image's own command, user, working directory
//! and environment. Fixture images are built here and written into the store
//! (`ImageLayout::of_store`); every test's mounts are undone by a Drop guard even on failure.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ct_layout::bundle::Bundle;
use ct_layout::image_layout::ImageLayout;
use ct_layout::Store;
use ct_tests::bins::bin;
use ct_tests::image::{busybox_layer, Compression, Image, TarBuilder};
use ct_tests::mounts::mounts_under;
use ct_tests::runc::Runc;
use ct_tests::sandbox::Sandbox;
use ct_tests::tree::{assert_same, snapshot, Tree};
use serde_json::json;

/// A sandbox's store. Dropping the [`Sandbox`] unmounts whatever is mounted below it before
/// the dir is removed.
struct Env {
    store: Store,
    sb: Sandbox,
}

impl Env {
    fn new() -> Env {
        let sb = Sandbox::new();
        Env {
            store: sb.store(),
            sb,
        }
    }

    fn add(&self, name: &str, image: &Image) {
        image.write(&ImageLayout::of_store(&self.store), name);
    }

    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let o = Command::new(bin(tool))
            .args(args)
            .env("CT_ROOT", &self.store.root)
            .env("CT_RUN", &self.store.run)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{tool} {args:?}: exit {:?}: {}",
            o.status.code(),
            String::from_utf8_lossy(&o.stderr)
        );
        o
    }

    fn line(o: &Output) -> String {
        String::from_utf8(o.stdout.clone())
            .unwrap()
            .trim()
            .to_string()
    }

    /// `ct-unpack --id ID IMAGE [extra] | ct-mount`: the mounted bundle.
    fn container(&self, image: &str, id: &str, extra: &[&str]) -> Bundle {
        let mut args = vec!["--id", id];
        args.extend_from_slice(extra);
        args.push(image);
        let dir = Env::line(&self.run("ct-unpack", &args));
        let out = Env::line(&self.run("ct-mount", &[&dir]));
        assert_eq!(out, dir, "ct-mount prints the bundle it was given");
        Bundle::new(dir)
    }

    /// `umoci unpack` of the same image from the same store: its rootfs.
    fn umoci(&self, image: &str) -> PathBuf {
        let dest = self.sb.dir.path().join("umoci");
        let o = Command::new("umoci")
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:{image}", self.store.images().display()))
            .arg(&dest)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "umoci unpack: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        dest.join("rootfs")
    }
}

fn header(kind: tar::EntryType, mode: u32, uid: u64, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(uid);
    h.set_gid(uid);
    h.set_size(size);
    h.set_mtime(1_700_000_000);
    h
}

/// The base layer: everything the later layers delete, replace, or keep.
fn base_layer() -> Vec<u8> {
    let long_dir = "d".repeat(120);
    let long_name = format!("{long_dir}/{}", "n".repeat(200));
    let mut t = TarBuilder::new()
        .dir("del", 0o755)
        .file("del/file", 0o644, b"deleted in layer 2")
        .file("del/kept", 0o644, b"kept")
        .dir("gone", 0o755)
        .file("gone/child", 0o644, b"the whole dir is deleted")
        .dir("opq", 0o755)
        .file("opq/old", 0o644, b"hidden by the opaque marker")
        .dir("opq/sub", 0o700)
        .file("opq/sub/old2", 0o644, b"hidden too")
        .dir("replace", 0o755)
        .file("replace/f2s", 0o644, b"file, becomes a symlink")
        .file("replace/f2d", 0o644, b"file, becomes a dir")
        .symlink("replace/s2f", "f2s")
        .symlink("replace/s2d", "nowhere")
        .dir("replace/d2f", 0o755)
        .file(
            "replace/d2f/child",
            0o644,
            b"under a dir that becomes a file",
        )
        .dir("replace/d2s", 0o755)
        .file(
            "replace/d2s/child",
            0o644,
            b"under a dir that becomes a symlink",
        )
        .dir("hl", 0o755)
        .file("hl/orig", 0o644, b"one inode, three names")
        .hardlink("hl/same-dir", "hl/orig")
        .dir("other", 0o755)
        .hardlink("other/across", "hl/orig")
        .dir("bin", 0o755)
        .file("bin/su", 0o4755, b"setuid")
        .file("bin/sg", 0o2755, b"setgid")
        .dir("tmp", 0o1777)
        .dir(&long_dir, 0o755)
        .file(&long_name, 0o644, b"a name longer than 100 bytes")
        .symlink("longlink", &format!("/{long_name}"));
    {
        let b = t.inner();
        let mut h = header(tar::EntryType::Regular, 0o640, 1000, 5);
        b.append_data(&mut h, "owned", &b"owned"[..]).unwrap();
        let mut h = header(tar::EntryType::Directory, 0o750, 1000, 0);
        b.append_data(&mut h, "home-1000", std::io::empty())
            .unwrap();
        let mut h = header(tar::EntryType::Fifo, 0o600, 0, 0);
        b.append_data(&mut h, "fifo", std::io::empty()).unwrap();
        // xattrs travel as PAX records before the entry they belong to.
        b.append_pax_extensions([
            (
                "SCHILY.xattr.user.comment",
                &b"kept through every layer"[..],
            ),
            (
                "SCHILY.xattr.security.capability",
                // vfs_cap_data v2: CAP_NET_BIND_SERVICE permitted + effective.
                &[0, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..],
            ),
        ])
        .unwrap();
        let mut h = header(tar::EntryType::Regular, 0o755, 0, 4);
        b.append_data(&mut h, "bin/cap", &b"caps"[..]).unwrap();
    }
    t.finish()
}

/// Deletions, an opaque dir with entries before AND after its marker, replacements.
fn change_layer() -> Vec<u8> {
    TarBuilder::new()
        .dir("del", 0o755)
        .file("del/.wh.file", 0o644, b"")
        .file(".wh.gone", 0o644, b"")
        .dir("opq", 0o755)
        .file("opq/before", 0o644, b"same layer, before the marker")
        .file("opq/.wh..wh..opq", 0o644, b"")
        .file("opq/after", 0o644, b"same layer, after the marker")
        .dir("replace", 0o755)
        .symlink("replace/f2s", "s2f")
        .dir("replace/f2d", 0o711)
        .file("replace/f2d/inside", 0o644, b"was a file")
        .file("replace/s2f", 0o600, b"was a symlink")
        .dir("replace/s2d", 0o755)
        .file("replace/s2d/x", 0o644, b"was a symlink")
        .file("replace/d2f", 0o644, b"was a dir")
        .symlink("replace/d2s", "/tmp")
        .file("bin/su", 0o4711, b"setuid, changed")
        .finish()
}

/// Re-creates what layer 2 deleted, and adds to the opaque dir.
fn top_layer() -> Vec<u8> {
    TarBuilder::new()
        .dir("del", 0o755)
        .file("del/file", 0o600, b"back again")
        .dir("opq", 0o755)
        .file("opq/top", 0o644, b"added above the opaque layer")
        .finish()
}

fn cases_image() -> Image {
    Image::new()
        .layer(base_layer(), Compression::Gzip)
        // umoci 0.4.7 (Debian 12) cannot read tar+zstd, so the compared image uses the rest.
        .layer(change_layer(), Compression::None)
        .layer(top_layer(), Compression::Gzip)
}

fn assert_matches_umoci(env: &Env, image: &str, rootfs: &Path) -> Tree {
    // The root too: the upper dir takes the mode and owner of the image's root directory.
    let ours = snapshot(rootfs);
    let theirs = snapshot(&env.umoci(image));
    assert_same(&ours, &theirs, "overlay rootfs vs umoci unpack");
    ours
}

#[test]
fn overlay_rootfs_equals_umoci_unpack() {
    let env = Env::new();
    let image = "localhost/cases:1";
    env.add(image, &cases_image());
    let b = env.container(image, "c1", &[]);
    let ours = assert_matches_umoci(&env, image, &b.rootfs());
    // Spot checks, so that "equal" cannot mean "both empty".
    let get = |p: &str| ours.0.get(Path::new(p)).cloned();
    assert!(get("del/kept").is_some() && get("gone").is_none() && get("gone/child").is_none());
    assert_eq!(get("del/file").unwrap().mode, 0o600);
    let opq: Vec<_> = ours
        .0
        .keys()
        .filter(|p| p.starts_with("opq") && p.components().count() == 2)
        .collect();
    assert_eq!(
        opq,
        [
            Path::new("opq/after"),
            Path::new("opq/before"),
            Path::new("opq/top")
        ]
    );
    assert_eq!(get("bin/su").unwrap().mode, 0o4711);
    assert_eq!(get("other/across").unwrap().hardlinks.len(), 2);
    assert_eq!(
        get("bin/cap")
            .unwrap()
            .xattrs
            .get("user.comment")
            .map(Vec::as_slice),
        Some(&b"kept through every layer"[..])
    );
    assert!(get("bin/cap")
        .unwrap()
        .xattrs
        .contains_key("security.capability"));
    assert_eq!(get("owned").unwrap().uid, 1000);
    assert!(ours.0.keys().all(|p| !p.to_string_lossy().contains(".wh.")));
}

#[test]
fn an_image_of_128_layers_equals_umoci_unpack() {
    let env = Env::new();
    let image = "localhost/many:1";
    let mut img = Image::new();
    for i in 0..128u32 {
        let mut t = TarBuilder::new()
            .dir("layers", 0o755)
            .file(&format!("layers/{i:03}"), 0o644, i.to_string().as_bytes())
            .file("top", 0o644, format!("layer {i}").as_bytes());
        // Every third layer deletes the file the one before added.
        if i % 3 == 2 {
            t = t.file(&format!("layers/.wh.{:03}", i - 1), 0o644, b"");
        }
        img = img.layer(t.finish(), Compression::Gzip);
    }
    env.add(image, &img);
    let b = env.container(image, "many", &[]);
    let ours = assert_matches_umoci(&env, image, &b.rootfs());
    assert_eq!(
        fs::read_to_string(b.rootfs().join("top")).unwrap(),
        "layer 127"
    );
    assert!(ours.0.contains_key(Path::new("layers/000")));
    assert!(!ours.0.contains_key(Path::new("layers/001")));
}

#[test]
fn two_containers_of_one_image_are_isolated_and_layers_stay_unchanged() {
    let env = Env::new();
    let image = "localhost/cases:1";
    env.add(image, &cases_image());
    let b1 = env.container(image, "one", &[]);
    let layers: Vec<PathBuf> = b1
        .load_note()
        .unwrap()
        .unwrap()
        .layers
        .iter()
        .map(|d| env.store.layer(d))
        .collect();
    assert_eq!(layers.len(), 3);
    let before: Vec<Tree> = layers.iter().map(|l| snapshot(l)).collect();
    let b2 = env.container(image, "two", &[]);
    let (r1, r2) = (b1.rootfs(), b2.rootfs());
    let pristine = snapshot(&r2);
    fs::write(r1.join("hl/orig"), "changed through one name").unwrap();
    fs::remove_file(r1.join("del/kept")).unwrap();
    fs::remove_dir_all(r1.join("opq")).unwrap();
    fs::write(r1.join("new"), "only in one").unwrap();
    fs::set_permissions(
        r1.join("bin/su"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    assert_same(&snapshot(&r2), &pristine, "container two after one wrote");
    for (l, snap) in layers.iter().zip(&before) {
        assert_same(&snapshot(l), snap, "layer after a container wrote");
    }
    assert!(b1.upper().join("new").is_file());
    assert!(!b2.upper().join("new").exists());
}

#[test]
fn runc_runs_an_unpacked_and_mounted_bundle_as_the_image_says() {
    let env = Env::new();
    let image = "localhost/busybox-probe:1";
    let probe = TarBuilder::new()
        .dir("srv", 0o755)
        .dir("srv/app", 0o777)
        .file("srv/app/data", 0o644, b"from a layer above busybox\n")
        .finish();
    env.add(
        image,
        &Image::new()
            .layer(busybox_layer(), Compression::Gzip)
            .layer(probe, Compression::Zstd)
            .config(json!({
                "Entrypoint": ["/bin/sh", "-c"],
                "Cmd": ["echo uid=$(id -u) gid=$(id -g) cwd=$(pwd) greeting=$GREETING; cat data; echo written > mine; cat mine"],
                "Env": ["PATH=/bin", "GREETING=hello from the image"],
                "User": "nobody",
                "WorkingDir": "/srv/app",
            })),
    );
    // A unique id: runc's state lives in the sandbox, but names still show in cgroups.
    let runc = Runc::new(&env.sb, "ct-test-");
    let b = env.container(image, &runc.id, &[]);
    let o = runc.run(&b.dir);
    assert!(
        o.status.success(),
        "runc run: exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "uid=65534 gid=65534 cwd=/srv/app greeting=hello from the image\nfrom a layer above busybox\nwritten\n"
    );
    // The container's write landed in its upper dir, not in a layer.
    assert_eq!(
        fs::read_to_string(b.upper().join("srv/app/mine")).unwrap(),
        "written\n"
    );
    drop(runc);
    Env::line(&env.run("ct-mount", &["--unmount", &b.dir.to_string_lossy()]));
    assert!(mounts_under(&env.store.root).is_empty());
}

#[test]
fn the_pipeline_works_through_pipes_and_a_flat_bundle_passes_through() {
    let env = Env::new();
    let image = "localhost/cases:1";
    env.add(image, &cases_image());
    let pipe = |extra: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "\"$0\" {extra} {image} | \"$1\" | \"$1\" --unmount | \"$1\""
            ))
            .arg(bin("ct-unpack"))
            .arg(bin("ct-mount"))
            .env("CT_ROOT", &env.store.root)
            .env("CT_RUN", &env.store.run)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    // unpack | mount | unmount | mount: each stage reads the line the one before printed.
    let o = pipe("--id layered");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = env.store.bundle("layered");
    assert_eq!(Env::line(&o), dir.to_str().unwrap());
    assert_eq!(mounts_under(&env.store.root), vec![dir.join("rootfs")]);

    let o = pipe("--flat --id flat");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let flat = env.store.bundle("flat");
    assert_eq!(Env::line(&o), flat.to_str().unwrap());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "ct-mount: '{}' is a flat bundle (ct-unpack --flat): nothing to mount",
            flat.display()
        )),
        "{err}"
    );
    assert_eq!(mounts_under(&env.store.root), vec![dir.join("rootfs")]);
    // The flat tree and the overlay tree are the same tree.
    assert_same(
        &snapshot(&flat.join("rootfs")).without_root(),
        &snapshot(&dir.join("rootfs")).without_root(),
        "flat rootfs vs overlay rootfs",
    );
}
