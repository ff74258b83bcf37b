//! The runtime binary never shows itself to the container (CVE-2019-5736; runc
//! `libcontainer/exeseal/`). open_tree(2), mount_setattr(2), memfd_create(2) with file seals,
//! execveat(2), prctl(2) `PR_SET_DUMPABLE`.
//!
//! A process in the container can reach the ct-exec that works in it through
//! `/proc/PID/exe` (that process is in its pid namespace from `setns` to `execve`, or all the
//! time when the pid namespace is the host's), and through its own `/proc/self/exe` after
//! `execve` of a `#!/proc/self/exe` file: the kernel then runs ct-exec's binary as the
//! container's process. Open for writing, or kept as an `O_PATH` fd and reopened once ct-exec
//! has exited, that is the host's binary — the next container start runs the attacker's code
//! as root on the host. So, at startup of the verbs that enter a container (run, exec):
//!
//! 1. If `/proc/self/exe` is on a read-only mount, or is a memfd carrying our seals, this
//!    process cannot hand out a writable binary: go on. (This also ends the loop of step 2: no
//!    environment variable a caller could set decides it.)
//! 2. Else re-execute from a read-only view of the binary, with the same argv and environment
//!    (`execveat(fd, "", AT_EMPTY_PATH)`). Cheapest first, as runc ≥ 1.2 prefers its overlayfs
//!    clone to a copy:
//!    - `open_tree(/proc/self/exe, OPEN_TREE_CLONE)`: a detached bind mount of the binary
//!      file alone, in no mount namespace, made read-only with
//!      `mount_setattr(MOUNT_ATTR_RDONLY)` (only the host's mount namespace owner could undo
//!      it). Writing through it fails with EROFS, and it costs a few system calls;
//!    - where that is refused (no mount API, no CAP_SYS_ADMIN): a copy in
//!      `memfd_create("ct-exec", MFD_CLOEXEC|MFD_ALLOW_SEALING)`, sealed
//!      `F_SEAL_SEAL|F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_WRITE` (no write, no resize, no removal
//!      of seals, ever) — a few milliseconds for a few MB.
//! 3. `PR_SET_DUMPABLE 0`: the kernel refuses ptrace and `/proc/PID/{exe,mem,environ,fd}` of a
//!    non-dumpable process to anyone without CAP_SYS_PTRACE over its creator's user namespace
//!    (the host's), and every process ct-exec forks inherits it. The container's command gets
//!    the normal setting back from its own `execve(2)`.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{MemfdFlags, SealFlags, StatVfsMountFlags};
use rustix::mount::OpenTreeFlags;
use rustix::process::DumpableBehavior;

const SEALS: SealFlags = SealFlags::SEAL
    .union(SealFlags::SHRINK)
    .union(SealFlags::GROW)
    .union(SealFlags::WRITE);

/// Step 1.
fn cannot_be_written(exe: &File) -> bool {
    let ro = rustix::fs::fstatvfs(exe).is_ok_and(|v| v.f_flag.contains(StatVfsMountFlags::RDONLY));
    ro || rustix::fs::fcntl_get_seals(exe).is_ok_and(|s| s.contains(SEALS))
}

/// Step 2, first choice: a read-only detached bind mount of the binary.
fn read_only_clone() -> io::Result<OwnedFd> {
    let tree = rustix::mount::open_tree(
        rustix::fs::CWD,
        "/proc/self/exe",
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )?;
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: mount_setattr(2) reads `attr` (its size is passed) and changes only the detached
    // mount `tree` refers to.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(tree)
}

/// Step 2, fallback: a sealed copy in memory.
fn sealed_copy(exe: &mut File) -> io::Result<OwnedFd> {
    let mfd = rustix::fs::memfd_create("ct-exec", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
    let mut copy = File::from(mfd);
    io::copy(exe, &mut copy)?;
    rustix::fs::fcntl_add_seals(&copy, SEALS)?;
    Ok(copy.into())
}

/// The argv step 2 re-executes with, when it is not this process's own
/// ([`crate::rootless`] puts a bundle read from stdin on it).
static ARGV: std::sync::OnceLock<Vec<std::ffi::OsString>> = std::sync::OnceLock::new();

/// Re-execute (step 2) with `argv` instead of this process's own.
pub fn set_argv(argv: Vec<std::ffi::OsString>) {
    let _ = ARGV.set(argv);
}

/// Steps 1 and 2: returns when this process runs from a binary that cannot be written through
/// it; re-executes otherwise.
pub fn ensure() -> io::Result<()> {
    let mut exe = File::open("/proc/self/exe")?;
    if cannot_be_written(&exe) {
        return Ok(());
    }
    let view = match read_only_clone() {
        Ok(fd) => fd,
        Err(_) => sealed_copy(&mut exe)?,
    };
    drop(exe);
    let argv = ARGV.get().cloned();
    let args: Vec<CString> = argv
        .unwrap_or_else(|| std::env::args_os().collect())
        .into_iter()
        .map(|a| CString::new(a.as_bytes()).unwrap_or_default())
        .collect();
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    // execveat(fd, "", AT_EMPTY_PATH) of an ELF file: the fd being close-on-exec does not
    // matter (only a script would need it to stay open for its interpreter).
    let e = nix::unistd::fexecve(view.as_raw_fd(), &args, &env);
    Err(e.map_or_else(io::Error::from, |never| match never {}))
}

/// Step 3.
pub fn not_dumpable() -> io::Result<()> {
    rustix::process::set_dumpable_behavior(DumpableBehavior::NotDumpable)?;
    Ok(())
}

/// A process alone in a user namespace of its own switches to no other security context; as
/// runc, it stays dumpable there, or its own `/proc/self` files would belong to the host's root
/// and be closed to it.
pub fn dumpable() -> io::Result<()> {
    rustix::process::set_dumpable_behavior(DumpableBehavior::Dumpable)?;
    Ok(())
}
