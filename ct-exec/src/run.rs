//! The parent side of `ct-exec BUNDLE`: from a bundle to a running container and back to its
//! exit status. In order:
//!
//! 1. Find the bundle, read `config.json`, name every key that is not implemented, resolve a
//!    [`Plan`]; compile the seccomp profile. Any error here leaves nothing behind.
//! 2. Claim `$CT_RUN/containers/ID` atomically (one locked directory renamed into place; see
//!    [`claim`]) and write `state.json` (`creating`).
//! 3. `-d`: fork a monitor that does the rest in its own session with output to a log file;
//!    the caller waits for "running" (or the error), prints the id and exits.
//! 4. Create the handshake socket, the pty (`-t`), block the forwarded signals, become a child
//!    subreaper (so a container process forked on the slow path is re-parented to us), and
//!    `clone(2)` with the namespace flags — the raw syscall, with fork semantics, no threads.
//! 5. Handshake: the child enters its cgroup (prepared before the clone: `cgroup.rs`); on its
//!    "ready", write the uid/gid maps, then "go"; end-of-file means the command was executed: state `running`, with pid and its start
//!    time. A terminating signal (INT TERM HUP QUIT) before that ends the start: the child is
//!    killed, the state removed, and ct-exec exits 128+N.
//! 6. Relay: signals to the container, pty bytes both ways, until the container process exits;
//!    its status becomes ours (128+N for a signal).
//! 7. Foreground: remove the state directory. Detached: the monitor records `stopped` and the
//!    exit code, for `ct-exec delete` to remove.

use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use ct_layout::bundle::Bundle;
use ct_layout::state::{self, State, Status};
use ct_layout::Store;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use rustix::fs::{FlockOperation, Mode, OFlags, RenameFlags};
use serde_json::Value;

use crate::child::{self, ChildArgs};
use crate::oci_config::{check_keys, Overrides, Plan};
use crate::{cgroup, init, pty, signals, sync_socket, user_ns, ExecError};

/// What the command line asked for, beyond the config.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Container id; default: the bundle's directory name for bundles in the store, else random.
    pub id: Option<String>,
    pub init: bool,
    pub detach: bool,
    /// Forward stdin to the terminal (`-i` with `-t`).
    pub interactive: bool,
    pub overrides: Overrides,
    /// The fds passed on purpose (`LISTEN_FDS`, `--preserve-fds`).
    pub pass_fds: crate::fds::Passed,
    /// `create`: set up, stop before `execve` and return ([`crate::exec_fifo`]).
    pub create: bool,
    /// Write the container's pid here (runc's `--pid-file`).
    pub pid_file: Option<PathBuf>,
    /// Send the terminal's master here instead of relaying it ([`crate::console_socket`]).
    pub console_socket: Option<PathBuf>,
    /// `linux.cgroupsPath` is systemd's `slice:prefix:name` (`--systemd-cgroup`).
    pub systemd_cgroup: bool,
}

/// The file in the state directory that names the container's cgroup, for the verbs that
/// act on it after the process that placed it has gone (`delete`, `kill --all`, `pause`).
pub const CGROUP_FILE: &str = "cgroup";

