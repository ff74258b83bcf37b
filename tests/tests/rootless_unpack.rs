//! ct-unpack and ct-mount as an ordinary user: layers are extracted inside the user's own user
//! namespace (ct_layout::rootless), so an image's owners land on the host as the user's
//! subordinate ids (image uid N>0 → subuid_start+N-1, 0 → the user). Without subordinate ids
//! only the user exists inside: the owners are recorded in the `user.rootlesscontainers` xattr
//! (umoci's format) and ct-unpack says so once. Device nodes cannot be made without root on the
//! host: skipped, with one warning. Whiteouts are the 0:0 character devices a user namespace
//! may create, and opaque directories carry `user.overlay.opaque`, the xattr an overlay
//! mounted with `userxattr` reads. The overlay itself lives in the user's mount namespace
//! (the pause process's), not the host's.

use std::ffi::CString;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ct_layout::image_layout::ImageLayout;
use ct_tests::bins::bin;
use ct_tests::device_mode::{DeviceLock, DeviceOpen, FUSE};
use ct_tests::image::{Compression, Image, TarBuilder};
use ct_tests::registry::{Auth, Registry};
use ct_tests::sandbox::Sandbox;
use ct_tests::user::TestUser;

fn tools_dir() -> String {
    bin("ct-unpack")
        .parent()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn entry(kind: tar::EntryType, mode: u32, uid: u64, gid: u64, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(uid);
    h.set_gid(gid);
    h.set_size(size);
    h.set_mtime(1_700_000_000);
    h
}

/// The lower layer: files of several owners, a file and a directory the upper layer deletes,
/// and a device node.
fn lower_layer() -> Vec<u8> {
    use tar::EntryType as T;
    let mut t = TarBuilder::new()
        .dir("etc", 0o755)
        .file("etc/passwd", 0o644, b"root:x:0:0:root:/root:/bin/sh\n")
        .file("etc/group", 0o644, b"root:x:0:\n")
        .file("gone", 0o644, b"deleted above\n")
        .dir("opq", 0o755)
        .file("opq/old", 0o644, b"hidden above\n")
        .dir("dev", 0o755);
    let b = t.inner();
    let mut h = entry(T::Directory, 0o750, 1000, 1000, 0);
    b.append_data(&mut h, "srv", std::io::empty()).unwrap();
    let mut h = entry(T::Regular, 0o640, 1234, 5678, 5);
    b.append_data(&mut h, "srv/data", &b"data\n"[..]).unwrap();
    let mut h = entry(T::Regular, 0o2755, 0, 50, 3);
    b.append_data(&mut h, "srv/tool", &b"#!\n"[..]).unwrap();
    let mut h = entry(T::Char, 0o666, 0, 0, 0);
    h.set_device_major(1).unwrap();
    h.set_device_minor(3).unwrap();
    b.append_data(&mut h, "dev/mynull", std::io::empty())
        .unwrap();
    t.finish()
}

/// The upper layer: deletes `gone`, makes `opq` opaque with one new file.
fn upper_layer() -> Vec<u8> {
    TarBuilder::new()
        .file(".wh.gone", 0o644, b"")
        .dir("opq", 0o755)
        .file("opq/.wh..wh..opq", 0o644, b"")
        .file("opq/new", 0o644, b"new\n")
        .finish()
}

/// A registry holding the two-layer image; returns (registry, reference).
fn registry_with_image(dir: &Path) -> (Registry, String) {
    let layout = dir.join("layout");
    Image::new()
        .layer(lower_layer(), Compression::Gzip)
        .layer(upper_layer(), Compression::Gzip)
        .write(&ImageLayout::at(&layout), "owners");
    let reg = Registry::start(Auth::None);
    let r = reg.push_layout(&layout, "owners", "rootless/owners:1");
    (reg, r)
}

fn run(u: &TestUser, program: &str, args: &[&str]) -> Output {
    u.cmd(&tools_dir(), program, args).output().unwrap()
}

fn ok(out: &Output, what: &str) -> String {
    assert!(out.status.success(), "{what}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The layer directories of a bundle, bottom first, from its ct.json.
fn layers_of(u: &TestUser, bundle: &Path) -> Vec<PathBuf> {
    let note: serde_json::Value =
        serde_json::from_slice(&fs::read(bundle.join("ct.json")).unwrap()).unwrap();
    note["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let hex = d.as_str().unwrap().trim_start_matches("sha256:");
            u.home.join(".local/share/ct/layers/sha256").join(hex)
        })
        .collect()
}

fn lgetxattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: both strings are NUL-terminated and live across the call; the buffer's length
    // is passed with it.
    let len = unsafe {
        libc::lgetxattr(
            p.as_ptr(),
            n.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len() as libc::size_t,
        )
    };
    (len >= 0).then(|| {
        buf.truncate(len as usize);
        buf
    })
}

fn owner(p: &Path) -> (u32, u32, u32) {
    let m = fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.uid(), m.gid(), m.permissions().mode() & 0o7777)
}

