//! A Drop guard for tests that mount things: whatever is mounted at or below a directory when
//! the guard goes (a passing test, a failing assertion, a panic) is unmounted, deepest first,
//! with `umount2(MNT_DETACH)` so a busy mount cannot keep the temp dir from being removed.
//! The mounts are found in `/proc/self/mountinfo` (field 5 is the mount point, with space,
//! tab, newline and backslash written as octal escapes).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Mount points at or below `dir`, deepest first.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape(p)))
        .filter(|p| p.starts_with(dir))
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    v
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let n = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(n);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Lazily unmount everything at or below `dir` (bounded: a mount that will not go is left).
pub fn unmount_all_under(dir: &Path) {
    for _ in 0..8 {
        let ms = mounts_under(dir);
        if ms.is_empty() {
            return;
        }
        for m in ms {
            if let Ok(c) = CString::new(m.as_os_str().as_bytes()) {
                // SAFETY: NUL-terminated path; no other memory is passed.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
    }
}

/// Unmounts everything below its directory when dropped. Declare it AFTER the temp dir it
/// guards, so it drops (unmounts) before the temp dir is removed.
pub struct UnmountGuard(pub PathBuf);

impl UnmountGuard {
    pub fn new(dir: &Path) -> UnmountGuard {
        UnmountGuard(dir.to_path_buf())
    }
}

impl Drop for UnmountGuard {
    fn drop(&mut self) {
        unmount_all_under(&self.0);
    }
}
