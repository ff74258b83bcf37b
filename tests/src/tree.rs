//! Snapshots of a directory tree, to compare what ct builds with what the industry tool
//! (`umoci unpack`) builds from the same image, or a tree before and after something that must
//! not change it. Every entry is read with `lstat(2)` (never following symlinks),
//! `readlink(2)`, `llistxattr(2)`/`lgetxattr(2)`, and regular files are hashed with SHA-256.
//!
//! Compared per path: type, permission bits (with setuid/setgid/sticky), owner, size, content
//! hash, link target, device numbers, xattrs, and which other paths are hardlinks of the same
//! inode. Not compared: timestamps, and overlayfs' private `trusted.overlay.*` xattrs.

use std::collections::{BTreeMap, HashMap};
use std::ffi::CString;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Fifo,
    Char,
    Block,
    Socket,
}

/// What is compared about one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    /// Permission bits including setuid, setgid and sticky (`mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Size of regular files (0 for everything else: directory sizes are filesystem detail).
    pub size: u64,
    /// SHA-256 of a regular file's content.
    pub sha256: Option<String>,
    /// A symlink's target.
    pub target: Option<PathBuf>,
    /// Device numbers of character and block devices.
    pub rdev: Option<u64>,
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// Other paths that are hardlinks of this regular file, sorted.
    pub hardlinks: Vec<PathBuf>,
}

/// A tree: relative path (`""` for the root itself) → entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tree(pub BTreeMap<PathBuf, Entry>);

fn xattrs(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return out;
    };
    let mut names = vec![0u8; 64 * 1024];
    // SAFETY: NUL-terminated path and a buffer of the stated length.
    let n = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if n <= 0 {
        return out;
    }
    for name in names[..n as usize]
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty())
    {
        let key = String::from_utf8_lossy(name).into_owned();
        if key.starts_with("trusted.overlay.") {
            continue;
        }
        let Ok(cn) = CString::new(name) else { continue };
        let mut val = vec![0u8; 64 * 1024];
        // SAFETY: NUL-terminated path and name, a buffer of the stated length.
        let m =
            unsafe { libc::lgetxattr(c.as_ptr(), cn.as_ptr(), val.as_mut_ptr().cast(), val.len()) };
        if m >= 0 {
            val.truncate(m as usize);
            out.insert(key, val);
        }
    }
    out
}

fn sha256_file(path: &Path) -> String {
    let mut f = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex(&h.finalize())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Read the whole tree under `root`.
pub fn snapshot(root: &Path) -> Tree {
    let mut tree = BTreeMap::new();
    let mut inodes: HashMap<(u64, u64), Vec<PathBuf>> = HashMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let path = if rel.as_os_str().is_empty() {
            root.to_path_buf()
        } else {
            root.join(&rel)
        };
        let md =
            fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("lstat {}: {e}", path.display()));
        let ft = md.file_type();
        let kind = if ft.is_file() {
            Kind::File
        } else if ft.is_dir() {
            Kind::Dir
        } else if ft.is_symlink() {
            Kind::Symlink
        } else if ft.is_fifo() {
            Kind::Fifo
        } else if ft.is_char_device() {
            Kind::Char
        } else if ft.is_block_device() {
            Kind::Block
        } else {
            Kind::Socket
        };
        let mut e = Entry {
            kind,
            mode: md.mode() & 0o7777,
            uid: md.uid(),
            gid: md.gid(),
            size: 0,
            sha256: None,
            target: None,
            rdev: None,
            xattrs: xattrs(&path),
            hardlinks: Vec::new(),
        };
        match kind {
            Kind::File => {
                e.size = md.len();
                e.sha256 = Some(sha256_file(&path));
                if md.nlink() > 1 {
                    inodes
                        .entry((md.dev(), md.ino()))
                        .or_default()
                        .push(rel.clone());
                }
            }
            Kind::Symlink => e.target = Some(fs::read_link(&path).unwrap()),
            // Symlinks have no meaningful mode on Linux.
            Kind::Char | Kind::Block => e.rdev = Some(md.rdev()),
            Kind::Dir => {
                for d in fs::read_dir(&path).unwrap() {
                    stack.push(rel.join(d.unwrap().file_name()));
                }
            }
            _ => {}
        }
        if kind == Kind::Symlink {
            e.mode = 0o777;
        }
        tree.insert(rel, e);
    }
    for paths in inodes.values() {
        for p in paths {
            let mut others: Vec<PathBuf> = paths.iter().filter(|o| *o != p).cloned().collect();
            others.sort();
            if let Some(e) = tree.get_mut(p) {
                e.hardlinks = others;
            }
        }
    }
    Tree(tree)
}

impl Tree {
    /// Human-readable differences, `actual` against `expected`.
    pub fn diff(&self, expected: &Tree) -> Vec<String> {
        let mut out = Vec::new();
        for (p, e) in &expected.0 {
            match self.0.get(p) {
                None => out.push(format!("missing: /{}", p.display())),
                Some(a) if a != e => out.push(format!(
                    "differs: /{}\n   got {a:?}\n  want {e:?}",
                    p.display()
                )),
                _ => {}
            }
        }
        for p in self.0.keys() {
            if !expected.0.contains_key(p) {
                out.push(format!("extra:   /{}", p.display()));
            }
        }
        out
    }

    /// Drop the root entry (its mode and owner depend on who made the directory).
    pub fn without_root(mut self) -> Tree {
        self.0.remove(Path::new(""));
        self
    }
}

/// Panic with the (first 40) differences unless the trees are the same.
pub fn assert_same(actual: &Tree, expected: &Tree, what: &str) {
    let d = actual.diff(expected);
    if !d.is_empty() {
        let n = d.len();
        let shown: Vec<String> = d.into_iter().take(40).collect();
        panic!("{what}: {n} differences:\n{}", shown.join("\n"));
    }
}
