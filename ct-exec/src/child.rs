//! What the container's first process does between `clone(2)` and `execve(2)`, in order.
//! Each step is one small module; this file is the table of contents.
//!
//!  1. namespaces: join the `path` ones; on the slow path create the new ones now (`unshare`)
//!  2. handshake, when the parent has work to do now that we exist (uid/gid maps, prestart
//!     and createRuntime hooks): tell it "ready", wait for "go" (dumpable meanwhile when a
//!     user writes the maps, [`crate::user_ns`])
//!  3. user namespace: become its root (`setresuid(0)`)
//!  4. cgroup namespace: `unshare(CLONE_NEWCGROUP)`, now that we are in our cgroup
//!  5. slow path only: `fork` into the new pid/time namespace; the parent half exits
//!  6. session: `setsid(2)`, always: the host's terminal, if fd 0 is one, is no controlling
//!     terminal of the container (TIOCSTI into it fails); with `-t`, after step 9, a pty of
//!     the container's own devpts becomes the controlling terminal and fds 0 1 2
//!     ([`crate::console`])
//!  7. hostname, domainname (uts namespace)
//!  8. `oom_score_adj`
//!  9. root filesystem: propagation, rootfs bind, the mounts list, devices, `/dev/console`,
//!     `pivot_root`, sysctl, maskedPaths, readonlyPaths, read-only root
//! 10. working directory
//! 11. rlimits
//! 12. credentials: bounding set, groups, gid, uid, capabilities, umask, no_new_privs —
//!     except that without `noNewPrivileges` the seccomp filter goes in first (as runc does):
//!     the kernel only accepts a filter from a process with no_new_privs or CAP_SYS_ADMIN, and
//!     CAP_SYS_ADMIN is usually gone once capabilities are dropped. The profile must then
//!     allow what follows (docker's does: capset, setresuid, setgroups, prctl, execve).
//! 13. `--init`: fork; PID 1 stays behind as the init
//! 14. find the command in PATH; `create`: say "created" and wait for `start`
//!     ([`crate::exec_fifo`]); the `startContainer` hooks ([`crate::hooks`])
//! 15. seccomp filter, with `noNewPrivileges` (the very last thing: after it, even ct-exec's
//!     own syscalls are filtered)
//! 16. restore the signal mask and SIGPIPE, let the passed fds (`--preserve-fds`,
//!     `LISTEN_FDS`) survive exec, `execve` (which also makes the process dumpable again:
//!     ct-exec is not, from its start, see [`crate::cloned_binary`])
//!
//! Any failure is sent to the parent as `E<code> <message>` and the process exits with code.

use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use nix::sys::signal::SigSet;
use nix::unistd::{fork, ForkResult};

use crate::oci_config::Plan;
use crate::rootfs_path::Rootfs;
use crate::{credentials, devices, exec, init, masked_paths, mounts, namespaces, pivot_root};
use crate::{rlimits, sync_socket, sysctl, user_ns};

/// Installs the seccomp filter (built in the parent, where errors are reported early).
pub type SeccompInstall<'a> = &'a dyn Fn() -> Result<(), String>;

pub struct ChildArgs<'a> {
    pub plan: &'a Plan,
    pub sock: RawFd,
    pub pty_slave: Option<(RawFd, PathBuf)>,
    pub old_mask: SigSet,
    pub init: bool,
    pub seccomp: Option<SeccompInstall<'a>>,
    /// fds 3..3+N that reach the command.
    pub pass_fds: crate::fds::Passed,
    /// `create`: the exec fifo to wait on before `execve` ([`crate::exec_fifo`]).
    pub start_fifo: Option<RawFd>,
    /// Step 2 waits for the parent: it has uid/gid maps to write or prestart/createRuntime
    /// hooks to run. Without either, the handshake's two wake-ups (~0.15 ms) are skipped.
    pub wait_placed: bool,
    /// The pty's master went to a `--console-socket`: the process stays on that pty.
    pub console_socket: bool,
    /// The container's State for its createContainer and startContainer hooks
    /// ([`crate::hooks`]); `None` for `exec`, which runs none.
    pub hook_state: Option<&'a serde_json::Value>,
}

pub(crate) fn fail(sock: RawFd, code: i32, msg: &str) -> ! {
    let _ = sync_socket::send(sock, format!("E{code} {msg}").as_bytes());
    exit_now(code)
}

