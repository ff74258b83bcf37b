//! The parent side of `ct-exec BUNDLE`: from a bundle to a running container and back to its
//! exit status. In order:
//!
//! 1. Find the bundle, read `config.json`, name every key that is not implemented, resolve a
//!    [`Plan`]; compile the seccomp profile. Any error here leaves nothing behind.
//! 2. Claim `$CT_RUN/containers/ID` atomically (one locked directory renamed into place; see
//!    [`crate::state_dir`]) and write `state.json` (`creating`).
//! 3. `-d`: fork a monitor that does the rest in its own session with output to a log file;
//!    the caller waits for "running" (or the error), prints the id and exits.
//! 4. Create the handshake socket, the pty (`-t`), block the forwarded signals, become a child
//!    subreaper (so a container process forked on the slow path is re-parented to us), and
//!    `clone(2)` with the namespace flags — the raw syscall, with fork semantics, no threads
//!    ([`crate::start`], [`crate::clone`]).
//! 5. Handshake: the child enters its cgroup (prepared before the clone: `cgroup.rs`); on its
//!    "ready", write the uid/gid maps, then "go"; end-of-file means the command was executed:
//!    state `running`, with pid and its start time. A terminating signal (INT TERM HUP QUIT)
//!    before that ends the start: the child is killed, the state removed, and ct-exec exits
//!    128+N.
//! 6. Relay ([`crate::relay`]): signals to the container, pty bytes both ways, until the
//!    container process exits; its status becomes ours (128+N for a signal).
//! 7. Foreground: remove the state directory — or, for a bundle of the store, record `stopped`
//!    and the exit code (for `ct ps -a`; the next run replaces it) unless `--rm` asked for
//!    the state to go with the process. Detached: the monitor
//!    records `stopped` and the exit code, for `ct-exec delete` to remove.

use std::fs;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use ct_layout::atomic::{self, AtomicFile};
use ct_layout::bundle::Bundle;
use ct_layout::state::{self, State, Status};
use ct_layout::Store;

use crate::child::{self, ChildArgs};
use crate::clone::kill_and_reap;
use crate::oci_config::{check_json, Overrides, Plan};
use crate::relay::relay;
use crate::start::{parse_error, start, write_maps, Spawned};
use crate::state_dir::{claim, StateDir};
use crate::{cgroup, pty, ExecError};

/// What the command line asked for, beyond the config.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Container id; default: the bundle's directory name for bundles in the store, else random.
    pub id: Option<String>,
    pub init: bool,
    pub detach: bool,
    /// `--rm`: a foreground run removes its state when it ends, even for a store bundle.
    pub remove: bool,
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
    /// `--log-path`: the container's output also into this log ([`crate::container_log`]).
    pub log: Option<crate::container_log::LogOptions>,
}

/// The file in the state directory that names the container's cgroup, for the verbs that
/// act on it after the process that placed it has gone (`delete`, `kill --all`, `pause`).
pub const CGROUP_FILE: &str = "cgroup";

/// In a state directory: the exit recorded by a foreground run, which a new run may replace.
pub const FOREGROUND_EXIT: &str = "foreground-exit";

