//! ct-exec: run an OCI bundle as a container. Thin CLI over the `ct_exec` library.

use clap::{Args, Parser, Subcommand};
use ct_exec::oci_config::Overrides;
use ct_exec::run::RunOptions;
use ct_exec::{ExecError, Verb};
use ct_layout::Store;

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
/// Not applied (each named in a warning when present): hooks, AppArmor/SELinux labels,
/// ioPriority, scheduler, execCPUAffinity.
///
/// Exit codes: the container's status (128+N when it was killed by signal N, or when ct-exec
/// was interrupted by signal N while starting it); 125 ct-exec itself failed; 126 the command
/// cannot be run; 127 the command was not found; 2 usage.
/// `exec`: as a run (125 when the container does not exist or is not running).
/// `kill` and `delete`: 0 ok, 1 failure (no such container, still running...), 2 usage.
#[derive(Parser)]
#[command(
    name = "ct-exec",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    run: RunArgs,
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

#[derive(Subcommand)]
enum Cmd {
    /// Run a new process in a running container: its namespaces (setns), its cgroup,
    /// capabilities, rlimits, no_new_privs, seccomp profile, environment and working directory
    /// from its config.json (unless overridden). Exit status as for a run; 125 when the
    /// container does not exist or is not running.
    Exec(ExecArgs),
    /// Send a signal (name or number, default TERM) to a container's process.
    Kill {
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
    /// Remove a stopped container's state (with --force, kill it first; an unknown or
    /// half-created id is then not an error, as with runc).
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
}

#[derive(Args)]
struct ExecArgs {
    /// Container id (or a prefix of exactly one).
    id: String,
    /// Command and arguments (default: the config's process.args), after the id or after `--`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
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
    /// A pseudo-terminal, in raw mode, with window size changes forwarded.
    #[arg(short, long)]
    tty: bool,
    /// With -t: forward stdin to the terminal. (Without -t stdin is always passed through.)
    #[arg(short, long)]
    interactive: bool,
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

fn main() {
    // The verbs that enter a container (run, exec) run from a read-only view of the binary
    // (ct_exec::cloned_binary). Decided on argv alone, before parsing it: the process that
    // re-executes does nothing else. contain() below checks again.
    let arg1 = std::env::args_os().nth(1);
    let other = [
        "kill",
        "delete",
        "wait",
        "help",
        "--help",
        "-h",
        "--version",
        "-V",
    ];
    if !arg1
        .as_deref()
        .is_some_and(|v| other.iter().any(|o| v == *o))
    {
        if let Err(e) = ct_exec::cloned_binary::ensure() {
            let e =
                ExecError::Containment(format!("cannot run from a read-only view of ct-exec: {e}"));
            ct_layout::cli::fail("ct-exec", &e, e.exit_code());
        }
    }
    let cli = ct_layout::cli::parse::<Cli>("ct-exec");
    let store = Store::from_env();
    let verb = match cli.cmd {
        Some(Cmd::Kill { .. } | Cmd::Delete { .. } | Cmd::Wait { .. } | Cmd::Cp { .. }) => {
            Verb::Lifecycle
        }
        _ => Verb::Run,
    };
    // The verbs that enter a container first contain ct-exec itself (LISTEN_FDS: `run` only).
    let contained = match &cli.cmd {
        Some(Cmd::Exec(a)) => ct_exec::contain(false, a.preserve_fds),
        None => ct_exec::contain(true, cli.run.preserve_fds),
        _ => Ok(Default::default()),
    };
    let pass_fds = contained.unwrap_or_else(|e| ct_layout::cli::fail("ct-exec", &e, e.exit_code()));
    let r = match cli.cmd {
        Some(Cmd::Kill { id, signal }) => match ct_exec::signals::parse(&signal) {
            Some(sig) => ct_exec::lifecycle::kill(&store, &id, sig).map(|_| 0),
            None => Err(ExecError::Signal(signal)),
        },
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
        Some(Cmd::Delete { force, id }) => {
            ct_exec::lifecycle::delete(&store, &id, force).map(|_| 0)
        }
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
            };
            match a.bundle.map(Ok).unwrap_or_else(bundle_from_stdin) {
                Ok(b) => ct_exec::run::run(&store, &b, &opts),
                Err(e) => Err(e),
            }
        }
    };
    match r {
        Ok(code) => std::process::exit(code),
        Err(e) => ct_layout::cli::fail("ct-exec", &e, e.exit_code_of(verb)),
    }
}
