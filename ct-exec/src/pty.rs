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
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::PathBuf;

use nix::sys::termios::{self, SetArg, Termios};

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

pub fn window_size(fd: RawFd) -> Option<libc::winsize> {
    // SAFETY: TIOCGWINSZ writes one winsize into ws.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: see above.
    if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0 {
        Some(ws)
    } else {
        None
    }
}

pub fn set_window_size(fd: RawFd, ws: &libc::winsize) {
    // SAFETY: TIOCSWINSZ reads one winsize.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, ws) };
}

/// Step 1. `size` is the console size from the config, used when stdin is no terminal.
pub fn open(size: Option<(u16, u16)>) -> Result<Pty, PtyError> {
    let ws = window_size(0).or_else(|| {
        size.map(|(rows, cols)| libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        })
    });
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
    for fd in [p.master.as_raw_fd(), p.slave.as_raw_fd()] {
        // SAFETY: setting FD_CLOEXEC on fds we own.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
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
    let m = master.as_raw_fd();
    let mut n: libc::c_uint = 0;
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCGPTN writes one c_uint; TIOCSPTLCK reads one c_int; TIOCGPTPEER returns a
    // new fd that we own; all on the fd we just opened.
    let slave = unsafe {
        if libc::ioctl(m, libc::TIOCGPTN, &mut n) != 0
            || libc::ioctl(m, libc::TIOCSPTLCK, &unlock) != 0
        {
            return Err(PtyError::Open(io::Error::last_os_error()));
        }
        let fd = libc::ioctl(
            m,
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        if fd < 0 {
            return Err(PtyError::Open(io::Error::last_os_error()));
        }
        <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd)
    };
    if let Some((rows, cols)) = size {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        set_window_size(m, &ws);
    }
    Ok(Pty {
        master,
        slave,
        slave_path: PathBuf::from(format!("/dev/pts/{n}")),
    })
}

/// Step 2, in the child, a session leader.
pub fn attach(slave: RawFd) -> Result<(), PtyError> {
    // SAFETY: ioctl/dup2 on fds this process owns.
    unsafe {
        if libc::ioctl(slave, libc::TIOCSCTTY, 0) != 0 {
            return Err(PtyError::Controlling(io::Error::last_os_error()));
        }
        for fd in 0..3 {
            if libc::dup2(slave, fd) < 0 {
                return Err(PtyError::Controlling(io::Error::last_os_error()));
            }
        }
    }
    Ok(())
}

/// Step 3: raw mode on stdin if it is a terminal; the guard restores it.
pub struct RawMode {
    saved: Option<Termios>,
}

impl RawMode {
    pub fn enter() -> RawMode {
        // SAFETY: fd 0 stays open for the life of the process.
        let stdin = unsafe { BorrowedFd::borrow_raw(0) };
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
            // SAFETY: fd 0 stays open for the life of the process.
            let stdin = unsafe { BorrowedFd::borrow_raw(0) };
            let _ = termios::tcsetattr(stdin, SetArg::TCSADRAIN, t);
        }
    }
}
