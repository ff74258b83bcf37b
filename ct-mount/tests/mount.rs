//! ct-mount against real overlay mounts, as root. The layer directories are built by hand in
//! overlayfs' own form (the contract of `ct_layout::paths::Store::layer`): whiteouts are 0:0
//! character devices, opaque directories carry `trusted.overlay.opaque=y`. The cross tests
//! with ct-unpack's real output and umoci live in `tests/tests/unpack_mount.rs`.
//! Every test holds a `Sandbox` whose drop unmounts everything below its temp dir, so nothing
//! stays mounted even when an assertion fails.

use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ct_layout::bundle::{Bundle, Note, RootfsMode};
use ct_layout::{Digest, Store};
use ct_tests::mounts::mounts_under;
use ct_tests::sandbox::Sandbox;
use ct_tests::tree::{assert_same, snapshot};

const BIN: &str = env!("CARGO_BIN_EXE_ct-mount");

/// A temp store: a [`Sandbox`]'s, which unmounts everything below its dir, then deletes it.
struct Fixture {
    store: Store,
    sb: Sandbox,
}

impl Fixture {
    fn new() -> Fixture {
        let sb = Sandbox::with_prefix("ct-mount-test-");
        Fixture {
            store: sb.store(),
            sb,
        }
    }

    /// An empty layer directory named after a made-up diff_id.
    fn layer(&self, n: usize) -> (Digest, PathBuf) {
        let d = Digest::of(format!("layer {n}").as_bytes());
        let p = self.store.layer(&d);
        fs::create_dir_all(&p).unwrap();
        (d, p)
    }

    /// A bundle `id` over `layers` (bottom first), as ct-unpack writes it.
    fn bundle(&self, id: &str, layers: &[Digest], mode: RootfsMode) -> Bundle {
        let b = Bundle::new(self.store.bundle(id));
        fs::create_dir_all(b.rootfs()).unwrap();
        let spec: oci_spec::runtime::Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"cwd": "/", "args": ["/bin/sh"], "user": {"uid": 0, "gid": 0}},
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        }))
        .unwrap();
        b.save_config(&spec).unwrap();
        b.save_note(&Note {
            id: id.into(),
            image: "localhost/test:1".into(),
            manifest: Digest::of(b"manifest"),
            layers: layers.to_vec(),
            rootfs: mode,
            created: "2026-01-01T00:00:00Z".into(),
            name: None,
        })
        .unwrap();
        b
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("CT_ROOT", &self.store.root)
            .env("CT_RUN", &self.store.run)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut i = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            i.write_all(s.as_bytes()).unwrap();
        }
        drop(i);
        child.wait_with_output().unwrap()
    }

    fn mounted(&self) -> Vec<PathBuf> {
        mounts_under(self.sb.dir.path())
    }
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(p: &Path, s: &str) {
    if let Some(d) = p.parent() {
        fs::create_dir_all(d).unwrap();
    }
    fs::write(p, s).unwrap();
}

fn whiteout(p: &Path) {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: NUL-terminated path; makes a 0:0 character device, overlayfs' whiteout.
    let r = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR, 0) };
    assert_eq!(r, 0, "mknod {}", p.display());
}

fn opaque(p: &Path) {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: NUL-terminated path and name, a 1-byte value.
    let r = unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            b"y".as_ptr().cast(),
            1,
            0,
        )
    };
    assert_eq!(r, 0, "setxattr {}", p.display());
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Three layers: a base, one that deletes and makes a dir opaque, one that overwrites.
fn three_layers(f: &Fixture) -> Vec<Digest> {
    let (d1, l1) = f.layer(1);
    write(&l1.join("gone"), "deleted by layer 2");
    write(&l1.join("common"), "base");
    write(&l1.join("etc/old"), "hidden by opaque");
    write(&l1.join("etc/kept-below"), "hidden by opaque");
    write(&l1.join("keep/a"), "a");
    let (d2, l2) = f.layer(2);
    whiteout(&l2.join("gone"));
    fs::create_dir_all(l2.join("etc")).unwrap();
    opaque(&l2.join("etc"));
    write(&l2.join("etc/new"), "same layer as the opaque marker");
    write(&l2.join("common"), "middle");
    let (d3, l3) = f.layer(3);
    write(&l3.join("common"), "top");
    write(&l3.join("keep/b"), "b");
    vec![d1, d2, d3]
}

