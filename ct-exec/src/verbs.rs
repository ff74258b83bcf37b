//! What each verb of ct-exec's command line ([`crate::runc_cli`]) does: the short form runs a
//! bundle ([`crate::run`]), runc's verbs map to [`crate::run`] (create, run),
//! [`crate::nsenter`] (exec), [`crate::lifecycle`] (start, state, kill, delete, pause, resume,
//! ps, list), [`crate::update`], [`crate::features`], [`crate::wait`] and [`crate::copy_tar`].
//!
//! The order matters for the verbs that enter a container (the short form, create, run,
//! exec): first they run from a read-only view of the binary ([`enter_read_only_view`],
//! decided on argv alone, before parsing it: the process that re-executes does nothing
//! else), then, parsed, they contain ct-exec itself ([`crate::contain`]: non-dumpable, no
//! inherited fd but those passed on purpose) before anything else.
//!
//! A failure's exit code depends on the verb ([`Verb`]): 125 for a run or an exec (1..=124
//! are the command's), 1 for the lifecycle verbs. `--log` gets every failure too.

use std::ffi::OsString;
use std::io::IsTerminal;

use ct_layout::pipe::InputError;
use ct_layout::tool::{self, Failure};
use ct_layout::Store;

use crate::oci_config::Overrides;
use crate::run::RunOptions;
use crate::runc_cli::{Cli, Cmd, CreateArgs, Global, LogFormat};
use crate::runc_log::Log;
use crate::{ExecError, Verb};

/// The verbs that never enter a container, and so need no read-only view of the binary.
const OUTSIDE: [&str; 19] = [
    "unshare",
    "kill",
    "delete",
    "start",
    "state",
    "pause",
    "resume",
    "ps",
    "list",
    "update",
    "features",
    "spec",
    "wait",
    "cp",
    "help",
    "--help",
    "-h",
    "--version",
    "-V",
];

/// Unless argv (without the global flags) names a verb that stays outside containers,
/// re-execute from a read-only view of ct-exec ([`crate::cloned_binary`]); exits 125 when
/// that cannot be done. [`crate::contain`] checks again after parsing.
pub fn enter_read_only_view(args: &[OsString]) {
    if args.get(1).is_some_and(|v| OUTSIDE.iter().any(|o| v == *o)) {
        return;
    }
    if let Err(e) = crate::cloned_binary::ensure() {
        let e = ExecError::Containment(format!("cannot run from a read-only view of ct-exec: {e}"));
        tool::fail("ct-exec", &e);
    }
}

/// A failure of one verb: the error, and the exit code it means for that verb.
#[derive(Debug)]
pub struct VerbFailure {
    pub error: ExecError,
    pub verb: Verb,
}

impl std::fmt::Display for VerbFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for VerbFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

impl Failure for VerbFailure {
    fn exit_code(&self) -> i32 {
        self.error.exit_code_of(self.verb)
    }
    fn hints(&self) -> Vec<String> {
        Failure::hints(&self.error)
    }
}

/// Run the parsed command line; `global` is what [`crate::runc_cli::split_globals`] took off
/// argv. A failure is also written to `--log`.
pub fn run(global: Global, cli: Cli) -> Result<i32, VerbFailure> {
    let log = global.log.clone().map(|path| Log {
        path,
        json: matches!(global.log_format, LogFormat::Json),
    });
    let verb = match cli.cmd {
        Some(Cmd::Exec(_) | Cmd::RunId { .. } | Cmd::Unshare { .. }) | None => Verb::Run,
        _ => Verb::Lifecycle,
    };
    dispatch(&global, cli).map_err(|error| {
        if let Some(l) = &log {
            l.error(&error);
        }
        VerbFailure { error, verb }
    })
}

