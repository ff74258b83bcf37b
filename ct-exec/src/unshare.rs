//! `ct-exec unshare [-- CMD ARGS…]`: run a command inside this user's namespaces — the user
//! namespace and mount namespace of the pause process every rootless ct tool joins
//! ([`ct_layout::rootless`]) — like `podman unshare`. Inside, the user is uid 0 over the ids
//! the namespace maps, sees the overlays ct-mount made and the network namespaces ct-net
//! bind-mounted under `$CT_RUN/netns`, and may remove what ct made with other ids (an
//! image's files owned by subordinate ids). `CT_ROOT`, `CT_RUN` and `CT_ROOTLESS` are set,
//! so the ct tools the command runs do not enter again (and find the user's store, not
//! root's). As root there is nothing to enter: the command simply runs.
//!
//! A chain-loader, in the manner of unshare(1) and chroot(1): setns(2) while single-threaded,
//! then execve(2) — ct-exec is gone, the command keeps its pid and exit status. Failure
//! codes as chroot(1): 125 cannot enter, 126 cannot run the command, 127 not found.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

use ct_layout::pipe::{quote, EXIT_RUNTIME_FAILURE};

use crate::ExecError;

/// Enter, then exec `command` (default: `$SHELL`, else `/bin/sh`). Returns only on failure.
pub fn unshare(command: Vec<OsString>) -> Result<i32, ExecError> {
    ct_layout::rootless::enter("ct-exec").map_err(|e| ExecError::Container {
        code: EXIT_RUNTIME_FAILURE,
        message: format!("unshare: {}", chain(&e)),
    })?;
    let mut argv = command.into_iter().peekable();
    argv.next_if(|a| a == "--");
    let program = argv
        .next()
        .or_else(|| std::env::var_os("SHELL").filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "/bin/sh".into());
    let e = Command::new(&program).args(argv).exec();
    let code = match e.kind() {
        io::ErrorKind::NotFound => 127,
        _ => 126,
    };
    Err(ExecError::Container {
        code,
        message: format!(
            "unshare: cannot run {}: {e}",
            quote(program.as_encoded_bytes())
        ),
    })
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(&format!(": {c}"));
        cur = c.source();
    }
    s
}
