//! A device node's permission bits as a host-wide resource a test borrows. Whether an
//! unprivileged user may open a character device such as `/dev/net/tun` (pasta, slirp4netns)
//! or `/dev/fuse` (fuse-overlayfs) is decided by its mode bits (chmod(2)), before any
//! capability is looked at; this machine has both at 0600 where a desktop distribution has 0666.
//!
//! [`DeviceLock`] serializes the tests that depend on one device's mode, across the threads of
//! one test binary and across binaries: flock(2) on `/run/lock/ct-tests-NAME.lock` (each
//! `open` is its own open file description, so two holders in one process exclude each other
//! as well). [`DeviceOpen`] holds that lock, makes the node 0666 and puts the old mode back on
//! drop — also when the test panicked.

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The node pasta and slirp4netns open for a user-mode network.
pub const TUN: &str = "/dev/net/tun";
/// The node fuse-overlayfs opens to mount a user's overlay.
pub const FUSE: &str = "/dev/fuse";

/// The exclusive right to a device node's mode while this lives.
pub struct DeviceLock {
    _file: fs::File,
}

impl DeviceLock {
    pub fn new(dev: &str) -> DeviceLock {
        let name = dev.trim_start_matches('/').replace('/', "-");
        let file = fs::File::create(format!("/run/lock/ct-tests-{name}.lock")).unwrap();
        // SAFETY: flock(2) on a descriptor this function owns; released when it is closed.
        assert_eq!(unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) }, 0);
        DeviceLock { _file: file }
    }
}

/// `dev` open to every user (0666) while this lives; its mode restored on drop.
pub struct DeviceOpen {
    path: PathBuf,
    mode: u32,
    _lock: DeviceLock,
}

impl DeviceOpen {
    pub fn new(dev: &str) -> DeviceOpen {
        let lock = DeviceLock::new(dev);
        let path = Path::new(dev).to_path_buf();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
        DeviceOpen {
            path,
            mode,
            _lock: lock,
        }
    }
}

impl Drop for DeviceOpen {
    fn drop(&mut self) {
        let _ = fs::set_permissions(&self.path, fs::Permissions::from_mode(self.mode));
    }
}