fn subgids(u: &TestUser) -> (u32, u32) {
    let text = fs::read_to_string("/etc/subgid").unwrap();
    text.lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f[0] == u.name).then(|| (f[1].parse().unwrap(), f[2].parse().unwrap()))
        })
        .expect("a subgid range")
}

fn pause_pid(u: &TestUser) -> String {
    fs::read_to_string(u.tmp_run().join("pause.pid"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// A shell command in the user's mount namespace (as root on the host, so ids are the host's).
fn in_users_mounts(u: &TestUser, script: &str) -> String {
    let out = Command::new("nsenter")
        .args(["-t", &pause_pid(u), "-m", "--", "sh", "-c", script])
        .output()
        .unwrap();
    ok(&out, script)
}

/// The same as the user's root inside the user's namespaces (ids as the namespace maps them;
/// a FUSE mount lets in no one else).
fn as_users_root(u: &TestUser, script: &str) -> String {
    let out = Command::new("nsenter")
        .args(["-t", &pause_pid(u), "-U", "-m", "--", "sh", "-c", script])
        .output()
        .unwrap();
    ok(&out, script)
}

fn mounted_under(u: &TestUser, dir: &Path) -> Vec<String> {
    let info = fs::read_to_string(format!("/proc/{}/mountinfo", pause_pid(u))).unwrap();
    let host = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let d = dir.to_string_lossy().into_owned();
    info.lines()
        .chain(host.lines())
        .filter(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(&d)))
        .map(String::from)
        .collect()
}

/// Warnings (lines with `warning:`) in a tool's stderr.
fn warnings(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("warning:"))
        .map(String::from)
        .collect()
}

/// Mount the bundle as the user, check the merged view in the user's mount namespace, unmount,
/// and check nothing is left mounted.
fn mount_check_unmount(u: &TestUser, bundle: &Path, data_owner: &str) {
    let out = run(u, "ct-mount", &[&bundle.to_string_lossy()]);
    ok(&out, "ct-mount as the user");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("fuse-overlayfs"),
        "the kernel overlay works in a user namespace here: {out:?}"
    );
    let rootfs = bundle.join("rootfs");
    // On the host, the rootfs is an empty directory: the overlay is the user's alone.
    assert_eq!(fs::read_dir(&rootfs).unwrap().count(), 0);
    let r = rootfs.to_string_lossy();
    let seen = in_users_mounts(
        u,
        &format!(
            "cd {r} && stat -c '%u:%g %a' srv/data; ls -A opq; test -e gone || echo gone-is-gone; \
             cat etc/passwd"
        ),
    );
    assert_eq!(
        seen,
        format!("{data_owner} 640\nnew\ngone-is-gone\nroot:x:0:0:root:/root:/bin/sh"),
        "the merged view"
    );
    let out = run(u, "ct-mount", &["--unmount", &bundle.to_string_lossy()]);
    ok(&out, "ct-mount --unmount as the user");
    assert!(out.stderr.is_empty(), "{out:?}");
    assert_eq!(mounted_under(u, bundle), Vec::<String>::new());
}

