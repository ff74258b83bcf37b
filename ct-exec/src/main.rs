//! ct-exec: run an OCI bundle as a container. Thin CLI over the `ct_exec` library.

use clap::{Args, Parser, Subcommand};
use ct_exec::oci_config::Overrides;
use ct_exec::run::RunOptions;
use ct_exec::{ExecError, Verb};
use ct_layout::Store;
use std::path::PathBuf;

/// Run an OCI bundle as a container: namespaces, mounts, pivot_root, /dev, identity,
/// capabilities, rlimits, seccomp, then the command — in the foreground, with its stdin,
/// stdout and stderr, its signals and its exit status.
///
/// BUNDLE is a directory with config.json and rootfs/ (from ct-unpack, `runc spec` or
/// `umoci unpack`), or the id of a container in $CT_ROOT/containers; without it, one line
/// is read from stdin.
///
/// linux.cgroupsPath and linux.resources are applied with ct-cgroup's code: the process is in
/// its cgroup before the command starts, and the cgroup is removed when the container ends.
/// Not applied (each named in a warning when present): the createContainer and
/// startContainer hooks, AppArmor/SELinux labels,
/// ioPriority, scheduler, execCPUAffinity.
///
/// Exit codes: the container's status (128+N when it was killed by signal N, or when ct-exec
/// was interrupted by signal N while starting it); 125 ct-exec itself failed; 126 the command
/// cannot be run; 127 the command was not found; 2 usage.
/// `exec`: as a run (125 when the container does not exist or is not running).
/// `kill` and `delete`: 0 ok, 1 failure (no such container, still running...), 2 usage.
///
/// runc's command line too (podman --runtime, containerd's runc shim): global flags --root,
/// --log, --log-format, --debug, --systemd-cgroup before the verb; create, start, state,
/// kill, delete, run, exec, ps, pause, resume, update, list, features, spec (0 ok, 1 failure,
/// 2 usage; run and exec as above).
#[derive(Parser)]
#[command(
    name = "ct-exec",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    run: RunArgs,
}

/// runc's global flags, before the verb (podman, conmon and containerd-shim pass them).
/// Taken off argv by [`split_globals`]; declared here for `--help`.
#[derive(Args)]
struct Global {
    /// Directory for container state (runc's --root): state in DIR/containers/ID
    /// (default: $CT_RUN).
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Also write errors and warnings to FILE.
    #[arg(long, global = true, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Format of --log: text, or json (one {"level","msg","time"} object per line).
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text")]
    log_format: LogFormat,
    /// Accepted for runc compatibility (debug lines go to --log).
    #[arg(long, global = true)]
    debug: bool,
    /// linux.cgroupsPath is systemd's slice:prefix:name (the cgroupfs directory systemd
    /// would use; systemd itself is not needed).
    #[arg(long, global = true)]
    systemd_cgroup: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Args)]
struct RunArgs {
    /// Bundle directory or container id (default: one line of stdin).
    bundle: Option<String>,
    /// Command and arguments, replacing process.args.
    #[arg(last = true)]
    command: Vec<String>,
    /// Set an environment variable (KEY=VALUE, or KEY to copy it from here). Repeatable.
    #[arg(short, long = "env", value_name = "KEY[=VALUE]")]
    env: Vec<String>,
    /// Working directory in the container (replaces process.cwd).
    #[arg(short, long = "workdir", value_name = "DIR")]
    workdir: Option<String>,
    /// User: uid[:gid] or name[:group] from the rootfs's /etc/passwd and /etc/group.
    #[arg(short, long, value_name = "USER")]
    user: Option<String>,
    /// Hostname (needs a new uts namespace).
    #[arg(long)]
    hostname: Option<String>,
    /// A pseudo-terminal, in raw mode, with window size changes forwarded.
    #[arg(short, long)]
    tty: bool,
    /// With -t: forward stdin to the terminal. (Without -t stdin is always passed through.)
    #[arg(short, long)]
    interactive: bool,
    /// Detach: print the container id and leave it running, output in
    /// $CT_RUN/containers/ID/container.log.
    #[arg(short, long)]
    detach: bool,
    /// Run a tiny init as PID 1 that reaps zombies and forwards signals.
    #[arg(long)]
    init: bool,
    /// Container id (default: the bundle's name for bundles in $CT_ROOT, else random).
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    /// Pass fds 3..3+N to the command (after any from socket activation, LISTEN_FDS); every
    /// other inherited fd above 2 is closed.
    #[arg(long, value_name = "N", default_value_t = 0)]
    preserve_fds: u32,
}

