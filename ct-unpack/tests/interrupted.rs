//! Deterministic tests of what happens while layers are being read, using FIFOs in place of the
//! layer blobs (the test decides when bytes arrive):
//! - a layer extraction killed halfway never appears in the store, nor does the bundle; the
//!   next run cleans up and succeeds;
//! - independent layers are read at the same time (both FIFOs get a reader before any byte is
//!   written, which a sequential unpack could never do);
//! - what a layer extraction has written reaches the disk while the layer is still being read
//!   (`ct_layout::writeback`), not only in one flush at the end.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::Env;
use ct_layout::Digest;
use ct_tests::image::{Compression, Image, TarBuilder};
use ct_tests::power_cut::{delays_allocation, noise, written_back};

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn many_files(tag: &str, n: usize) -> Vec<u8> {
    let mut t = TarBuilder::new().dir(tag, 0o755);
    for i in 0..n {
        let data = format!("{tag} file {i} ").repeat(20);
        t = t.file(&format!("{tag}/f{i}"), 0o644, data.as_bytes());
    }
    t.finish()
}

/// Replace the blob file with a FIFO; returns its former content.
fn fifo_instead_of(path: &Path) -> Vec<u8> {
    let bytes = fs::read(path).unwrap();
    fs::remove_file(path).unwrap();
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: test; valid path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    bytes
}

fn restore(path: &Path, bytes: &[u8]) {
    fs::remove_file(path).unwrap();
    fs::write(path, bytes).unwrap();
}

/// Open the FIFO for writing once a reader has it open; `None` if none came within `limit`.
fn writer_when_read(path: &Path, limit: Duration) -> Option<fs::File> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(f) = fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
        {
            // Back to blocking writes now that the reader is there.
            // SAFETY: test; fcntl on a valid fd.
            unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&f), libc::F_SETFL, 0) };
            return Some(f);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn layer_blob(env: &Env, diff_ids: &[Digest]) -> Vec<PathBuf> {
    // The manifest lists the blobs in layer order; find them through ct-unpack's own reader.
    let layout = env.layout();
    let (_, desc) = layout.refs().unwrap().into_iter().next().unwrap();
    let m: serde_json::Value = layout
        .read_json(&desc.digest().to_string().parse().unwrap())
        .unwrap();
    assert_eq!(m["layers"].as_array().unwrap().len(), diff_ids.len());
    m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| layout.blob_path(&l["digest"].as_str().unwrap().parse().unwrap()))
        .collect()
}

