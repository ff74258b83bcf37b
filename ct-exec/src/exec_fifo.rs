//! The create/start split of the OCI lifecycle (runtime-spec `runtime.md`: "create" sets the
//! container up without running the user's program, "start" runs it), with a named pipe —
//! fifo(7), mkfifo(3) — in the container's state directory, `exec.fifo`, as runc does.
//!
//! 1. `create`, before `clone(2)`: `mkfifo` (0600, in the root-only state directory) and open
//!    it `O_RDWR`. On Linux that open never blocks, and it makes the holder both the reader
//!    and a writer of the pipe, so a read blocks until a byte arrives instead of returning
//!    end-of-file. The fd is close-on-exec and held by the container's process alone (the
//!    `create` process exits).
//! 2. The container's process, set up to its last step (credentials, seccomp, the command
//!    found), tells `create` "created" and blocks in `read(2)` on that fd — non-dumpable, so
//!    nothing in the container can ptrace it or open its `/proc/PID/fd`. Its signal mask is
//!    the command's already: `kill` of a created container ends it.
//! 3. `start`: opens the fifo `O_WRONLY|O_NONBLOCK|O_NOFOLLOW` (ENXIO when no process holds
//!    it for reading any more: it has started or is gone), checks it is a fifo, writes one
//!    byte. The waiting process reads it and calls `execve(2)`, which closes its fd.

use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags};

/// The fifo's name in the state directory.
pub const NAME: &str = "exec.fifo";

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(NAME)
}

/// Step 1.
pub fn create(state_dir: &Path) -> io::Result<OwnedFd> {
    let p = path(state_dir);
    rustix::fs::mkfifoat(rustix::fs::CWD, &p, Mode::RUSR | Mode::WUSR)?;
    let flags = OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(rustix::fs::open(&p, flags, Mode::empty())?)
}

/// Step 2, in the container's process: wait for `start`'s byte.
pub fn wait(fd: RawFd) -> io::Result<()> {
    let mut b = [0u8; 1];
    loop {
        match nix::unistd::read(fd, &mut b) {
            Ok(1) => break,
            Ok(_) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // Nothing uses our copy after the wait.
    let _ = nix::unistd::close(fd);
    Ok(())
}

/// Whether a process still waits on the fifo: `false` when it has started or is gone.
pub fn waiting(state_dir: &Path) -> bool {
    open_writer(state_dir).is_ok()
}

fn open_writer(state_dir: &Path) -> io::Result<OwnedFd> {
    let flags = OFlags::WRONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::open(path(state_dir), flags, Mode::empty())?;
    if FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode) != FileType::Fifo {
        return Err(io::Error::other("not a fifo"));
    }
    Ok(fd)
}

/// Step 3.
pub fn start(state_dir: &Path) -> io::Result<()> {
    let fd = open_writer(state_dir)?;
    match nix::unistd::write(&fd, b"0")? {
        1 => Ok(()),
        _ => Err(io::Error::from(io::ErrorKind::WriteZero)),
    }
}
