//! Durability, tested by a simulated power cut (`ct_tests::power_cut`): the store on a small
//! ext4 whose journal commits only when asked, ct-unpack runs, and the disk is copied the
//! moment it returns — what the copy holds is what a machine losing power then would find.
//! ct-unpack reports success only once its layers and its bundle are on the disk: one
//! `syncfs(2)` for the new trees (no fsync per file), then the renames that name them, then an
//! fsync of the directories holding those names.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::Env;
use ct_layout::{Digest, Store};
use ct_tests::image::{Compression, Image, TarBuilder};
use ct_tests::power_cut::{noise, Disk};

fn layer(tag: &str, seed: u64) -> Vec<u8> {
    let mut t = TarBuilder::new()
        .dir(tag, 0o755)
        .file(&format!("{tag}/big"), 0o644, &noise(3 << 20, seed))
        .symlink(&format!("{tag}/link"), "big")
        .hardlink(&format!("{tag}/hard"), &format!("{tag}/big"));
    for i in 0..300 {
        let data = format!("{tag} {i} ").repeat(30);
        t = t.file(&format!("{tag}/d{}/f{i}", i % 7), 0o600, data.as_bytes());
    }
    t.finish()
}

/// Every entry below `want` is in `got`, of the same type, owner, mode and, for files, content.
fn same_tree(want: &Path, got: &Path) {
    let mut n = 0;
    let mut stack = vec![std::path::PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in fs::read_dir(want.join(&rel)).unwrap() {
            let rel = rel.join(e.unwrap().file_name());
            let (w, g) = (want.join(&rel), got.join(&rel));
            let wm = fs::symlink_metadata(&w).unwrap();
            let gm = fs::symlink_metadata(&g)
                .unwrap_or_else(|e| panic!("lost in the power cut: {}: {e}", g.display()));
            assert_eq!(
                (wm.mode(), wm.uid(), wm.gid(), wm.len()),
                (gm.mode(), gm.uid(), gm.gid(), gm.len()),
                "{}",
                g.display()
            );
            if wm.is_dir() {
                stack.push(rel);
            } else if wm.is_file() {
                assert!(
                    fs::read(&w).unwrap() == fs::read(&g).unwrap(),
                    "{}",
                    g.display()
                );
            }
            n += 1;
        }
    }
    assert!(n > 0, "nothing below {}", want.display());
}

#[test]
fn what_ct_unpack_reported_survives_a_power_cut_right_after() {
    let env = Env::new();
    let disk = Disk::mount(&env.store.root, &env.sb.dir.path().join("disk"), 128);
    let (a, b) = (layer("a", 1), layer("b", 2));
    let ids = [Digest::of(&a), Digest::of(&b)];
    Image::new()
        .layer(a, Compression::Gzip)
        .layer(b, Compression::Zstd)
        .write(&env.layout(), "localhost/cut:1");
    // The image stands for a pull that returned (durable); only ct-unpack's work is in question.
    rustix::fs::syncfs(fs::File::open(&env.store.root).unwrap()).unwrap();

    // The layer store and an overlay bundle; the disk is cut the moment ct-unpack returns.
    let overlay = env.unpack(&["--id", "o", "localhost/cut:1"]);
    let cut = Store::new(disk.power_cut(1), env.store.run.clone());
    for id in &ids {
        same_tree(&env.store.layer(id), &cut.layer(id));
    }
    assert_eq!(overlay, env.store.bundle("o"));
    same_tree(&overlay, &cut.bundle("o"));

    // A flat bundle: the whole image written into it.
    let flat = env.unpack(&["--flat", "--id", "f", "localhost/cut:1"]);
    let cut = Store::new(disk.power_cut(2), env.store.run.clone());
    assert_eq!(flat, env.store.bundle("f"));
    same_tree(&flat, &cut.bundle("f"));
}
