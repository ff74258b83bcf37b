//! The parent ↔ child handshake over a `socketpair(AF_UNIX, SOCK_SEQPACKET)` (unix(7)):
//! message boundaries come for free, and both ends are close-on-exec, so the parent reading
//! end-of-file means the container's command was executed.
//!
//! Messages, in order:
//! * child → parent `R`: "my namespaces exist": the parent writes the uid/gid maps and
//!   places the child in its cgroup;
//! * parent → child `G`: go on;
//! * child → parent `P<pid>`: on the slow path, the host pid of the forked container process;
//! * child → parent `T` with an fd (`SCM_RIGHTS`): the master of the container's own terminal
//!   (`-t`, [`crate::console`]);
//! * child → parent `E<code> <message>`: setup failed; ct-exec prints the message and exits
//!   with the code (125, or 126/127 for exec failures);
//! * child → parent `T` with a pty master fd attached (`SCM_RIGHTS`): `exec` with a terminal
//!   opened inside the container ([`crate::pty::open_in_container`]);
//! * child → parent `C`: `create`'s process is set up and waits for `start`;
//! * end of file: `execve` succeeded.

use std::io;
use std::os::fd::{AsFd, OwnedFd, RawFd};

pub fn pair() -> io::Result<(OwnedFd, OwnedFd)> {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    Ok(socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?)
}

pub fn send(fd: RawFd, msg: &[u8]) -> io::Result<()> {
    nix::sys::socket::send(fd, msg, nix::sys::socket::MsgFlags::MSG_NOSIGNAL)?;
    Ok(())
}

/// Send `msg` with `fd` attached (the receiver gets its own copy).
pub fn send_fd(sock: RawFd, msg: &[u8], fd: RawFd) -> io::Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let fds = [fd];
    sendmsg::<()>(
        sock,
        &[io::IoSlice::new(msg)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )?;
    Ok(())
}

/// One message and the fds attached to it (made close-on-exec); empty means end of file.
pub fn recv_fds(sock: impl AsFd) -> io::Result<(Vec<u8>, Vec<OwnedFd>)> {
    use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut buf = vec![0u8; 4096];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
    let mut cmsg = RecvAncillaryBuffer::new(&mut space);
    let mut iov = [io::IoSliceMut::new(&mut buf)];
    let msg =
        rustix::io::retry_on_intr(|| recvmsg(&sock, &mut iov, &mut cmsg, RecvFlags::CMSG_CLOEXEC))?;
    let mut fds = Vec::new();
    for c in cmsg.drain() {
        if let RecvAncillaryMessage::ScmRights(v) = c {
            fds.extend(v);
        }
    }
    buf.truncate(msg.bytes);
    Ok((buf, fds))
}

/// One message; an empty vector means end of file.
pub fn recv(fd: RawFd) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    loop {
        match nix::sys::socket::recv(fd, &mut buf, nix::sys::socket::MsgFlags::empty()) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
        }
    }
}
