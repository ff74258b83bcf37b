//! `--console-socket PATH`: handing the container's terminal to the caller over a unix
//! socket, as runc does for conmon, containerd-shim and `kubectl exec -it` (unix(7),
//! `SCM_RIGHTS` in cmsg(3)).
//!
//! A runtime that `create`s and exits cannot copy the terminal's bytes itself. So it opens
//! the pty (see [`crate::pty`]), connects to the caller's `SOCK_STREAM` socket, and sends one
//! message whose payload is the slave's name (`/dev/pts/N`, runc sends the same) and whose
//! ancillary data passes the *master* fd: the kernel installs a copy of it in the receiving
//! process. Then ct-exec closes its own copy; the caller owns the terminal.

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

#[derive(Debug, thiserror::Error)]
#[error("cannot send the terminal to console socket '{path}'")]
pub struct ConsoleSocketError {
    pub path: String,
    #[source]
    pub source: io::Error,
}

/// Send `master` (named `slave_name` in the message) to the socket at `path`.
pub fn send(path: &Path, master: OwnedFd, slave_name: &Path) -> Result<(), ConsoleSocketError> {
    let err = |source: io::Error| ConsoleSocketError {
        path: ct_layout::pipe::quote(path.as_os_str().as_encoded_bytes()),
        source,
    };
    let sock = UnixStream::connect(path).map_err(err)?;
    let name = slave_name.as_os_str().as_encoded_bytes();
    let fds = [master.as_raw_fd()];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(name)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| err(e.into()))?;
    Ok(())
}
