//! Decompression bombs through the real pipeline: a layer of about 1 MiB of gzip that inflates
//! to 1 GiB of zeros, pushed to a real loopback `docker-registry`, pulled with ct-pull and
//! unpacked with ct-unpack onto a small file system made here (a 256 MiB ext4 image on a loop
//! device, or a tmpfs), unmounted by a Drop guard even when the test fails. Extraction must
//! stop at the file system's free-space reserve or at `--max-layer-size`, say which layer, how
//! far it got and why on one line, and leave no partial layer. The same for an archive that
//! ct-pull imports: a sparse entry declaring gigabytes cannot make it fill the disk.
//!
//! The bomb is streamed by GNU tar from a sparse file and compressed by gzip(1): it is never
//! held in memory or written out uncompressed.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ct_layout::digest::Digest;
use ct_layout::image_layout::ImageLayout;
use ct_tests::bins::bin;
use ct_tests::registry::{Auth, Registry};
use ct_tests::sandbox::Sandbox;
use serde_json::json;

const GIB: u64 = 1 << 30;

/// A file system mounted on `mnt` for one test; unmounted on drop (a loop device made by
/// `mount -o loop` is detached with it: autoclear).
struct SmallFs {
    mnt: PathBuf,
}

impl SmallFs {
    fn ext4(dir: &Path, mib: u64) -> SmallFs {
        let img = dir.join("fs.img");
        fs::File::create(&img).unwrap().set_len(mib << 20).unwrap();
        sh(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&img));
        SmallFs::mount(dir, &["-o", "loop", img.to_str().unwrap()])
    }

    fn tmpfs(dir: &Path, mib: u64) -> SmallFs {
        SmallFs::mount(
            dir,
            &["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"],
        )
    }

    fn mount(dir: &Path, args: &[&str]) -> SmallFs {
        let mnt = dir.join("mnt");
        fs::create_dir(&mnt).unwrap();
        sh(Command::new("mount").args(args).arg(&mnt));
        SmallFs { mnt }
    }

    /// (total, available) bytes.
    fn space(&self) -> (u64, u64) {
        let c = std::ffi::CString::new(self.mnt.to_str().unwrap()).unwrap();
        // SAFETY: zeroed statvfs is a valid out-buffer; `c` is NUL-terminated.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0);
        let f = st.f_frsize as u64;
        (st.f_blocks as u64 * f, st.f_bavail as u64 * f)
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.mnt)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
        }
    }
}

fn sh(cmd: &mut Command) -> Output {
    let o = cmd.stdin(Stdio::null()).output().unwrap();
    assert!(o.status.success(), "{cmd:?}: {o:?}");
    o
}

/// One-entry layer `bomb`: `size` zero bytes, as GNU tar streams it from a sparse file
/// (`--format=gnu`, no `--sparse`: the zeros are in the tar). Returns (gzip blob, diff_id).
fn gzip_bomb(dir: &Path, size: u64) -> (Vec<u8>, Digest) {
    let src = dir.join("bomb-src");
    fs::create_dir(&src).unwrap();
    fs::File::create(src.join("bomb"))
        .unwrap()
        .set_len(size)
        .unwrap();
    let tar = format!(
        "tar -C '{}' --format=gnu --owner=0 --group=0 --numeric-owner --mtime=@1700000000 -cf - bomb",
        src.display()
    );
    let o = sh(Command::new("sh").args(["-c", &format!("{tar} | sha256sum")]));
    let hex = String::from_utf8(o.stdout).unwrap()[..64].to_string();
    let blob = dir.join("bomb.gz");
    sh(Command::new("sh").args(["-c", &format!("{tar} | gzip -1 > '{}'", blob.display())]));
    fs::remove_dir_all(&src).unwrap();
    let bytes = fs::read(&blob).unwrap();
    assert!(bytes.len() < 8 << 20, "the bomb is small: {}", bytes.len());
    (bytes, format!("sha256:{hex}").parse().unwrap())
}

/// An image of one already compressed layer (`media` type), named `name` in a new layout.
fn image_of_blob(dir: &Path, name: &str, blob: &[u8], media: &str, diff_id: &Digest) -> Digest {
    let layout = ImageLayout::at(dir);
    layout.init().unwrap();
    let ld = layout.write_blob(blob).unwrap();
    let config = json!({
        "architecture": ct_tests::image::host_arch(), "os": "linux",
        "config": {"Cmd": ["/bomb"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
    });
    let cb = serde_json::to_vec(&config).unwrap();
    let cd = layout.write_blob(&cb).unwrap();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": cb.len()},
        "layers": [{"mediaType": media, "digest": ld.to_string(), "size": blob.len()}],
    });
    let mb = serde_json::to_vec(&manifest).unwrap();
    let md = layout.write_blob(&mb).unwrap();
    let desc: oci_spec::image::Descriptor = serde_json::from_value(json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": md.to_string(), "size": mb.len(),
    }))
    .unwrap();
    layout.set_ref(name, &desc).unwrap();
    ld
}

