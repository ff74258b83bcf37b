//! ct-pull and ct-gc on one store: a pull holds `locks/gc.lock` shared
//! (`ct_layout::gc_lock::hold_off`) from before its first blob lands until the name is in
//! `index.json`, so a collection (which holds it exclusively) never sweeps a blob that is
//! about to be named. Runs the real ct-pull and the real ct-gc binaries.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ct_layout::gc_lock;
use ct_layout::image_layout::ImageLayout;
use ct_tests::bins::bin;
use ct_tests::child::Reap;
use ct_tests::image::{busybox_layer, Compression, Image};

fn source(dir: &Path, names: &[&str]) {
    let src = ImageLayout::at(dir);
    for (i, n) in names.iter().enumerate() {
        Image::new()
            .layer(busybox_layer(), Compression::Gzip)
            .layer(data_layer(n, 8, 64 << 10 | i), Compression::None)
            .write(&src, n);
    }
}

fn blocks_until_released(args: &[&str]) {
    let env = Env::new();
    let store = env.store();
    let held = gc_lock::collect(&store).unwrap();
    let mut child = Reap(Some(env.cmd(args).stdout(Stdio::null()).spawn().unwrap()));
    assert!(
        child.still_running_after(Duration::from_millis(1500)),
        "ct-pull {args:?} finished while ct-gc held gc.lock"
    );
    // Nothing landed or was named while the collector held the lock.
    assert!(env.layout().refs().map(|r| r.is_empty()).unwrap_or(true));
    assert!(env.layout().blobs().map(|b| b.is_empty()).unwrap_or(true));
    drop(held);
    assert!(
        child.finishes_within(Duration::from_secs(60)),
        "ct-pull {args:?} did not complete after gc.lock was released"
    );
    assert_eq!(check_store(&env).len(), 1);
}

#[test]
fn an_import_waits_for_a_running_collection() {
    let t = Sandbox::new();
    let dir = t.dir.path().join("src");
    source(&dir, &["one:1"]);
    blocks_until_released(&[&format!("oci:{}:one:1", dir.display())]);
}

#[test]
fn a_tarball_import_waits_for_a_running_collection() {
    let t = Sandbox::new();
    let tarball = t.dir.path().join("rootfs.tar");
    std::fs::write(&tarball, busybox_layer()).unwrap();
    blocks_until_released(&["--tag", "rootfs:1", tarball.to_str().unwrap()]);
}

/// `ct-gc prune` with no grace period, over and over, while images are imported: every image
/// that was named keeps all of its blobs (without the lock a sweep between landing the layers
/// and writing the name deletes them).
#[test]
fn prune_running_alongside_never_leaves_an_image_without_its_blobs() {
    const N: usize = 12;
    let t = Sandbox::new();
    let dir = t.dir.path().join("src");
    let names: Vec<String> = (0..N).map(|i| format!("img{i}:1")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    source(&dir, &refs);
    let env = Env::new();
    env.layout().init().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let gc = {
        let stop = stop.clone();
        let root = env.root();
        let run = env.sb.dir.path().join("run");
        std::thread::spawn(move || {
            let mut runs = 0;
            // Bounded: the pulls stop it, and it never runs more than 2000 times.
            while !stop.load(Ordering::SeqCst) && runs < 2000 {
                let out = Command::new(bin("ct-gc"))
                    .args(["prune", "--grace", "0"])
                    .env("CT_ROOT", &root)
                    .env("CT_RUN", &run)
                    .stdin(Stdio::null())
                    .output()
                    .unwrap();
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
    for n in &names {
        env.pull(&[&format!("oci:{}:{n}", dir.display())]);
        // The pulled image is whole right after the pull, though prune keeps running.
        check_store(&env);
    }
    stop.store(true, Ordering::SeqCst);
    let runs = gc.join().unwrap();
    assert!(runs > 0, "prune never ran");
    assert_eq!(check_store(&env).len(), N);
}

/// A registry pull: the manifest is fetched outside the lock (it lands nothing), the blobs
/// only once the collection is over; a pull by digest of an image already in the store (the
/// no-network path, which reuses the present blobs) waits too.
#[test]
fn a_registry_pull_waits_for_a_running_collection() {
    use ct_tests::registry::{Auth, Registry};
    let t = Sandbox::new();
    let dir = t.dir.path().join("src");
    source(&dir, &["one:1"]);
    let reg = Registry::start(Auth::None);
    reg.push_layout(&dir, "one:1", "test/one:1");
    let r = reg.reference("test/one:1");
    blocks_until_released(&[&r]);
    let blob_gets = |reqs: &[String]| reqs.iter().filter(|q| q.contains("/blobs/")).count();
    assert!(blob_gets(&reg.requests()) > 0);

    let env = Env::new();
    let pinned = env.pull(&[&r]);
    let before = reg.requests();
    let held = gc_lock::collect(&env.store()).unwrap();
    let mut child = Reap(Some(
        env.cmd(&[&pinned]).stdout(Stdio::null()).spawn().unwrap(),
    ));
    assert!(
        child.still_running_after(Duration::from_millis(1000)),
        "a pull by digest from the store finished while ct-gc held gc.lock"
    );
    drop(held);
    assert!(child.finishes_within(Duration::from_secs(60)));
    assert_eq!(
        reg.requests().len(),
        before.len(),
        "no network for a pinned pull"
    );
    assert_eq!(check_store(&env), vec![r]);
}