#[test]
fn stacks_layers_top_first_and_applies_whiteouts_and_opaque_dirs() {
    let f = Fixture::new();
    let layers = three_layers(&f);
    let b = f.bundle("c1", &layers, RootfsMode::Overlay);
    let o = f.run(&["c1"], None);
    assert_eq!(ok(&o).trim(), b.dir.to_str().unwrap());
    assert_eq!(stderr(&o), "");
    let r = b.rootfs();
    assert_eq!(f.mounted(), vec![r.clone()]);
    assert_eq!(fs::read_to_string(r.join("common")).unwrap(), "top");
    assert!(!r.join("gone").exists(), "whiteout must hide 'gone'");
    assert_eq!(
        names(&r.join("etc")),
        ["new"],
        "opaque dir shows only its own layer"
    );
    assert_eq!(names(&r.join("keep")), ["a", "b"]);
    assert_eq!(names(&r), ["common", "etc", "keep"]);
    assert!(b.upper().is_dir() && b.work().is_dir());
}

#[test]
fn two_containers_do_not_see_each_others_writes_and_layers_never_change() {
    let f = Fixture::new();
    let layers = three_layers(&f);
    let before: Vec<_> = layers.iter().map(|d| snapshot(&f.store.layer(d))).collect();
    let b1 = f.bundle("c1", &layers, RootfsMode::Overlay);
    let b2 = f.bundle("c2", &layers, RootfsMode::Overlay);
    ok(&f.run(&["c1"], None));
    ok(&f.run(&[b2.dir.to_str().unwrap()], None));
    let (r1, r2) = (b1.rootfs(), b2.rootfs());
    // c1 changes a file of every layer, deletes one, adds one and renames a dir's content.
    fs::write(r1.join("common"), "c1 was here").unwrap();
    fs::write(r1.join("keep/a"), "changed").unwrap();
    fs::remove_file(r1.join("keep/b")).unwrap();
    fs::remove_file(r1.join("etc/new")).unwrap();
    write(&r1.join("added/by/c1"), "new");
    fs::set_permissions(r1.join("keep"), fs::Permissions::from_mode(0o700)).unwrap();
    // c2 sees the image as it was.
    assert_eq!(fs::read_to_string(r2.join("common")).unwrap(), "top");
    assert_eq!(fs::read_to_string(r2.join("keep/a")).unwrap(), "a");
    assert!(r2.join("keep/b").exists() && r2.join("etc/new").exists());
    assert!(!r2.join("added").exists());
    assert_eq!(fs::metadata(r2.join("keep")).unwrap().mode() & 0o777, 0o755);
    // The writes are in c1's upper dir, and the layers are byte for byte as before.
    assert_eq!(
        fs::read_to_string(b1.upper().join("common")).unwrap(),
        "c1 was here"
    );
    for (d, snap) in layers.iter().zip(&before) {
        assert_same(&snapshot(&f.store.layer(d)), snap, "layer after writes");
    }
    // Unmount and mount again: c1's changes persist in upper/.
    ok(&f.run(&["--unmount", "c1"], None));
    assert!(
        !r1.join("common").exists(),
        "rootfs is empty once unmounted"
    );
    ok(&f.run(&["c1"], None));
    assert_eq!(
        fs::read_to_string(r1.join("common")).unwrap(),
        "c1 was here"
    );
}

#[test]
fn an_image_of_128_layers_mounts() {
    let f = Fixture::new();
    let mut layers = Vec::new();
    for i in 0..128 {
        let (d, p) = f.layer(i);
        write(&p.join(format!("l{i:03}")), &i.to_string());
        write(&p.join("top"), &i.to_string());
        layers.push(d);
    }
    let b = f.bundle("many", &layers, RootfsMode::Overlay);
    let o = f.run(&["many"], None);
    ok(&o);
    assert_eq!(stderr(&o), "", "the new API is used on this kernel");
    let r = b.rootfs();
    assert_eq!(names(&r).len(), 129);
    assert_eq!(fs::read_to_string(r.join("top")).unwrap(), "127");
    assert_eq!(fs::read_to_string(r.join("l000")).unwrap(), "0");
    // The read-only view too (no upper: all 128 are lowers).
    ok(&f.run(&["--unmount", "many"], None));
    ok(&f.run(&["--read-only", "many"], None));
    assert_eq!(fs::read_to_string(r.join("top")).unwrap(), "127");
}

#[test]
fn the_classic_mount_fallback_fits_128_layers_with_short_names() {
    let f = Fixture::new();
    let mut lower = Vec::new();
    for i in 0..128 {
        let (_, p) = f.layer(i);
        write(&p.join(format!("l{i:03}")), &i.to_string());
        write(&p.join("top"), &i.to_string());
        lower.push(p);
    }
    lower.reverse();
    let target = f.sb.dir.path().join("m");
    let (u, w) = (f.sb.dir.path().join("u"), f.sb.dir.path().join("w"));
    for d in [&target, &u, &w] {
        fs::create_dir_all(d).unwrap();
    }
    ct_mount::overlay::mount_classic(
        &target,
        &ct_mount::overlay::Overlay {
            lower,
            upper: Some((u, w)),
            userxattr: false,
        },
    )
    .unwrap();
    assert_eq!(fs::read_to_string(target.join("top")).unwrap(), "127");
    assert_eq!(names(&target).len(), 129);
}

