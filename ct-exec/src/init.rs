//! `--init`: a tiny init as PID 1 of the container (like tini or docker's `--init`).
//!
//! PID 1 of a pid namespace has two duties the usual container command does not perform:
//! orphaned processes are re-parented to it, so it must `wait(2)` for them or they stay
//! zombies; and the kernel only delivers it signals it has a handler for, so a plain
//! `sleep` as PID 1 ignores SIGTERM. This init, a forked copy of ct-exec itself:
//!
//! 1. blocks every signal (so none has its default effect on PID 1) and forks the command;
//! 2. the command's process restores the original signal mask and execs;
//! 3. init closes every close-on-exec fd, as the `execve(2)` it never makes would have: ct-exec's
//!    own fds (the handshake socket, the signalfd, a pty master, a detached start's "ready"
//!    pipe) must not live as long as the container — a reader waiting for end-of-file on one
//!    would wait for the container's whole life;
//! 4. init waits with `sigwaitinfo(2)`: on SIGCHLD it reaps every exited child with
//!    `waitpid(-1, WNOHANG)`; any other signal is passed on to the command;
//! 5. when the command exits, init exits with its status (128+N for a signal N); the kernel then
//!    kills whatever is left in the namespace.

use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Step 1: block everything. Returns nothing: the caller already holds the mask to restore.
pub fn block_all() {
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_BLOCK,
        Some(&SigSet::all()),
        None,
    );
}

/// Step 3: close what `execve(2)` would close, the fds marked `FD_CLOEXEC`; the rest (stdio,
/// fds passed in on purpose) init keeps, as an exec'd init (tini) would. The open fds are listed
/// from `/proc/self/fd`; without a `/proc` in the container, every fd below the NOFILE limit is
/// tried.
pub fn close_exec_fds() {
    let listed: Option<Vec<i32>> = std::fs::read_dir("/proc/self/fd").ok().map(|rd| {
        rd.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect()
    });
    let fds = listed.unwrap_or_else(|| {
        let max = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map(|(soft, _)| soft.min(1 << 20) as i32)
            .unwrap_or(1024);
        (0..max).collect()
    });
    for fd in fds.into_iter().filter(|&fd| fd > 2) {
        // The directory fd used to list them is already closed, so F_GETFD fails on it and it
        // is skipped.
        let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD);
        if flags.is_ok_and(|f| f & libc::FD_CLOEXEC != 0) {
            let _ = nix::unistd::close(fd);
        }
    }
}

/// An exit status as a shell reports it.
pub fn status_code(s: WaitStatus) -> Option<i32> {
    match s {
        WaitStatus::Exited(_, c) => Some(c),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// Name this process `ct-init` (its `comm`, what `ps` and `/proc/1/comm` show). Called
/// before the fork, so that the command never sees PID 1 under its old name.
pub fn set_name() {
    let _ = nix::sys::prctl::set_name(c"ct-init");
}

/// Steps 4 and 5. Never returns.
pub fn run(child: Pid) -> ! {
    let all = SigSet::all();
    loop {
        let sig = match all.wait() {
            Ok(s) => s,
            Err(_) => continue,
        };
        if sig == Signal::SIGCHLD {
            loop {
                match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::StillAlive) | Err(_) => break,
                    Ok(s) if s.pid() == Some(child) => {
                        if let Some(code) = status_code(s) {
                            // Without running Rust destructors, which belong to the ct-exec
                            // this init was forked from.
                            crate::child::exit_now(code);
                        }
                    }
                    Ok(_) => {}
                }
            }
        } else {
            let _ = nix::sys::signal::kill(child, sig);
        }
    }
}
