//! Helpers shared by ct-pull's integration tests: a private store per test (a `Sandbox`'s,
//! so hostile-registry tests and real-registry tests share one harness), running the
//! binary, fixture images, and a full check that the store is a valid OCI layout whose every
//! blob matches its digest.
#![allow(dead_code)]

pub mod fake_registry;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ct_layout::image_layout::{ref_name, ImageLayout};
use ct_layout::{Digest, Store};
use ct_tests::image::{busybox_layer, write_index, Compression, Image, TarBuilder};
pub use ct_tests::sandbox::Sandbox;
use serde_json::Value;

/// A private `$CT_ROOT`/`$CT_RUN` (and `$HOME`, so no real credentials are read): the store
/// of the workspace's one [`Sandbox`], whose temp dir is `sb.dir`.
pub struct Env {
    pub sb: Sandbox,
}

impl Env {
    pub fn new() -> Env {
        Env {
            sb: Sandbox::with_prefix("ct-pull-test-"),
        }
    }
    pub fn root(&self) -> PathBuf {
        self.sb.root.clone()
    }
    pub fn store(&self) -> Store {
        self.sb.store()
    }
    pub fn layout(&self) -> ImageLayout {
        ImageLayout::of_store(&self.store())
    }
    /// `ct-pull ARGS` with this store and no credentials files.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ct-pull"));
        c.args(args)
            .env("CT_ROOT", self.root())
            .env("CT_RUN", &self.sb.run)
            .env("HOME", self.sb.dir.path())
            .env_remove("DOCKER_CONFIG")
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("XDG_RUNTIME_DIR")
            .stdin(std::process::Stdio::null());
        c
    }
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }
    /// Run and expect success; returns stdout's one line.
    pub fn pull(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "ct-pull {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let s = String::from_utf8(out.stdout).unwrap();
        assert_eq!(s.lines().count(), 1, "exactly one line on stdout: {s:?}");
        s.trim_end().to_string()
    }
}

/// stderr of a failed run, asserting the exit code and that it is one line (plus hints).
pub fn failure(out: &Output, code: i32) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(out.stdout.is_empty(), "nothing on stdout on failure");
    let first = err.lines().next().unwrap_or("").to_string();
    assert!(first.starts_with("ct-pull: "), "{err}");
    assert!(
        err.lines().skip(1).all(|l| l.starts_with("hint: ")),
        "one line plus hints: {err}"
    );
    first
}

/// Check the store: a valid OCI layout; every named manifest, its config and layers present
/// with the right digest and size; no stray partial downloads. Returns the ref names.
pub fn check_store(env: &Env) -> Vec<String> {
    let layout = env.layout();
    assert!(layout.exists());
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.index_path()).unwrap()).unwrap();
    assert_eq!(index["schemaVersion"], 2);
    // Every blob on disk matches its name.
    for d in layout.blobs().unwrap() {
        layout.read_blob(&d).unwrap_or_else(|e| panic!("{e}"));
    }
    let mut names = Vec::new();
    for (name, desc) in layout.refs().unwrap() {
        let d: Digest = desc.digest().to_string().parse().unwrap();
        let m: Value = layout.read_json(&d).unwrap();
        for b in std::iter::once(&m["config"]).chain(m["layers"].as_array().unwrap()) {
            let bd: Digest = b["digest"].as_str().unwrap().parse().unwrap();
            assert!(
                layout.has_blob(&bd, b["size"].as_u64()),
                "{name}: blob {bd} missing"
            );
        }
        names.push(name);
    }
    let partials: Vec<_> = std::fs::read_dir(env.root().join("tmp"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| {
                    std::fs::metadata(e.path())
                        .map(|m| m.len() > 0)
                        .unwrap_or(false)
                })
                .map(|e| e.file_name())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        partials.is_empty(),
        "leftover partial downloads: {partials:?}"
    );
    names.sort();
    names
}

/// A layer with `n` files of `size` pseudo-random bytes each (seeded, so reproducible).
pub fn data_layer(tag: &str, n: usize, size: usize) -> Vec<u8> {
    let mut t = TarBuilder::new().dir("data", 0o755);
    let seed: u64 = tag.bytes().fold(0xcbf29ce484222325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    for i in 0..n {
        let buf = ct_tests::power_cut::noise(size, seed ^ i as u64);
        t = t.file(&format!("data/{tag}-{i}"), 0o644, &buf);
    }
    t.finish()
}

/// A fixture layout in `dir` with:
/// * `one:1` — busybox, one layer;
/// * `multi:1` — busybox plus two data layers (gzip and zstd);
/// * `multi:2` — the same busybox layer plus a different data layer (shares a layer with multi:1);
/// * `index:1` — a two-platform index (this machine's arch and one other).
pub struct Fixtures {
    pub dir: PathBuf,
    pub one: Digest,
    pub multi: Digest,
    pub multi2: Digest,
    pub index: Digest,
}

pub fn other_arch() -> &'static str {
    if ct_tests::image::host_arch() == "arm64" {
        "amd64"
    } else {
        "arm64"
    }
}

pub fn fixtures(dir: &Path) -> Fixtures {
    let layout = ImageLayout::at(dir);
    let bb = busybox_layer();
    let one = Image::new()
        .layer(bb.clone(), Compression::Gzip)
        .write(&layout, "one:1");
    let multi = Image::new()
        .layer(bb.clone(), Compression::Gzip)
        .layer(data_layer("a", 4, 64 << 10), Compression::Gzip)
        .layer(data_layer("b", 2, 32 << 10), Compression::Zstd)
        .write(&layout, "multi:1");
    let multi2 = Image::new()
        .layer(bb.clone(), Compression::Gzip)
        .layer(data_layer("c", 2, 16 << 10), Compression::Gzip)
        .write(&layout, "multi:2");
    let index = write_index(
        &layout,
        "index:1",
        &[
            Image::new()
                .layer(bb.clone(), Compression::Gzip)
                .layer(data_layer("host", 1, 1024), Compression::Gzip),
            Image::new()
                .platform("linux", other_arch())
                .layer(data_layer("other", 1, 1024), Compression::Gzip),
        ],
    );
    Fixtures {
        dir: dir.to_path_buf(),
        one,
        multi,
        multi2,
        index,
    }
}

/// The manifest digest an index picks for `arch`.
pub fn index_entry(dir: &Path, index: &Digest, arch: &str) -> Digest {
    let layout = ImageLayout::at(dir);
    let v: Value = layout.read_json(index).unwrap();
    let e = v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == arch)
        .unwrap();
    e["digest"].as_str().unwrap().parse().unwrap()
}

/// Names in the store's index.json.
pub fn ref_names(env: &Env) -> Vec<String> {
    let mut v: Vec<String> = env
        .layout()
        .read_index()
        .unwrap()
        .manifests()
        .iter()
        .filter_map(|d| ref_name(d).map(str::to_string))
        .collect();
    v.sort();
    v
}

/// Blob fetches (GET …/blobs/…) in a registry's access log.
pub fn blob_gets(reqs: &[String]) -> usize {
    reqs.iter()
        .filter(|r| r.starts_with("GET ") && r.contains("/blobs/"))
        .count()
}
