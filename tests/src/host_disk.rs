//! A block device of the host that the host's root can really open, for tests that show a
//! container cannot (device nodes, mknod(2), the device cgroup). The disk under `/` comes
//! first; a host that itself refuses it (a sandboxed VM, where even root gets EPERM) makes the
//! test use the next block device in `/sys/dev/block` that opens, so that the container's
//! EPERM is the device cgroup's doing and not the host's.

use std::ffi::CString;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// major:minor of the block device that holds `/` (0:N when `/` is not on one).
pub fn root_device() -> (u32, u32) {
    let dev = std::fs::metadata("/").expect("stat /").dev();
    let major = (((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)) as u32;
    let minor = ((dev & 0xff) | ((dev >> 12) & !0xff)) as u32;
    (major, minor)
}

/// mknod(2) a block (or character) node `path` for major:minor, mode 0600.
pub fn mknod(path: &Path, block: bool, major: u32, minor: u32) {
    let kind = if block { libc::S_IFBLK } else { libc::S_IFCHR };
    let c = CString::new(path.as_os_str().as_encoded_bytes()).expect("no NUL in path");
    // SAFETY: mknod(2) with a NUL-terminated path that lives across the call.
    let rc = unsafe { libc::mknod(c.as_ptr(), kind | 0o600, libc::makedev(major, minor)) };
    assert_eq!(
        rc,
        0,
        "mknod {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

/// The first block device (root's disk first) that this process opens read-only, as
/// major:minor.
pub fn openable_block_device() -> (u32, u32) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut candidates = vec![root_device()];
    let mut listed: Vec<(u32, u32)> = std::fs::read_dir("/sys/dev/block")
        .expect("/sys/dev/block")
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let (a, b) = n.split_once(':')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect();
    listed.sort_unstable();
    candidates.extend(listed);
    for (i, (major, minor)) in candidates.into_iter().enumerate() {
        if major == 0 {
            continue;
        }
        let node = dir.path().join(format!("dev{i}"));
        mknod(&node, true, major, minor);
        if std::fs::File::open(&node).is_ok() {
            return (major, minor);
        }
    }
    panic!("no block device on this host opens, even for root");
}