/// What runc's `create` and `run` take.
#[derive(Args)]
struct CreateArgs {
    /// Container id.
    id: String,
    /// Bundle directory (default: the current directory).
    #[arg(short, long, value_name = "DIR", default_value = ".")]
    bundle: String,
    /// Write the container's pid to FILE.
    #[arg(long, value_name = "FILE")]
    pid_file: Option<PathBuf>,
    /// Send the terminal's master fd to this unix socket (SCM_RIGHTS) instead of relaying it.
    #[arg(long, value_name = "PATH")]
    console_socket: Option<PathBuf>,
    /// Pass fds 3..3+N to the command (after any from socket activation).
    #[arg(long, value_name = "N", default_value_t = 0)]
    preserve_fds: u32,
    /// Accepted for runc compatibility; ct-exec always uses pivot_root(2).
    #[arg(long)]
    no_pivot: bool,
    /// Accepted for runc compatibility; ct-exec creates no session keyring.
    #[arg(long)]
    no_new_keyring: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Set a container up from a bundle, stopped just before its command (runc's create):
    /// its process waits for `start`, a child of the caller's subreaper, with the caller's
    /// stdio (or the terminal sent to --console-socket).
    Create(CreateArgs),
    /// Run a created container's command.
    Start { id: String },
    /// The runtime spec's State of a container, as JSON.
    State { id: String },
    /// Create and start a container (runc's run); in the foreground it waits for the
    /// container and exits with its status.
    #[command(name = "run")]
    RunId {
        #[command(flatten)]
        c: CreateArgs,
        /// Detach: leave the container running.
        #[arg(short, long)]
        detach: bool,
    },
    /// Run a new process in a running container: its namespaces (setns), its cgroup,
    /// capabilities, rlimits, no_new_privs, seccomp profile, environment and working directory
    /// from its config.json (unless overridden). Exit status as for a run; 125 when the
    /// container does not exist or is not running.
    Exec(ExecArgs),
    /// Send a signal (name or number, default TERM) to a container's process.
    Kill {
        /// Signal every process in the container's cgroup.
        #[arg(short, long)]
        all: bool,
        /// Then wait up to SECS for the container to end, and SIGKILL it if it has not.
        #[arg(long, value_name = "SECS")]
        timeout: Option<f64>,
        id: String,
        #[arg(default_value = "TERM")]
        signal: String,
    },
    /// Wait until a container has stopped and print its exit code (when recorded); with
    /// --timeout, exit 1 if it still runs after SECS seconds.
    Wait {
        #[arg(long, value_name = "SECS")]
        timeout: Option<f64>,
        id: String,
    },
    /// Copy PATH out of a container's root filesystem as a tar on stdout (--out), or a tar on
    /// stdin into DEST (--in); every path resolved inside the root (openat2 RESOLVE_IN_ROOT).
    Cp {
        id: String,
        #[arg(
            long,
            value_name = "PATH",
            conflicts_with = "into",
            required_unless_present = "into"
        )]
        out: Option<String>,
        #[arg(long = "in", value_name = "DEST")]
        into: Option<String>,
    },
    /// Remove a stopped (or created) container's state and cgroup (with --force, kill it
    /// first; an unknown or half-created id is then not an error, as with runc).
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Freeze every process of a container (cgroup freezer).
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// The processes of a container (pids in its cgroup).
    Ps {
        #[arg(short, long, value_name = "FORMAT", default_value = "table")]
        format: String,
        id: String,
        /// Accepted for runc compatibility (ps(1) options are not supported).
        #[arg(trailing_var_arg = true, hide = true)]
        ps_args: Vec<String>,
    },
    /// Every container's State.
    List {
        #[arg(short, long, value_name = "FORMAT", default_value = "table")]
        format: String,
        /// Ids only.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Change a running container's cgroup limits (runc's update).
    Update(UpdateArgs),
    /// What this runtime implements (the runtime spec's features.json).
    Features,
    /// Write a default config.json into the bundle directory (as runc spec).
    Spec {
        #[arg(short, long, value_name = "DIR", default_value = ".")]
        bundle: PathBuf,
        /// For a container started by an unprivileged user (a user namespace).
        #[arg(long)]
        rootless: bool,
    },
    /// Not implemented (runc's checkpoint, restore and events): fails with a usage error.
    #[command(aliases = ["restore", "events"])]
    Checkpoint {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        args: Vec<String>,
    },
}

