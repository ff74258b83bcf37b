//! Pseudo-terminals (pty(7)) for `-t` / `process.terminal`.
//!
//! A pty is a pair: the *slave* looks like a terminal to the container's shell; whatever is
//! written to the *master* is typed on it, and what the shell prints is read from the master.
//! Steps:
//! 1. Parent: `openpty(3)` sized like ct-exec's own terminal (TIOCGWINSZ on stdin).
//! 2. Child, in the session of its own it has started (`setsid(2)`, see [`crate::child`]):
//!    `ioctl(TIOCSCTTY)` to make the slave its controlling terminal, `dup2` it onto fds 0 1 2,
//!    and bind it onto `/dev/console`.
//! 3. Parent: put its own terminal in raw mode (cfmakeraw) — no echo, no line editing, no
//!    Ctrl-C → SIGINT — so every keystroke goes to the container's terminal, which does all of
//!    that itself; the original mode is restored on exit.
//! 4. Parent: copy stdin → master and master → stdout until the container exits; on SIGWINCH
//!    copy the new size to the master (TIOCSWINSZ), and the kernel sends SIGWINCH to the
//!    container's foreground process group.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use nix::sys::termios::{self, SetArg, Termios};
use rustix::termios::Winsize;

pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
    pub slave_path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum PtyError {
    #[error("cannot open a pseudo-terminal")]
    Open(#[source] io::Error),
    #[error("cannot make the pseudo-terminal the controlling terminal")]
    Controlling(#[source] io::Error),
}

/// The size of the terminal `fd` is (TIOCGWINSZ), if it is one.
pub fn window_size(fd: impl AsFd) -> Option<Winsize> {
    rustix::termios::tcgetwinsize(fd).ok()
}

/// Resize the terminal `fd` is (TIOCSWINSZ); the kernel sends SIGWINCH to its foreground
/// process group.
pub fn set_window_size(fd: impl AsFd, ws: Winsize) {
    let _ = rustix::termios::tcsetwinsize(fd, ws);
}

fn rows_cols((rows, cols): (u16, u16)) -> Winsize {
    Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

/// Step 1. `size` is the console size from the config, used when stdin is no terminal.
pub fn open(size: Option<(u16, u16)>) -> Result<Pty, PtyError> {
    let ws = window_size(rustix::stdio::stdin()).or_else(|| size.map(rows_cols));
    let p = nix::pty::openpty(
        ws.as_ref()
            .map(|w| nix::pty::Winsize {
                ws_row: w.ws_row,
                ws_col: w.ws_col,
                ws_xpixel: w.ws_xpixel,
                ws_ypixel: w.ws_ypixel,
            })
            .as_ref(),
        None,
    )
    .map_err(|e| PtyError::Open(e.into()))?;
    let slave_path = std::fs::read_link(format!("/proc/self/fd/{}", p.slave.as_raw_fd()))
        .map_err(PtyError::Open)?;
    // Both ends close on exec; the child dup2s the slave onto 0 1 2.
    for fd in [&p.master, &p.slave] {
        let _ = rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC);
    }
    Ok(Pty {
        master: p.master,
        slave: p.slave,
        slave_path,
    })
}

/// `exec` with a terminal: a pty of the *container's* devpts instance, opened by the process
/// that has joined its mount namespace (as runc does), so that the name of the terminal
/// (`/dev/pts/N`) exists where the command looks it up. `/dev/ptmx` is resolved inside the
/// root only (openat2 `RESOLVE_IN_ROOT`), must turn out to be a pty master (`TIOCGPTN`), and
/// the slave is opened from the master itself (`TIOCGPTPEER`), by no path the container could
/// have replaced.
pub fn open_in_container(size: Option<(u16, u16)>) -> Result<Pty, PtyError> {
    use rustix::fs::OFlags;
    let root = ct_layout::in_root::Root::open(std::path::Path::new("/")).map_err(PtyError::Open)?;
    let flags = OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC;
    let master = root
        .open_in(std::path::Path::new("/dev/ptmx"), flags)
        .map_err(PtyError::Open)?;
    let pty = peer(master).map_err(PtyError::Open)?;
    if let Some(size) = size {
        set_window_size(&pty.master, rows_cols(size));
    }
    Ok(pty)
}

/// The slave of a `/dev/ptmx` master just opened: its name (`TIOCGPTN`, which also proves the
/// fd is a pty master), unlocked (`TIOCSPTLCK`), and opened through the master itself
/// (`TIOCGPTPEER`, Linux 4.13) rather than by a path.
pub fn peer(master: OwnedFd) -> io::Result<Pty> {
    use rustix::pty::{ioctl_tiocgptpeer, ptsname, unlockpt, OpenptFlags};
    let name = ptsname(&master, Vec::new())?;
    unlockpt(&master)?;
    let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
    let slave = ioctl_tiocgptpeer(&master, flags)?;
    Ok(Pty {
        master,
        slave,
        slave_path: PathBuf::from(std::ffi::OsString::from_vec(name.into_bytes())),
    })
}

/// Step 2, in the child, a session leader: the slave becomes fds 0 1 2, and (through fd 0)
/// the controlling terminal.
pub fn attach(slave: RawFd) -> Result<(), PtyError> {
    let ctl = |e: nix::Error| PtyError::Controlling(e.into());
    nix::unistd::dup2(slave, 0).map_err(ctl)?;
    rustix::process::ioctl_tiocsctty(rustix::stdio::stdin())
        .map_err(|e| PtyError::Controlling(e.into()))?;
    for fd in 1..3 {
        nix::unistd::dup2(slave, fd).map_err(ctl)?;
    }
    Ok(())
}

/// Step 3: raw mode on stdin if it is a terminal; the guard restores it.
pub struct RawMode {
    saved: Option<Termios>,
}

impl RawMode {
    pub fn enter() -> RawMode {
        let stdin = rustix::stdio::stdin();
        let Ok(saved) = termios::tcgetattr(stdin) else {
            return RawMode { saved: None };
        };
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(stdin, SetArg::TCSADRAIN, &raw);
        RawMode { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let stdin = rustix::stdio::stdin();
            let _ = termios::tcsetattr(stdin, SetArg::TCSADRAIN, t);
        }
    }
}