#[test]
fn lowerdir_plus_as_short_strings_fits_128_layers_too() {
    // What kernels 6.8-6.12 get: overlayfs takes `lowerdir+` but not descriptors, and an
    // fsconfig string is at most 256 bytes, so each layer is named `/proc/self/fd/N`.
    let f = Fixture::new();
    let mut lower = Vec::new();
    for i in 0..128 {
        let (_, p) = f.layer(i);
        write(&p.join(format!("l{i:03}")), &i.to_string());
        write(&p.join("top"), &i.to_string());
        lower.push(p);
    }
    lower.reverse();
    let target = f.sb.dir.path().join("m");
    let (u, w) = (f.sb.dir.path().join("u"), f.sb.dir.path().join("w"));
    for d in [&target, &u, &w] {
        fs::create_dir_all(d).unwrap();
    }
    ct_mount::overlay::mount_by_strings(
        &target,
        &ct_mount::overlay::Overlay {
            lower,
            upper: Some((u, w)),
            userxattr: false,
        },
    )
    .unwrap();
    assert_eq!(fs::read_to_string(target.join("top")).unwrap(), "127");
    assert_eq!(names(&target).len(), 129);
}

#[test]
fn read_only_mounts_without_upper_even_for_one_layer() {
    let f = Fixture::new();
    let (d, l) = f.layer(1);
    write(&l.join("etc/hostname"), "one");
    whiteout(&l.join("ghost"));
    let b = f.bundle("ro", &[d], RootfsMode::Overlay);
    ok(&f.run(&["--read-only", "ro"], None));
    let r = b.rootfs();
    assert_eq!(fs::read_to_string(r.join("etc/hostname")).unwrap(), "one");
    assert!(!r.join("ghost").exists(), "a whiteout never shows");
    let e = fs::write(r.join("x"), "no").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EROFS));
    assert!(!b.upper().exists(), "read-only makes no upper dir");
    assert_eq!(
        b.load_config().unwrap().root().clone().unwrap().readonly(),
        Some(true)
    );
    // Same mode again: nothing to do. The other mode: a clear error.
    let o = f.run(&["--read-only", "ro"], None);
    ok(&o);
    assert!(stderr(&o).contains("is already mounted"), "{}", stderr(&o));
    let o = f.run(&["ro"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with(&format!(
            "ct-mount: '{}' is already mounted read-only; hint: run ct-mount --unmount first",
            r.display()
        )),
        "{}",
        stderr(&o)
    );
    assert_eq!(f.mounted(), vec![r]);
}

#[test]
fn unmount_is_idempotent_and_reads_stdin() {
    let f = Fixture::new();
    let layers = three_layers(&f);
    let b = f.bundle("c1", &layers, RootfsMode::Overlay);
    let dir = b.dir.to_str().unwrap().to_string();
    assert_eq!(ok(&f.run(&[], Some(&format!("{dir}\n")))).trim(), dir);
    assert_eq!(f.mounted().len(), 1);
    let o = f.run(&["--unmount"], Some("c1\n"));
    assert_eq!(ok(&o).trim(), dir);
    assert_eq!(stderr(&o), "");
    assert!(f.mounted().is_empty());
    let o = f.run(&["--unmount", "c1"], None);
    assert_eq!(ok(&o).trim(), dir);
    assert!(stderr(&o).contains("is not mounted"));
}

#[test]
fn a_flat_bundle_passes_through_with_a_note() {
    let f = Fixture::new();
    let b = f.bundle("flat", &[], RootfsMode::Flat);
    write(&b.rootfs().join("etc/hostname"), "flat");
    let vol = f.sb.dir.path().join("vol");
    fs::create_dir(&vol).unwrap();
    let v = format!("{}:/data", vol.display());
    let o = f.run(&["-v", &v], Some("flat\n"));
    assert_eq!(ok(&o).trim(), b.dir.to_str().unwrap());
    assert_eq!(
        stderr(&o),
        format!(
            "ct-mount: '{}' is a flat bundle (ct-unpack --flat): nothing to mount\n",
            b.dir.display()
        )
    );
    assert!(f.mounted().is_empty());
    // Volumes are config.json entries, so they apply to flat bundles too.
    let spec = b.load_config().unwrap();
    assert!(spec
        .mounts()
        .clone()
        .unwrap()
        .iter()
        .any(|m| m.destination() == Path::new("/data")));
}

