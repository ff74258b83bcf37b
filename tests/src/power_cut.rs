//! A power cut, simulated: what a file system holds on its disk at one instant, as it would
//! come back after the machine lost power then.
//!
//! A write(2) lands in the page cache; the disk gets it only when something writes it back
//! (`fsync`, `syncfs`, or the kernel's flusher after `vm.dirty_expire_centisecs`, 30 s), and
//! ext4 makes the names (the journal) durable at its next journal commit (`commit=` seconds).
//! [`Disk`] is a small ext4 in a file, loop-mounted with a long commit interval, so that
//! nothing reaches that file unless a program asks. [`Disk::power_cut`] copies the file — the
//! disk's content at that instant, page cache excluded — and mounts the copy, which replays
//! its journal as a reboot would: a tool that claims "durable when I return" must find all of
//! its work there.
//!
//! Also: whether a file's data has reached the disk yet ([`written_back`], `filefrag`), and
//! incompressible test data ([`noise`]).

use std::path::{Path, PathBuf};
use std::process::Command;

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An ext4 file system in a file, mounted on a directory (unmount it with
/// `mounts::unmount_all_under` or the sandbox that owns the directory).
pub struct Disk {
    image: PathBuf,
    scratch: PathBuf,
}

impl Disk {
    /// Make a fresh `mib` MiB ext4 in `scratch/disk.img` and mount it on `at` (created), with
    /// journal commits every 300 s and without `auto_da_alloc` (which starts the writeback of
    /// a file truncated to 0 when it is closed): only explicit syncs make anything durable
    /// during a test.
    pub fn mount(at: &Path, scratch: &Path, mib: u64) -> Disk {
        std::fs::create_dir_all(at).unwrap();
        std::fs::create_dir_all(scratch).unwrap();
        let image = scratch.join("disk.img");
        let f = std::fs::File::create(&image).unwrap();
        f.set_len(mib << 20).unwrap();
        drop(f);
        run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image));
        run(Command::new("mount")
            .args(["-o", "loop,commit=300,noauto_da_alloc"])
            .arg(&image)
            .arg(at));
        Disk {
            image,
            scratch: scratch.to_path_buf(),
        }
    }

    /// The file system as it is on the disk NOW, after a power cut: the image copied and
    /// mounted (journal replayed) on `scratch/cut-N`, which is returned.
    pub fn power_cut(&self, n: u32) -> PathBuf {
        let copy = self.scratch.join(format!("cut-{n}.img"));
        run(Command::new("cp")
            .arg("--sparse=always")
            .arg(&self.image)
            .arg(&copy));
        let at = self.scratch.join(format!("cut-{n}"));
        std::fs::create_dir_all(&at).unwrap();
        run(Command::new("mount")
            .args(["-o", "loop"])
            .arg(&copy)
            .arg(&at));
        at
    }
}

/// Whether the data of file `path` has been written to the disk, per `filefrag -v`
/// (e2fsprogs, FIEMAP): on a file system with delayed allocation (ext4, xfs) data still only
/// in the page cache has extents flagged `delalloc`. `None` where it cannot tell (no FIEMAP).
pub fn written_back(path: &Path) -> Option<bool> {
    let out = std::process::Command::new("filefrag")
        .arg("-v")
        .arg(path)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(!String::from_utf8_lossy(&out.stdout).contains("delalloc"))
}

/// Whether [`written_back`] can tell on the file system of `dir`: a file just written there
/// shows as not written back yet.
pub fn delays_allocation(dir: &Path) -> bool {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(".delalloc-probe");
    std::fs::write(&p, vec![1u8; 64 << 10]).unwrap();
    let r = written_back(&p) == Some(false);
    let _ = std::fs::remove_file(&p);
    r
}

/// Pseudo-random bytes (incompressible, and never an all-zero block, which would be a hole).
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x: u64 = 0x9e3779b97f4a7c15 ^ seed;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    v
}
