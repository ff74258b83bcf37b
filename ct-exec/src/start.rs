//! Steps 4 and 5 of a run (and of an `exec` into a running container), in the parent: create
//! the process and take it through the handshake until its command runs.
//!
//! Before the clone: the handshake socket ([`crate::sync_socket`]), the pty (`-t`), the
//! forwarded signals blocked and read from a signalfd(2) instead (so none is lost or handled
//! half-way while the child is set up), and `PR_SET_CHILD_SUBREAPER` (prctl(2)), so that a
//! process the child forks into a new pid namespace is re-parented to us, not to the host's
//! init. Then [`crate::clone`], and the parent answers the child's messages: `R` (write the
//! uid/gid maps, run the `createRuntime` hooks), `P` (the pid inside a new pid namespace), `T`
//! and `O` (a terminal's master, passed as an fd), `E` (a failure), until end of file (the
//! command was executed) or `C` (`create`'s process waits for `start`).

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use crate::child;
use crate::clone::{clone_child, kill_and_reap};
use crate::oci_config::Plan;
use crate::{pty, signals, sync_socket, user_ns, ExecError};

pub(crate) type Spawned = (i32, SignalFd, Option<OwnedFd>, Vec<i32>);

/// What the new process gets: the handshake socket, the pty slave (fd and path) with `-t`,
/// and the signal mask to restore before `execve`.
pub(crate) struct ChildIo {
    pub sock: RawFd,
    pub pty_slave: Option<(RawFd, PathBuf)>,
    pub old_mask: nix::sys::signal::SigSet,
}

/// Steps 4 and 5 for any process ct-exec starts (`run`, and `exec` into a running
/// container): the new process enters the cgroup `join` is open on (see [`cgroup`]), then
/// `child` runs in it and never returns; in the parent, `cloned` runs as soon as the child
/// exists (while it sets itself up on the other CPU) and `place` on the child's "ready".
/// Returns once the command has been executed.
pub(crate) fn start(
    plan: &Plan,
    clone_flags: libc::c_int,
    join: Option<&ct_cgroup::SelfJoin>,
    console: Option<&Path>,
    child: impl FnOnce(ChildIo) -> std::convert::Infallible,
    cloned: impl FnOnce(i32),
    place: impl Fn(i32) -> Result<(), ExecError>,
) -> Result<Spawned, ExecError> {
    let spawn_err = |step: &'static str| move |source: io::Error| ExecError::Spawn { step, source };
    let (psock, csock) = sync_socket::pair().map_err(spawn_err("socketpair"))?;
    let pty = match plan.terminal {
        true => Some(pty::open(plan.console_size)?),
        false => None,
    };
    let handled = signals::handled();
    let old_mask = signals::block(&handled).map_err(|e| spawn_err("sigprocmask")(e.into()))?;
    let sfd = SignalFd::with_flags(&handled, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| spawn_err("signalfd")(e.into()))?;
    let _ = nix::sys::prctl::set_child_subreaper(true);

    let into = join.and_then(|j| j.clone_into());
    let (mut pid, in_v2) = clone_child(clone_flags, into).map_err(spawn_err("clone"))?;
    if pid == 0 {
        drop(psock);
        // Everything ct-exec has open closes at the command's execve, whatever it is (the
        // cgroup's entry files too).
        if let Err(e) = crate::fds::cloexec_all() {
            child::fail(
                csock.as_raw_fd(),
                125,
                &format!("cannot mark fds close-on-exec: {e}"),
            );
        }
        if let Some(Err(e)) = join.map(|j| j.enter(in_v2)) {
            let msg = format!(
                "cannot enter the container's cgroup: {}",
                ct_layout::pipe::chain(&e)
            );
            child::fail(csock.as_raw_fd(), 125, &msg);
        }
        // The child never comes back here: `child` ends in execve or _exit.
        #[allow(unreachable_code)]
        match child(ChildIo {
            sock: csock.as_raw_fd(),
            pty_slave: pty
                .as_ref()
                .map(|p| (p.slave.as_raw_fd(), p.slave_path.clone())),
            old_mask,
        }) {}
    }
    drop(csock);
    cloned(pid);
    let mut master = match (pty, console) {
        (Some(p), Some(sock)) => {
            if let Err(e) = crate::console_socket::send(sock, p.master, &p.slave_path) {
                kill_and_reap(pid);
                return Err(e.into());
            }
            None
        }
        (p, _) => p.map(|p| p.master),
    };

    let mut container = pid;
    let mut sfd = sfd;
    let mut pending = Vec::new();
    loop {
        // Wait for the child or a signal: ^C while the container is being set up ends it.
        if let Err(e) = wait_handshake(&psock, &mut sfd, &mut pending) {
            kill_and_reap(pid);
            if container != pid {
                kill_and_reap(container);
            }
            return Err(e);
        }
        let (msg, mut fds) = sync_socket::recv_fds(&psock).map_err(spawn_err("handshake"))?;
        match msg.first() {
            Some(b'T') if fds.len() == 1 && master.is_none() => {
                let m = fds.remove(0);
                let name = PathBuf::from(String::from_utf8_lossy(&msg[1..]).into_owned());
                match console {
                    Some(sock) => {
                        if let Err(e) = crate::console_socket::send(sock, m, &name) {
                            kill_and_reap(pid);
                            return Err(e.into());
                        }
                    }
                    None => master = Some(m),
                }
                sync_socket::send(psock.as_raw_fd(), b"G").map_err(spawn_err("handshake"))?;
            }
            // A run's own terminal (crate::console) replaces the host pty.
            Some(b'O') => {
                if let (Some(new), Some(old)) = (fds.pop(), &master) {
                    crate::console::copy_size(old, &new);
                    master = Some(new);
                }
            }
            // End of file: the command runs; "C": `create`'s process waits for `start`.
            None | Some(b'C') => break,
            Some(b'R') => {
                let r = place(pid);
                if let Err(e) = r {
                    kill_and_reap(pid);
                    return Err(e);
                }
                sync_socket::send(psock.as_raw_fd(), b"G").map_err(spawn_err("handshake"))?;
            }
            Some(b'P') => {
                container = std::str::from_utf8(&msg[1..])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(pid);
                // The forking intermediate has exited: reap it before the process inside goes
                // on, so that from its first instruction only it is in the container's cgroup
                // (an unreaped zombie still counts in pids.current) and the pid is not reused
                // under our error paths.
                if container != pid {
                    let _ = waitpid(Pid::from_raw(pid), None);
                    pid = container;
                }
                sync_socket::send(psock.as_raw_fd(), b"G").map_err(spawn_err("handshake"))?;
            }
            Some(b'E') => {
                let (code, message) =
                    parse_error(&msg).unwrap_or((125, String::from_utf8_lossy(&msg).into()));
                let _ = waitpid(Pid::from_raw(pid), None);
                if container != pid {
                    let _ = waitpid(Pid::from_raw(container), None);
                }
                return Err(ExecError::Container { code, message });
            }
            Some(_) => {}
        }
    }
    Ok((container, sfd, master, pending))
}