#[derive(Args)]
struct UpdateArgs {
    id: String,
    /// linux.resources as JSON, from FILE or - (stdin).
    #[arg(short, long, value_name = "FILE")]
    resources: Option<PathBuf>,
    /// Memory limit in bytes (k, m, g suffixes).
    #[arg(short, long, value_name = "BYTES")]
    memory: Option<String>,
    /// Memory + swap limit in bytes (-1: unlimited).
    #[arg(long, value_name = "BYTES")]
    memory_swap: Option<String>,
    #[arg(long, value_name = "N")]
    cpu_shares: Option<u64>,
    #[arg(long, value_name = "N")]
    cpu_quota: Option<i64>,
    #[arg(long, value_name = "N")]
    cpu_period: Option<u64>,
    #[arg(long, value_name = "N")]
    pids_limit: Option<i64>,
}

#[derive(Args)]
struct ExecArgs {
    /// Container id (or a prefix of exactly one).
    id: String,
    /// Command and arguments (default: the config's process.args), after the id or after `--`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
    /// The process to run, as the runtime spec's `process` JSON (runc's --process).
    #[arg(short, long, value_name = "FILE")]
    process: Option<PathBuf>,
    /// Set an environment variable (KEY=VALUE, or KEY to copy it from here). Repeatable.
    #[arg(short, long = "env", value_name = "KEY[=VALUE]")]
    env: Vec<String>,
    /// Working directory in the container (replaces process.cwd).
    #[arg(short, long = "workdir", visible_alias = "cwd", value_name = "DIR")]
    workdir: Option<String>,
    /// User: uid[:gid] or name[:group] from the rootfs's /etc/passwd and /etc/group.
    #[arg(short, long, value_name = "USER")]
    user: Option<String>,
    /// A pseudo-terminal, in raw mode, with window size changes forwarded.
    #[arg(short, long)]
    tty: bool,
    /// With -t: forward stdin to the terminal. (Without -t stdin is always passed through.)
    #[arg(short, long)]
    interactive: bool,
    /// Return once the command runs, leaving it to the caller's subreaper.
    #[arg(short, long)]
    detach: bool,
    /// Write the new process's pid to FILE.
    #[arg(long, value_name = "FILE")]
    pid_file: Option<PathBuf>,
    /// Send the terminal's master fd to this unix socket (SCM_RIGHTS).
    #[arg(long, value_name = "PATH")]
    console_socket: Option<PathBuf>,
    /// Pass fds 3..3+N to the command; every other inherited fd above 2 is closed.
    #[arg(long, value_name = "N", default_value_t = 0)]
    preserve_fds: u32,
}

