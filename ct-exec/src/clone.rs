//! The container's first process: `clone(2)` with namespace flags and fork semantics, or
//! `clone3(2)` to create it straight inside its cgroup.
//!
//! With a NULL stack, clone(2) behaves like fork(2): the child runs on a copy-on-write copy of
//! the parent's memory, returning 0 where the parent gets the child's pid. The flags
//! (`CLONE_NEWNS`, `CLONE_NEWPID`, …) put the child in new namespaces at the same moment, which
//! is why this is the raw syscall and not fork(2) then unshare(2): a new pid namespace only
//! applies to children created after it. clone3(2) (Linux 5.3) takes a `struct clone_args`;
//! with `CLONE_INTO_CGROUP` (5.7) and an fd on a cgroup v2 directory, the child starts as a
//! member of that cgroup, never counted anywhere else. Neither has a safe wrapper in nix or
//! rustix, since the child's half must not touch locks another thread could hold: ct-exec is
//! single-threaded.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::sys::signal::Signal;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

/// The raw clone(2) syscall with a NULL stack: fork semantics plus namespace flags. With a v2
/// cgroup directory `into`, clone3(2) with `CLONE_INTO_CGROUP` creates the child inside it;
/// if the kernel (or a seccomp profile around ct-exec) refuses clone3, plain clone(2) does,
/// and the child enters the v2 cgroup itself. Returns the pid (0 in the child) and whether
/// the child was created in the v2 cgroup.
pub(crate) fn clone_child(flags: libc::c_int, into: Option<BorrowedFd>) -> io::Result<(i32, bool)> {
    if let Some(dir) = into {
        /// `struct clone_args` up to `cgroup` (CLONE_ARGS_SIZE_VER2, Linux 5.7).
        #[repr(C)]
        #[derive(Default)]
        struct CloneArgs {
            flags: u64,
            pidfd: u64,
            child_tid: u64,
            parent_tid: u64,
            exit_signal: u64,
            stack: u64,
            stack_size: u64,
            tls: u64,
            set_tid: u64,
            set_tid_size: u64,
            cgroup: u64,
        }
        const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
        let args = CloneArgs {
            flags: flags as u32 as u64 | CLONE_INTO_CGROUP,
            exit_signal: libc::SIGCHLD as u64,
            cgroup: dir.as_raw_fd() as u64,
            ..Default::default()
        };
        // SAFETY: as for clone below — a zero stack gives fork semantics — with `args` valid
        // for the call and its size passed along.
        let r = unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &args as *const CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            )
        };
        if r >= 0 {
            return Ok((r as i32, true));
        }
        // Out of processes or memory (a pids limit reached, for `exec`): that is the answer.
        let e = io::Error::last_os_error();
        if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::ENOMEM)) {
            return Err(e);
        }
    }
    // SAFETY: with a NULL stack the child continues on a copy-on-write copy of our stack, like
    // fork(2); ct-exec is single-threaded, so no lock can be held by a thread that is gone.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((r as i32, false))
}

/// SIGKILL a child that will not be a container after all, and reap it.
pub(crate) fn kill_and_reap(pid: i32) {
    let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
    let _ = waitpid(Pid::from_raw(pid), None);
}
