//! File descriptors across the container boundary (close_range(2), fcntl(2) `FD_CLOEXEC`).
//!
//! An fd is a capability: one that the caller left open (a shell's `7</`, a leaked pipe) and
//! that reaches the container is a door to whatever it points at on the host —
//! `/proc/self/fd/7/etc/shadow` reads the host's files, `-w /proc/self/fd/3` is a host working
//! directory. So, as runc does, only what is passed on purpose gets through:
//!
//! 1. At startup (`run`, `exec`), before ct-exec opens anything of its own: fds
//!    `3..3+N` are the ones passed on purpose — first `LISTEN_FDS` (socket activation, when
//!    `LISTEN_PID` is ct-exec's pid, as sd_listen_fds(3) and runc read them), then
//!    `--preserve-fds N` — each must be open; every other fd above 2 is closed
//!    (`close_range(3+N, ~0)`), so it does not exist, even before `execve`. The passed ones are
//!    marked close-on-exec for now, and ct-exec's own fds are all numbered above them.
//! 2. In the container's process, first thing after `clone(2)`:
//!    `close_range(3, ~0, CLOSE_RANGE_CLOEXEC)`: whatever ct-exec itself has open (the
//!    handshake socket, namespace files, a pty) stays usable until `execve` and closes there.
//! 3. Just before `execve`: close-on-exec is cleared on `3..3+N` again. The command sees
//!    `LISTEN_FDS=n` and `LISTEN_PID=1` when fds came from socket activation.

use std::io;

/// What reaches the command: fds `3..3+count`, of which the first `listen` (when some) come
/// from socket activation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Passed {
    pub count: u32,
    pub listen: u32,
}

const FIRST: u32 = 3;

fn close_range(first: u32, flags: libc::c_uint) -> io::Result<()> {
    // SAFETY: close_range(2) with integer arguments; it only closes or flags fds of this
    // process, none of which is owned by Rust code at the points this is called.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, flags) };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() != Some(libc::ENOSYS) && e.raw_os_error() != Some(libc::EINVAL) {
        return Err(e);
    }
    // Kernels before 5.9 (5.11 for CLOSE_RANGE_CLOEXEC): one fd at a time.
    let max = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(soft, _)| soft.min(1 << 20) as i32)
        .unwrap_or(1024);
    for fd in first as i32..max {
        if flags & libc::CLOSE_RANGE_CLOEXEC != 0 {
            let _ = set_cloexec(fd, true);
        } else {
            let _ = nix::unistd::close(fd);
        }
    }
    Ok(())
}

/// fcntl(2) `F_SETFD` on an fd number of this process; EBADF if it is not open.
fn set_cloexec(fd: i32, on: bool) -> io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    let flags = if on {
        FdFlag::FD_CLOEXEC
    } else {
        FdFlag::empty()
    };
    fcntl(fd, FcntlArg::F_SETFD(flags))?;
    Ok(())
}

/// How many fds socket activation passed to this process: `LISTEN_FDS` when `LISTEN_PID` is
/// our pid (the same test as sd_listen_fds(3) and runc's `activation.Files`), else 0.
pub fn listen_fds() -> u32 {
    let pid = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok());
    if pid != Some(std::process::id()) {
        return 0;
    }
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Step 1. Must run before ct-exec opens any fd of its own.
pub fn keep_only(listen: u32, preserve: u32) -> Result<Passed, String> {
    let count = listen
        .checked_add(preserve)
        .filter(|&c| c <= 1 << 20)
        .ok_or_else(|| format!("too many fds to pass ({listen} + {preserve})"))?;
    for fd in FIRST..FIRST + count {
        set_cloexec(fd as i32, true).map_err(|e| {
            let why = if fd < FIRST + listen {
                "LISTEN_FDS"
            } else {
                "--preserve-fds"
            };
            format!("{why}: fd {fd} is not open: {e}")
        })?;
    }
    close_range(FIRST + count, 0).map_err(|e| format!("cannot close inherited fds: {e}"))?;
    Ok(Passed { count, listen })
}

/// Step 2, in the container's process.
pub fn cloexec_all() -> io::Result<()> {
    close_range(FIRST, libc::CLOSE_RANGE_CLOEXEC)
}

/// Step 3: the passed fds survive `execve`.
pub fn pass(p: Passed) -> io::Result<()> {
    for fd in FIRST..FIRST + p.count {
        set_cloexec(fd as i32, false)?;
    }
    Ok(())
}
