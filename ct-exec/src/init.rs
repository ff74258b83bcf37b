//! `--init`: a tiny init as PID 1 of the container (like tini or docker's `--init`).
//!
//! PID 1 of a pid namespace has two duties the usual container command does not perform:
//! orphaned processes are re-parented to it, so it must `wait(2)` for them or they stay
//! zombies; and the kernel only delivers it signals it has a handler for, so a plain
//! `sleep` as PID 1 ignores SIGTERM. This init, a forked copy of ct-exec itself:
//!
//! 1. blocks every signal (so none has its default effect on PID 1) and forks the command;
//! 2. the command's process restores the original signal mask and execs;
//! 3. init waits with `sigwaitinfo(2)`: on SIGCHLD it reaps every exited child with
//!    `waitpid(-1, WNOHANG)`; any other signal is passed on to the command;
//! 4. when the command exits, init exits with its status (128+N for a signal N); the kernel then
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

/// An exit status as a shell reports it.
pub fn status_code(s: WaitStatus) -> Option<i32> {
    match s {
        WaitStatus::Exited(_, c) => Some(c),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// Steps 3 and 4. Never returns.
pub fn run(child: Pid) -> ! {
    // SAFETY: PR_SET_NAME copies at most 16 bytes from the NUL-terminated literal.
    unsafe {
        libc::prctl(
            libc::PR_SET_NAME,
            c"ct-init".as_ptr() as libc::c_ulong,
            0,
            0,
            0,
        )
    };
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
                            // SAFETY: _exit ends this process without running Rust destructors,
                            // which belong to the ct-exec this init was forked from.
                            unsafe { libc::_exit(code) };
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
