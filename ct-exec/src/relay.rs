//! Step 6 of a run or an exec: while the container's process lives, ct-exec relays.
//!
//! Signals that reach ct-exec (read from the signalfd(2) set up in [`crate::start`]) are sent
//! on to the container's process; SIGCHLD means a child changed state: reap with
//! `waitpid(WNOHANG)` until the container's process is among them, and its status is ours
//! (128+N for a signal). With a terminal, poll(2) on stdin and the pty master copies bytes
//! both ways (SIGWINCH copies the window size onto the master); end of input types the
//! terminal's EOF character (^D); once the process has exited, what is left in the pty is
//! drained before returning. With `--log-path` ([`crate::container_log`]) the container's
//! output (the two pipes, or the pty master) also goes into its log, entry by entry; the pipes
//! are drained too once it has exited — what they hold at that moment (FIONREAD), so that a
//! process left writing cannot keep the exit from being recorded.

use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::container_log::{Capture, Stream};
use crate::{init, pty, ExecError};

fn write_all(fd: impl AsFd, mut buf: &[u8]) -> bool {
    while !buf.is_empty() {
        match nix::unistd::write(&fd, buf) {
            Ok(n) => buf = &buf[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
    true
}

fn read_some(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    Ok(nix::unistd::read(fd, buf)?)
}

/// What `fd` (a pipe or the pty master) holds once the container has exited, handed to `f`:
/// read until it is empty, but no more than it held then (FIONREAD) and one buffer besides. A
/// process left behind (one in the host's PID namespace, which the init's exit does not end)
/// may write on forever, and the exit must still be recorded (its cgroup is killed next).
fn drain(fd: &OwnedFd, buf: &mut [u8], mut f: impl FnMut(&[u8])) {
    let _ = rustix::fs::fcntl_setfl(fd, rustix::fs::OFlags::NONBLOCK);
    let held = rustix::io::ioctl_fionread(fd).unwrap_or(0);
    let mut left = held.saturating_add(buf.len() as u64);
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        match read_some(fd.as_raw_fd(), &mut buf[..want]) {
            Ok(n @ 1..) => {
                f(&buf[..n]);
                left -= n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            _ => break,
        }
    }
}

/// The terminal's output: to our stdout, and into the log when there is one.
fn out(log: &mut Option<Capture>, data: &[u8]) {
    match log {
        Some(c) => c.got(Stream::Stdout, data),
        None => {
            write_all(rustix::stdio::stdout(), data);
        }
    }
}

/// Step 6.
pub(crate) fn relay(
    container: i32,
    sfd: SignalFd,
    master: Option<OwnedFd>,
    interactive: bool,
    mut pending: Vec<i32>,
    mut log: Option<Capture>,
) -> Result<i32, ExecError> {
    let mut status = None;
    let mut master_open = master.is_some();
    let mut stdin_open = master.is_some() && interactive;
    // Only a terminal or a log needs copying; else the container has our fds themselves.
    let mut buf = if master.is_some() || log.is_some() {
        vec![0u8; 64 * 1024]
    } else {
        Vec::new()
    };
    loop {
        // Signals that arrived during the handshake first, then the signalfd's.
        let mut signals = std::mem::take(&mut pending);
        while let Ok(Some(si)) = sfd.read_signal() {
            signals.push(si.ssi_signo as i32);
        }
        for sig in signals {
            if sig == libc::SIGCHLD {
                loop {
                    match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                        Ok(WaitStatus::StillAlive) | Err(_) => break,
                        Ok(s) if s.pid() == Some(Pid::from_raw(container)) => {
                            status = init::status_code(s);
                        }
                        Ok(_) => {}
                    }
                }
            } else if sig == libc::SIGWINCH && master.is_some() {
                if let (Some(ws), Some(m)) = (pty::window_size(rustix::stdio::stdin()), &master) {
                    pty::set_window_size(m, ws);
                }
            } else if let Ok(s) = Signal::try_from(sig) {
                let _ = nix::sys::signal::kill(Pid::from_raw(container), s);
            }
        }
        if let Some(code) = status {
            if let (true, Some(m)) = (master_open, &master) {
                // What the container printed last is still in the pty: drain it.
                drain(m, &mut buf, |data| out(&mut log, data));
            }
            if let Some(c) = &mut log {
                // The same for what is left in the pipes (a process of the container that
                // still holds them open is not waited for).
                for (fd, stream) in [
                    (c.out.take(), Stream::Stdout),
                    (c.err.take(), Stream::Stderr),
                ] {
                    let Some(fd) = fd else { continue };
                    drain(&fd, &mut buf, |data| c.got(stream, data));
                }
            }
            let _ = io::stdout().flush();
            return Ok(code);
        }
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        let stdin = rustix::stdio::stdin();
        let mi = match (&master, master_open) {
            (Some(m), true) => {
                fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
                Some(fds.len() - 1)
            }
            _ => None,
        };
        let ii = if stdin_open {
            fds.push(PollFd::new(stdin, PollFlags::POLLIN));
            Some(fds.len() - 1)
        } else {
            None
        };
        let (mut oi, mut ei) = (None, None);
        if let Some(c) = &log {
            for (fd, at) in [(&c.out, &mut oi), (&c.err, &mut ei)] {
                if let Some(fd) = fd {
                    fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
                    *at = Some(fds.len() - 1);
                }
            }
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                return Err(ExecError::Spawn {
                    step: "poll",
                    source: e.into(),
                })
            }
        }
        let ready = |i: Option<usize>| {
            i.and_then(|i| fds[i].revents())
                .is_some_and(|r| !r.is_empty())
        };
        let (m_ready, i_ready) = (ready(mi), ready(ii));
        let (o_ready, e_ready) = (ready(oi), ready(ei));
        drop(fds);
        if let Some(c) = &mut log {
            for (r, stream) in [(o_ready, Stream::Stdout), (e_ready, Stream::Stderr)] {
                let fd = match stream {
                    Stream::Stdout => &mut c.out,
                    Stream::Stderr => &mut c.err,
                };
                let Some(raw) = fd.as_ref().filter(|_| r).map(|f| f.as_raw_fd()) else {
                    continue;
                };
                match read_some(raw, &mut buf) {
                    Ok(n @ 1..) => c.got(stream, &buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // Every writer has closed it.
                    _ => *fd = None,
                }
            }
        }
        if m_ready {
            if let Some(m) = &master {
                match read_some(m.as_raw_fd(), &mut buf) {
                    Ok(n @ 1..) => {
                        out(&mut log, &buf[..n]);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    _ => master_open = false,
                }
            }
        }
        if i_ready {
            if let Some(m) = &master {
                match read_some(0, &mut buf) {
                    Ok(n @ 1..) => {
                        write_all(m, &buf[..n]);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    _ => {
                        // End of input: type the terminal's EOF character (^D).
                        write_all(m, b"\x04");
                        stdin_open = false;
                    }
                }
            }
        }
    }
}
