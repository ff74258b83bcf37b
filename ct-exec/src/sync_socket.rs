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
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

pub fn pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: socketpair writes two fds into the array.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds were just created and are owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub fn send(fd: RawFd, msg: &[u8]) -> io::Result<()> {
    // SAFETY: send reads msg.len() bytes from msg.
    let r = unsafe {
        libc::send(
            fd,
            msg.as_ptr() as *const libc::c_void,
            msg.len(),
            libc::MSG_NOSIGNAL,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
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
pub fn recv_fds(sock: RawFd) -> io::Result<(Vec<u8>, Vec<OwnedFd>)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = vec![0u8; 4096];
    let mut cmsg = nix::cmsg_space!([RawFd; 4]);
    loop {
        let mut iov = [io::IoSliceMut::new(&mut buf)];
        let r = recvmsg::<()>(sock, &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC);
        let msg = match r {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(m) => m,
        };
        let mut fds = Vec::new();
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(v) = c {
                // SAFETY: the kernel installed these fds in this process for us alone.
                fds.extend(v.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
            }
        }
        let n = msg.bytes;
        buf.truncate(n);
        return Ok((buf, fds));
    }
}

/// One message; an empty vector means end of file.
pub fn recv(fd: RawFd) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: recv writes at most buf.len() bytes into buf.
        let r = unsafe { libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        buf.truncate(r as usize);
        return Ok(buf);
    }
}