/// `_exit(2)`: end this process at once, skipping destructors and atexit handlers, which
/// belong to the copy of the program it was forked from.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit takes an integer and never returns; nothing is left half-done in Rust's
    // view, since no destructor runs afterwards.
    unsafe { libc::_exit(code) }
}

fn chain(e: &dyn std::error::Error) -> String {
    ct_layout::pipe::chain(e)
}

/// The child's whole life. Never returns.
pub fn main(a: ChildArgs) -> ! {
    let sock = a.sock;
    match setup(&a) {
        Ok(never) => match never {},
        Err((code, msg)) => fail(sock, code, &msg),
    }
}

pub(crate) type Step<T> = Result<T, (i32, String)>;

pub(crate) fn own<E: std::error::Error>(e: E) -> (i32, String) {
    (125, chain(&e))
}

fn setup(a: &ChildArgs) -> Step<std::convert::Infallible> {
    let p = a.plan;
    let ns = &p.ns;

    // 1.
    namespaces::join_all(&ns.joins).map_err(own)?;
    if ns.slow {
        namespaces::unshare(ns.new_flags & !libc::CLONE_NEWPID).map_err(own)?;
    }

    // 2. Dumpable while an unprivileged parent writes the maps: a non-dumpable process's
    // /proc files belong to the host's root, closed to that parent and to newuidmap (runc
    // does the same). A privileged parent needs no such window.
    let set_dumpable = |on: bool| {
        let r = match on {
            true => crate::cloned_binary::dumpable(),
            false => crate::cloned_binary::not_dumpable(),
        };
        r.map_err(|e| (125, format!("prctl: {e}")))
    };
    if p.maps_by_user {
        set_dumpable(true)?;
    }
    if a.wait_placed {
        sync_socket::send(a.sock, b"R").map_err(|e| (125, format!("handshake: {e}")))?;
        let go = sync_socket::recv(a.sock);
        match go.as_deref() {
            Ok(b"G") => {}
            // The parent gave up (and reported why): leave quietly.
            _ => exit_now(125),
        }
    }
    if p.maps_by_user {
        set_dumpable(false)?;
    }

    // What a `cgroup` mount will show: our cgroups, now that the parent has placed us, and
    // before a cgroup namespace makes the paths relative.
    let cgroups = if ns.mount && p.mounts.iter().any(|m| m.typ == "cgroup") {
        mounts::CgroupView::read(ns.new_cgroup)
    } else {
        mounts::CgroupView::None
    };

    // 3.
    if ns.new_user {
        user_ns::become_root().map_err(|e| {
            (
                125,
                format!("cannot become root in the user namespace: {e}"),
            )
        })?;
        // Alone in namespaces of its own, nothing in them can ptrace it; non-dumpable, its
        // /proc/self files would belong to the host's root and be closed to it (runc does the
        // same).
        if ns.joins.is_empty() {
            crate::cloned_binary::dumpable().map_err(|e| (125, format!("prctl: {e}")))?;
        }
    }

    // 4.
    if ns.new_cgroup {
        namespaces::unshare(libc::CLONE_NEWCGROUP).map_err(own)?;
    }

    // 5.
    if ns.slow && (ns.new_pid || ns.pid_joined || ns.new_time) {
        let mut f = 0;
        if ns.new_pid {
            f |= libc::CLONE_NEWPID;
        }
        if ns.new_time {
            f |= namespaces::flag(oci_spec::runtime::LinuxNamespaceType::Time);
        }
        namespaces::unshare(f).map_err(own)?;
        for (clock, v) in &p.time_offsets {
            crate::procfs::write("self/timens_offsets", format!("{clock} {v}").as_bytes())
                .map_err(|e| (125, format!("cannot set time offset {clock} {v}: {e}")))?;
        }
        // SAFETY: this process is single-threaded; the child only continues this setup.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                // Go on once the parent has reaped the intermediate that forked us.
                match sync_socket::recv(a.sock).as_deref() {
                    Ok(b"G") => {}
                    _ => exit_now(125),
                }
            }
            Ok(ForkResult::Parent { child }) => {
                let _ = sync_socket::send(a.sock, format!("P{child}").as_bytes());
                exit_now(0)
            }
            Err(e) => return Err((125, format!("cannot fork into the new pid namespace: {e}"))),
        }
    }

    // 6.
    new_session()?;

    // 7.
    if let Some(h) = &p.hostname {
        nix::unistd::sethostname(h)
            .map_err(|e| (125, format!("cannot set hostname '{h}': {e}")))?;
    }
    if let Some(d) = &p.domainname {
        rustix::system::setdomainname(d.as_bytes()).map_err(|e| {
            let e = std::io::Error::from(e);
            (125, format!("cannot set domainname '{d}': {e}"))
        })?;
    }

    // 8.
    if let Some(adj) = p.oom_score_adj {
        crate::procfs::write("self/oom_score_adj", adj.to_string().as_bytes()).map_err(|e| {
            (
                125,
                format!("cannot set oomScoreAdj {adj}: {e} (lowering it needs CAP_SYS_RESOURCE)"),
            )
        })?;
    }

    // 9.
    // In a user namespace (the config's, or the user's own that ct-exec joined): device nodes
    // are bind-mounted, not made, and mounts keep the flags the kernel locked.
    let userns = ns.user || ct_layout::rootless::active();
    if ns.mount {
        rootfs(a, userns, &cgroups)?;
    } else {
        pivot_root::chroot(&p.rootfs).map_err(own)?;
    }
    // With --console-socket the caller already holds the host pty's master: keep that pty.
    if a.console_socket {
        if let Some((slave, _)) = &a.pty_slave {
            crate::pty::attach(*slave).map_err(own)?;
        }
    } else {
        crate::console::attach(a.sock, &a.pty_slave, ns.mount)?;
    }

    become_process(a)
}