#[test]
fn volumes_and_tmpfs_become_oci_mounts() {
    let f = Fixture::new();
    let layers = three_layers(&f);
    let b = f.bundle("v", &layers, RootfsMode::Overlay);
    let vol = f.sb.dir.path().join("vol");
    fs::create_dir(&vol).unwrap();
    let ro = format!("{}:/srv/ro:ro", vol.display());
    let rw = format!("{}:/srv/rw", vol.display());
    ok(&f.run(
        &[
            "-v",
            &ro,
            "--volume",
            &rw,
            "--tmpfs",
            "/run:size=1m,mode=1777",
            "v",
        ],
        None,
    ));
    let cfg: serde_json::Value =
        serde_json::from_slice(&fs::read(b.config_path()).unwrap()).unwrap();
    let mounts = cfg["mounts"].as_array().unwrap();
    let find = |d: &str| {
        mounts
            .iter()
            .find(|m| m["destination"] == d)
            .unwrap()
            .clone()
    };
    let src = fs::canonicalize(&vol).unwrap();
    assert_eq!(
        find("/srv/ro"),
        serde_json::json!({"destination": "/srv/ro", "type": "bind", "source": src,
            "options": ["rbind", "rprivate", "ro"]})
    );
    assert_eq!(find("/srv/rw")["options"][2], "rw");
    assert_eq!(
        find("/run"),
        serde_json::json!({"destination": "/run", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=1777"]})
    );
    assert_eq!(
        mounts[0]["destination"], "/proc",
        "existing mounts are kept, in order"
    );
    assert_eq!(mounts.len(), 4);
}

#[test]
fn bad_volumes_fail_before_anything_is_mounted() {
    let f = Fixture::new();
    let layers = three_layers(&f);
    let b = f.bundle("v", &layers, RootfsMode::Overlay);
    let cfg = fs::read(b.config_path()).unwrap();
    let o = f.run(&["-v", "/x", "v"], None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("invalid volume '/x'"), "{}", stderr(&o));
    let o = f.run(&["-v", "/nonexistent/ct-test-vol:/data", "v"], None);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "ct-mount: volume source '/nonexistent/ct-test-vol' does not exist: No such file or directory (os error 2)\n"
    );
    assert!(f.mounted().is_empty());
    assert!(!b.upper().exists() && !b.work().exists());
    assert_eq!(fs::read(b.config_path()).unwrap(), cfg);
}

#[test]
fn a_missing_layer_fails_before_mounting_with_a_hint() {
    let f = Fixture::new();
    let mut layers = three_layers(&f);
    let missing = Digest::of(b"never unpacked");
    layers.insert(1, missing.clone());
    let b = f.bundle("m", &layers, RootfsMode::Overlay);
    let o = f.run(&["m"], None);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "ct-mount: layer {missing} is not unpacked: '{}': No such file or directory (os error 2); hint: run ct-unpack again: it extracts the layers an image needs\n",
            f.store.layer(&missing).display()
        )
    );
    assert!(o.stdout.is_empty());
    assert!(f.mounted().is_empty());
    assert!(!b.upper().exists() && !b.work().exists());
}

#[test]
fn no_overlay_upper_possible_is_a_clear_error_with_the_flat_hint() {
    // An overlay cannot be the upper dir of another overlay: put the whole store on one.
    let sb = Sandbox::new();
    let outer = &sb.dir;
    let (l, u, w, m) = (
        outer.path().join("l"),
        outer.path().join("u"),
        outer.path().join("w"),
        outer.path().join("m"),
    );
    for d in [&l, &u, &w, &m] {
        fs::create_dir(d).unwrap();
    }
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        l.display(),
        u.display(),
        w.display()
    );
    let st = Command::new("mount")
        .args(["-t", "overlay", "-o", &opts, "outer"])
        .arg(&m)
        .status()
        .unwrap();
    assert!(st.success());
    let store = Store::new(m.join("root"), m.join("run"));
    let d = Digest::of(b"l");
    write(&store.layer(&d).join("f"), "x");
    let b = Bundle::new(store.bundle("n"));
    fs::create_dir_all(b.rootfs()).unwrap();
    b.save_config(&oci_spec::runtime::Spec::default()).unwrap();
    b.save_note(&Note {
        id: "n".into(),
        image: "i".into(),
        manifest: Digest::of(b"m"),
        layers: vec![d],
        rootfs: RootfsMode::Overlay,
        created: "2026-01-01T00:00:00Z".into(),
        name: None,
    })
    .unwrap();
    let o = Command::new(BIN)
        .arg("n")
        .env("CT_ROOT", &store.root)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line, hints included: {err}");
    assert!(
        lines[0].starts_with(&format!(
            "ct-mount: overlayfs refused upperdir '{}' (kernel: overlay: filesystem on {} not supported as upperdir)",
            b.upper().display(),
            b.upper().display()
        )),
        "{err}"
    );
    assert!(
        lines[0].ends_with(
            "; hint: use ct-unpack --flat: a bundle with a plain rootfs needs no overlay"
        ),
        "{err}"
    );
    // Nothing half-made: no mount, and the upper/work dirs this run created are gone.
    assert_eq!(mounts_under(&store.root), Vec::<PathBuf>::new());
    assert!(!b.upper().exists() && !b.work().exists());
}

