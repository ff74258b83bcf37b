//! `ct-pull IMG | ct-unpack` overlaps the two stages (`ct_layout::pipe_handoff`): a layer whose
//! blob has landed is extracted while ct-pull still downloads another one, and what is
//! extracted early is held to the same limits as any extraction. The test registry
//! (`common::fake_registry`) holds one blob back on demand, so "while the pull runs" is a
//! state the test controls, not a race it times.

mod common;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fake_registry::{Config, FakeRegistry, Reply};
use common::*;
use ct_layout::image_layout::ImageLayout;
use ct_layout::Digest;
use ct_tests::child::Reap;
use ct_tests::image::{busybox_layer, Compression, Image, TarBuilder};

/// An image in a fresh layout: its manifest, and each layer's (blob, diff_id), bottom first.
struct Fx {
    _t: Sandbox,
    dir: std::path::PathBuf,
    layers: Vec<(Digest, Digest)>,
}

fn fixture(image: Image) -> Fx {
    let t = Sandbox::new();
    let dir = t.dir.path().join("fx");
    let layout = ImageLayout::at(&dir);
    let m = image.write(&layout, "img:1");
    let manifest: serde_json::Value = layout.read_json(&m).unwrap();
    let config: serde_json::Value = layout
        .read_json(
            &manifest["config"]["digest"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap(),
        )
        .unwrap();
    let layers = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .zip(config["rootfs"]["diff_ids"].as_array().unwrap())
        .map(|(l, d)| {
            (
                l["digest"].as_str().unwrap().parse().unwrap(),
                d.as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    Fx { _t: t, dir, layers }
}

/// Serve `fx`, answering nothing for `held` while the returned flag is true.
fn serve_holding(fx: &Fx, held: &Digest) -> (FakeRegistry, Arc<AtomicBool>) {
    let hold = Arc::new(AtomicBool::new(true));
    let (h, blob) = (hold.clone(), held.to_string());
    let reg = FakeRegistry::serve(
        &fx.dir,
        Config::default(),
        Arc::new(move |r| {
            if r.is_blob(&blob) && h.load(Ordering::SeqCst) {
                Reply::Silent
            } else {
                Reply::Normal
            }
        }),
    );
    (reg, hold)
}

/// `ct-pull REF | ct-unpack ARGS`, both on `env`'s store; (pull, unpack).
fn pipeline(env: &Env, reference: &str, unpack_args: &[&str]) -> (Reap, Reap) {
    let mut pull = env
        .cmd(&["--timeout", "2", "--retries", "30", reference])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pipe = pull.stdout.take().unwrap();
    let unpack = Command::new(ct_tests::bins::bin("ct-unpack"))
        .args(unpack_args)
        .env("CT_ROOT", env.root())
        .env("CT_RUN", env.sb.dir.path().join("run"))
        .stdin(pipe)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (Reap(Some(pull)), Reap(Some(unpack)))
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

fn handoff_files(env: &Env) -> Vec<String> {
    std::fs::read_dir(env.root().join("tmp"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains("pipe-"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn ct_unpack_extracts_a_landed_layer_while_ct_pull_still_downloads_the_next() {
    let fx = fixture(
        Image::new()
            .layer(busybox_layer(), Compression::Gzip)
            .layer(data_layer("late", 4, 64 << 10), Compression::Gzip),
    );
    let (first, late) = (fx.layers[0].clone(), fx.layers[1].clone());
    let (reg, hold) = serve_holding(&fx, &late.0);
    let env = Env::new();
    let (mut pull, mut unpack) = pipeline(&env, &format!("{}/t/img:1", reg.host()), &["-v"]);
    let store = env.store();

    assert!(
        wait_until(Duration::from_secs(30), || store.layer(&first.1).is_dir()),
        "the first layer was not extracted while the pull waited for the second"
    );
    assert!(
        pull.still_running_after(Duration::ZERO),
        "ct-pull ended before its last blob came"
    );
    assert!(!env.layout().has_blob(&late.0, None));
    assert!(!store.layer(&late.1).exists());

    hold.store(false, Ordering::SeqCst);
    assert!(
        pull.finishes_within(Duration::from_secs(60)),
        "ct-pull failed"
    );
    let out = unpack
        .output_within(Duration::from_secs(60))
        .expect("ct-unpack did not end");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ct-unpack failed: {stderr}");
    assert!(
        stderr.contains("extracted while the pull runs"),
        "stderr: {stderr}"
    );
    let bundle = String::from_utf8(out.stdout).unwrap();
    let note: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{}/ct.json", bundle.trim())).unwrap())
            .unwrap();
    assert_eq!(
        note["layers"],
        serde_json::json!([first.1.to_string(), late.1.to_string()])
    );
    assert!(store.layer(&late.1).is_dir());
    assert!(handoff_files(&env).is_empty(), "{:?}", handoff_files(&env));
}

/// A layer that inflates past `--max-layer-size` is stopped on the early path too: while the
/// pull is held on the last blob, the bomb never becomes a layer and leaves no partial tree,
/// and once the pull ends ct-unpack fails with the size error.
#[test]
fn a_decompression_bomb_extracted_while_the_pull_runs_is_still_stopped() {
    let zeros = vec![0u8; 32 << 20];
    let bomb = TarBuilder::new().file("zeros", 0o644, &zeros).finish();
    let fx = fixture(
        Image::new()
            .layer(bomb, Compression::Gzip)
            .layer(data_layer("late", 2, 64 << 10), Compression::Gzip),
    );
    let (bomb, late) = (fx.layers[0].clone(), fx.layers[1].clone());
    let (reg, hold) = serve_holding(&fx, &late.0);
    let env = Env::new();
    let (mut pull, mut unpack) = pipeline(
        &env,
        &format!("{}/t/img:1", reg.host()),
        &["-v", "--max-layer-size", "1M"],
    );
    let store = env.store();
    let layout = env.layout();
    assert!(
        wait_until(Duration::from_secs(30), || layout.has_blob(&bomb.0, None)),
        "the bomb's blob never landed"
    );
    // Give the early extraction its chance while the pull is still held.
    assert!(pull.still_running_after(Duration::from_secs(2)));
    assert!(!store.layer(&bomb.1).exists(), "the bomb became a layer");

    hold.store(false, Ordering::SeqCst);
    assert!(
        pull.finishes_within(Duration::from_secs(60)),
        "ct-pull failed"
    );
    let out = unpack
        .output_within(Duration::from_secs(60))
        .expect("ct-unpack did not end");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains(&format!("ct-unpack: layer {}", bomb.0)),
        "stderr: {stderr}"
    );
    assert!(out.stdout.is_empty());
    assert!(!store.layer(&bomb.1).exists());
    let leftovers: Vec<_> = std::fs::read_dir(store.layers_tmp())
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A pull killed in the middle of the pipeline: ct-unpack gets no line, makes no bundle (and
/// says nothing: the stage that failed is the one to speak), and
/// the layer store holds only whole, verified layers (what was extracted early stays, shared
/// and reusable); the killed pull's announcement is not trusted by the next pipeline, which
/// completes.
#[test]
fn a_pull_killed_mid_pipeline_leaves_no_bundle_and_only_whole_layers() {
    let fx = fixture(
        Image::new()
            .layer(busybox_layer(), Compression::Gzip)
            .layer(data_layer("late", 4, 64 << 10), Compression::Gzip),
    );
    let (first, late) = (fx.layers[0].clone(), fx.layers[1].clone());
    let (reg, hold) = serve_holding(&fx, &late.0);
    let env = Env::new();
    let r = format!("{}/t/img:1", reg.host());
    let (mut pull, mut unpack) = pipeline(&env, &r, &[]);
    let store = env.store();
    assert!(wait_until(Duration::from_secs(30), || store
        .layer(&first.1)
        .is_dir()));
    if let Some(c) = pull.0.as_mut() {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    let out = unpack
        .output_within(Duration::from_secs(30))
        .expect("ct-unpack did not end after its input did");
    // An empty upstream pipe ends a stage quietly with the usage code: the stage that failed
    // (here, killed) is the one to speak (ct_layout::pipe).
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let bundles: Vec<_> = std::fs::read_dir(store.containers())
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(bundles.is_empty(), "{bundles:?}");
    let layers: Vec<_> = std::fs::read_dir(store.layers().join("sha256"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(layers, vec![first.1.hex().to_string()]);
    assert!(!env.layout().has_blob(&late.0, None));

    hold.store(false, Ordering::SeqCst);
    let (mut pull, mut unpack) = pipeline(&env, &r, &[]);
    assert!(pull.finishes_within(Duration::from_secs(60)));
    assert!(unpack.finishes_within(Duration::from_secs(60)));
    assert!(store.layer(&late.1).is_dir());
    assert!(handoff_files(&env).is_empty(), "{:?}", handoff_files(&env));
}