/// Steps 10 to 16: from a process inside the container's namespaces and root to its command.
/// Shared with `ct-exec exec` ([`crate::nsenter`]), whose process gets here by `setns(2)`.
pub(crate) fn become_process(a: &ChildArgs) -> Step<std::convert::Infallible> {
    let p = a.plan;
    // 10.
    working_directory(&p.cwd).map_err(|e| {
        (
            125,
            format!(
                "cannot change to working directory {}: {e}",
                ct_layout::pipe::quote(p.cwd.as_os_str().as_encoded_bytes())
            ),
        )
    })?;

    // 11.
    rlimits::apply(&p.rlimits).map_err(own)?;

    // 12.
    let early_seccomp = !p.identity.no_new_privs;
    if early_seccomp {
        if let Some(install) = a.seccomp {
            install().map_err(|e| (125, e))?;
        }
    }
    // Changing uids makes a process dumpable again on some kernels and settings (commit_creds
    // resets it to fs.suid_dumpable): what was non-dumpable stays so until execve — a
    // created container's process waits here for as long as `start` takes.
    let was = rustix::process::dumpable_behavior().map_err(|e| (125, format!("prctl: {e}")))?;
    credentials::apply(&p.identity).map_err(own)?;
    if was == rustix::process::DumpableBehavior::NotDumpable {
        crate::cloned_binary::not_dumpable().map_err(|e| (125, format!("prctl: {e}")))?;
    }

    // 13.
    if a.init {
        init::block_all();
        init::set_name();
        // SAFETY: single-threaded; the child goes on to exec.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                if a.pty_slave.is_some() {
                    // The command's process group gets the terminal, so ^C reaches it.
                    let me = nix::unistd::getpid();
                    let _ = nix::unistd::setpgid(me, me);
                    let _ = nix::unistd::tcsetpgrp(rustix::stdio::stdin(), me);
                }
            }
            Ok(ForkResult::Parent { child }) => {
                // The parent must see end-of-file when the command execs: close our copy, and
                // every other fd the command's execve closes (a detached start's "ready" pipe
                // among them), or their readers wait for as long as init lives.
                let _ = nix::unistd::close(a.sock);
                init::close_exec_fds();
                // seccomp first, so init runs under the same filter as the command (already
                // in place when it went in before the credentials).
                if let (Some(install), false) = (a.seccomp, early_seccomp) {
                    let _ = install();
                }
                init::run(child)
            }
            Err(e) => return Err((125, format!("cannot fork the command from --init: {e}"))),
        }
    }

    // 14.
    let cmd = p.args[0].to_string_lossy().into_owned();
    let path = exec::path_of(&p.env);
    let prog = exec::lookup(&cmd, &path)
        .map_err(|(errno, e)| (exec::exit_code(errno), format!("cannot run '{cmd}': {e}")))?;
    let created = a.start_fifo.is_some();
    if let Some(fifo) = a.start_fifo {
        // `create` ends here: "created", then wait for `start` (crate::exec_fifo, step 2).
        // `create` has exited by the time anything can go wrong below: stderr is the only
        // place left to say it.
        sync_socket::send(a.sock, b"C").map_err(|e| (125, format!("handshake: {e}")))?;
        if let Err(e) = crate::exec_fifo::wait(fifo) {
            late_failure(125, &format!("cannot wait for start: {e}"));
        }
    }
    let hooks = crate::hooks::When::StartContainer;
    if let Err((code, msg)) =
        crate::hooks::run_in_container(p.spec.hooks().as_ref(), hooks, a.hook_state, "created")
    {
        match created {
            true => late_failure(code, &msg),
            false => return Err((code, msg)),
        }
    }

    // 15.
    if let (Some(install), false) = (a.seccomp, early_seccomp) {
        match (install(), created) {
            (Ok(()), _) => {}
            (Err(e), true) => late_failure(125, &e),
            (Err(e), false) => return Err((125, e)),
        }
    }

    // 16.
    crate::signals::restore_for_exec(&a.old_mask);
    crate::fds::pass(a.pass_fds).map_err(|e| (125, format!("cannot pass fds: {e}")))?;
    let e = exec::execve(&prog, &p.args, &p.env);
    let code = exec::exit_code(e.raw_os_error().unwrap_or(libc::EACCES));
    if created {
        late_failure(code, &format!("cannot run '{cmd}': {e}"));
    }
    Err((code, format!("cannot run '{cmd}': {e}")))
}