/// `--pid-file`: the pid, written atomically (a temp file renamed into place).
pub fn write_pid_file(path: &Path, pid: i32) -> Result<(), ExecError> {
    ct_layout::atomic::write(path, pid.to_string().as_bytes()).map_err(|source| {
        ExecError::StateDir {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// The log file of a detached container.
pub fn log_path(store: &Store, id: &str) -> PathBuf {
    store.run_containers().join(id).join("container.log")
}

/// Step 1 (reading): the config as typed spec, after naming unsupported keys.
pub fn load_config(bundle: &Bundle) -> Result<oci_spec::runtime::Spec, ExecError> {
    let path = bundle.config_path();
    let bytes = fs::read(&path).map_err(|source| ExecError::ConfigRead {
        path: path.clone(),
        source,
    })?;
    let raw: Value = serde_json::from_slice(&bytes).map_err(|source| ExecError::ConfigParse {
        path: path.clone(),
        source,
    })?;
    let (warnings, errors) = check_keys(&raw);
    if let Some(e) = errors.first() {
        return Err(ExecError::Unsupported(e.clone()));
    }
    for w in warnings {
        eprintln!("ct-exec: warning: config.json: {w}");
    }
    serde_json::from_value(raw).map_err(|source| ExecError::ConfigParse { path, source })
}

/// Removes the state directory when dropped, unless disarmed. Holds the directory's lock
/// (an flock on the directory itself) for as long as this ct-exec — the monitor, for `-d` —
/// lives: that is how a claim tells a live container from what a killed ct-exec left.
struct StateDir {
    dir: PathBuf,
    armed: bool,
    _lock: OwnedFd,
}

impl Drop for StateDir {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

pub(crate) fn open_dir(p: &Path) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(rustix::fs::open(p, flags, Mode::empty())?)
}

/// An exclusive flock(2), without waiting: false when another process holds it.
pub(crate) fn try_lock(fd: &OwnedFd) -> io::Result<bool> {
    match rustix::fs::flock(fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn same_file(fd: &OwnedFd, p: &Path) -> bool {
    match (rustix::fs::fstat(fd), rustix::fs::lstat(p)) {
        (Ok(a), Ok(b)) => (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino),
        _ => false,
    }
}

/// Step 2. The claim is one `renameat2(RENAME_NOREPLACE)` of a new, already locked directory
/// (`.ID.RANDOM`) onto `ID`: of any number of claims at the same moment exactly one wins. A
/// loser opens `ID` and tries its lock: held — a live ct-exec has it ("already exists");
/// free — it is a stopped container waiting for `delete` ("already exists"), or what a killed
/// ct-exec left: then, holding that lock (so no other claim can do the same) and having checked
/// that `ID` is still the directory it locked, it moves it aside, removes it and claims again.
fn claim(
    store: &Store,
    id: &str,
    bundle: &Path,
    plan: &Plan,
) -> Result<(State, StateDir), ExecError> {
    store
        .ensure_run("ct-exec")
        .map_err(|(path, source)| ExecError::StateDir { path, source })?;
    let base = store.run_containers();
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source: io::Error| ExecError::StateDir { path, source }
    };
    fs::create_dir_all(&base).map_err(err(&base))?;
    let dir = base.join(id);
    for _ in 0..8 {
        let tmp = base.join(format!(".{id}.{}", ct_layout::paths::new_id()));
        fs::create_dir(&tmp).map_err(err(&tmp))?;
        let lock = open_dir(&tmp);
        let mut guard = StateDir {
            dir: tmp.clone(),
            armed: true,
            _lock: lock.map_err(err(&tmp))?,
        };
        try_lock(&guard._lock).map_err(err(&tmp))?;
        let renamed = rustix::fs::renameat_with(
            rustix::fs::CWD,
            &tmp,
            rustix::fs::CWD,
            &dir,
            RenameFlags::NOREPLACE,
        );
        match renamed {
            Ok(()) => {
                guard.dir = dir;
                let mut st = State::new(id, bundle.to_path_buf());
                st.created = Some(crate::rfc3339::now());
                if let Some(a) = plan.spec.annotations() {
                    st.annotations = a.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                }
                st.update(store)?;
                return Ok((st, guard));
            }
            Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(err(&dir)(e.into())),
        }
        drop(guard);
        let old = match open_dir(&dir) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(err(&dir)(e)),
        };
        if !try_lock(&old).map_err(err(&dir))? {
            return Err(ExecError::InUse(id.into()));
        }
        if !same_file(&old, &dir) {
            continue;
        }
        // Nobody holds the lock, so whatever was "creating" it is gone; a container whose
        // ct-exec was killed may still run, though.
        match State::load(store, id).ok().map(State::refreshed) {
            Some(s) if matches!(s.status, Status::Running | Status::Created) => {
                return Err(ExecError::InUse(id.into()))
            }
            // Stopped, waiting for `delete`: a detached run's monitor recorded the exit code;
            // a `create`d container has its exec fifo.
            Some(s)
                if s.status != Status::Creating
                    && (s.exit_code.is_some() || crate::exec_fifo::path(&dir).exists()) =>
            {
                return Err(ExecError::Exists(id.into()))
            }
            _ => {}
        }
        // Left by a ct-exec that was killed: reclaim it.
        let stale = base.join(format!(".{id}.stale.{}", ct_layout::paths::new_id()));
        if fs::rename(&dir, &stale).is_ok() {
            let _ = fs::remove_dir_all(&stale);
        }
    }
    Err(ExecError::InUse(id.into()))
}

/// `ct-exec [BUNDLE]`: run the container; returns the exit status to exit with.
pub fn run(store: &Store, input: &str, o: &RunOptions) -> Result<i32, ExecError> {
    let bundle = Bundle::find(store, input)?;
    let spec = load_config(&bundle)?;
    let mut plan = Plan::new(spec, &bundle.dir, &o.overrides)?;
    if o.pass_fds.listen > 0 {
        // As runc: the command is told how many fds socket activation passed, and that they
        // are its own (the container's PID 1).
        let n = o.pass_fds.listen;
        plan.env.retain(|e| {
            !e.as_bytes().starts_with(b"LISTEN_FDS=") && !e.as_bytes().starts_with(b"LISTEN_PID=")
        });
        plan.env.extend([
            std::ffi::CString::new(format!("LISTEN_FDS={n}")).unwrap_or_default(),
            std::ffi::CString::new("LISTEN_PID=1").unwrap_or_default(),
        ]);
    }
    let plan = plan;
    let seccomp = crate::seccomp_hook::prepare(&plan.spec, store)?;
    if (o.detach || o.create) && plan.terminal && o.console_socket.is_none() {
        return Err(ExecError::Usage(
            "a detached container's terminal needs --console-socket (-t or process.terminal)"
                .into(),
        ));
    }
    let id = match &o.id {
        Some(id) if ct_layout::paths::valid_id(id) => id.clone(),
        Some(id) => return Err(ExecError::Usage(format!("invalid container id '{id}'"))),
        None if bundle.dir.parent() == Some(store.containers().as_path())
            && ct_layout::paths::valid_id(&bundle.id()) =>
        {
            bundle.id()
        }
        None => ct_layout::paths::new_id(),
    };
    let (mut st, guard) = claim(store, &id, &bundle.dir, &plan)?;
    let cg = cgroup::path_for(&plan, &id, o.systemd_cgroup)?;
    if let Some(path) = &cg {
        let file = guard.dir.join(CGROUP_FILE);
        fs::write(&file, path).map_err(|source| ExecError::StateDir { path: file, source })?;
    }
    if o.create {
        return create(store, &plan, st, guard, o, seccomp.as_deref(), cg);
    }
    if o.detach {
        return detach(store, &plan, st, guard, o, seccomp.as_deref(), cg);
    }
    let r = supervise(
        store,
        &plan,
        &mut st,
        o,
        None,
        seccomp.as_deref(),
        cg.as_deref(),
    );
    drop(guard);
    if r.is_ok() {
        let state = crate::hooks::state(&st, "stopped", None);
        crate::hooks::run_warn(&plan.spec, crate::hooks::When::Poststop, &state);
    }
    r
}

/// Step 3.
fn detach(
    store: &Store,
    plan: &Plan,
    mut st: State,
    mut guard: StateDir,
    o: &RunOptions,
    seccomp: Option<child::SeccompInstall>,
    cg: Option<String>,
) -> Result<i32, ExecError> {
    let log = log_path(store, &st.id);
    let logf = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|source| ExecError::StateDir {
            path: log.clone(),
            source,
        })?;
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| ExecError::Spawn {
            step: "pipe",
            source: e.into(),
        })?;
    // SAFETY: ct-exec is single-threaded; the monitor child only runs ct-exec's own code.
    match unsafe { nix::unistd::fork() } {
        Err(e) => Err(ExecError::Spawn {
            step: "fork the monitor",
            source: e.into(),
        }),
        Ok(nix::unistd::ForkResult::Child) => {
            drop(r);
            let _ = nix::unistd::setsid();
            if let Ok(null) = fs::File::open("/dev/null") {
                let _ = nix::unistd::dup2(null.as_raw_fd(), 0);
            }
            let _ = nix::unistd::dup2(logf.as_raw_fd(), 1);
            let _ = nix::unistd::dup2(logf.as_raw_fd(), 2);
            drop(logf);
            let res = supervise(store, plan, &mut st, o, Some(w), seccomp, cg.as_deref());
            let code = match res {
                Ok(code) => {
                    st.status = Status::Stopped;
                    st.exit_code = Some(code);
                    if st.update(store).is_ok() {
                        guard.armed = false;
                    }
                    0
                }
                Err(e) => {
                    eprintln!("ct-exec: {}", ct_layout::pipe::chain(&e));
                    e.exit_code()
                }
            };
            drop(guard);
            // Leave without unwinding into the caller's half of the program.
            child::exit_now(code)
        }
        Ok(nix::unistd::ForkResult::Parent { .. }) => {
            drop(w);
            guard.armed = false;
            let mut msg = String::new();
            let _ = fs::File::from(r).read_to_string(&mut msg);
            if msg == "ok" {
                ct_layout::pipe::emit(&st.id);
                return Ok(0);
            }
            match parse_error(msg.as_bytes()) {
                Some((code, message)) => Err(ExecError::Container { code, message }),
                None => Err(ExecError::Spawn {
                    step: "start the detached container",
                    source: io::Error::other(format!("monitor exited; see '{}'", log.display())),
                }),
            }
        }
    }
}

/// `create`: everything up to the command's `execve`, then return, leaving the container's
/// process waiting on its exec fifo for `start`, a child of our caller's subreaper.
fn create(
    store: &Store,
    plan: &Plan,
    mut st: State,
    mut guard: StateDir,
    o: &RunOptions,
    seccomp: Option<child::SeccompInstall>,
    cg: Option<String>,
) -> Result<i32, ExecError> {
    let fifo = crate::exec_fifo::create(&guard.dir).map_err(|source| ExecError::StateDir {
        path: crate::exec_fifo::path(&guard.dir),
        source,
    })?;
    let join = cg.as_deref().map(|p| cgroup::prepare(plan, p)).transpose();
    let spawned = join.map_err(ExecError::from).and_then(|join| {
        start(
            plan,
            plan.ns.clone_flags(),
            join.as_ref(),
            o.console_socket.as_deref(),
            |io| {
                child::main(ChildArgs {
                    plan,
                    sock: io.sock,
                    pty_slave: io.pty_slave,
                    old_mask: io.old_mask,
                    init: false,
                    seccomp,
                    pass_fds: o.pass_fds,
                    start_fifo: Some(fifo.as_raw_fd()),
                    console_socket: o.console_socket.is_some(),
                })
            },
            |pid| {
                write_maps(plan, pid)?;
                let state = crate::hooks::state(&st, "creating", Some(pid));
                crate::hooks::run(&plan.spec, crate::hooks::When::Create, &state)
            },
        )
    });
    drop(fifo);
    let record = |st: &mut State, pid: i32| -> Result<(), ExecError> {
        st.status = Status::Created;
        st.pid = Some(pid);
        st.pid_start = state::pid_start_time(pid);
        st.update(store)?;
        if let Some(f) = &o.pid_file {
            write_pid_file(f, pid)?;
        }
        Ok(())
    };
    let r = spawned.and_then(|(pid, ..)| match record(&mut st, pid) {
        Ok(()) => Ok(()),
        Err(e) => {
            kill_and_reap(pid);
            Err(e)
        }
    });
    if r.is_err() {
        if let Some(path) = &cg {
            cgroup::remove(path);
        }
    }
    r?;
    guard.armed = false;
    Ok(0)
}

fn parse_error(m: &[u8]) -> Option<(i32, String)> {
    let s = std::str::from_utf8(m.strip_prefix(b"E")?).ok()?;
    let (code, msg) = s.split_once(' ')?;
    Some((code.parse().ok()?, msg.to_string()))
}

/// The raw clone(2) syscall with a NULL stack: fork semantics plus namespace flags. With a v2
/// cgroup directory `into`, clone3(2) with `CLONE_INTO_CGROUP` creates the child inside it;
/// if the kernel (or a seccomp profile around ct-exec) refuses clone3, plain clone(2) does,
/// and the child enters the v2 cgroup itself. Returns the pid (0 in the child) and whether
/// the child was created in the v2 cgroup.
fn clone_child(flags: libc::c_int, into: Option<BorrowedFd>) -> io::Result<(i32, bool)> {
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

fn kill_and_reap(pid: i32) {
    let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
    let _ = waitpid(Pid::from_raw(pid), None);
}

/// Steps 4 to 6. `ready` (detached runs) gets "ok" or the error once the command runs.
fn supervise(
    store: &Store,
    plan: &Plan,
    st: &mut State,
    o: &RunOptions,
    ready: Option<OwnedFd>,
    seccomp: Option<child::SeccompInstall>,
    cg: Option<&str>,
) -> Result<i32, ExecError> {
    let r = supervise_in(store, plan, st, o, ready, seccomp, cg);
    if let Some(path) = cg {
        cgroup::remove(path);
    }
    r
}

fn supervise_in(
    store: &Store,
    plan: &Plan,
    st: &mut State,
    o: &RunOptions,
    ready: Option<OwnedFd>,
    seccomp: Option<child::SeccompInstall>,
    cg: Option<&str>,
) -> Result<i32, ExecError> {
    let report = |ready: &Option<OwnedFd>, e: &ExecError| {
        if let Some(w) = ready {
            let msg = format!("E{} {}", e.exit_code(), ct_layout::pipe::chain(e));
            let _ = nix::unistd::write(w, msg.as_bytes());
        }
    };
    let r = spawn(store, plan, st, o, seccomp, cg);
    let (container, sfd, master, pending) = match r {
        Ok(x) => x,
        Err(e) => {
            report(&ready, &e);
            return Err(e);
        }
    };
    if let Some(w) = ready {
        let _ = nix::unistd::write(&w, b"ok");
    }
    let _raw = match &master {
        Some(_) if o.interactive => Some(pty::RawMode::enter()),
        _ => None,
    };
    relay(container, sfd, master, o.interactive, pending)
}

pub(crate) type Spawned = (i32, SignalFd, Option<OwnedFd>, Vec<i32>);

/// What the new process gets: the handshake socket, the pty slave (fd and path) with `-t`,
/// and the signal mask to restore before `execve`.
pub(crate) struct ChildIo {
    pub sock: RawFd,
    pub pty_slave: Option<(RawFd, PathBuf)>,
    pub old_mask: nix::sys::signal::SigSet,
}

fn spawn(
    store: &Store,
    plan: &Plan,
    st: &mut State,
    o: &RunOptions,
    seccomp: Option<child::SeccompInstall>,
    cg: Option<&str>,
) -> Result<Spawned, ExecError> {
    let hook_st = st.clone();
    let join = cg.map(|p| cgroup::prepare(plan, p)).transpose()?;
    let spawned = start(
        plan,
        plan.ns.clone_flags(),
        join.as_ref(),
        o.console_socket.as_deref(),
        |io| {
            child::main(ChildArgs {
                plan,
                sock: io.sock,
                pty_slave: io.pty_slave,
                old_mask: io.old_mask,
                init: o.init,
                seccomp,
                pass_fds: o.pass_fds,
                start_fifo: None,
                console_socket: o.console_socket.is_some(),
            })
        },
        |pid| {
            write_maps(plan, pid)?;
            let state = crate::hooks::state(&hook_st, "creating", Some(pid));
            crate::hooks::run(&plan.spec, crate::hooks::When::Create, &state)
        },
    )?;
    st.status = Status::Running;
    st.pid = Some(spawned.0);
    st.pid_start = state::pid_start_time(spawned.0);
    st.update(store)?;
    if let Some(f) = &o.pid_file {
        write_pid_file(f, spawned.0)?;
    }
    let state = crate::hooks::state(st, "running", st.pid);
    crate::hooks::run_warn(&plan.spec, crate::hooks::When::Poststart, &state);
    Ok(spawned)
}

/// Steps 4 and 5 for any process ct-exec starts (`run`, and `exec` into a running
/// container): the new process enters the cgroup `join` is open on (see [`cgroup`]), then
/// `child` runs in it and never returns; `place` runs in the parent on the child's "ready".
/// Returns once the command has been executed.
pub(crate) fn start(
    plan: &Plan,
    clone_flags: libc::c_int,
    join: Option<&ct_cgroup::SelfJoin>,
    console: Option<&Path>,
    child: impl FnOnce(ChildIo) -> std::convert::Infallible,
    place: impl Fn(i32) -> Result<(), ExecError>,
) -> Result<Spawned, ExecError> {
    let spawn_err = |step: &'static str| move |source: io::Error| ExecError::Spawn { step, source };
    let (psock, csock) = sync_socket::pair().map_err(spawn_err("socketpair"))?;
    let pty = match plan.terminal {
        true => Some(pty::open(plan.console_size)?),
        false => None,
    };
    let handled = signals::handled();
    let old_mask = signals::block(&handled).map_err(|e| spawn_err("sigprocmask")(e.into()))?;
    let sfd = SignalFd::with_flags(&handled, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| spawn_err("signalfd")(e.into()))?;
    let _ = nix::sys::prctl::set_child_subreaper(true);

    let into = join.and_then(|j| j.clone_into());
    let (mut pid, in_v2) = clone_child(clone_flags, into).map_err(spawn_err("clone"))?;
    if pid == 0 {
        drop(psock);
        // Everything ct-exec has open closes at the command's execve, whatever it is (the
        // cgroup's entry files too).
        if let Err(e) = crate::fds::cloexec_all() {
            child::fail(
                csock.as_raw_fd(),
                125,
                &format!("cannot mark fds close-on-exec: {e}"),
            );
        }
        if let Some(Err(e)) = join.map(|j| j.enter(in_v2)) {
            let msg = format!(
                "cannot enter the container's cgroup: {}",
                ct_layout::pipe::chain(&e)
            );
            child::fail(csock.as_raw_fd(), 125, &msg);
        }
        // The child never comes back here: `child` ends in execve or _exit.
        #[allow(unreachable_code)]
        match child(ChildIo {
            sock: csock.as_raw_fd(),
            pty_slave: pty
                .as_ref()
                .map(|p| (p.slave.as_raw_fd(), p.slave_path.clone())),
            old_mask,
        }) {}
    }
    drop(csock);
    let mut master = match (pty, console) {
        (Some(p), Some(sock)) => {
            if let Err(e) = crate::console_socket::send(sock, p.master, &p.slave_path) {
                kill_and_reap(pid);
                return Err(e.into());
            }
            None
        }
        (p, _) => p.map(|p| p.master),
    };

    let mut container = pid;
    let mut sfd = sfd;
    let mut pending = Vec::new();
    loop {
        // Wait for the child or a signal: ^C while the container is being set up ends it.
        if let Err(e) = wait_handshake(&psock, &mut sfd, &mut pending) {
            kill_and_reap(pid);
            if container != pid {
                kill_and_reap(container);
            }
            return Err(e);
        }
        let (msg, mut fds) = sync_socket::recv_fds(&psock).map_err(spawn_err("handshake"))?;
        match msg.first() {
            Some(b'T') if fds.len() == 1 && master.is_none() => {
                let m = fds.remove(0);
                let name = PathBuf::from(String::from_utf8_lossy(&msg[1..]).into_owned());
                match console {
                    Some(sock) => {
                        if let Err(e) = crate::console_socket::send(sock, m, &name) {
                            kill_and_reap(pid);
                            return Err(e.into());
                        }
                    }
                    None => master = Some(m),
                }
                sync_socket::send(psock.as_raw_fd(), b"G").map_err(spawn_err("handshake"))?;
            }
            // A run's own terminal (crate::console) replaces the host pty.
            Some(b'O') => {
                if let (Some(new), Some(old)) = (fds.pop(), &master) {
                    crate::console::copy_size(old, &new);
                    master = Some(new);
                }
            }
            // End of file: the command runs; "C": `create`'s process waits for `start`.
            None | Some(b'C') => break,
            Some(b'R') => {
                let r = place(pid);
                if let Err(e) = r {
                    kill_and_reap(pid);
                    return Err(e);
                }
                sync_socket::send(psock.as_raw_fd(), b"G").map_err(spawn_err("handshake"))?;
            }
            Some(b'P') => {
                container = std::str::from_utf8(&msg[1..])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(pid);
                // The forking intermediate has exited: reap it before the process inside goes
                // on, so that from its first instruction only it is in the container's cgroup
                // (an unreaped zombie still counts in pids.current) and the pid is not reused
                // under our error paths.
                if container != pid {
                    let _ = waitpid(Pid::from_raw(pid), None);
                    pid = container;
                }
                sync_socket::send(psock.as_raw_fd(), b"G").map_err(spawn_err("handshake"))?;
            }
            Some(b'E') => {
                let (code, message) =
                    parse_error(&msg).unwrap_or((125, String::from_utf8_lossy(&msg).into()));
                let _ = waitpid(Pid::from_raw(pid), None);
                if container != pid {
                    let _ = waitpid(Pid::from_raw(container), None);
                }
                return Err(ExecError::Container { code, message });
            }
            Some(_) => {}
        }
    }
    Ok((container, sfd, master, pending))
}

/// Block until the handshake socket is readable. Terminating signals (INT TERM HUP QUIT)
/// abort the start; others are kept in `pending` for the relay.
fn wait_handshake(
    sock: &OwnedFd,
    sfd: &mut SignalFd,
    pending: &mut Vec<i32>,
) -> Result<(), ExecError> {
    loop {
        let mut fds = [
            PollFd::new(sock.as_fd(), PollFlags::POLLIN),
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                return Err(ExecError::Spawn {
                    step: "poll",
                    source: e.into(),
                })
            }
        }
        let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
        // The socket first: once the command is executed (end of file), a signal is the
        // container's to receive, not a reason to abort.
        if ready(&fds[0]) {
            return Ok(());
        }
        if ready(&fds[1]) {
            while let Ok(Some(si)) = sfd.read_signal() {
                let sig = si.ssi_signo as i32;
                match sig {
                    libc::SIGINT | libc::SIGTERM | libc::SIGHUP | libc::SIGQUIT => {
                        return Err(ExecError::Interrupted(sig))
                    }
                    _ => pending.push(sig),
                }
            }
        }
    }
}

/// Step 5's parent work: the uid/gid maps (the child is in its cgroup already).
fn write_maps(plan: &Plan, pid: i32) -> Result<(), ExecError> {
    if plan.ns.new_user {
        user_ns::write_maps(pid, &plan.uid_map, &plan.gid_map)?;
    }
    Ok(())
}

fn write_all(fd: impl AsFd, mut buf: &[u8]) -> bool {
    while !buf.is_empty() {
        match nix::unistd::write(&fd, buf) {
            Ok(n) => buf = &buf[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
    true
}

fn read_some(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    Ok(nix::unistd::read(fd, buf)?)
}

/// Step 6.
pub(crate) fn relay(
    container: i32,
    sfd: SignalFd,
    master: Option<OwnedFd>,
    interactive: bool,
    mut pending: Vec<i32>,
) -> Result<i32, ExecError> {
    let mut status = None;
    let mut master_open = master.is_some();
    let mut stdin_open = master.is_some() && interactive;
    // Only a terminal needs copying; without one the container has our fds themselves.
    let mut buf = if master.is_some() {
        vec![0u8; 64 * 1024]
    } else {
        Vec::new()
    };
    loop {
        // Signals that arrived during the handshake first, then the signalfd's.
        let mut signals = std::mem::take(&mut pending);
        while let Ok(Some(si)) = sfd.read_signal() {
            signals.push(si.ssi_signo as i32);
        }
        for sig in signals {
            if sig == libc::SIGCHLD {
                loop {
                    match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                        Ok(WaitStatus::StillAlive) | Err(_) => break,
                        Ok(s) if s.pid() == Some(Pid::from_raw(container)) => {
                            status = init::status_code(s);
                        }
                        Ok(_) => {}
                    }
                }
            } else if sig == libc::SIGWINCH && master.is_some() {
                if let (Some(ws), Some(m)) = (pty::window_size(rustix::stdio::stdin()), &master) {
                    pty::set_window_size(m, ws);
                }
            } else if let Ok(s) = Signal::try_from(sig) {
                let _ = nix::sys::signal::kill(Pid::from_raw(container), s);
            }
        }
        if let Some(code) = status {
            if let (true, Some(m)) = (master_open, &master) {
                // What the container printed last is still in the pty: drain it.
                let _ = rustix::fs::fcntl_setfl(m, rustix::fs::OFlags::NONBLOCK);
                while let Ok(n @ 1..) = read_some(m.as_raw_fd(), &mut buf) {
                    write_all(rustix::stdio::stdout(), &buf[..n]);
                }
            }
            let _ = io::stdout().flush();
            return Ok(code);
        }
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        let stdin = rustix::stdio::stdin();
        let mi = match (&master, master_open) {
            (Some(m), true) => {
                fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
                Some(fds.len() - 1)
            }
            _ => None,
        };
        let ii = if stdin_open {
            fds.push(PollFd::new(stdin, PollFlags::POLLIN));
            Some(fds.len() - 1)
        } else {
            None
        };
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                return Err(ExecError::Spawn {
                    step: "poll",
                    source: e.into(),
                })
            }
        }
        let ready = |i: Option<usize>| {
            i.and_then(|i| fds[i].revents())
                .is_some_and(|r| !r.is_empty())
        };
        let (m_ready, i_ready) = (ready(mi), ready(ii));
        drop(fds);
        if m_ready {
            if let Some(m) = &master {
                match read_some(m.as_raw_fd(), &mut buf) {
                    Ok(n @ 1..) => {
                        write_all(rustix::stdio::stdout(), &buf[..n]);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    _ => master_open = false,
                }
            }
        }
        if i_ready {
            if let Some(m) = &master {
                match read_some(0, &mut buf) {
                    Ok(n @ 1..) => {
                        write_all(m, &buf[..n]);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    _ => {
                        // End of input: type the terminal's EOF character (^D).
                        write_all(m, b"\x04");
                        stdin_open = false;
                    }
                }
            }
        }
    }
}