#[test]
fn a_user_with_subordinate_ids_unpacks_owners_whiteouts_and_opaque_dirs_as_the_image_says() {
    let sb = Sandbox::new();
    let t = &sb.dir;
    let (_reg, r) = registry_with_image(t.path());
    let u = TestUser::create_with_subids();
    let (su, _) = u.subuids().unwrap();
    let (sg, _) = subgids(&u);
    ok(&run(&u, "ct-pull", &["-q", &r]), "ct-pull as the user");
    let out = run(&u, "ct-unpack", &["--name", "owners", &r]);
    let bundle = PathBuf::from(ok(&out, "ct-unpack as the user"));
    assert_eq!(
        warnings(&out),
        [
            "ct-unpack: warning: device nodes cannot be created without root: skipped 1 (first: \
          '/dev/mynull')"
        ],
        "{out:?}"
    );
    assert_eq!(out.stderr.len(), warnings(&out)[0].len() + 1, "{out:?}");
    let layers = layers_of(&u, &bundle);
    let (lower, upper) = (&layers[0], &layers[1]);
    // Image uid N>0 is subuid_start+N-1 on the host; 0 is the user.
    assert_eq!(owner(&lower.join("srv")), (su + 999, sg + 999, 0o750));
    assert_eq!(
        owner(&lower.join("srv/data")),
        (su + 1233, sg + 5677, 0o640)
    );
    assert_eq!(owner(&lower.join("srv/tool")), (u.uid, sg + 49, 0o2755));
    assert_eq!(owner(&lower.join("etc/passwd")), (u.uid, u.uid, 0o644));
    assert!(lgetxattr(&lower.join("srv/data"), "user.rootlesscontainers").is_none());
    assert!(!lower.join("dev/mynull").exists());
    // The whiteout is overlayfs' 0:0 character device; the opaque marker its user xattr.
    let gone = fs::symlink_metadata(upper.join("gone")).unwrap();
    assert!(gone.file_type().is_char_device() && gone.rdev() == 0);
    assert_eq!(
        lgetxattr(&upper.join("opq"), "user.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert!(!upper.join("opq/.wh..wh..opq").exists());
    // The user's config.json: runc spec --rootless's, but no user namespace of its own (the
    // container lives in the user's).
    let c: serde_json::Value =
        serde_json::from_slice(&fs::read(bundle.join("config.json")).unwrap()).unwrap();
    let ns = c["linux"]["namespaces"].to_string();
    assert!(!ns.contains("\"user\""), "{ns}");
    let mounts = c["mounts"].as_array().unwrap();
    let sys = mounts.iter().find(|m| m["destination"] == "/sys").unwrap();
    assert_eq!(
        sys,
        &serde_json::json!({"destination": "/sys", "type": "none", "source": "/sys",
                            "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]})
    );
    assert!(!c["mounts"].to_string().contains("gid=5"));
    assert!(c["linux"]["resources"].is_null(), "no device cgroup rules");
    mount_check_unmount(&u, &bundle, &format!("{}:{}", su + 1233, sg + 5677));

    // The layer store is the user's, shared: a second container extracts nothing.
    let out = run(&u, "ct-unpack", &["-v", "--name", "again", &r]);
    ok(&out, "a second ct-unpack");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("0 of 2 layers extracted"),
        "{out:?}"
    );
}

/// umoci's `user.rootlesscontainers` value: protobuf `Resource { uint32 uid = 1; uint32 gid =
/// 2; }` (a field left out is 0).
fn decode_resource(mut b: &[u8]) -> (u64, u64) {
    let varint = |b: &mut &[u8]| {
        let mut v = 0u64;
        for i in 0..10 {
            let byte = b[0];
            *b = &b[1..];
            v |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                break;
            }
        }
        v
    };
    let (mut uid, mut gid) = (0, 0);
    while !b.is_empty() {
        let key = varint(&mut b);
        let v = varint(&mut b);
        match key {
            0x08 => uid = v,
            0x10 => gid = v,
            k => panic!("unexpected field {k:#x}"),
        }
    }
    (uid, gid)
}

#[test]
fn a_user_without_subordinate_ids_gets_the_owners_recorded_and_one_warning() {
    let sb = Sandbox::new();
    let t = &sb.dir;
    let (_reg, r) = registry_with_image(t.path());
    let u = TestUser::create();
    ok(&run(&u, "ct-pull", &["-q", &r]), "ct-pull as the user");
    let out = run(&u, "ct-unpack", &["--name", "owners", &r]);
    let bundle = PathBuf::from(ok(&out, "ct-unpack as the user"));
    let w = warnings(&out);
    assert_eq!(w.len(), 2, "{out:?}");
    assert!(
        w[0].starts_with(
            "ct-unpack: warning: 3 files have owners this user namespace does not map: \
             they belong to you, their owners are in the xattr user.rootlesscontainers"
        ),
        "{out:?}"
    );
    assert!(
        w[1].starts_with("ct-unpack: warning: device nodes cannot be created without root"),
        "{out:?}"
    );
    let layers = layers_of(&u, &bundle);
    let (lower, upper) = (&layers[0], &layers[1]);
    assert_eq!(owner(&lower.join("srv")), (u.uid, u.uid, 0o750));
    assert_eq!(owner(&lower.join("srv/data")), (u.uid, u.uid, 0o640));
    let rec =
        |p: &str| lgetxattr(&lower.join(p), "user.rootlesscontainers").map(|v| decode_resource(&v));
    assert_eq!(rec("srv"), Some((1000, 1000)));
    assert_eq!(rec("srv/data"), Some((1234, 5678)));
    assert_eq!(rec("srv/tool"), Some((0, 50)));
    assert_eq!(rec("etc/passwd"), None, "root-owned files need no record");
    // chown would have cleared setgid; the mode is still the image's.
    assert_eq!(owner(&lower.join("srv/tool")).2, 0o2755);
    let gone = fs::symlink_metadata(upper.join("gone")).unwrap();
    assert!(gone.file_type().is_char_device() && gone.rdev() == 0);
    assert_eq!(
        lgetxattr(&upper.join("opq"), "user.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    mount_check_unmount(&u, &bundle, &format!("{0}:{0}", u.uid));

    // --flat as the user: whiteouts delete, the owners are recorded the same way.
    let out = run(&u, "ct-unpack", &["--flat", "--name", "flat", &r]);
    let flat = PathBuf::from(ok(&out, "ct-unpack --flat as the user")).join("rootfs");
    assert_eq!(warnings(&out).len(), 2, "{out:?}");
    assert_eq!(owner(&flat.join("srv/data")), (u.uid, u.uid, 0o640));
    assert_eq!(
        lgetxattr(&flat.join("srv/data"), "user.rootlesscontainers").map(|v| decode_resource(&v)),
        Some((1234, 5678))
    );
    assert!(!flat.join("gone").exists() && !flat.join("dev/mynull").exists());
    let opq: Vec<_> = fs::read_dir(flat.join("opq"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(opq, ["new"]);
}

/// A directory on an overlayfs mounted by root (as when ct runs inside a container), owned by
/// the user; on Drop, the user's leftover processes (a fuse-overlayfs daemon of a failed run)
/// are killed by pid and the mount detached.
struct OverlayHome {
    uid: u32,
    sb: Sandbox,
}

impl OverlayHome {
    fn new(u: &TestUser) -> OverlayHome {
        let sb = Sandbox::new();
        let dir = &sb.dir;
        for d in ["l", "u", "w", "m"] {
            fs::create_dir(dir.path().join(d)).unwrap();
        }
        let p = |d: &str| dir.path().join(d).to_string_lossy().into_owned();
        let opts = format!("lowerdir={},upperdir={},workdir={}", p("l"), p("u"), p("w"));
        let out = Command::new("mount")
            .args(["-t", "overlay", "ctovhome", "-o", &opts, &p("m")])
            .output()
            .unwrap();
        ok(&out, "mount the overlay home");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::chown(dir.path().join("m"), Some(u.uid), Some(u.uid)).unwrap();
        OverlayHome { uid: u.uid, sb }
    }

    fn path(&self) -> PathBuf {
        self.sb.dir.path().join("m")
    }
}

impl Drop for OverlayHome {
    fn drop(&mut self) {
        for e in fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if fs::metadata(e.path()).is_ok_and(|m| m.uid() == self.uid) {
                // SAFETY: kill(2) of a process of this test's own user, by pid.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        let _ = Command::new("umount").arg("-l").arg(self.path()).output();
    }
}

#[test]
fn where_the_kernel_refuses_a_users_overlay_fuse_overlayfs_mounts_it_and_says_so_once() {
    let sb = Sandbox::new();
    let t = &sb.dir;
    let (_reg, r) = registry_with_image(t.path());
    let u = TestUser::create_with_subids();
    // The user's store on an overlayfs: the kernel takes no overlay upper dir there from a
    // user namespace.
    let home = OverlayHome::new(&u);
    let _fuse = DeviceOpen::new(FUSE);
    let xdg = format!("XDG_DATA_HOME={}", home.path().display());
    let tool = |args: &[&str]| {
        let mut all = vec![xdg.as_str()];
        all.extend_from_slice(args);
        u.cmd(&tools_dir(), "env", &all).output().unwrap()
    };
    ok(&tool(&["ct-pull", "-q", &r]), "ct-pull as the user");
    let out = tool(&["ct-unpack", "--name", "fused", &r]);
    let bundle = PathBuf::from(ok(&out, "ct-unpack as the user"));
    assert!(bundle.starts_with(home.path()), "{}", bundle.display());
    let out = tool(&["ct-mount", &bundle.to_string_lossy()]);
    ok(&out, "ct-mount as the user");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(
            "ct-mount: mounted with fuse-overlayfs: the kernel's overlay cannot be mounted here: "
        ) && err.lines().count() == 1,
        "{err}"
    );
    let r = bundle.join("rootfs");
    let seen = as_users_root(
        &u,
        &format!(
            "cd {} && stat -c '%u:%g %a' srv/data; ls -A opq; test -e gone || echo gone-is-gone",
            r.display()
        ),
    );
    assert_eq!(seen, "1234:5678 640\nnew\ngone-is-gone", "the merged view");
    // A second ct-mount sees it mounted.
    let out = tool(&["ct-mount", &bundle.to_string_lossy()]);
    ok(&out, "ct-mount again");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is already mounted"),
        "{out:?}"
    );
    let out = tool(&["ct-mount", "--unmount", &bundle.to_string_lossy()]);
    ok(&out, "ct-mount --unmount as the user");
    assert!(out.stderr.is_empty(), "{out:?}");
    assert_eq!(mounted_under(&u, &bundle), Vec::<String>::new());
}

#[test]
fn a_layer_cannot_forge_the_overlay_xattrs_of_a_users_store() {
    // The upper layer sets `user.overlay.opaque` on `etc` itself (an overlay mounted with
    // userxattr would then hide the lower /etc) and a forged owner record on a file.
    let mut upper = TarBuilder::new();
    let b = upper.inner();
    let mut h = entry(tar::EntryType::Directory, 0o755, 0, 0, 0);
    ct_tests::image::append_with_pax(
        b,
        &mut h,
        "etc",
        &[
            ("SCHILY.xattr.user.overlay.opaque", b"y"),
            ("SCHILY.xattr.user.overlay.redirect", b"/srv"),
        ],
        b"",
    );
    let mut h = entry(tar::EntryType::Regular, 0o644, 0, 0, 0);
    ct_tests::image::append_with_pax(
        b,
        &mut h,
        "etc/forged",
        &[("SCHILY.xattr.user.rootlesscontainers", &[0x08, 0x01])],
        b"x\n",
    );
    let sb = Sandbox::new();
    let t = &sb.dir;
    let layout = t.path().join("layout");
    Image::new()
        .layer(lower_layer(), Compression::Gzip)
        .layer(upper.finish(), Compression::Gzip)
        .write(&ImageLayout::at(&layout), "forge");
    let reg = Registry::start(Auth::None);
    let r = reg.push_layout(&layout, "forge", "rootless/forge:1");
    let u = TestUser::create_with_subids();
    ok(&run(&u, "ct-pull", &["-q", &r]), "ct-pull as the user");
    let bundle = PathBuf::from(ok(
        &run(&u, "ct-unpack", &["--name", "forge", &r]),
        "ct-unpack as the user",
    ));
    let layers = layers_of(&u, &bundle);
    for x in ["user.overlay.opaque", "user.overlay.redirect"] {
        assert_eq!(lgetxattr(&layers[1].join("etc"), x), None, "{x}");
    }
    assert_eq!(
        lgetxattr(&layers[1].join("etc/forged"), "user.rootlesscontainers"),
        None
    );
    ok(
        &run(&u, "ct-mount", &[&bundle.to_string_lossy()]),
        "ct-mount",
    );
    let seen = in_users_mounts(&u, &format!("ls {}/etc", bundle.join("rootfs").display()));
    assert_eq!(seen, "forged\ngroup\npasswd", "the lower /etc still shows");
    ok(
        &run(&u, "ct-mount", &["--unmount", &bundle.to_string_lossy()]),
        "unmount",
    );
}

#[test]
fn where_no_overlay_mounts_for_a_user_the_layers_are_copied_as_flat_and_ct_mount_says_so_once() {
    let sb = Sandbox::new();
    let t = &sb.dir;
    let (_reg, r) = registry_with_image(t.path());
    let u = TestUser::create_with_subids();
    let (su, _) = u.subuids().unwrap();
    let (sg, _) = subgids(&u);
    // A store on overlayfs (no kernel overlay) and /dev/fuse closed to users, as here (no
    // fuse-overlayfs).
    let home = OverlayHome::new(&u);
    let _serial = DeviceLock::new(FUSE);
    assert_eq!(
        fs::metadata("/dev/fuse").unwrap().permissions().mode() & 0o006,
        0,
        "/dev/fuse is closed to others on this machine"
    );
    let xdg = format!("XDG_DATA_HOME={}", home.path().display());
    let tool = |args: &[&str]| {
        let mut all = vec![xdg.as_str()];
        all.extend_from_slice(args);
        u.cmd(&tools_dir(), "env", &all).output().unwrap()
    };
    ok(&tool(&["ct-pull", "-q", &r]), "ct-pull as the user");
    let out = tool(&["ct-unpack", "--name", "copied", &r]);
    let bundle = PathBuf::from(ok(&out, "ct-unpack as the user"));
    let out = tool(&["ct-mount", &bundle.to_string_lossy()]);
    ok(&out, "ct-mount as the user");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("ct-mount: copied the layers into '")
            && err.contains("no overlay can be mounted here: ")
            && err.lines().count() == 1,
        "{err}"
    );
    // The merged view, as a plain directory.
    let rootfs = bundle.join("rootfs");
    assert_eq!(
        owner(&rootfs.join("srv/data")),
        (su + 1233, sg + 5677, 0o640)
    );
    assert!(!rootfs.join("gone").exists());
    let opq: Vec<_> = fs::read_dir(rootfs.join("opq"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(opq, ["new"]);
    assert_eq!(
        fs::read_to_string(rootfs.join("etc/passwd")).unwrap(),
        "root:x:0:0:root:/root:/bin/sh\n"
    );
    // Again: kept as it is (the container's changes are in it).
    fs::write(rootfs.join("changed"), "x").unwrap();
    let out = tool(&["ct-mount", &bundle.to_string_lossy()]);
    ok(&out, "ct-mount again");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("holds a copy of the layers"),
        "{out:?}"
    );
    assert!(rootfs.join("changed").exists());
    ok(
        &tool(&["ct-mount", "--unmount", &bundle.to_string_lossy()]),
        "ct-mount --unmount",
    );
    assert_eq!(mounted_under(&u, &bundle), Vec::<String>::new());
}
