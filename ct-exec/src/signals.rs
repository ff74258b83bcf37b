//! Forwarding signals to the container (signal(7), signalfd(2)).
//!
//! ct-exec stays in the foreground as the container's parent, so a Ctrl-C, `kill`, or a
//! terminal resize reaches *ct-exec*; it passes them on. Steps:
//! 1. Before creating the child, block INT TERM HUP QUIT USR1 USR2 WINCH and CHLD, so none is
//!    lost or acted on by default in the window before the loop runs; open a `signalfd` for them.
//! 2. The child restores the original mask (and the default SIGPIPE that Rust's runtime set to
//!    "ignore") before `execve`: blocked and ignored signals survive exec.
//! 3. The parent's loop reads the signalfd: CHLD means "reap"; anything else is sent to the
//!    container's process with `kill(2)` (WINCH with a terminal becomes a window-size copy
//!    instead: the kernel then signals the container's foreground process group itself).
//!
//! A process that is PID 1 of its pid namespace only receives signals it has a handler for
//! (the kernel protects init). That is what `--init` is for: a real init that forwards.

use nix::sys::signal::{SigSet, SigmaskHow, Signal};

/// Signals ct-exec passes on to the container.
pub const FORWARDED: [Signal; 7] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// The forwarded signals plus SIGCHLD.
pub fn handled() -> SigSet {
    let mut s = SigSet::empty();
    for sig in FORWARDED {
        s.add(sig);
    }
    s.add(Signal::SIGCHLD);
    s
}

/// Step 1: block, returning the previous mask.
pub fn block(set: &SigSet) -> nix::Result<SigSet> {
    let mut old = SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(set), Some(&mut old))?;
    Ok(old)
}

/// Step 2, in the child just before execve.
pub fn restore_for_exec(old: &SigSet) {
    // SAFETY: resetting a disposition to SIG_DFL installs no Rust handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(old), None);
}

/// `TERM`, `SIGTERM`, `term`, `15` → the signal.
pub fn parse(s: &str) -> Option<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).ok();
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("TERM"), Some(Signal::SIGTERM));
        assert_eq!(parse("sigkill"), Some(Signal::SIGKILL));
        assert_eq!(parse("9"), Some(Signal::SIGKILL));
        assert_eq!(parse("usr1"), Some(Signal::SIGUSR1));
        assert_eq!(parse("NOPE"), None);
        assert_eq!(parse("99"), None);
    }
}