/// A failure after `create` has returned: one line on the container's stderr, then exit.
fn late_failure(code: i32, msg: &str) -> ! {
    let line = format!("ct-exec: {}\n", ct_layout::pipe::one_line(msg));
    let _ = nix::unistd::write(rustix::stdio::stderr(), line.as_bytes());
    exit_now(code)
}

/// Step 10: the working directory, resolved inside the container's root only (`/` is that
/// root by now): openat2 `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`, so neither a symlink nor
/// `/proc/self/fd/N` leads to a host directory; created there when missing; then `fchdir`.
fn working_directory(cwd: &Path) -> std::io::Result<()> {
    use rustix::fs::OFlags;
    let root = ct_layout::in_root::Root::open(Path::new("/"))?;
    let dir = match root.open_in(cwd, OFlags::PATH | OFlags::DIRECTORY) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => root.mkdir_all(cwd, 0o755)?,
        r => r?,
    };
    Ok(rustix::process::fchdir(&dir)?)
}

/// Step 6: a session of its own, so that no terminal of the host is its controlling
/// terminal; with `-t`, a pty becomes it once `/` is the container's ([`crate::console`]).
pub(crate) fn new_session() -> Step<()> {
    rustix::process::setsid().map_err(|e| (125, format!("cannot start a new session: {e}")))?;
    Ok(())
}

/// Step 9. Every path in the root is opened through a handle of it ([`crate::rootfs_path`]):
/// the rootfs before `pivot_root` (opened after its bind onto itself, so lookups see the
/// mounts made below it), `/` after.
fn rootfs(a: &ChildArgs, userns: bool, cgroups: &mounts::CgroupView) -> Step<()> {
    let p = a.plan;
    let root = &p.rootfs;
    pivot_root::prepare(root, p.propagation).map_err(own)?;
    let r = Rootfs::open(root).map_err(own)?;
    for m in &p.mounts {
        mounts::mount_one(&r, m, userns, cgroups).map_err(own)?;
    }
    for d in &p.devices {
        devices::create(&r, d, userns).map_err(own)?;
    }
    devices::links(&r).map_err(own)?;
    if let Some((_, slave_path)) = &a.pty_slave {
        devices::console(&r, slave_path).map_err(own)?;
    }
    drop(r);
    let hooks = crate::hooks::When::CreateContainer;
    crate::hooks::run_in_container(p.spec.hooks().as_ref(), hooks, a.hook_state, "creating")?;
    pivot_root::pivot(root, p.propagation).map_err(own)?;
    for (k, v) in &p.sysctl {
        sysctl::set(k, v).map_err(own)?;
    }
    let r = Rootfs::open(Path::new("/")).map_err(own)?;
    for m in &p.masked {
        masked_paths::mask(&r, m).map_err(own)?;
    }
    for ro in &p.readonly {
        masked_paths::readonly(&r, ro).map_err(own)?;
    }
    if p.root_readonly {
        masked_paths::remount_ro(Path::new("/")).map_err(|e| {
            (
                125,
                format!("cannot make the root filesystem read-only: {e}"),
            )
        })?;
    }
    Ok(())
}
