//! ct-unpack and ct-gc on one store: an unpack holds `locks/gc.lock` shared
//! (`ct_layout::gc_lock::hold_off`) from reading the image (its layers extracted or reused)
//! until the bundle's `ct.json` names them, so a collection (which holds it exclusively)
//! never sweeps a layer or blob a new bundle is about to use. Runs the real ct-unpack and
//! the real ct-gc binaries.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ct_layout::gc_lock;
use ct_layout::Digest;
use ct_tests::bins::bin;
use ct_tests::child::Reap;
use ct_tests::image::{busybox_layer, Compression, Image, TarBuilder};

/// A small layer of its own for image `tag` (so each image has a layer to extract).
fn own_layer(tag: &str) -> Vec<u8> {
    let mut t = TarBuilder::new().dir("data", 0o755);
    for i in 0..64 {
        t = t.file(
            &format!("data/{tag}-{i}"),
            0o644,
            format!("{tag}{i}").repeat(512).as_bytes(),
        );
    }
    t.finish()
}

/// Write and name an image the way a writer must: holding ct-gc off meanwhile.
fn image(env: &Env, name: &str) {
    let _gc = gc_lock::hold_off(&env.store).unwrap();
    Image::new()
        .layer(busybox_layer(), Compression::Gzip)
        .layer(own_layer(name), Compression::Gzip)
        .write(&env.layout(), name);
}

fn gc(env: &Env, args: &[&str]) -> Output {
    Command::new(bin("ct-gc"))
        .args(args)
        .env("CT_ROOT", &env.store.root)
        .env("CT_RUN", &env.store.run)
        .env("CT_GC_GRACE", "0")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Everything `bundle`'s ct.json refers to is in the store: its layers and manifest blob.
fn assert_whole(env: &Env, bundle: &Path) {
    let note = read_json(&bundle.join("ct.json"));
    let layers = note["layers"].as_array().unwrap();
    assert!(!layers.is_empty());
    for l in layers {
        let d: Digest = l.as_str().unwrap().parse().unwrap();
        assert!(
            env.store.layer(&d).join("bin").exists() || env.store.layer(&d).join("data").exists(),
            "{}: layer {d} missing",
            bundle.display()
        );
    }
    let m: Digest = note["manifest"].as_str().unwrap().parse().unwrap();
    assert!(
        env.layout().has_blob(&m, None),
        "{}: manifest {m} missing",
        bundle.display()
    );
}

#[test]
fn an_unpack_waits_for_a_running_collection() {
    let env = Env::new();
    image(&env, "one:1");
    let held = gc_lock::collect(&env.store).unwrap();
    let mut child = Reap(Some(
        env.cmd()
            .args(["--name", "c1", "one:1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    assert!(
        child.still_running_after(Duration::from_millis(1500)),
        "ct-unpack finished while ct-gc held gc.lock"
    );
    assert!(env.layer_dirs().is_empty(), "a layer landed under gc.lock");
    assert!(!env.store.bundle("c1").exists());
    drop(held);
    let out = child
        .output_within(Duration::from_secs(60))
        .expect("ct-unpack did not complete after gc.lock was released");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_whole(&env, &env.store.bundle("c1"));
}

/// `ct-gc rmi -f` of the image being unpacked and `ct-gc prune` with no grace period, racing
/// each unpack: the unpack either finds no image (rmi came first) or makes a bundle whose
/// layers and manifest all stay (without the lock, rmi sweeps them mid-unpack).
#[test]
fn gc_racing_unpacks_never_leaves_a_bundle_without_its_layers() {
    const N: usize = 10;
    let env = Arc::new(Env::new());
    let stop = Arc::new(AtomicBool::new(false));
    let pruner = {
        let (env, stop) = (env.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut runs = 0;
            // Bounded: the unpacks stop it, and it never runs more than 2000 times.
            while !stop.load(Ordering::SeqCst) && runs < 2000 {
                let out = gc(&env, &["prune"]);
                assert!(
                    out.status.success(),
                    "ct-gc prune: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                runs += 1;
            }
            runs
        })
    };
    let mut made: Vec<PathBuf> = Vec::new();
    for i in 0..N {
        let name = format!("img{i}:1");
        image(&env, &name);
        let id = format!("c{i}");
        let mut child = Reap(Some(
            env.cmd()
                .args(["--name", &id, &name])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        ));
        // Spread the rmi over the unpack's run: early ones find the image, late ones the bundle.
        std::thread::sleep(Duration::from_millis(20 * i as u64));
        let rmi = gc(&env, &["rmi", "-f", &name]);
        let out = child
            .output_within(Duration::from_secs(60))
            .expect("ct-unpack did not finish");
        let err = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            assert_whole(&env, &env.store.bundle(&id));
            made.push(env.store.bundle(&id));
        } else {
            assert!(
                err.contains(&format!("no image '{name}'")),
                "ct-unpack failed otherwise than 'no image': {err}"
            );
            assert!(rmi.status.success());
        }
    }
    stop.store(true, Ordering::SeqCst);
    assert!(pruner.join().unwrap() > 0, "prune never ran");
    assert!(
        !made.is_empty(),
        "no unpack won the race: the test proved nothing"
    );
    let out = gc(&env, &["prune"]);
    assert!(out.status.success());
    for b in &made {
        assert_whole(&env, b);
    }
    assert_eq!(env.layer_tmp_entries(), 0);
}