/// `--pid-file`: the pid, written atomically (a temp file renamed into place; runtime state,
/// so not synced: `ct_layout::atomic::write_runtime`).
pub fn write_pid_file(path: &Path, pid: i32) -> Result<(), ExecError> {
    ct_layout::atomic::write_runtime(path, pid.to_string().as_bytes()).map_err(|source| {
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

/// The stdin of a container detached with `-i`: a FIFO (mkfifo(3)) in its state directory,
/// which `ct attach` writes to. The monitor holds it open for reading and writing, so the
/// container's stdin stays open between attaches (docker's `run -di`) and never reads EOF.
pub fn stdin_fifo_path(store: &Store, id: &str) -> PathBuf {
    store.run_containers().join(id).join("stdin")
}

/// The container's stdin for a detached run: the FIFO with `-i`, else /dev/null.
fn detached_stdin(store: &Store, id: &str, interactive: bool) -> io::Result<fs::File> {
    if !interactive {
        return fs::File::open("/dev/null");
    }
    let path = stdin_fifo_path(store, id);
    let mode = nix::sys::stat::Mode::from_bits_truncate(0o600);
    // One left by an earlier run of the same container goes first.
    match nix::unistd::mkfifo(&path, mode) {
        Err(nix::errno::Errno::EEXIST) => {
            fs::remove_file(&path)?;
            nix::unistd::mkfifo(&path, mode).map_err(io::Error::from)?;
        }
        r => r.map_err(io::Error::from)?,
    }
    fs::OpenOptions::new().read(true).write(true).open(&path)
}

/// Step 1 (reading): the config as typed spec, after naming unsupported keys. The key check
/// reads the bytes as they are, keeping nothing, and the spec is read from them once: no
/// JSON tree in between (for a podman config that tree cost more than both).
pub fn load_config(bundle: &Bundle) -> Result<oci_spec::runtime::Spec, ExecError> {
    let path = bundle.config_path();
    let bytes = fs::read(&path).map_err(|source| ExecError::ConfigRead {
        path: path.clone(),
        source,
    })?;
    let parse_error = |source| ExecError::ConfigParse {
        path: path.clone(),
        source,
    };
    let (warnings, errors) = check_json(&bytes).map_err(parse_error)?;
    if let Some(e) = errors.first() {
        return Err(ExecError::Unsupported(e.clone()));
    }
    for w in warnings {
        eprintln!("ct-exec: warning: config.json: {w}");
    }
    serde_json::from_slice(&bytes).map_err(parse_error)
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
    // A run is the whole of its ct-exec process (verbs.rs makes one): the plan's hundreds of
    // small allocations (podman's seccomp profile alone is ~400 strings) are left to the
    // process's exit, not freed one by one (~0.1 ms).
    let plan = std::mem::ManuallyDrop::new(plan);
    let seccomp = crate::seccomp_hook::prepare(&plan.spec, store)?;
    if (o.detach || o.create) && plan.terminal && o.console_socket.is_none() {
        return Err(ExecError::Usage(
            "a detached container's terminal needs --console-socket (-t or process.terminal)"
                .into(),
        ));
    }
    let in_store = bundle.dir.parent() == Some(store.containers().as_path());
    let id = match &o.id {
        Some(id) if ct_layout::paths::valid_id(id) => id.clone(),
        Some(id) => return Err(ExecError::Usage(format!("invalid container id '{id}'"))),
        None if in_store && ct_layout::paths::valid_id(&bundle.id()) => bundle.id(),
        None => ct_layout::paths::new_id(),
    };
    let (mut st, guard) = claim(store, &id, &bundle.dir, &plan)?;
    let cg = cgroup::usable(&plan, &id, cgroup::path_for(&plan, &id, o.systemd_cgroup)?);
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
    // A container of the store (a pipeline's `… | ct-mount | ct-exec`) keeps its exit, as a
    // detached run's does, for `ct ps -a` and `ct prune`; marked so that the next run of the
    // bundle takes the state over instead of waiting for a `delete`.
    let mut guard = guard;
    // `--rm` asks for the state to go with the process (`ct run --rm`: no `delete` after).
    if let (Ok(code), true, false) = (&r, in_store, o.remove) {
        st.status = Status::Stopped;
        st.exit_code = Some(*code);
        if fs::write(guard.dir.join(FOREGROUND_EXIT), b"").is_ok() && st.update(store).is_ok() {
            guard.armed = false;
        }
    }
    drop(guard);
    if r.is_ok() {
        let state = crate::hooks::state(&st, "stopped", None);
        crate::hooks::run_warn(
            plan.spec.hooks().as_ref(),
            crate::hooks::When::Poststop,
            &state,
        );
    }
    r
}

/// A created container's `state.json` and `--pid-file`, written to temp files beside them
/// ([`AtomicFile`]), renamed into place by [`Staged::commit`] or removed when dropped.
struct Staged {
    pid: i32,
    state: AtomicFile,
    pid_file: Option<AtomicFile>,
}

impl Staged {
    fn write(
        store: &Store,
        st: &State,
        pid: i32,
        pid_file: Option<&Path>,
    ) -> Result<Staged, ExecError> {
        let mut st = st.clone();
        st.status = Status::Created;
        st.pid = Some(pid);
        st.pid_start = state::pid_start_time(pid);
        let stage = |path: &Path, bytes: io::Result<Vec<u8>>| {
            bytes
                .and_then(|b| atomic::staged(path, &b))
                .map_err(|source| ExecError::StateDir {
                    path: path.to_path_buf(),
                    source,
                })
        };
        let state = stage(&store.state_file(&st.id), atomic::pretty_json(&st))?;
        let pid_file = pid_file
            .map(|p| stage(p, Ok(pid.to_string().into_bytes())))
            .transpose()?;
        Ok(Staged {
            pid,
            state,
            pid_file,
        })
    }

    fn commit(self) -> Result<(), ExecError> {
        for f in std::iter::once(self.state).chain(self.pid_file) {
            let path = f.target().to_path_buf();
            f.commit_unsynced()
                .map_err(|source| ExecError::StateDir { path, source })?;
        }
        Ok(())
    }
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
    let stdin =
        detached_stdin(store, &st.id, o.interactive).map_err(|source| ExecError::StateDir {
            path: stdin_fifo_path(store, &st.id),
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
            let _ = nix::unistd::dup2(stdin.as_raw_fd(), 0);
            drop(stdin);
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
    st: State,
    mut guard: StateDir,
    o: &RunOptions,
    seccomp: Option<child::SeccompInstall>,
    cg: Option<String>,
) -> Result<i32, ExecError> {
    let fifo = crate::exec_fifo::create(&guard.dir).map_err(|source| ExecError::StateDir {
        path: crate::exec_fifo::path(&guard.dir),
        source,
    })?;
    // The files that say "created" are written while the container's process sets itself up,
    // and only renamed into place once it has said so.
    let mut staged = None;
    let fifo_fd = Some(fifo.as_raw_fd());
    let stage = |pid| staged = Some(Staged::write(store, &st, pid, o.pid_file.as_deref()));
    let spawned = start_container(plan, &st, o, seccomp, cg.as_deref(), fifo_fd, stage);
    drop(fifo);
    let record = |pid: i32| match staged {
        // The pid they were written for: the clone's, unless the container's process is a
        // child of it (the slow path of `crate::namespaces`), whose files are written now.
        Some(Ok(files)) if files.pid == pid => files.commit(),
        Some(Err(e)) => Err(e),
        _ => Staged::write(store, &st, pid, o.pid_file.as_deref())?.commit(),
    };
    let r = spawned.and_then(|(pid, ..)| match record(pid) {
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
    // With a log, the container's stdout and stderr are pipes to us (a detached run's log
    // takes them alone; in the foreground they go on to ours too).
    let (capture, redirected) = match &o.log {
        Some(l) => match crate::container_log::capture(l, !o.detach, plan.terminal) {
            Ok((c, r)) => (Some(c), r),
            Err(e) => {
                report(&ready, &e);
                return Err(e);
            }
        },
        None => (None, None),
    };
    let r = spawn(store, plan, st, o, seccomp, cg);
    drop(redirected);
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
    relay(container, sfd, master, o.interactive, pending, capture)
}

/// The container's first process, for `run` and `create` alike: its cgroup prepared (see
/// [`cgroup`]), cloned into its namespaces, uid/gid maps and the createRuntime hooks on its
/// "ready" (it runs the createContainer and startContainer ones itself, [`crate::hooks`]). With `start_fifo` (`create`) it stops before `execve` until `start`; `--init`
/// applies to a run only.
fn start_container(
    plan: &Plan,
    st: &State,
    o: &RunOptions,
    seccomp: Option<child::SeccompInstall>,
    cg: Option<&str>,
    start_fifo: Option<std::os::fd::RawFd>,
    cloned: impl FnOnce(i32),
) -> Result<Spawned, ExecError> {
    let join = cg.map(|p| cgroup::prepare(plan, p)).transpose()?;
    let hook_state = crate::hooks::state(st, "creating", None);
    let hooks = plan.spec.hooks().as_ref();
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
                init: o.init && start_fifo.is_none(),
                seccomp,
                pass_fds: o.pass_fds,
                start_fifo,
                wait_placed: plan.ns.new_user
                    || crate::hooks::any(hooks, crate::hooks::When::Create),
                console_socket: o.console_socket.is_some(),
                hook_state: Some(&hook_state),
            })
        },
        cloned,
        // Called on the child's "ready", which it sends only when there is work here (see
        // `wait_placed` above).
        |pid| {
            write_maps(plan, pid)?;
            let state = crate::hooks::state(st, "creating", Some(pid));
            crate::hooks::run(hooks, crate::hooks::When::Create, &state)
        },
    )
}

fn spawn(
    store: &Store,
    plan: &Plan,
    st: &mut State,
    o: &RunOptions,
    seccomp: Option<child::SeccompInstall>,
    cg: Option<&str>,
) -> Result<Spawned, ExecError> {
    let spawned = start_container(plan, st, o, seccomp, cg, None, |_| {})?;
    st.status = Status::Running;
    st.pid = Some(spawned.0);
    st.pid_start = state::pid_start_time(spawned.0);
    st.update(store)?;
    if let Some(f) = &o.pid_file {
        write_pid_file(f, spawned.0)?;
    }
    let state = crate::hooks::state(st, "running", st.pid);
    crate::hooks::run_warn(
        plan.spec.hooks().as_ref(),
        crate::hooks::When::Poststart,
        &state,
    );
    Ok(spawned)
}