/// One line of stdin, read a byte at a time so that nothing after it is taken from the
/// container's stdin (`printf 'BUNDLE\ndata' | ct-exec -- cat` prints `data`).
fn bundle_from_stdin() -> Result<String, ExecError> {
    use std::io::IsTerminal;
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(ct_layout::pipe::InputError::Missing("bundle").into());
    }
    // Not through std's Stdin: it is buffered and would swallow what follows the line.
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        // SAFETY: read(2) of one byte into b.
        let n = unsafe { libc::read(0, b.as_mut_ptr() as *mut libc::c_void, 1) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(ct_layout::pipe::InputError::Read("bundle", e).into());
        }
        if n == 0 || b[0] == b'\n' {
            break;
        }
        line.push(b[0]);
    }
    let s = String::from_utf8_lossy(&line).trim().to_string();
    if s.is_empty() {
        return Err(ct_layout::pipe::InputError::Missing("bundle").into());
    }
    Ok(s)
}

/// runc's global flags, taken off the front of argv by hand: clap does not allow flags of
/// the top level before a subcommand when the top level also takes a bundle (the short form).
/// Returns them and argv without them.
fn split_globals(args: Vec<std::ffi::OsString>) -> (Global, Vec<std::ffi::OsString>) {
    let mut g = Global {
        root: None,
        log: None,
        log_format: LogFormat::Text,
        debug: false,
        systemd_cgroup: false,
    };
    let mut it = args.into_iter();
    let mut rest: Vec<_> = it.next().into_iter().collect();
    let mut bad = None;
    while let Some(a) = it.next() {
        let s = a.to_string_lossy().into_owned();
        let (name, inline) = match s.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (s.clone(), None),
        };
        let takes_value = ["--root", "--log", "--log-format", "--criu", "--rootless"];
        if takes_value.contains(&name.as_str()) {
            let v = match inline {
                Some(v) => Some(std::ffi::OsString::from(v)),
                None => it.next(),
            };
            let Some(v) = v else {
                bad = Some(format!("{name} needs a value"));
                break;
            };
            match name.as_str() {
                "--root" => g.root = Some(PathBuf::from(v)),
                "--log" => g.log = Some(PathBuf::from(v)),
                "--log-format" => match v.to_str() {
                    Some("text") => g.log_format = LogFormat::Text,
                    Some("json") => g.log_format = LogFormat::Json,
                    _ => bad = Some("--log-format is text or json".into()),
                },
                // --criu (checkpointing) and --rootless (auto) change nothing ct-exec does.
                _ => {}
            }
        } else if name == "--debug" {
            g.debug = true;
        } else if name == "--systemd-cgroup" {
            g.systemd_cgroup = true;
        } else {
            rest.push(a);
            break;
        }
    }
    if let Some(b) = bad {
        eprintln!("ct-exec: {b}; see ct-exec --help");
        std::process::exit(ct_layout::pipe::EXIT_USAGE);
    }
    rest.extend(it);
    (g, rest)
}