#[test]
fn not_a_bundle_is_a_one_line_error() {
    let f = Fixture::new();
    let o = f.run(&["nope"], None);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "ct-mount: no bundle 'nope' (neither a directory with config.json nor a container id)\n"
    );
    let o = f.run(&[], Some(""));
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn the_upper_root_takes_the_image_roots_mode_and_owner() {
    let f = Fixture::new();
    let (d, l) = f.layer(1);
    write(&l.join("f"), "x");
    fs::set_permissions(&l, fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::chown(&l, Some(1000), Some(1001)).unwrap();
    let b = f.bundle("r", &[d], RootfsMode::Overlay);
    ok(&f.run(&["r"], None));
    let md = fs::metadata(b.rootfs()).unwrap();
    assert_eq!(
        (md.mode() & 0o7777, md.uid(), md.gid()),
        (0o750, 1000, 1001)
    );
}

#[test]
fn a_kernel_without_the_filesystem_is_reported_as_unavailable() {
    // fsopen(2) of a filesystem type the kernel does not know fails with ENODEV, exactly as
    // it does for "overlay" on a kernel built without overlayfs.
    let f = Fixture::new();
    let (_, l1) = f.layer(1);
    let (_, l2) = f.layer(2);
    let target = f.sb.dir.path().join("m");
    fs::create_dir(&target).unwrap();
    let ov = ct_mount::overlay::Overlay {
        lower: vec![l2, l1],
        upper: None,
        userxattr: false,
    };
    let e = ct_mount::overlay::mount_as("ctnosuchfs", &target, &ov).unwrap_err();
    assert!(
        matches!(e, ct_mount::overlay::OverlayError::Unavailable(_)),
        "{e:?}"
    );
    let e = ct_mount::MountError::Overlay(e);
    assert!(e
        .hints()
        .iter()
        .any(|h| h.starts_with("use ct-unpack --flat")));
    assert!(f.mounted().is_empty());
}

#[test]
fn a_failure_after_mounting_unmounts_again() {
    // config.json cannot be replaced (the bundle dir is immutable), so the mount that already
    // succeeded must be undone: nothing half-mounted, config.json as it was.
    let f = Fixture::new();
    let layers = three_layers(&f);
    let b = f.bundle("imm", &layers, RootfsMode::Overlay);
    fs::create_dir(b.upper()).unwrap();
    fs::create_dir(b.work()).unwrap();
    let cfg = fs::read(b.config_path()).unwrap();
    struct Immutable(PathBuf);
    impl Drop for Immutable {
        fn drop(&mut self) {
            let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
        }
    }
    let st = Command::new("chattr")
        .arg("+i")
        .arg(&b.dir)
        .status()
        .unwrap();
    assert!(st.success(), "chattr +i");
    let _imm = Immutable(b.dir.clone());
    let o = f.run(&["--tmpfs", "/run", "imm"], None);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).starts_with(&format!(
            "ct-mount: cannot write '{}'",
            b.config_path().display()
        )),
        "{}",
        stderr(&o)
    );
    assert!(f.mounted().is_empty(), "the overlay was unmounted again");
    assert_eq!(fs::read(b.config_path()).unwrap(), cfg);
}

#[test]
fn concurrent_mounts_of_one_bundle_stack_nothing() {
    let f = Fixture::new();
    let layers = three_layers(&f);
    let b = f.bundle("race", &layers, RootfsMode::Overlay);
    let children: Vec<_> = (0..6)
        .map(|_| {
            Command::new(BIN)
                .arg("race")
                .env("CT_ROOT", &f.store.root)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        ok(&c.wait_with_output().unwrap());
    }
    assert_eq!(f.mounted(), vec![b.rootfs()], "exactly one overlay");
}
