//! `ct-unpack --flat` builds the same tree as `umoci unpack` from a fixture image exercising
//! everything a layer can carry: deletions, opaque directories (same-layer entries before and
//! after the marker), file/symlink/directory replacements, hardlinks within and across
//! directories, setuid/setgid/sticky, owners, GNU and PAX long names and link targets, user.*
//! and security.capability xattrs, fifos, device nodes, GNU sparse files. Compared per path:
//! type, mode, owner, size, content hash, link target, device numbers, xattrs, hardlinks
//! (`ct_tests::tree`). Then what umoci's tree cannot show: mtimes and holes.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use common::{header, lgetxattr, Env};
use ct_tests::image::{append_with_pax, umoci_unpack, Compression, Image, TarBuilder};
use ct_tests::tree::{assert_same, snapshot};
use tar::EntryType as T;

/// security.capability v2 granting CAP_NET_RAW (13), effective.
fn cap_net_raw() -> Vec<u8> {
    let mut v = Vec::new();
    for w in [0x0200_0001u32, 1 << 13, 0, 0, 0] {
        v.extend_from_slice(&w.to_le_bytes());
    }
    v
}

fn long(n: usize) -> String {
    let seg = "segment-of-a-long-name";
    let mut s = String::new();
    while s.len() < n {
        s.push_str(seg);
        s.push('/');
    }
    s.pop();
    s
}

fn special(t: &mut TarBuilder, kind: T, path: &str, mode: u32, dev: (u32, u32)) {
    let mut h = header(kind, mode);
    h.set_device_major(dev.0).unwrap();
    h.set_device_minor(dev.1).unwrap();
    t.inner()
        .append_data(&mut h, path, std::io::empty())
        .unwrap();
}

fn owned(t: &mut TarBuilder, kind: T, path: &str, mode: u32, uid: u64, gid: u64, data: &[u8]) {
    let mut h = header(kind, mode);
    h.set_uid(uid);
    h.set_gid(gid);
    h.set_size(data.len() as u64);
    t.inner().append_data(&mut h, path, data).unwrap();
}

fn layer1() -> Vec<u8> {
    let mut t = TarBuilder::new()
        .dir("./", 0o755)
        .dir("a", 0o755)
        .file("a/keep", 0o644, b"keep")
        .file("a/gone", 0o644, b"gone")
        .dir("a/opq", 0o755)
        .file("a/opq/lower1", 0o644, b"l1")
        .dir("a/opq/sub", 0o755)
        .file("a/opq/sub/deep", 0o644, b"deep")
        .file("f2s", 0o644, b"file to symlink")
        .symlink("s2f", "a/keep")
        .dir("d2f", 0o755)
        .file("d2f/child", 0o644, b"c")
        .file("f2d", 0o644, b"file to dir")
        .symlink("s2d", "a")
        .dir("todelete", 0o755)
        .dir("todelete/x", 0o700)
        .file("todelete/x/y", 0o600, b"y")
        .dir("redo", 0o755)
        .file("redo/old", 0o644, b"old")
        .dir("usr", 0o755)
        .dir("usr/bin", 0o755)
        .dir("h", 0o755)
        .file("h/orig", 0o640, b"hardlinked content")
        .hardlink("h/link", "h/orig")
        .dir("other", 0o755)
        .hardlink("other/xlink", "h/orig")
        .dir("dev", 0o755)
        .symlink(
            &format!("gnu-long-link-{}", "x".repeat(10)),
            &format!("/{}", long(180)),
        );
    owned(
        &mut t,
        T::Regular,
        "usr/bin/su",
        0o4755,
        0,
        0,
        b"#!/bin/false\n",
    );
    owned(&mut t, T::Regular, "usr/bin/wall", 0o2755, 0, 5, b"wall");
    owned(&mut t, T::Directory, "shared", 0o2775, 0, 50, b"");
    // Created in a setgid directory, a file takes the directory's group: it must get its own.
    owned(&mut t, T::Regular, "shared/root-file", 0o644, 0, 0, b"r");
    owned(&mut t, T::Regular, "shared/group-file", 0o640, 0, 50, b"g");
    owned(&mut t, T::Directory, "tmp", 0o1777, 0, 0, b"");
    owned(&mut t, T::Regular, "home-file", 0o600, 1000, 1001, b"mine");
    special(&mut t, T::Fifo, "dev/fifo", 0o644, (0, 0));
    special(&mut t, T::Char, "dev/null", 0o666, (1, 3));
    special(&mut t, T::Block, "dev/loop9", 0o660, (7, 9));
    // GNU long name (the tar crate writes a GNU ././@LongLink entry for names over 100 bytes).
    let gnu = format!("gnu/{}/file", long(150));
    t = t.file(&gnu, 0o644, b"gnu long name");
    // PAX long name and link target.
    let pax_name = format!("pax/{}/file", long(200));
    let mut h = header(T::Regular, 0o644);
    h.set_path("pax-placeholder").unwrap();
    append_with_pax(
        t.inner(),
        &mut h,
        "pax-placeholder",
        &[("path", pax_name.as_bytes())],
        b"pax long name",
    );
    let mut h = header(T::Symlink, 0o777);
    h.set_path("pax-link").unwrap();
    h.set_cksum();
    let target = format!("/{}", long(250));
    t.inner()
        .append_pax_extensions([("linkpath", target.as_bytes())])
        .unwrap();
    t.inner().append(&h, std::io::empty()).unwrap();
    // xattrs: user.* and security.capability.
    let cap = cap_net_raw();
    let mut h = header(T::Regular, 0o755);
    append_with_pax(
        t.inner(),
        &mut h,
        "usr/bin/ping",
        &[
            ("SCHILY.xattr.security.capability", &cap),
            ("SCHILY.xattr.user.note", b"hello"),
        ],
        b"ping",
    );
    let mut h = header(T::Directory, 0o755);
    append_with_pax(
        t.inner(),
        &mut h,
        "xdir",
        &[("SCHILY.xattr.user.dir", b"d")],
        b"",
    );
    t.finish()
}

