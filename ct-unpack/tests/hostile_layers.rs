//! Hostile layers are contained: absolute names, `..`, writes through symlinks planted by an
//! earlier entry or layer (to `/`, to `../..`, to an absolute path outside), a hardlink to a
//! file outside, replacing a planted symlink, whiteouts and opaque markers through a planted
//! symlink. Each image is unpacked both into the layer store and `--flat`; afterwards the
//! directory outside the store (with a "secret" file) is byte-for-byte unchanged and no host
//! path named by the layer exists. An entry either lands inside the root or the unpack fails
//! with a one-line error and leaves nothing behind.

mod common;

use std::fs;
use std::path::Path;

use common::{header, Env};
use ct_tests::image::{Compression, Image, TarBuilder};
use ct_tests::tree::snapshot;
use tar::EntryType as T;

/// An entry with a raw name and link name (the `tar` crate refuses to write `/x` and `..`).
fn raw(t: &mut TarBuilder, kind: T, name: &str, link: &str, data: &[u8]) {
    let mut h = header(kind, 0o644);
    {
        let o = h.as_old_mut();
        o.name.fill(0);
        o.name[..name.len()].copy_from_slice(name.as_bytes());
        o.linkname.fill(0);
        o.linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    h.set_size(data.len() as u64);
    h.set_cksum();
    t.inner().append(&h, data).unwrap();
}

struct Case {
    name: &'static str,
    layers: Vec<Vec<u8>>,
    /// Host paths that must not exist afterwards.
    host: Vec<String>,
    /// Must the unpack refuse (rather than contain)?
    refused: bool,
}

fn cases(outside: &Path, tag: &str) -> Vec<Case> {
    let out = outside
        .to_str()
        .unwrap()
        .trim_start_matches('/')
        .to_string();
    let abs = format!("/{out}");
    let mut v = Vec::new();

    let mut t = TarBuilder::new();
    raw(
        &mut t,
        T::Regular,
        &format!("/tmp/ct-evil-abs-{tag}"),
        "",
        b"x",
    );
    raw(&mut t, T::Regular, &format!("{abs}/abs-planted"), "", b"x");
    v.push(Case {
        name: "absolute names",
        layers: vec![t.finish()],
        host: vec![
            format!("/tmp/ct-evil-abs-{tag}"),
            format!("{abs}/abs-planted"),
        ],
        refused: false,
    });

    let mut t = TarBuilder::new();
    raw(
        &mut t,
        T::Regular,
        &format!("../../../../../../../../tmp/ct-evil-dots-{tag}"),
        "",
        b"x",
    );
    raw(
        &mut t,
        T::Regular,
        &format!("a/../../../../../../../..{abs}/dots-planted"),
        "",
        b"x",
    );
    v.push(Case {
        name: "dot-dot names",
        layers: vec![t.finish()],
        host: vec![
            format!("/tmp/ct-evil-dots-{tag}"),
            format!("{abs}/dots-planted"),
        ],
        refused: false,
    });

    let mut t = TarBuilder::new();
    raw(&mut t, T::Symlink, "root", "/", b"");
    raw(
        &mut t,
        T::Regular,
        &format!("root/{out}/via-slash"),
        "",
        b"x",
    );
    raw(&mut t, T::Symlink, "up", "../../../../../../../../..", b"");
    raw(&mut t, T::Regular, &format!("up/{out}/via-dots"), "", b"x");
    raw(&mut t, T::Symlink, "direct", &abs, b"");
    raw(&mut t, T::Regular, "direct/via-abs", "", b"x");
    raw(&mut t, T::Directory, "direct/sub", "", b"");
    v.push(Case {
        name: "writes through planted symlinks",
        layers: vec![t.finish()],
        host: vec![
            format!("{abs}/via-slash"),
            format!("{abs}/via-dots"),
            format!("{abs}/via-abs"),
            format!("{abs}/sub"),
        ],
        refused: false,
    });

    // A symlink planted in one layer, used by the next (matters for --flat).
    let mut t1 = TarBuilder::new();
    raw(&mut t1, T::Symlink, "later", &abs, b"");
    raw(&mut t1, T::Symlink, "victim", &format!("{abs}/secret"), b"");
    let mut t2 = TarBuilder::new();
    raw(&mut t2, T::Regular, "later/next-layer", "", b"x");
    raw(&mut t2, T::Regular, "later/.wh.secret", "", b"");
    raw(&mut t2, T::Regular, "later/.wh..wh..opq", "", b"");
    // Replacing a planted symlink replaces the link, never writes through it.
    raw(&mut t2, T::Regular, "victim", "", b"overwritten?");
    v.push(Case {
        name: "symlinks planted by a lower layer",
        layers: vec![t1.finish(), t2.finish()],
        host: vec![format!("{abs}/next-layer")],
        refused: false,
    });

    let mut t = TarBuilder::new();
    raw(&mut t, T::Link, "hl", &format!("{abs}/secret"), b"");
    v.push(Case {
        name: "hardlink to an absolute path outside",
        layers: vec![t.finish()],
        host: vec![],
        refused: true,
    });

    let mut t = TarBuilder::new();
    raw(&mut t, T::Symlink, "s", &format!("{abs}/secret"), b"");
    raw(&mut t, T::Link, "hl", "s", b"");
    raw(
        &mut t,
        T::Link,
        "hl2",
        &format!("../../../../../../../..{abs}/secret"),
        b"",
    );
    v.push(Case {
        name: "hardlink through dot-dot",
        layers: vec![t.finish()],
        host: vec![],
        refused: true,
    });
    v
}

/// Removes, even when the test fails, any host file an escape would have created.
struct RemoveOnDrop(Vec<String>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = fs::remove_file(p);
        }
    }
}

