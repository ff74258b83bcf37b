//! The container's terminal from its own devpts instance, as runc's `--console-socket` does.
//!
//! A devpts mounted with `newinstance` (devpts(5); ct-unpack's config mounts `/dev/pts` so,
//! with `ptmxmode=0666`) is a private set of ptys: `/dev/ptmx` (a symlink to `pts/ptmx`) opens
//! a new pair in it and the process sees its terminal as `/dev/pts/0`, numbered from 0 for
//! this container alone — not a host pty (`/dev/pts/7`) bound onto `/dev/console`. `tty`,
//! `ps` and programs that check their terminal's name then see what they see under docker.
//! In order, in the new process, once `/` is the container's root (after `pivot_root` for a
//! run, after `setns` into its mount namespace for an exec):
//!
//! 1. open `/dev/ptmx` (`O_NOCTTY`), `unlockpt(3)`, and get the slave through the master
//!    itself (`ioctl(TIOCGPTPEER)`, Linux 4.13, pts(4)): no path is looked up twice; its number
//!    comes from `TIOCGPTN`;
//! 2. make the slave the controlling terminal and fds 0 1 2 (we lead a session of our own);
//! 3. for a run, bind it onto `/dev/console` in place of the host pty bound there before;
//! 4. send the master to ct-exec over the handshake socket: one `O` message whose ancillary
//!    data carries the fd (`SCM_RIGHTS`, unix(7)), and close our copy. ct-exec relays that
//!    master from then on, with the host pty's window size copied onto it.
//!
//! Without a devpts instance in the container (a config that mounts none), step 1 fails and
//! the host pty ct-exec opened before `clone(2)` is the terminal, as before.

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

use crate::child::{own, Step};
use crate::rootfs_path::Rootfs;

/// Step 1: a pty pair of the container's devpts instance.
fn open_pair() -> io::Result<crate::pty::Pty> {
    let flags = rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::CLOEXEC;
    let master = rustix::fs::open("/dev/ptmx", flags, rustix::fs::Mode::empty())?;
    crate::pty::peer(master)
}

/// Steps 1 to 4 for a process with a terminal (`host_slave` is the fallback from before
/// `clone`); nothing without one. `bind_console`: a run, whose `/dev/console` is to be this.
pub(crate) fn attach(
    sock: RawFd,
    host_slave: &Option<(RawFd, PathBuf)>,
    bind_console: bool,
) -> Step<()> {
    let Some((host, _)) = host_slave else {
        return Ok(());
    };
    let Ok(crate::pty::Pty {
        master,
        slave,
        slave_path,
    }) = open_pair()
    else {
        return crate::pty::attach(*host).map_err(own);
    };
    // 2.
    crate::pty::attach(slave.as_raw_fd()).map_err(own)?;
    drop(slave);
    // 3.
    if bind_console {
        let _ = rustix::mount::unmount("/dev/console", rustix::mount::UnmountFlags::DETACH);
        let root = Rootfs::open(Path::new("/")).map_err(own)?;
        crate::devices::console(&root, &slave_path).map_err(own)?;
    }
    // 4.
    let fds = [master.as_raw_fd()];
    sendmsg::<()>(
        sock,
        &[IoSlice::new(b"O")],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map_err(|e| (125, format!("cannot pass the terminal to ct-exec: {e}")))?;
    Ok(())
}

/// The window size of the pty ct-exec made (sized like its own terminal) onto the new one.
pub(crate) fn copy_size(from: &OwnedFd, to: &OwnedFd) {
    if let Some(ws) = crate::pty::window_size(from) {
        crate::pty::set_window_size(to, ws);
    }
}