fn layer2() -> Vec<u8> {
    let mut t = TarBuilder::new()
        .file("a/.wh.gone", 0o644, b"")
        // Opaque, with same-layer entries before and after the marker.
        .file("a/opq/before", 0o644, b"before")
        .file("a/opq/.wh..wh..opq", 0o644, b"")
        .file("a/opq/after", 0o644, b"after")
        .symlink("f2s", "a/keep")
        .file("s2f", 0o600, b"symlink to file")
        .file("d2f", 0o644, b"dir to file")
        .dir("f2d", 0o750)
        .file("f2d/inside", 0o644, b"i")
        .dir("s2d", 0o711)
        .file(".wh.todelete", 0o644, b"")
        // Deleted and recreated in the same layer: only the new content.
        .file(".wh.redo", 0o644, b"")
        .file("redo/new", 0o644, b"new")
        .file("new/one", 0o644, b"one")
        .hardlink("new/two", "new/one");
    // Metadata of an existing directory changes.
    owned(&mut t, T::Directory, "a", 0o700, 1000, 1000, b"");
    // A file replaced by a hardlink to another file of this layer.
    t = t.hardlink("a/keep", "new/one");
    t.finish()
}

/// A sparse file made by GNU tar itself: 8 MiB with 5 bytes of data in the middle. `format`
/// `posix` stores it as PAX sparse 1.0, `gnu` as the old GNU 'S' entry type.
fn sparse_layer(dir: &Path, format: &str) -> Vec<u8> {
    let src = dir.join("sparse-src");
    fs::create_dir_all(src.join("sp")).unwrap();
    let f = fs::File::create(src.join("sp/holes")).unwrap();
    f.set_len(8 << 20).unwrap();
    use std::os::unix::fs::FileExt;
    f.write_at(b"data!", 4 << 20).unwrap();
    drop(f);
    let out = dir.join(format!("sparse-{format}.tar"));
    let st = Command::new("tar")
        .args(["--sparse", "--owner=0", "--group=0", "--mtime=@1700000000"])
        .arg(format!("--format={format}"))
        .arg("-cf")
        .arg(&out)
        .arg("-C")
        .arg(&src)
        .arg("sp")
        .status()
        .unwrap();
    assert!(st.success());
    let bytes = fs::read(&out).unwrap();
    assert!(bytes.len() < 1 << 20, "GNU tar stored the file sparse");
    bytes
}