fn main() {
    // The verbs that enter a container (run, create, exec and the short form) run from a
    // read-only view of the binary (ct_exec::cloned_binary). Decided on argv alone, before
    // parsing it: the process that re-executes does nothing else. contain() below checks again.
    let (g, args) = split_globals(std::env::args_os().collect());
    let outside = [
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
    if !args.get(1).is_some_and(|v| outside.iter().any(|o| v == *o)) {
        if let Err(e) = ct_exec::cloned_binary::ensure() {
            let e =
                ExecError::Containment(format!("cannot run from a read-only view of ct-exec: {e}"));
            ct_layout::cli::fail("ct-exec", &e, e.exit_code());
        }
    }
    ct_layout::cli::generate_if_asked::<Cli>();
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => ct_layout::cli::usage::<Cli>("ct-exec", &e),
    };
    let mut store = Store::from_env();
    if let Some(root) = &g.root {
        store.run = root.clone();
    }
    let log = g.log.clone().map(|path| ct_exec::runc_log::Log {
        path,
        json: matches!(g.log_format, LogFormat::Json),
    });
    let verb = match cli.cmd {
        Some(Cmd::Exec(_) | Cmd::RunId { .. }) | None => Verb::Run,
        _ => Verb::Lifecycle,
    };
    // The verbs that enter a container first contain ct-exec itself (LISTEN_FDS: not exec).
    let contained = match &cli.cmd {
        Some(Cmd::Exec(a)) => ct_exec::contain(false, a.preserve_fds),
        Some(Cmd::Create(c) | Cmd::RunId { c, .. }) => ct_exec::contain(true, c.preserve_fds),
        None => ct_exec::contain(true, cli.run.preserve_fds),
        _ => Ok(Default::default()),
    };
    let pass_fds = contained.unwrap_or_else(|e| {
        if let Some(l) = &log {
            l.error(&e);
        }
        ct_layout::cli::fail("ct-exec", &e, e.exit_code_of(verb))
    });
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
    let lifecycle = ct_exec::lifecycle::Verbs { store: &store };
    let r = match cli.cmd {
        Some(Cmd::Create(c)) => {
            let bundle = c.bundle.clone();
            ct_exec::run::run(&store, &bundle, &created(c, true, false))
        }
        Some(Cmd::RunId { c, detach }) => {
            let bundle = c.bundle.clone();
            ct_exec::run::run(&store, &bundle, &created(c, false, detach))
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
            let limits = ct_exec::update::Limits {
                resources: u.resources,
                memory: u.memory,
                memory_swap: u.memory_swap,
                cpu_shares: u.cpu_shares,
                cpu_quota: u.cpu_quota,
                cpu_period: u.cpu_period,
                pids_limit: u.pids_limit,
            };
            ct_exec::update::update(&store, &u.id, &limits).map(|_| 0)
        }
        Some(Cmd::Features) => ct_exec::features::print_features().map(|_| 0),
        Some(Cmd::Spec { bundle, rootless }) => {
            ct_exec::features::write_spec(&bundle, rootless).map(|_| 0)
        }
        Some(Cmd::Checkpoint { .. }) => Err(ExecError::Usage(
            "checkpoint, restore and events are not implemented by ct-exec".into(),
        )),
        Some(Cmd::Exec(a)) => {
            let command = match a.command.first().map(String::as_str) {
                Some("--") => a.command[1..].to_vec(),
                _ => a.command,
            };
            let opts = ct_exec::nsenter::ExecOptions {
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
            ct_exec::nsenter::exec(&store, &opts)
        }
        Some(Cmd::Wait { timeout, id }) => {
            let t = timeout.map(|s| std::time::Duration::from_secs_f64(s.clamp(0.0, 1e9)));
            ct_exec::wait::wait(&store, &id, t).map(|code| {
                if let Some(c) = code {
                    ct_layout::pipe::emit(c);
                }
                0
            })
        }
        Some(Cmd::Cp { id, out, into }) => match ct_layout::bundle::Bundle::find(&store, &id) {
            Err(e) => Err(e.into()),
            Ok(b) => match (out, into) {
                (Some(p), _) => {
                    ct_exec::copy_tar::copy_out(&b.rootfs(), &p, std::io::stdout().lock())
                }
                (_, Some(d)) => {
                    ct_exec::copy_tar::copy_in(&b.rootfs(), &d, std::io::stdin().lock())
                }
                _ => Ok(()),
            }
            .map(|_| 0)
            .map_err(Into::into),
        },
        None => {
            let a = cli.run;
            let opts = RunOptions {
                id: a.id,
                pass_fds,
                init: a.init,
                detach: a.detach,
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
            match a.bundle.map(Ok).unwrap_or_else(bundle_from_stdin) {
                Ok(b) => ct_exec::run::run(&store, &b, &opts),
                Err(e) => Err(e),
            }
        }
    };
    match r {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            if let Some(l) = &log {
                l.error(&e);
            }
            ct_layout::cli::fail("ct-exec", &e, e.exit_code_of(verb))
        }
    }
}
