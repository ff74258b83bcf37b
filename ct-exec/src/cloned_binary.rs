//! The runtime binary never shows itself to the container (CVE-2019-5736; runc
//! `libcontainer/exeseal/cloned_binary_linux.go`). memfd_create(2), fcntl(2) file seals,
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
//! 1. If `/proc/self/exe` is already a memfd carrying our seals, this is the copy: go on.
//! 2. Else copy `/proc/self/exe` into `memfd_create("ct-exec", MFD_CLOEXEC|MFD_ALLOW_SEALING)`,
//!    seal it (`F_SEAL_SEAL|F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_WRITE`: no write, no resize, no
//!    removal of seals, ever), and `execveat(memfd, "", AT_EMPTY_PATH)` with the same argv and
//!    environment. Step 1 ends the loop: no environment variable a caller could set decides it.
//! 3. `PR_SET_DUMPABLE 0`: the kernel refuses ptrace and `/proc/PID/{exe,mem,environ,fd}` of a
//!    non-dumpable process to anyone without CAP_SYS_PTRACE over its creator's user namespace
//!    (the host's), and every process ct-exec forks inherits it. The container's command gets
//!    the normal setting back from its own `execve(2)`.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{MemfdFlags, SealFlags};
use rustix::process::DumpableBehavior;

const SEALS: SealFlags = SealFlags::SEAL
    .union(SealFlags::SHRINK)
    .union(SealFlags::GROW)
    .union(SealFlags::WRITE);

/// Step 1.
fn is_sealed_copy(exe: &File) -> bool {
    rustix::fs::fcntl_get_seals(exe).is_ok_and(|s| s.contains(SEALS))
}

/// Steps 1 and 2: returns when this process runs from the sealed copy; re-executes otherwise.
pub fn ensure() -> io::Result<()> {
    let mut exe = File::open("/proc/self/exe")?;
    if is_sealed_copy(&exe) {
        return Ok(());
    }
    let mfd = rustix::fs::memfd_create("ct-exec", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
    let mut copy = File::from(mfd);
    io::copy(&mut exe, &mut copy)?;
    drop(exe);
    rustix::fs::fcntl_add_seals(&copy, SEALS)?;
    let args: Vec<CString> = std::env::args_os()
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
    // execveat(fd, "", AT_EMPTY_PATH) of an ELF file: the memfd being close-on-exec does not
    // matter (only a script would need it to stay open for its interpreter).
    let e = nix::unistd::fexecve(std::os::fd::AsRawFd::as_raw_fd(&copy), &args, &env);
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
