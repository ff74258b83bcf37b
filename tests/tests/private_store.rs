//! The store is private: `$CT_ROOT` and `$CT_RUN` are mode 0700, so a pulled layer's setuid-root
//! binary or device node (kept as they are: layers are lower dirs of containers) cannot be
//! used by another host user straight from `$CT_ROOT/layers/…`. Tried with a real unprivileged
//! user (`ct_tests::user::TestUser`, removed on drop even when the test fails) and the image
//! pulled from a real loopback registry into a sandbox's store; a store made 0755 by an older
//! ct is tightened with a one-line notice; the default roots are created 0700 (in a private
//! mount namespace, over tmpfs, so the host's own /var/lib and /run are never touched).

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ct_layout::image_layout::ImageLayout;
use ct_tests::bins::bin;
use ct_tests::image::{busybox_layer, Compression, Image, TarBuilder, BUSYBOX};
use ct_tests::registry::{Auth, Registry};
use ct_tests::sandbox::Sandbox;
use ct_tests::user::TestUser;

/// Run `args` as `user` (its own uid and group, no capabilities).
fn run_as(user: &TestUser, args: &[&str]) -> Output {
    user.cmd("", args[0], &args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn tool(name: &str, root: &Path, run: &Path, args: &[&str]) -> Output {
    Command::new(bin(name))
        .args(args)
        .env("CT_ROOT", root)
        .env("CT_RUN", run)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{o:?}");
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

/// A layer with a setuid-root copy of busybox and a world-writable /dev/null-like char device.
fn dangerous_layer() -> Vec<u8> {
    let busybox = fs::read(BUSYBOX).unwrap();
    let mut t = TarBuilder::new()
        .dir("opt", 0o755)
        .file("opt/busybox", 0o4755, &busybox);
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Char);
    h.set_mode(0o666);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(0);
    h.set_mtime(1_700_000_000);
    h.set_device_major(1).unwrap();
    h.set_device_minor(3).unwrap();
    t.inner()
        .append_data(&mut h, "opt/null", std::io::empty())
        .unwrap();
    t.finish()
}

#[test]
fn an_unprivileged_user_cannot_use_a_pulled_layers_setuid_binary_or_device_node() {
    let sb = Sandbox::new();
    let tmp = &sb.dir;
    // Like /var/lib: the parents are open to everyone, only the store's own mode protects it.
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let (root, run) = (sb.root.clone(), sb.run.clone());
    let reg = Registry::start(Auth::None);
    let layout_dir = tmp.path().join("layout");
    Image::new()
        .layer(busybox_layer(), Compression::Gzip)
        .layer(dangerous_layer(), Compression::Gzip)
        .write(&ImageLayout::at(&layout_dir), "img");
    let r = reg.push_layout(&layout_dir, "img", "hostile/suid:1");
    let user = TestUser::create();

    let pulled = ok(tool("ct-pull", &root, &run, &[&r]));
    let bundle = PathBuf::from(ok(tool("ct-unpack", &root, &run, &["--id", "s", &pulled])));
    let note: serde_json::Value =
        serde_json::from_slice(&fs::read(bundle.join("ct.json")).unwrap()).unwrap();
    let top = note["layers"][1].as_str().unwrap();
    let layer = root
        .join("layers/sha256")
        .join(top.trim_start_matches("sha256:"));
    let suid = layer.join("opt/busybox");
    let dev = layer.join("opt/null");
    // ct-unpack keeps them as they are: a container may need its setuid binaries and nodes.
    let m = fs::symlink_metadata(&suid).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid()), (0o4755, 0));
    let m = fs::symlink_metadata(&dev).unwrap();
    assert!(m.file_type().is_char_device() && m.rdev() == libc::makedev(1, 3));
    assert_eq!(m.mode() & 0o777, 0o666);

    // The user and setpriv work: the host's own busybox runs.
    let o = run_as(&user, &[BUSYBOX, "true"]);
    assert!(o.status.success(), "{o:?}");

    let o = run_as(&user, &[suid.to_str().unwrap(), "id", "-u"]);
    assert!(!o.status.success(), "the layer's setuid binary ran: {o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Permission denied"),
        "{o:?}"
    );
    let o = run_as(&user, &[BUSYBOX, "cat", dev.to_str().unwrap()]);
    assert!(!o.status.success(), "the layer's device opened: {o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Permission denied"),
        "{o:?}"
    );
    let o = run_as(
        &user,
        &[BUSYBOX, "ls", root.join("layers").to_str().unwrap()],
    );
    assert!(!o.status.success(), "the store is listable: {o:?}");
    assert_eq!(mode(&root), 0o700, "CT_ROOT");
    assert_eq!(mode(&bundle), 0o700, "the bundle");
}

#[test]
fn a_store_made_by_an_older_ct_is_tightened_with_a_notice() {
    let sb = Sandbox::new();
    let (root, run) = (sb.root.clone(), sb.run.clone());
    for d in [&root, &run] {
        fs::create_dir(d).unwrap();
        fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let o = tool("ct-unpack", &root, &run, &["no/such:image"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let e = String::from_utf8(o.stderr).unwrap();
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(
        lines[..2],
        [
            format!(
                "ct-unpack: notice: tightened '{}' to 0700 (it was 0755)",
                root.display()
            ),
            format!(
                "ct-unpack: notice: tightened '{}' to 0700 (it was 0755)",
                run.display()
            ),
        ],
        "{e}"
    );
    assert_eq!((mode(&root), mode(&run)), (0o700, 0o700));
    // Once private, nothing more is said.
    let o = tool("ct-unpack", &root, &run, &["no/such:image"]);
    assert!(!String::from_utf8(o.stderr).unwrap().contains("notice"));
}

#[test]
fn the_default_store_is_created_private() {
    // A private mount namespace with tmpfs over /var/lib and /run: the default roots are
    // created there, never on the host.
    let script = format!(
        "mount -t tmpfs tmpfs /var/lib && mount -t tmpfs tmpfs /run && \
         {} no/such:image; stat -c %a /var/lib/ct /run/ct",
        bin("ct-unpack").display()
    );
    let o = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .env_remove("CT_ROOT")
        .env_remove("CT_RUN")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "700\n700\n", "{o:?}");
}

/// Every tool that writes under `$CT_ROOT` makes it private first, whichever runs first.
#[test]
fn every_tool_that_writes_the_store_keeps_it_private() {
    for (name, args) in [
        ("ct-pull", &["oci:/nonexistent-ct-dir"][..]),
        ("ct-unpack", &["no/such:image"][..]),
        ("ct-net", &["--down", "no-such-bundle"][..]),
        ("ct-gc", &["prune", "--dry-run"][..]),
    ] {
        let sb = Sandbox::new();
        let (root, run) = (sb.root.clone(), sb.run.clone());
        fs::create_dir(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        let o = tool(name, &root, &run, args);
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(mode(&root), 0o700, "{name}: {e}");
        assert!(
            e.contains(&format!("{name}: notice: tightened")),
            "{name}: {e}"
        );
    }
}