fn dispatch(g: &Global, cli: Cli) -> Result<i32, ExecError> {
    let mut store = Store::from_env();
    if let Some(root) = &g.root {
        store.run = root.clone();
    }
    // The verbs that enter a container first contain ct-exec itself (LISTEN_FDS: not exec).
    let pass_fds = match &cli.cmd {
        Some(Cmd::Exec(a)) => crate::contain(false, a.preserve_fds)?,
        Some(Cmd::Create(c) | Cmd::RunId { c, .. }) => crate::contain(true, c.preserve_fds)?,
        None => crate::contain(true, cli.run.preserve_fds)?,
        _ => Default::default(),
    };
    let created = |c: CreateArgs, create: bool, detach: bool| RunOptions {
        id: Some(c.id),
        pass_fds,
        create,
        detach,
        pid_file: c.pid_file,
        console_socket: c.console_socket,
        systemd_cgroup: g.systemd_cgroup,
        ..Default::default()
    };
    let lifecycle = crate::lifecycle::Verbs { store: &store };
    match cli.cmd {
        Some(Cmd::Create(c)) => {
            let bundle = c.bundle.clone();
            crate::run::run(&store, &bundle, &created(c, true, false))
        }
        Some(Cmd::RunId { c, detach }) => {
            let bundle = c.bundle.clone();
            crate::run::run(&store, &bundle, &created(c, false, detach))
        }
        Some(Cmd::Start { id }) => lifecycle.start(&id),
        Some(Cmd::State { id }) => lifecycle.state(&id),
        Some(Cmd::Kill {
            all,
            timeout,
            id,
            signal,
        }) => lifecycle.kill(&id, &signal, all, timeout),
        Some(Cmd::Delete { force, id }) => lifecycle.delete(&id, force),
        Some(Cmd::Pause { id }) => lifecycle.freeze(&id, true),
        Some(Cmd::Resume { id }) => lifecycle.freeze(&id, false),
        Some(Cmd::Ps { format, id, .. }) => lifecycle.ps(&id, &format),
        Some(Cmd::List { format, quiet }) => lifecycle.list(&format, quiet),
        Some(Cmd::Update(u)) => {
            let limits = crate::update::Limits {
                resources: u.resources,
                memory: u.memory,
                memory_swap: u.memory_swap,
                cpu_shares: u.cpu_shares,
                cpu_quota: u.cpu_quota,
                cpu_period: u.cpu_period,
                pids_limit: u.pids_limit,
            };
            crate::update::update(&store, &u.id, &limits).map(|_| 0)
        }
        Some(Cmd::Features) => crate::features::print_features().map(|_| 0),
        Some(Cmd::Spec { bundle, rootless }) => {
            crate::features::write_spec(&bundle, rootless).map(|_| 0)
        }
        Some(Cmd::Unshare { command }) => crate::unshare::unshare(command),
        Some(Cmd::Logs {
            follow,
            tail,
            since,
            timestamps,
            pid,
            file,
        }) => {
            let since = match since {
                None => None,
                Some(t) => Some(
                    crate::container_log::parse_since(&t, crate::container_log::now_nanos())
                        .ok_or_else(|| {
                            ExecError::Usage(format!(
                                "--since takes an RFC 3339 time, a Unix time or a duration (10m), not {}",
                                ct_layout::pipe::quote(&t)
                            ))
                        })?,
                ),
            };
            crate::container_log::print(&crate::container_log::ReadOptions {
                path: file,
                follow,
                tail,
                since,
                timestamps,
                pid,
            })
        }
        Some(Cmd::Checkpoint { .. }) => Err(ExecError::Usage(
            "checkpoint, restore and events are not implemented by ct-exec".into(),
        )),
        Some(Cmd::Exec(a)) => {
            let command = match a.command.first().map(String::as_str) {
                Some("--") => a.command[1..].to_vec(),
                _ => a.command,
            };
            let opts = crate::nsenter::ExecOptions {
                id: a.id,
                interactive: a.interactive,
                pass_fds,
                overrides: Overrides {
                    args: command,
                    env: a.env,
                    cwd: a.workdir,
                    user: a.user,
                    hostname: None,
                    tty: a.tty,
                },
                process: a.process,
                detach: a.detach,
                pid_file: a.pid_file,
                console_socket: a.console_socket,
                systemd_cgroup: g.systemd_cgroup,
            };
            crate::nsenter::exec(&store, &opts)
        }
        Some(Cmd::Wait { timeout, id }) => {
            let t = timeout.map(|s| std::time::Duration::from_secs_f64(s.clamp(0.0, 1e9)));
            crate::wait::wait(&store, &id, t).map(|code| {
                if let Some(c) = code {
                    ct_layout::pipe::emit(c);
                }
                0
            })
        }
        Some(Cmd::Cp { id, out, into }) => {
            let b = ct_layout::bundle::Bundle::find(&store, &id)?;
            match (out, into) {
                (Some(p), _) => {
                    crate::copy_tar::copy_out(&b.rootfs(), &p, std::io::stdout().lock())
                }
                (_, Some(d)) => crate::copy_tar::copy_in(&b.rootfs(), &d, std::io::stdin().lock()),
                _ => Ok(()),
            }?;
            Ok(0)
        }
        None => {
            let a = cli.run;
            let opts = RunOptions {
                id: a.id,
                pass_fds,
                init: a.init,
                detach: a.detach,
                remove: a.rm,
                interactive: a.interactive,
                overrides: Overrides {
                    args: a.command,
                    env: a.env,
                    cwd: a.workdir,
                    user: a.user,
                    hostname: a.hostname,
                    tty: a.tty,
                },
                systemd_cgroup: g.systemd_cgroup,
                ..Default::default()
            };
            let log = match a.log_path {
                None => None,
                Some(path) => Some(crate::container_log::LogOptions {
                    path,
                    max_size: a
                        .log_max_size
                        .map(|s| ct_layout::free_space::parse_size(&s))
                        .transpose()
                        .map_err(|e| ExecError::Usage(format!("--log-max-size: {e}")))?,
                    max_file: a.log_max_file,
                }),
            };
            let opts = RunOptions { log, ..opts };
            let bundle = match a.bundle {
                Some(b) => b,
                None => bundle_from_stdin()?,
            };
            crate::run::run(&store, &bundle, &opts)
        }
    }
}

/// One line of stdin, read a byte at a time so that nothing after it is taken from the
/// container's stdin (`printf 'BUNDLE\ndata' | ct-exec -- cat` prints `data`).
pub(crate) fn bundle_from_stdin() -> Result<String, InputError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(InputError::Missing("bundle"));
    }
    // Not through std's Stdin: it is buffered and would swallow what follows the line.
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match rustix::io::read(&stdin, &mut b) {
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(InputError::Read("bundle", e.into())),
            Ok(0) => break,
            Ok(_) if b[0] == b'\n' => break,
            Ok(_) => line.push(b[0]),
        }
    }
    let s = String::from_utf8_lossy(&line).trim().to_string();
    if s.is_empty() {
        return Err(InputError::Missing("bundle"));
    }
    Ok(s)
}
