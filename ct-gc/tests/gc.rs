//! ct-gc against a real store: images written with the fixture builder, bundles made by the
//! real ct-unpack, overlays mounted by the real ct-mount. Each test has its own CT_ROOT/CT_RUN
//! in a temp dir; mounts are undone by a Drop guard even when an assertion fails.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ct_layout::image_layout::ImageLayout;
use ct_layout::{Digest, Store};
use ct_tests::bins::bin;
use ct_tests::image::{busybox_layer, Compression, Image, TarBuilder};
use ct_tests::mounts::mounts_under;
use ct_tests::sandbox::Sandbox;

/// A private store: a [`Sandbox`]'s, which unmounts what is left below it and deletes it.
struct Env {
    store: Store,
    _sb: Sandbox,
}

impl Env {
    fn new() -> Env {
        let sb = Sandbox::with_prefix("ct-gc-test-");
        Env {
            store: sb.store(),
            _sb: sb,
        }
    }
    fn layout(&self) -> ImageLayout {
        ImageLayout::of_store(&self.store)
    }
    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let exe = if tool == "ct-gc" {
            PathBuf::from(env!("CARGO_BIN_EXE_ct-gc"))
        } else {
            bin(tool)
        };
        Command::new(exe)
            .args(args)
            .env("CT_ROOT", &self.store.root)
            .env("CT_RUN", &self.store.run)
            .env_remove("CT_GC_GRACE")
            .output()
            .unwrap()
    }
    fn ok(&self, tool: &str, args: &[&str]) -> String {
        let o = self.run(tool, args);
        assert!(
            o.status.success(),
            "{tool} {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }
    fn blobs(&self) -> Vec<Digest> {
        let mut v = self.layout().blobs().unwrap();
        v.sort();
        v
    }
    fn layers(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.store.layers().join("sha256"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

fn small_layer(name: &str) -> Vec<u8> {
    TarBuilder::new()
        .dir("data", 0o755)
        .file(&format!("data/{name}"), 0o644, name.as_bytes())
        .finish()
}

/// Two images sharing the busybox layer; returns (base manifest, app manifest).
fn two_images(env: &Env) -> (Digest, Digest) {
    let l = env.layout();
    let base = Image::new()
        .layer(busybox_layer(), Compression::Gzip)
        .write(&l, "docker.io/library/base:1");
    let app = Image::new()
        .layer(busybox_layer(), Compression::Gzip)
        .layer(small_layer("app"), Compression::Gzip)
        .write(&l, "docker.io/library/app:1");
    (base, app)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn rmi_removes_the_name_and_only_what_it_alone_used() {
    let env = Env::new();
    let (base, app) = two_images(&env);
    env.ok("ct-unpack", &["app:1", "--name", "tmp"]);
    fs::remove_dir_all(env.store.bundle("tmp")).unwrap();
    assert_eq!(env.layers().len(), 2);
    let all = env.blobs();
    // base: manifest, config, busybox layer; app adds manifest, config, small layer.
    assert_eq!(all.len(), 6);

    let out = env.ok("ct-gc", &["rmi", "app:1"]);
    assert_eq!(out, "docker.io/library/app:1\n");
    let left = env.blobs();
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(left.contains(&base));
    assert!(!left.contains(&app));
    // The busybox layer directory stays (base still names it); app's own layer is gone.
    assert_eq!(env.layers().len(), 1);
    assert_eq!(
        env.layers()[0],
        Digest::of(&busybox_layer()).hex().to_string()
    );
    let refs = env.layout().refs().unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].0, "docker.io/library/base:1");
    assert!(
        !env.store.layers_tmp().exists()
            || fs::read_dir(env.store.layers_tmp()).unwrap().count() == 0
    );
}

#[test]
fn rmi_refuses_an_image_a_container_uses_and_force_keeps_its_blobs() {
    let env = Env::new();
    let (_, app) = two_images(&env);
    env.ok("ct-unpack", &["app:1", "--name", "web"]);
    let before = env.blobs();

    let o = env.run("ct-gc", &["rmi", "app:1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with(
            "ct-gc: image 'docker.io/library/app:1' is used by container 'web'; hint: "
        ),
        "{}",
        stderr(&o)
    );
    assert_eq!(env.blobs(), before, "a refused rmi removes nothing");
    assert_eq!(env.layout().refs().unwrap().len(), 2);

    env.ok("ct-gc", &["rmi", "-f", "app:1"]);
    assert_eq!(env.layout().refs().unwrap().len(), 1);
    assert_eq!(
        env.blobs(),
        before,
        "the container still uses all of app's blobs"
    );
    assert_eq!(env.layers().len(), 2);
    env.ok("ct-gc", &["prune", "--grace", "0"]);
    assert!(env.blobs().contains(&app));
    assert_eq!(
        env.layers().len(),
        2,
        "prune keeps what a bundle's ct.json names"
    );

    fs::remove_dir_all(env.store.bundle("web")).unwrap();
    let out = env.ok("ct-gc", &["prune", "--grace", "0"]);
    assert!(out.starts_with("removed 3 blobs, 1 layers,"), "{out}");
    assert_eq!(env.blobs().len(), 3);
    assert_eq!(env.layers().len(), 1);
}

#[test]
fn prune_leaves_fresh_and_locked_leftovers_and_takes_old_ones() {
    let env = Env::new();
    two_images(&env);
    let l = env.layout();
    let orphan = l.write_blob(b"nobody names me").unwrap();
    let stray = l.dir.join("blobs/sha256/.tmp-x");
    fs::write(&stray, b"half").unwrap();
    let tmp = env.store.root.join("tmp");
    fs::create_dir_all(&tmp).unwrap();
    let locked = tmp.join(format!("{}.partial", "a".repeat(64)));
    fs::write(&locked, b"downloading").unwrap();
    let free = tmp.join(format!("{}.partial", "b".repeat(64)));
    fs::write(&free, b"abandoned").unwrap();
    let held = ct_layout::lock::Lock::exclusive(&locked).unwrap();

    // Default grace (600 s): a blob that just landed may belong to a pull in progress.
    let out = env.ok("ct-gc", &["prune"]);
    assert!(
        out.starts_with("removed 0 blobs, 0 layers, 0 temp files"),
        "{out}"
    );
    assert!(env.blobs().contains(&orphan));

    let dry = env.ok("ct-gc", &["prune", "--grace", "0", "--dry-run"]);
    assert!(
        dry.starts_with("would remove 1 blobs, 0 layers, 2 temp files"),
        "{dry}"
    );
    assert!(env.blobs().contains(&orphan), "--dry-run removes nothing");

    let out = env.ok("ct-gc", &["prune", "--grace", "0"]);
    assert!(
        out.starts_with("removed 1 blobs, 0 layers, 2 temp files"),
        "{out}"
    );
    assert!(!env.blobs().contains(&orphan));
    assert!(!stray.exists());
    assert!(!free.exists());
    assert!(locked.exists(), "a download whose lock is held stays");
    assert_eq!(env.blobs().len(), 6, "everything named stays");
    drop(held);
}

#[test]
fn prune_unmounts_stopped_and_deleted_containers_only() {
    let env = Env::new();
    two_images(&env);
    for id in ["running", "stopped", "created"] {
        let b = env.ok("ct-unpack", &["base:1", "--name", id]);
        env.ok("ct-mount", &[b.trim()]);
    }
    let rootfs = |id: &str| env.store.bundle(id).join("rootfs");
    let mut st = ct_layout::state::State::new("stopped", env.store.bundle("stopped"));
    st.status = ct_layout::state::Status::Stopped;
    st.exit_code = Some(0);
    st.save(&env.store).unwrap();
    let mut st = ct_layout::state::State::new("running", env.store.bundle("running"));
    st.status = ct_layout::state::Status::Running;
    st.pid = Some(std::process::id() as i32);
    st.pid_start = ct_layout::state::pid_start_time(std::process::id() as i32);
    st.save(&env.store).unwrap();
    assert_eq!(mounts_under(&env.store.containers()).len(), 3);

    let out = env.ok("ct-gc", &["prune", "--grace", "0"]);
    assert!(out.contains(" 1 mounts;"), "{out}");
    let left = mounts_under(&env.store.containers());
    assert!(left.contains(&rootfs("running")));
    assert!(left.contains(&rootfs("created")));
    assert!(!left.contains(&rootfs("stopped")));
    assert!(rootfs("stopped").read_dir().unwrap().next().is_none());
    assert_eq!(env.layers().len(), 1, "mounted layers are in use");
}

#[test]
fn unknown_image_and_corrupt_manifest_are_one_line_errors_that_remove_nothing() {
    let env = Env::new();
    let (base, _) = two_images(&env);
    let o = env.run("ct-gc", &["rmi", "nope:1"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "ct-gc: no image 'nope:1' in the store; hint: list the images with: ct-ls images\n"
    );
    let o = env.run("ct-gc", &["rmi"]);
    assert_eq!(o.status.code(), Some(2));

    let orphan = env.layout().write_blob(b"orphan").unwrap();
    let path: &Path = &env.layout().blob_path(&base);
    fs::write(path, b"{not the manifest").unwrap();
    let o = env.run("ct-gc", &["prune", "--grace", "0"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.starts_with(&format!(
            "ct-gc: cannot read {base} (reached from docker.io/library/base:1); nothing was removed"
        )),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1);
    assert!(env.blobs().contains(&orphan));
}

#[test]
fn prune_finishes_a_layer_deletion_that_was_interrupted() {
    let env = Env::new();
    two_images(&env);
    env.ok("ct-unpack", &["base:1", "--name", "tmp"]);
    fs::remove_dir_all(env.store.bundle("tmp")).unwrap();
    // A crash after the rename into layers/tmp: never under layers/sha256 half-deleted.
    let tmp = env.store.layers_tmp();
    fs::create_dir_all(tmp.join(format!("gc-{}-x/bin", "c".repeat(64)))).unwrap();
    // An extraction in progress (its lock held) and one that died (lock free).
    let busy = tmp.join(format!("{}-a", "d".repeat(64)));
    let dead = tmp.join(format!("{}-b", "e".repeat(64)));
    fs::create_dir_all(&busy).unwrap();
    fs::create_dir_all(&dead).unwrap();
    let held = ct_layout::lock::Lock::exclusive(
        env.store
            .locks()
            .join(format!("layer-{}.lock", "d".repeat(64))),
    )
    .unwrap();
    let out = env.ok("ct-gc", &["prune", "--grace", "0"]);
    assert!(
        out.starts_with("removed 0 blobs, 0 layers, 2 temp files"),
        "{out}"
    );
    let left: Vec<_> = fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(left, vec![busy]);
    assert_eq!(env.layers().len(), 1, "the named layer stays");
    drop(held);
}