/// Fields drop in order: the file system is unmounted before the sandbox removes its dir.
struct Env {
    fs: SmallFs,
    root: PathBuf,
    sb: Sandbox,
}

impl Env {
    fn on(fs: SmallFs, sb: Sandbox) -> Env {
        Env {
            root: fs.mnt.join("root"),
            fs,
            sb,
        }
    }
}

impl Env {
    fn tool(&self, name: &str, args: &[&str]) -> Output {
        Command::new(bin(name))
            .args(args)
            .env("CT_ROOT", &self.root)
            .env("CT_RUN", &self.sb.run)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, name: &str, args: &[&str]) -> String {
        let o = self.tool(name, args);
        assert!(o.status.success(), "{name} {args:?}: {o:?}");
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    }

    /// Nothing partial: no extraction in progress, no layer but `except`, no bundle.
    fn assert_nothing_partial(&self, except: &[&Digest]) {
        let list = |p: PathBuf| -> Vec<String> {
            fs::read_dir(p)
                .map(|rd| {
                    rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default()
        };
        assert!(list(self.root.join("layers/tmp")).is_empty());
        let mut layers = list(self.root.join("layers/sha256"));
        layers.retain(|l| !except.iter().any(|d| d.hex() == l));
        assert!(layers.is_empty(), "{layers:?}");
        assert!(list(self.root.join("containers")).is_empty());
        let mut tmp = list(self.root.join("tmp"));
        tmp.retain(|t| t != "ingest");
        assert!(tmp.is_empty(), "{tmp:?}");
    }
}

fn one_line_failure(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let e = String::from_utf8(o.stderr.clone()).unwrap();
    assert_eq!(e.lines().count(), 1, "{e}");
    e.trim_end().to_string()
}

/// A pushed and pulled 1 GiB gzip bomb on a file system mounted by `mount`: (env, ref, layer
/// blob digest).
fn pulled_bomb(mount: fn(&Path) -> SmallFs, tag: &str) -> (Env, String, Digest) {
    let sb = Sandbox::new();
    let tmp = &sb.dir;
    let (blob, diff_id) = gzip_bomb(tmp.path(), GIB);
    let layout = tmp.path().join("layout");
    let ld = image_of_blob(
        &layout,
        "bomb",
        &blob,
        "application/vnd.oci.image.layer.v1.tar+gzip",
        &diff_id,
    );
    let reg = Registry::start(Auth::None);
    let r = reg.push_layout(&layout, "bomb", &format!("hostile/bomb:{tag}"));
    let env = Env::on(mount(tmp.path()), sb);
    let pulled = env.ok("ct-pull", &[&r]);
    (env, pulled, ld)
}

#[test]
fn a_gzip_bomb_stops_at_the_free_space_reserve() {
    let (env, r, blob) = pulled_bomb(|d| SmallFs::ext4(d, 256), "1");
    let e = one_line_failure(&env.tool("ct-unpack", &["--id", "b", &r]));
    assert!(
        e.starts_with(&format!("ct-unpack: layer {blob}: stopped after ")),
        "{e}"
    );
    assert!(e.contains("would fall under its reserve of"), "{e}");
    // How far it got: most of the file system, not nothing.
    let written: u64 = e
        ["ct-unpack: layer ".len() + blob.to_string().len() + ": stopped after ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(written > 100 << 20, "{e}");
    env.assert_nothing_partial(&[]);
    let (total, avail) = env.fs.space();
    assert!(
        avail >= total / 20,
        "the reserve is still free: {avail} of {total}"
    );

    // --min-free: a reserve larger than the free space refuses before writing anything.
    let e = one_line_failure(&env.tool("ct-unpack", &["--min-free", "1G", "--id", "b", &r]));
    assert!(e.contains("stopped after 0 bytes"), "{e}");
    env.assert_nothing_partial(&[]);
}

#[test]
fn a_layer_past_max_layer_size_is_refused() {
    let (env, r, blob) = pulled_bomb(|d| SmallFs::tmpfs(d, 512), "2");
    let o = env.tool("ct-unpack", &["--max-layer-size", "1M", "--id", "m", &r]);
    let e = one_line_failure(&o);
    assert!(
        e.starts_with(&format!("ct-unpack: layer {blob}: stopped after ")),
        "{e}"
    );
    assert!(
        e.ends_with("larger than the limit of 1048576 bytes (--max-layer-size)"),
        "{e}"
    );
    env.assert_nothing_partial(&[]);
    let o = env.tool(
        "ct-unpack",
        &["--flat", "--max-layer-size", "1M", "--id", "m", &r],
    );
    assert!(one_line_failure(&o).contains("(--max-layer-size)"));
    env.assert_nothing_partial(&[]);
}

/// A PAX sparse file (GNU tar `--sparse --format=posix`) of `size` bytes with 5 bytes of data.
fn sparse_layer(dir: &Path, size: u64) -> Vec<u8> {
    let src = dir.join("sparse-src");
    fs::create_dir(&src).unwrap();
    let f = fs::File::create(src.join("holes")).unwrap();
    f.set_len(size).unwrap();
    std::os::unix::fs::FileExt::write_at(&f, b"data!", size / 2).unwrap();
    drop(f);
    let out = dir.join("sparse.tar");
    sh(Command::new("tar")
        .args([
            "--sparse",
            "--format=posix",
            "--owner=0",
            "--group=0",
            "--mtime=@1700000000",
        ])
        .arg("-cf")
        .arg(&out)
        .arg("-C")
        .arg(&src)
        .arg("holes"));
    fs::remove_dir_all(&src).unwrap();
    fs::read(&out).unwrap()
}

#[test]
fn sparse_holes_count_against_max_layer_size() {
    let sb = Sandbox::new();
    let tmp = &sb.dir;
    let tar = sparse_layer(tmp.path(), 8 * GIB);
    assert!(tar.len() < 1 << 20);
    let layout = tmp.path().join("layout");
    let blob = image_of_blob(
        &layout,
        "sparse",
        &tar,
        "application/vnd.oci.image.layer.v1.tar",
        &Digest::of(&tar),
    );
    let reg = Registry::start(Auth::None);
    let r = reg.push_layout(&layout, "sparse", "hostile/sparse:1");
    let env = Env::on(SmallFs::tmpfs(tmp.path(), 64), sb);
    let r = env.ok("ct-pull", &[&r]);
    let e = one_line_failure(&env.tool("ct-unpack", &["--max-layer-size", "1G", "--id", "s", &r]));
    assert!(
        e.starts_with(&format!("ct-unpack: layer {blob}: stopped after "))
            && e.ends_with("bytes: larger than the limit of 1073741824 bytes (--max-layer-size)"),
        "{e}"
    );
    env.assert_nothing_partial(&[]);
    // Without the limit the holes stay holes: 8 GiB apparent on a 64 MiB tmpfs.
    env.ok("ct-unpack", &["--id", "s", &r]);
    let m = fs::metadata(
        env.root
            .join("layers/sha256")
            .join(Digest::of(&tar).hex())
            .join("holes"),
    )
    .unwrap();
    assert_eq!(m.len(), 8 * GIB);
    assert!(m.blocks() < 1024, "{} blocks", m.blocks());
}

#[test]
fn an_archive_with_a_sparse_entry_cannot_fill_the_disk() {
    let sb = Sandbox::new();
    let tmp = &sb.dir;
    // A docker-archive (docker save) whose layer.tar is a 4 GiB sparse entry of the outer tar.
    let src = tmp.path().join("archive-src");
    fs::create_dir(&src).unwrap();
    fs::write(
        src.join("manifest.json"),
        r#"[{"Config":"config.json","RepoTags":["bomb:1"],"Layers":["layer.tar"]}]"#,
    )
    .unwrap();
    let diff = format!("sha256:{}", "0".repeat(64));
    fs::write(
        src.join("config.json"),
        json!({"architecture": ct_tests::image::host_arch(), "os": "linux",
               "rootfs": {"type": "layers", "diff_ids": [diff]}})
        .to_string(),
    )
    .unwrap();
    let f = fs::File::create(src.join("layer.tar")).unwrap();
    f.set_len(4 * GIB).unwrap();
    std::os::unix::fs::FileExt::write_at(&f, b"x", 4 * GIB - 1).unwrap();
    drop(f);
    let archive = tmp.path().join("bomb.tar");
    sh(Command::new("tar")
        .args(["--sparse", "--format=gnu", "-cf"])
        .arg(&archive)
        .arg("-C")
        .arg(&src)
        .args(["manifest.json", "config.json", "layer.tar"]));
    fs::remove_dir_all(&src).unwrap();
    assert!(fs::metadata(&archive).unwrap().len() < 1 << 20);

    let env = Env::on(SmallFs::ext4(tmp.path(), 256), sb);
    let spec = format!("docker-archive:{}", archive.display());
    let e = one_line_failure(&env.tool("ct-pull", &[&spec]));
    assert!(
        e.starts_with("ct-pull: ") && e.contains("entry 'layer.tar' is a sparse file"),
        "{e}"
    );
    env.assert_nothing_partial(&[]);
    let (total, avail) = env.fs.space();
    assert!(avail >= total / 2, "{avail} of {total}");
}