#[test]
fn a_killed_unpack_leaves_no_layer_and_no_bundle() {
    let env = Env::new();
    let tar = many_files("d", 1000);
    let diff_id = Digest::of(&tar);
    Image::new()
        .layer(tar, Compression::Gzip)
        .write(&env.layout(), "localhost/big:1");
    let blob = layer_blob(&env, std::slice::from_ref(&diff_id)).remove(0);
    let bytes = fifo_instead_of(&blob);

    for (flat, id) in [(false, "o"), (true, "f")] {
        let mut cmd = env.cmd();
        cmd.args(["--id", id, "localhost/big:1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if flat {
            cmd.arg("--flat");
        }
        let mut child = KillOnDrop(cmd.spawn().unwrap());
        let mut w =
            writer_when_read(&blob, Duration::from_secs(20)).expect("ct-unpack opens the blob");
        // Half the blob, then wait until files are being written, then kill.
        w.write_all(&bytes[..bytes.len() / 2]).unwrap();
        let partial = if flat {
            env.store.containers()
        } else {
            env.store.layers_tmp()
        };
        let started = wait_until(Duration::from_secs(20), || {
            fs::read_dir(&partial)
                .map(|rd| rd.count() > 0)
                .unwrap_or(false)
        });
        assert!(started, "extraction started");
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        drop(w);
        assert!(
            !env.store.layer(&diff_id).exists(),
            "no half layer in the store"
        );
        assert!(!env.store.bundle(id).exists(), "no half bundle");
    }
    // Garbage is only in the temp places...
    assert!(env.layer_tmp_entries() > 0);
    // ...and the next runs clean it up and succeed.
    restore(&blob, &bytes);
    let b = env.unpack(&["--id", "o", "localhost/big:1"]);
    assert_eq!(env.layer_tmp_entries(), 0);
    assert_eq!(
        fs::read_dir(env.store.layer(&diff_id).join("d"))
            .unwrap()
            .count(),
        1000
    );
    assert!(b.join("config.json").is_file());
    let b = env.unpack(&["--flat", "--id", "f", "localhost/big:1"]);
    assert_eq!(fs::read_dir(b.join("rootfs/d")).unwrap().count(), 1000);
    let hidden: Vec<_> = fs::read_dir(env.store.containers())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}

#[test]
fn a_layer_reaches_the_disk_while_it_is_still_being_extracted() {
    // zstd too: a layer streams through its decoder, with no temp file of the whole blob.
    for compression in [Compression::Gzip, Compression::Zstd] {
        let env = Env::new();
        if !delays_allocation(&env.store.root) {
            eprintln!("skipped: the test store's file system does not delay allocation");
            return;
        }
        written_back_while_extracting(&env, compression);
    }
}

fn written_back_while_extracting(env: &Env, compression: Compression) {
    // A large file first, then more (compressible: the decompressor hands over whole 1 MiB
    // chunks, so 2 MiB follow); the blob is fed all but its last bytes and then held, so the
    // extraction is still running while the large file is complete.
    let mut t = TarBuilder::new()
        .file("big", 0o644, &noise(2 << 20, 0))
        .file("pad", 0o644, &[b'x'; 2 << 20]);
    for i in 0..500 {
        t = t.file(
            &format!("small/f{i}"),
            0o644,
            format!("file {i}").as_bytes(),
        );
    }
    let tar = t.finish();
    let diff_ids = vec![Digest::of(&tar)];
    Image::new()
        .layer(tar, compression)
        .write(&env.layout(), "localhost/slow:1");
    let blob = layer_blob(env, &diff_ids).remove(0);
    let bytes = fifo_instead_of(&blob);
    let mut child = KillOnDrop(
        env.cmd()
            .args(["--id", "slow", "localhost/slow:1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut w = writer_when_read(&blob, Duration::from_secs(20)).expect("ct-unpack opens the blob");
    let held = 64;
    w.write_all(&bytes[..bytes.len() - held]).unwrap();
    let tmp = env.store.layers_tmp();
    let big = || -> Option<PathBuf> {
        let d = fs::read_dir(&tmp)
            .ok()?
            .flatten()
            .next()?
            .path()
            .join("big");
        (fs::metadata(&d).ok()?.len() == 2 << 20).then_some(d)
    };
    assert!(
        wait_until(Duration::from_secs(20), || big().is_some()),
        "the large file is extracted: {:?} {:?}",
        child.0.try_wait(),
        fs::read_dir(&tmp).map(|r| r.flatten().map(|e| e.path()).collect::<Vec<_>>())
    );
    let big = big().unwrap();
    // The kernel's own flusher would wait 30 s (vm.dirty_expire_centisecs); the extraction
    // still waits for its last bytes all along.
    let on_disk = wait_until(Duration::from_secs(10), || written_back(&big) == Some(true));
    assert!(child.0.try_wait().unwrap().is_none(), "still extracting");
    assert!(
        on_disk,
        "the data extracted so far is on the disk before the layer ends"
    );
    w.write_all(&bytes[bytes.len() - held..]).unwrap();
    drop(w);
    let status = wait_with_limit(&mut child.0, Duration::from_secs(30));
    assert_eq!(status, Some(0));
    assert!(env.store.layer(&diff_ids[0]).join("big").is_file());
}

#[test]
fn independent_layers_are_extracted_in_parallel() {
    let env = Env::new();
    let a = many_files("a", 50);
    let b = many_files("b", 50);
    let ids = [Digest::of(&a), Digest::of(&b)];
    Image::new()
        .layer(a, Compression::Gzip)
        .layer(b, Compression::Zstd)
        .write(&env.layout(), "localhost/two:1");
    let blobs = layer_blob(&env, &ids);
    let contents: Vec<Vec<u8>> = blobs.iter().map(|p| fifo_instead_of(p)).collect();
    let mut cmd = env.cmd();
    cmd.args(["--id", "p", "localhost/two:1"])
        .stdout(Stdio::null());
    let mut child = KillOnDrop(cmd.spawn().unwrap());
    // Both blobs have a reader before a single byte was written to either.
    let w0 = writer_when_read(&blobs[0], Duration::from_secs(20));
    let w1 = writer_when_read(&blobs[1], Duration::from_secs(20));
    assert!(
        w0.is_some() && w1.is_some(),
        "both layers were opened at the same time"
    );
    let writers: Vec<_> = [w0, w1]
        .into_iter()
        .zip(contents.clone())
        .map(|(w, c)| {
            std::thread::spawn(move || {
                let mut w = w.unwrap();
                w.write_all(&c).unwrap();
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let st = child.0.wait().unwrap();
    assert!(st.success());
    for (p, c) in blobs.iter().zip(&contents) {
        restore(p, c);
    }
    for id in &ids {
        assert!(env.store.layer(id).is_dir());
    }
}

/// Two ct-unpacks of one image at once: the second waits on the layer's lock and finds the
/// layer done, instead of extracting it a second time (with the blob a FIFO, a second reader
/// would steal half the bytes and fail both).
#[test]
fn concurrent_unpacks_extract_a_layer_once() {
    let env = Env::new();
    let tar = many_files("c", 200);
    let diff_id = Digest::of(&tar);
    Image::new()
        .layer(tar, Compression::Gzip)
        .write(&env.layout(), "localhost/conc:1");
    let blob = layer_blob(&env, std::slice::from_ref(&diff_id)).remove(0);
    let bytes = fifo_instead_of(&blob);
    let spawn = |id: &str| {
        let mut c = env.cmd();
        c.args(["--id", id, "localhost/conc:1"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        KillOnDrop(c.spawn().unwrap())
    };
    let mut a = spawn("a");
    let mut w = writer_when_read(&blob, Duration::from_secs(20)).expect("the first opens the blob");
    let mut b = spawn("b");
    // Give the second one time to reach the layer (and block on its lock).
    std::thread::sleep(Duration::from_millis(500));
    w.write_all(&bytes).unwrap();
    drop(w);
    for (name, child) in [("a", &mut a), ("b", &mut b)] {
        let out = wait_with_limit(&mut child.0, Duration::from_secs(60));
        assert_eq!(out, Some(0), "ct-unpack {name}");
    }
    restore(&blob, &bytes);
    assert_eq!(env.layer_dirs(), vec![env.store.layer(&diff_id)]);
    assert_eq!(env.layer_tmp_entries(), 0);
    assert!(env.store.bundle("a").join("config.json").is_file());
    assert!(env.store.bundle("b").join("config.json").is_file());
}

fn wait_with_limit(child: &mut Child, limit: Duration) -> Option<i32> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}
