//! Shared bits of ct-unpack's integration tests: a private store per test — the store of the
//! workspace's one [`Sandbox`], which cleans up when dropped —, running the real binary with
//! `CT_ROOT`/`CT_RUN` pointing into it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ct_layout::image_layout::ImageLayout;
use ct_layout::Store;
use ct_tests::sandbox::Sandbox;

pub struct Env {
    pub sb: Sandbox,
    pub store: Store,
}

impl Env {
    pub fn new() -> Env {
        let sb = Sandbox::with_prefix("ct-unpack-test-");
        let store = sb.store();
        Env { sb, store }
    }

    pub fn layout(&self) -> ImageLayout {
        ImageLayout::of_store(&self.store)
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ct-unpack"));
        c.env("CT_ROOT", &self.store.root)
            .env("CT_RUN", &self.store.run)
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Run and expect success; returns the bundle directory printed.
    pub fn unpack(&self, args: &[&str]) -> PathBuf {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "ct-unpack {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let s = String::from_utf8(out.stdout).unwrap();
        assert_eq!(s.lines().count(), 1, "exactly one line on stdout: {s:?}");
        PathBuf::from(s.trim_end())
    }

    /// Directories in the layer store.
    pub fn layer_dirs(&self) -> Vec<PathBuf> {
        let d = self.store.layers().join("sha256");
        let mut v: Vec<PathBuf> = match std::fs::read_dir(&d) {
            Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
            Err(_) => Vec::new(),
        };
        v.sort();
        v
    }

    /// Entries left in `layers/tmp` (must be none after any run).
    pub fn layer_tmp_entries(&self) -> usize {
        std::fs::read_dir(self.store.layers_tmp())
            .map(|rd| rd.count())
            .unwrap_or(0)
    }
}

pub fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

pub fn lgetxattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    let k = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 4096];
    // SAFETY: test helper; valid strings and buffer.
    let n = unsafe { libc::lgetxattr(c.as_ptr(), k.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}

/// A header for special entries.
pub fn header(kind: tar::EntryType, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h
}