#[test]
fn hostile_layers_touch_nothing_outside() {
    let env = Env::new();
    let outside = env.sb.dir.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("secret"), b"do not touch").unwrap();
    let tag = format!("{}", std::process::id());
    let before = snapshot(&outside);
    let _cleanup = RemoveOnDrop(
        cases(&outside, &tag)
            .into_iter()
            .flat_map(|c| c.host)
            .collect(),
    );
    for (i, case) in cases(&outside, &tag).into_iter().enumerate() {
        let mut img = Image::new();
        for l in &case.layers {
            img = img.layer(l.clone(), Compression::Gzip);
        }
        let name = format!("localhost/evil{i}:1");
        img.write(&env.layout(), &name);
        let images_before = snapshot(&env.layout().dir);
        for flat in [false, true] {
            let id = format!("c{i}{}", if flat { "f" } else { "o" });
            let mut args = vec!["--id", &id, &name];
            if flat {
                args.insert(0, "--flat");
            }
            let out = env.run(&args);
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            if case.refused {
                assert_eq!(
                    out.status.code(),
                    Some(1),
                    "{}: should be refused",
                    case.name
                );
                assert!(
                    err.starts_with("ct-unpack: layer sha256:"),
                    "{}: {err}",
                    case.name
                );
                assert!(
                    err.contains("cannot find the hardlink target of"),
                    "{}: {err}",
                    case.name
                );
                assert!(!env.store.bundle(&id).exists());
            } else {
                assert!(out.status.success(), "{} (flat={flat}): {err}", case.name);
            }
            assert_eq!(
                snapshot(&outside),
                before,
                "{} (flat={flat}) changed the outside",
                case.name
            );
            assert_eq!(fs::read(outside.join("secret")).unwrap(), b"do not touch");
            assert_eq!(
                snapshot(&env.layout().dir),
                images_before,
                "{}: image store changed",
                case.name
            );
            for h in &case.host {
                assert!(!Path::new(h).exists(), "{}: {h} was created", case.name);
            }
        }
    }
    assert_eq!(env.layer_tmp_entries(), 0);
    // Contained means: inside the root. Spot-check where the writes went.
    let flat = |i: usize| env.store.bundle(&format!("c{i}f")).join("rootfs");
    let out_rel = outside.strip_prefix("/").unwrap();
    assert!(flat(0).join(format!("tmp/ct-evil-abs-{tag}")).is_file());
    assert!(flat(1).join(format!("tmp/ct-evil-dots-{tag}")).is_file());
    assert!(flat(2).join(out_rel).join("via-slash").is_file());
    assert!(flat(2).join(out_rel).join("via-dots").is_file());
    assert!(flat(2).join(out_rel).join("via-abs").is_file());
    assert!(flat(3).join(out_rel).join("next-layer").is_file());
    assert_eq!(fs::read(flat(3).join("victim")).unwrap(), b"overwritten?");
    assert!(fs::symlink_metadata(flat(3).join("victim"))
        .unwrap()
        .is_file());
}