/// Block until the handshake socket is readable. Terminating signals (INT TERM HUP QUIT)
/// abort the start; others are kept in `pending` for the relay.
fn wait_handshake(
    sock: &OwnedFd,
    sfd: &mut SignalFd,
    pending: &mut Vec<i32>,
) -> Result<(), ExecError> {
    loop {
        let mut fds = [
            PollFd::new(sock.as_fd(), PollFlags::POLLIN),
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
        ];
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
        let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
        // The socket first: once the command is executed (end of file), a signal is the
        // container's to receive, not a reason to abort.
        if ready(&fds[0]) {
            return Ok(());
        }
        if ready(&fds[1]) {
            while let Ok(Some(si)) = sfd.read_signal() {
                let sig = si.ssi_signo as i32;
                match sig {
                    libc::SIGINT | libc::SIGTERM | libc::SIGHUP | libc::SIGQUIT => {
                        return Err(ExecError::Interrupted(sig))
                    }
                    _ => pending.push(sig),
                }
            }
        }
    }
}

/// Step 5's parent work: the uid/gid maps (the child is in its cgroup already).
pub(crate) fn write_maps(plan: &Plan, pid: i32) -> Result<(), ExecError> {
    if plan.ns.new_user {
        user_ns::write_maps(pid, &plan.uid_map, &plan.gid_map)?;
    }
    Ok(())
}

/// `E<code> <message>`: the child's failure.
pub(crate) fn parse_error(m: &[u8]) -> Option<(i32, String)> {
    let s = std::str::from_utf8(m.strip_prefix(b"E")?).ok()?;
    let (code, msg) = s.split_once(' ')?;
    Some((code.parse().ok()?, msg.to_string()))
}
