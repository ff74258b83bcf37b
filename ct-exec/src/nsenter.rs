//! `ct-exec exec ID [-- CMD]`: a new process inside a running container, by `setns(2)` into
//! the namespaces of its first process (namespaces(7), nsenter(1)), as `runc exec` does.
//!
//! In order:
//! 1. Find the container (`$CT_RUN/containers/ID/state.json`, an exact id or a unique id
//!    prefix) and check that its process is alive (and is still the one recorded: the start
//!    time guards against a recycled pid).
//! 2. Read its bundle's `config.json` into a [`Plan`] as `run` does, with this command line's
//!    overrides: the command, `-e`, `-w`, `-u`, `-t`. The seccomp profile is compiled.
//! 3. Open `/proc/PID/ns/*` for every namespace the container's process is in and we are not
//!    (comparing the namespace files' inode numbers). Opened by the parent, before any
//!    process exists, so the paths resolve in the host's `/proc`; checked again that the pid
//!    is still the container's once the files are open.
//! 4. `clone(2)` a child (no flags) that first moves itself into the container's cgroup (the
//!    config's `cgroupsPath`, its entry files opened by the parent through ct-cgroup, as for
//!    `run`); on its "ready", the parent says "go".
//! 5. The child joins: the user namespace first (it gives the capabilities needed to join the
//!    ones it owns), then uts, ipc, net, cgroup, pid, time, and the mount namespace last
//!    (joining it changes our root and working directory to the container's).
//! 6. A pid namespace applies only to children: the child forks once more and reports the
//!    grandchild's host pid (`P<pid>`); that one is inside, and goes on.
//! 7. As in `run` (see [`crate::child`], steps 6, 8, 10-15): a session of its own, the
//!    terminal, `oomScoreAdj`, the working directory, rlimits, credentials and capabilities,
//!    no_new_privs, seccomp, execve. Non-dumpable throughout, as ct-exec is from its start
//!    ([`crate::cloned_binary`]): the container's processes cannot ptrace it or open its
//!    `/proc/PID/exe`.
//! 8. The parent relays signals (and the terminal's bytes) until the process exits; its
//!    status becomes ours.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use ct_layout::bundle::Bundle;
use ct_layout::state::{State, StateError, Status};
use ct_layout::Store;
use nix::unistd::{fork, ForkResult};

use crate::child::{self, ChildArgs};
use crate::oci_config::{Overrides, Plan};
use crate::run;
use crate::start::ChildIo;
use crate::{sync_socket, ExecError};

/// What `ct-exec exec` was asked.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// Container id, or a prefix of exactly one.
    pub id: String,
    /// Forward stdin to the terminal (`-i` with `-t`).
    pub interactive: bool,
    pub overrides: Overrides,
    /// The fds passed on purpose (`--preserve-fds`).
    pub pass_fds: crate::fds::Passed,
    /// runc's `--process FILE`: the whole `process` object of the runtime spec, replacing
    /// the config's (the overrides then apply on top of it).
    pub process: Option<PathBuf>,
    /// Return once the command runs, leaving it to our caller's subreaper (`--detach`).
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub systemd_cgroup: bool,
}