#[test]
fn flat_tree_equals_umoci_unpack() {
    let env = Env::new();
    let sparse = sparse_layer(env.sb.dir.path(), "posix");
    // umoci 0.4.7 cannot read tar+zstd; zstd is covered in layer_store.rs.
    Image::new()
        .layer(layer1(), Compression::Gzip)
        .layer(layer2(), Compression::None)
        .layer(sparse, Compression::Gzip)
        .write(&env.layout(), "localhost/rich:1");
    let bundle = env.unpack(&["--flat", "--name", "rich", "localhost/rich:1"]);
    let ours = bundle.join("rootfs");
    let theirs = umoci_unpack(
        &env.layout().dir,
        "localhost/rich:1",
        &env.sb.dir.path().join("umoci"),
    );
    assert_same(
        &snapshot(&ours),
        &snapshot(&theirs),
        "ct-unpack --flat vs umoci unpack",
    );

    // The fixture really exercises what it claims (so the equality above means something).
    let r = |p: &str| ours.join(p);
    assert!(!r("a/gone").exists() && !r("todelete").exists());
    assert!(!r("redo/old").exists() && r("redo/new").is_file());
    let mut opq: Vec<String> = fs::read_dir(r("a/opq"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    opq.sort();
    assert_eq!(opq, ["after", "before"]);
    assert!(fs::symlink_metadata(r("f2s"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(fs::symlink_metadata(r("s2f")).unwrap().is_file());
    assert!(fs::symlink_metadata(r("d2f")).unwrap().is_file());
    assert!(r("f2d/inside").is_file());
    assert!(fs::symlink_metadata(r("s2d")).unwrap().is_dir());
    let ino = |p: &str| fs::metadata(r(p)).unwrap().ino();
    assert_eq!(ino("h/orig"), ino("other/xlink"));
    assert_eq!(ino("new/one"), ino("a/keep"));
    assert_eq!(
        fs::metadata(r("usr/bin/su")).unwrap().mode() & 0o7777,
        0o4755
    );
    assert_eq!(fs::metadata(r("shared")).unwrap().mode() & 0o7777, 0o2775);
    assert_eq!(fs::metadata(r("tmp")).unwrap().mode() & 0o7777, 0o1777);
    let hf = fs::metadata(r("home-file")).unwrap();
    assert_eq!((hf.uid(), hf.gid()), (1000, 1001));
    let owner = |p: &str| {
        let m = fs::metadata(r(p)).unwrap();
        (m.uid(), m.gid(), m.mode() & 0o7777)
    };
    assert_eq!(owner("shared/root-file"), (0, 0, 0o644));
    assert_eq!(owner("shared/group-file"), (0, 50, 0o640));
    assert_eq!(
        lgetxattr(&r("usr/bin/ping"), "security.capability"),
        Some(cap_net_raw())
    );
    assert_eq!(
        lgetxattr(&r("usr/bin/ping"), "user.note").as_deref(),
        Some(&b"hello"[..])
    );
    assert_eq!(
        lgetxattr(&r("xdir"), "user.dir").as_deref(),
        Some(&b"d"[..])
    );
    assert_eq!(
        fs::read(r(&format!("pax/{}/file", long(200)))).unwrap(),
        b"pax long name"
    );
    assert_eq!(
        fs::read(r(&format!("gnu/{}/file", long(150)))).unwrap(),
        b"gnu long name"
    );
    assert_eq!(
        fs::read_link(r("pax-link")).unwrap().to_str().unwrap(),
        format!("/{}", long(250))
    );
    assert_eq!(
        fs::metadata(r("dev/null")).unwrap().rdev(),
        libc::makedev(1, 3)
    );

    // Not in umoci's comparison: mtimes (files, symlinks and directories) and holes.
    assert!(fs::symlink_metadata(r("a/opq/lower1")).is_err());
    for p in ["home-file", "usr/bin", "a", "f2s", "xdir"] {
        assert_eq!(
            fs::symlink_metadata(r(p)).unwrap().mtime(),
            1_700_000_000,
            "{p}"
        );
    }
    let sp = fs::metadata(r("sp/holes")).unwrap();
    assert_eq!(sp.len(), 8 << 20);
    assert!(
        sp.blocks() * 512 < 1 << 20,
        "holes kept: {} blocks",
        sp.blocks()
    );
    let data = fs::read(r("sp/holes")).unwrap();
    assert_eq!(&data[4 << 20..(4 << 20) + 5], b"data!");
    assert!(!r("GNUSparseFile.0").exists());
}

/// Unmounts on drop, so a failing test leaves no mount behind.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let c = std::ffi::CString::new(self.0.to_str().unwrap()).unwrap();
        // SAFETY: test; valid path.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

/// The layer store's overlay form of the same image, stacked by the kernel itself (a read-only
/// overlay of the layer directories from ct.json, top first), shows the same tree as umoci.
#[test]
fn layer_store_under_overlayfs_equals_umoci_unpack() {
    let env = Env::new();
    let sparse = sparse_layer(env.sb.dir.path(), "posix");
    Image::new()
        .layer(layer1(), Compression::Gzip)
        .layer(layer2(), Compression::None)
        .layer(sparse, Compression::Gzip)
        .write(&env.layout(), "localhost/rich:1");
    let bundle = env.unpack(&["--id", "ov", "localhost/rich:1"]);
    let note = common::read_json(&bundle.join("ct.json"));
    let lowers: Vec<String> = note["layers"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|d| {
            let d: ct_layout::Digest = d.as_str().unwrap().parse().unwrap();
            env.store.layer(&d).to_str().unwrap().to_string()
        })
        .collect();
    let target = env.sb.dir.path().join("ovl");
    fs::create_dir(&target).unwrap();
    let opts = std::ffi::CString::new(format!("lowerdir={}", lowers.join(":"))).unwrap();
    let t = std::ffi::CString::new(target.to_str().unwrap()).unwrap();
    // SAFETY: test; valid strings.
    let r = unsafe {
        libc::mount(
            c"overlay".as_ptr(),
            t.as_ptr(),
            c"overlay".as_ptr(),
            libc::MS_RDONLY,
            opts.as_ptr().cast(),
        )
    };
    assert_eq!(r, 0, "mount overlay: {}", std::io::Error::last_os_error());
    let _m = Mounted(target.clone());
    let theirs = umoci_unpack(
        &env.layout().dir,
        "localhost/rich:1",
        &env.sb.dir.path().join("umoci"),
    );
    assert_same(
        &snapshot(&target),
        &snapshot(&theirs),
        "overlay of the layer store vs umoci unpack",
    );
}

/// The old GNU sparse type ('S'), which umoci 0.4.7 rejects ("unknown typeflag"): the same
/// file as the PAX one, holes included.
#[test]
fn gnu_sparse_entries_keep_their_holes() {
    let env = Env::new();
    Image::new()
        .layer(sparse_layer(env.sb.dir.path(), "gnu"), Compression::Gzip)
        .write(&env.layout(), "localhost/sparse:1");
    let b = env.unpack(&["--flat", "localhost/sparse:1"]);
    let f = b.join("rootfs/sp/holes");
    let m = fs::metadata(&f).unwrap();
    assert_eq!(m.len(), 8 << 20);
    assert!(
        m.blocks() * 512 < 1 << 20,
        "holes kept: {} blocks",
        m.blocks()
    );
    let data = fs::read(&f).unwrap();
    let mut want = vec![0u8; 8 << 20];
    want[4 << 20..(4 << 20) + 5].copy_from_slice(b"data!");
    assert!(data == want);
    // The layer store copy too.
    let l = env.layer_dirs();
    env.unpack(&["localhost/sparse:1"]);
    let l2 = env.layer_dirs();
    assert!(l.is_empty() && l2.len() == 1);
    assert!(fs::read(l2[0].join("sp/holes")).unwrap() == want);
}