/// `--process FILE`: the runtime spec's `process` object.
fn read_process(path: &Path) -> Result<oci_spec::runtime::Process, ExecError> {
    let bytes = std::fs::read(path).map_err(|source| ExecError::ConfigRead {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|source| ExecError::ConfigParse {
        path: path.to_path_buf(),
        source,
    })
}

/// The namespaces under `/proc/PID/ns/`, in the order they are joined: user first, mount last.
const ORDER: &[(&str, libc::c_int)] = &[
    ("user", libc::CLONE_NEWUSER),
    ("uts", libc::CLONE_NEWUTS),
    ("ipc", libc::CLONE_NEWIPC),
    ("net", libc::CLONE_NEWNET),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("pid", libc::CLONE_NEWPID),
    ("time", 0x80), // CLONE_NEWTIME
    ("mnt", libc::CLONE_NEWNS),
];

/// One namespace to join.
struct Join {
    name: &'static str,
    flag: libc::c_int,
    file: File,
}

/// Step 1: an exact id, else the one container whose id starts with `id`.
fn find(store: &Store, id: &str) -> Result<State, ExecError> {
    match State::load(store, id) {
        Ok(s) => return Ok(s),
        Err(StateError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let all = State::list(store)?;
    let mut hits = all.into_iter().filter(|s| s.id.starts_with(id));
    match (hits.next(), hits.next()) {
        (Some(s), None) if !id.is_empty() => Ok(s),
        (Some(_), Some(_)) => Err(ExecError::Usage(format!(
            "container id prefix '{id}' is ambiguous"
        ))),
        _ => Err(ExecError::NoSuchContainer(id.into())),
    }
}

/// Step 3.
fn open_namespaces(pid: i32) -> Result<Vec<Join>, ExecError> {
    let mut out = Vec::new();
    for &(name, flag) in ORDER {
        let theirs = format!("/proc/{pid}/ns/{name}");
        let mine = format!("/proc/self/ns/{name}");
        // A kernel without this namespace type has neither file.
        let Ok(m) = std::fs::metadata(&mine) else {
            continue;
        };
        let file = File::open(&theirs).map_err(|source| ExecError::Enter {
            what: format!("open '{theirs}'"),
            source,
        })?;
        let t = file.metadata().map_err(|source| ExecError::Enter {
            what: format!("stat '{theirs}'"),
            source,
        })?;
        // Joining our own user namespace is EINVAL, and any other one we are in is a no-op.
        if (t.dev(), t.ino()) != (m.dev(), m.ino()) {
            out.push(Join { name, flag, file });
        }
    }
    Ok(out)
}

/// `ct-exec exec`: run the command in the container; returns the exit status to exit with.
pub fn exec(store: &Store, o: &ExecOptions) -> Result<i32, ExecError> {
    // 1.
    let st = find(store, &o.id)?.refreshed();
    let pid = match (st.status, st.pid) {
        // As runc: a created container's namespaces can be entered before it starts.
        (Status::Running | Status::Created, Some(pid)) => pid,
        _ => return Err(ExecError::NotRunning(st.id)),
    };
    // 2.
    let bundle = Bundle::new(st.bundle.clone());
    let mut spec = run::load_config(&bundle)?;
    let process = o.process.as_deref().map(read_process).transpose()?;
    let terminal = match &process {
        Some(p) => p.terminal().unwrap_or(false) || o.overrides.tty,
        // A terminal only when asked for on this command line, as `runc exec -t`.
        None => o.overrides.tty,
    };
    if process.is_some() {
        spec.set_process(process);
    }
    let mut plan = Plan::new(spec, &bundle.dir, &o.overrides)?;
    // The terminal is opened in the container by the joining process (step 7), not by
    // run::start in the host.
    plan.terminal = false;
    if o.detach && terminal && o.console_socket.is_none() {
        return Err(ExecError::Usage(
            "exec --detach with a terminal needs --console-socket".into(),
        ));
    }
    let seccomp = crate::seccomp_hook::prepare(&plan.spec, store)?;
    // 3.
    let joins = open_namespaces(pid)?;
    if !st.process_alive() {
        return Err(ExecError::NotRunning(st.id));
    }
    let pid_ns = joins
        .iter()
        .any(|j| j.flag == libc::CLONE_NEWPID || j.flag == 0x80);
    // The cgroup the container was placed in, as recorded then; else as its config says.
    let recorded = store.run_containers().join(&st.id).join(run::CGROUP_FILE);
    let cg = match std::fs::read_to_string(recorded) {
        Ok(p) => Some(p),
        Err(_) => crate::cgroup::path_for(&plan, &st.id, o.systemd_cgroup)?,
    };
    let join = match cg {
        Some(p) => crate::cgroup::open_existing(&p)?,
        None => None,
    };
    // 4. to 7.
    let (container, sfd, master, pending) = crate::start::start(
        &plan,
        0,
        join.as_ref(),
        o.console_socket.as_deref(),
        |io| {
            let e = Entry {
                plan: &plan,
                joins: &joins,
                pid_ns,
                terminal,
                seccomp: seccomp.as_deref(),
                pass_fds: o.pass_fds,
            };
            enter(&e, io)
        },
        |_| {},
        |_| Ok(()),
    )?;
    drop(joins);
    if let Some(f) = &o.pid_file {
        run::write_pid_file(f, container)?;
    }
    if o.detach {
        return Ok(0);
    }
    // 8.
    let _raw = match &master {
        Some(_) if o.interactive => Some(crate::pty::RawMode::enter()),
        _ => None,
    };
    crate::relay::relay(container, sfd, master, o.interactive, pending, None)
}

/// What the joining child needs.
struct Entry<'a> {
    plan: &'a Plan,
    joins: &'a [Join],
    pid_ns: bool,
    terminal: bool,
    seccomp: Option<child::SeccompInstall<'a>>,
    pass_fds: crate::fds::Passed,
}

/// Steps 4 to 7, in the child. Never returns.
fn enter(e: &Entry, io: ChildIo) -> std::convert::Infallible {
    let sock = io.sock;
    match enter_steps(e, &io) {
        Ok(never) => never,
        Err((code, msg)) => child::fail(sock, code, &msg),
    }
}

fn enter_steps(e: &Entry, io: &ChildIo) -> child::Step<std::convert::Infallible> {
    let (plan, joins, pid_ns) = (e.plan, e.joins, e.pid_ns);
    // 4.
    sync_socket::send(io.sock, b"R").map_err(|e| (125, format!("handshake: {e}")))?;
    match sync_socket::recv(io.sock).as_deref() {
        Ok(b"G") => {}
        _ => child::exit_now(125),
    }
    // 5.
    for j in joins {
        // The type makes the kernel refuse a file that is not a namespace of that type.
        let nstype = nix::sched::CloneFlags::from_bits_retain(j.flag);
        if let Err(e) = nix::sched::setns(&j.file, nstype) {
            return Err((
                125,
                format!(
                    "cannot join the container's {} namespace (setns): {e}",
                    j.name
                ),
            ));
        }
    }
    // 6.
    if pid_ns {
        // SAFETY: single-threaded; the child only continues this setup.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                // Go on once the parent has reaped the intermediate that forked us.
                match sync_socket::recv(io.sock).as_deref() {
                    Ok(b"G") => {}
                    _ => child::exit_now(125),
                }
            }
            Ok(ForkResult::Parent { child }) => {
                let _ = sync_socket::send(io.sock, format!("P{child}").as_bytes());
                child::exit_now(0)
            }
            Err(e) => {
                return Err((
                    125,
                    format!("cannot fork into the container's pid namespace: {e}"),
                ))
            }
        }
    }
    // 7. With a terminal: a pty of the container's own devpts, its master sent to the parent
    // (which relays it or passes it on to --console-socket); only the slave stays here.
    let pty = match e.terminal {
        true => Some(crate::pty::open_in_container(plan.console_size).map_err(child::own)?),
        false => None,
    };
    let slave = match pty {
        Some(p) => {
            let mut msg = b"T".to_vec();
            msg.extend_from_slice(p.slave_path.as_os_str().as_encoded_bytes());
            sync_socket::send_fd(io.sock, &msg, p.master.as_raw_fd())
                .map_err(|e| (125, format!("handshake: {e}")))?;
            drop(p.master);
            match sync_socket::recv(io.sock).as_deref() {
                Ok(b"G") => {}
                _ => child::exit_now(125),
            }
            Some((p.slave, p.slave_path))
        }
        None => None,
    };
    let pty_slave = slave.as_ref().map(|(fd, p)| (fd.as_raw_fd(), p.clone()));
    child::new_session()?;
    if let Some((slave, _)) = &pty_slave {
        crate::pty::attach(*slave).map_err(child::own)?;
    }
    if let Some(adj) = plan.oom_score_adj {
        crate::procfs::write("self/oom_score_adj", adj.to_string().as_bytes())
            .map_err(|e| (125, format!("cannot set oomScoreAdj {adj}: {e}")))?;
    }
    let a = ChildArgs {
        plan,
        sock: io.sock,
        pty_slave,
        old_mask: io.old_mask,
        init: false,
        seccomp: e.seccomp,
        pass_fds: e.pass_fds,
        start_fifo: None,
        wait_placed: false,
        console_socket: false,
        hook_state: None,
    };
    child::become_process(&a)
}
