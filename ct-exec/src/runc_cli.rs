//! runc's command line, as ct-exec takes it: the short form `ct-exec [BUNDLE] [-- CMD]` and
//! runc's verbs (create, start, state, kill, delete, run, exec, ps, pause, resume, update,
//! list, features, spec, plus wait and cp), declared with clap so that `--help`, the man page
//! and the completions all come from here (`ct_layout::man_pages`).
//!
//! runc's global flags (`--root`, `--log`, `--log-format`, `--debug`, `--systemd-cgroup`) come
//! before the verb, as podman, conmon and containerd's shim pass them. clap cannot take flags
//! of the top level before a subcommand when the top level also takes a positional (the
//! bundle of the short form), so [`split_globals`] takes them off argv first. What each verb
//! does is in `verbs.rs`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
/// Not applied (each named in a warning when present): AppArmor/SELinux labels,
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
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// runc's global flags, before the verb (podman, conmon and containerd-shim pass them).
/// Taken off argv by [`split_globals`]; declared here for `--help`. Not `global`: after the
/// verb they are refused, as by runc (and clap builds its command tree faster without
/// copying them into every verb's).
#[derive(Args)]
pub struct Global {
    /// Directory for container state (runc's --root): state in DIR/containers/ID
    /// (default: $CT_RUN).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Also write errors and warnings to FILE.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Format of --log: text, or json (one {"level","msg","time"} object per line).
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    /// Accepted for runc compatibility (debug lines go to --log).
    #[arg(long)]
    pub debug: bool,
    /// linux.cgroupsPath is systemd's slice:prefix:name (the cgroupfs directory systemd
    /// would use; systemd itself is not needed).
    #[arg(long)]
    pub systemd_cgroup: bool,
}

impl Global {
    /// No global flag given.
    pub fn none() -> Global {
        Global {
            root: None,
            log: None,
            log_format: LogFormat::Text,
            debug: false,
            systemd_cgroup: false,
        }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Args, Debug, PartialEq)]
pub struct RunArgs {
    /// Bundle directory or container id (default: one line of stdin).
    pub bundle: Option<String>,
    /// Command and arguments, replacing process.args.
    #[arg(last = true)]
    pub command: Vec<String>,
    /// Set an environment variable (KEY=VALUE, or KEY to copy it from here). Repeatable.
    #[arg(short, long = "env", value_name = "KEY[=VALUE]")]
    pub env: Vec<String>,
    /// Working directory in the container (replaces process.cwd).
    #[arg(short, long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// User: uid[:gid] or name[:group] from the rootfs's /etc/passwd and /etc/group.
    #[arg(short, long, value_name = "USER")]
    pub user: Option<String>,
    /// Hostname (needs a new uts namespace).
    #[arg(long)]
    pub hostname: Option<String>,
    /// A pseudo-terminal, in raw mode, with window size changes forwarded.
    #[arg(short, long)]
    pub tty: bool,
    /// With -t: forward stdin to the terminal. (Without -t stdin is always passed through.)
    #[arg(short, long)]
    pub interactive: bool,
    /// Detach: print the container id and leave it running, output in
    /// $CT_RUN/containers/ID/container.log.
    #[arg(short, long)]
    pub detach: bool,
    /// Run a tiny init as PID 1 that reaps zombies and forwards signals.
    #[arg(long)]
    pub init: bool,
    /// Remove the container's state when it ends (a store bundle otherwise keeps it, stopped,
    /// for `ct ps -a` until `ct-exec delete`). Foreground only.
    #[arg(long, conflicts_with = "detach")]
    pub rm: bool,
    /// Container id (default: the bundle's name for bundles in $CT_ROOT, else random).
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// Pass fds 3..3+N to the command (after any from socket activation, LISTEN_FDS); every
    /// other inherited fd above 2 is closed.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Also append the container's stdout and stderr to FILE, each line with the time it was
    /// written (podman's k8s-file format; read it with `ct-exec logs FILE`). With -d, FILE
    /// takes the output instead of $CT_RUN/containers/ID/container.log.
    #[arg(long, value_name = "FILE")]
    pub log_path: Option<PathBuf>,
    /// Rotate FILE before it grows past SIZE bytes (K, M, G suffixes).
    #[arg(long, value_name = "SIZE", requires = "log_path")]
    pub log_max_size: Option<String>,
    /// Files kept when rotating, FILE included (FILE.1 is the one before it…).
    #[arg(long, value_name = "N", default_value_t = 1, requires = "log_path",
          value_parser = clap::value_parser!(u32).range(1..1000))]
    pub log_max_file: u32,
}

/// What runc's `create` and `run` take.
#[derive(Args, Debug, PartialEq)]
pub struct CreateArgs {
    /// Container id.
    pub id: String,
    /// Bundle directory (default: the current directory).
    #[arg(short, long, value_name = "DIR", default_value = ".")]
    pub bundle: String,
    /// Write the container's pid to FILE.
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Send the terminal's master fd to this unix socket (SCM_RIGHTS) instead of relaying it.
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Pass fds 3..3+N to the command (after any from socket activation).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Accepted for runc compatibility; ct-exec always uses pivot_root(2).
    #[arg(long)]
    pub no_pivot: bool,
    /// Accepted for runc compatibility; ct-exec creates no session keyring.
    #[arg(long)]
    pub no_new_keyring: bool,
}

#[derive(Subcommand, Debug, PartialEq)]
pub enum Cmd {
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
    /// Run CMD (default: $SHELL, else /bin/sh) inside this user's namespaces, as podman
    /// unshare does; as root, simply run it.
    Unshare {
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "CMD"
        )]
        command: Vec<OsString>,
    },
    /// Print a log written with --log-path: stdout lines on stdout, stderr lines on stderr,
    /// the rotated files first (FILE.N … FILE.1, FILE).
    Logs {
        /// Keep printing what is appended (also across a rotation); with --pid, until PID ends.
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines.
        #[arg(short = 'n', long, value_name = "N")]
        tail: Option<usize>,
        /// Only lines written since T: RFC 3339 time, date, Unix time, or a duration before
        /// now (10m, 1h30m).
        #[arg(long, value_name = "T")]
        since: Option<String>,
        /// Each line preceded by the time it was written (RFC 3339, nanoseconds).
        #[arg(short, long)]
        timestamps: bool,
        /// With --follow: stop once this process (the container's) has ended.
        #[arg(long, value_name = "PID")]
        pid: Option<i32>,
        file: PathBuf,
    },
    /// Not implemented (runc's checkpoint, restore and events): fails with a usage error.
    #[command(aliases = ["restore", "events"])]
    Checkpoint {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        args: Vec<String>,
    },
}

#[derive(Args, Debug, PartialEq)]
pub struct UpdateArgs {
    pub id: String,
    /// linux.resources as JSON, from FILE or - (stdin).
    #[arg(short, long, value_name = "FILE")]
    pub resources: Option<PathBuf>,
    /// Memory limit in bytes (k, m, g suffixes).
    #[arg(short, long, value_name = "BYTES")]
    pub memory: Option<String>,
    /// Memory + swap limit in bytes (-1: unlimited).
    #[arg(long, value_name = "BYTES")]
    pub memory_swap: Option<String>,
    #[arg(long, value_name = "N")]
    pub cpu_shares: Option<u64>,
    #[arg(long, value_name = "N")]
    pub cpu_quota: Option<i64>,
    #[arg(long, value_name = "N")]
    pub cpu_period: Option<u64>,
    #[arg(long, value_name = "N")]
    pub pids_limit: Option<i64>,
}

#[derive(Args, Debug, PartialEq)]
pub struct ExecArgs {
    /// Container id (or a prefix of exactly one).
    pub id: String,
    /// Command and arguments (default: the config's process.args), after the id or after `--`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
    /// The process to run, as the runtime spec's `process` JSON (runc's --process).
    #[arg(short, long, value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Set an environment variable (KEY=VALUE, or KEY to copy it from here). Repeatable.
    #[arg(short, long = "env", value_name = "KEY[=VALUE]")]
    pub env: Vec<String>,
    /// Working directory in the container (replaces process.cwd).
    #[arg(short, long = "workdir", visible_alias = "cwd", value_name = "DIR")]
    pub workdir: Option<String>,
    /// User: uid[:gid] or name[:group] from the rootfs's /etc/passwd and /etc/group.
    #[arg(short, long, value_name = "USER")]
    pub user: Option<String>,
    /// A pseudo-terminal, in raw mode, with window size changes forwarded.
    #[arg(short, long)]
    pub tty: bool,
    /// With -t: forward stdin to the terminal. (Without -t stdin is always passed through.)
    #[arg(short, long)]
    pub interactive: bool,
    /// Return once the command runs, leaving it to the caller's subreaper.
    #[arg(short, long)]
    pub detach: bool,
    /// Write the new process's pid to FILE.
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Send the terminal's master fd to this unix socket (SCM_RIGHTS).
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Pass fds 3..3+N to the command; every other inherited fd above 2 is closed.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,
}

/// runc's global flags, taken off the front of argv by hand: clap does not allow flags of
/// the top level before a subcommand when the top level also takes a bundle (the short form).
/// Returns them and argv without them.
pub fn split_globals(args: Vec<OsString>) -> (Global, Vec<OsString>) {
    let mut g = Global::none();
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
                Some(v) => Some(OsString::from(v)),
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
        ct_layout::tool::usage("ct-exec", &b);
    }
    rest.extend(it);
    (g, rest)
}

/// What clap makes of a short form with no argument at all (checked against clap in the
/// tests): the short form's part of a [`Cli`] that names a verb.
impl Default for RunArgs {
    fn default() -> RunArgs {
        RunArgs {
            bundle: None,
            command: Vec::new(),
            env: Vec::new(),
            workdir: None,
            user: None,
            hostname: None,
            tty: false,
            interactive: false,
            detach: false,
            init: false,
            rm: false,
            id: None,
            preserve_fds: 0,
            log_path: None,
            log_max_size: None,
            log_max_file: 1,
        }
    }
}

/// The calls a runtime's caller makes for every container, read without clap: `create
/// --bundle B --pid-file F ID` (podman's and containerd's), `start ID`, `state ID`, `delete
/// [--force] ID`, `kill [--all] ID [SIGNAL]`. Building clap's command tree takes ~0.15 ms, a
/// fifth of such a call. Anything else (another verb or flag, `--help`, `--flag=value`, a
/// flag twice, a value that starts with `-`, one argument more or less) is None: clap reads
/// it, and says what is wrong. The tests hold every form read here to clap's reading.
pub fn lifecycle_call(args: &[OsString]) -> Option<Cli> {
    let [_, verb, rest @ ..] = args else {
        return None;
    };
    let plain = |a: &OsString| {
        a.to_str()
            .filter(|s| !s.is_empty() && !s.starts_with('-'))
            .map(String::from)
    };
    let flag =
        |a: &OsString, long: &str, short: &str| a == long || (!short.is_empty() && a == short);
    let cmd = match (verb.to_str()?, rest) {
        ("start", [id]) => Cmd::Start { id: plain(id)? },
        ("state", [id]) => Cmd::State { id: plain(id)? },
        ("delete", [id]) => Cmd::Delete {
            force: false,
            id: plain(id)?,
        },
        ("delete", [f, id]) if flag(f, "--force", "-f") => Cmd::Delete {
            force: true,
            id: plain(id)?,
        },
        ("kill", _) => {
            let (all, rest) = match rest {
                [a, rest @ ..] if flag(a, "--all", "-a") => (true, rest),
                _ => (false, rest),
            };
            let (id, signal) = match rest {
                [id] => (plain(id)?, "TERM".to_string()),
                [id, signal] => (plain(id)?, plain(signal)?),
                _ => return None,
            };
            Cmd::Kill {
                all,
                timeout: None,
                id,
                signal,
            }
        }
        ("create", [flags @ .., id]) if flags.len() % 2 == 0 => {
            let mut c = CreateArgs {
                id: plain(id)?,
                bundle: ".".into(),
                pid_file: None,
                console_socket: None,
                preserve_fds: 0,
                no_pivot: false,
                no_new_keyring: false,
            };
            let (mut bundle, mut pid_file, mut socket) = (false, false, false);
            for pair in flags.chunks_exact(2) {
                let value = plain(&pair[1])?;
                let seen = match () {
                    _ if flag(&pair[0], "--bundle", "-b") => {
                        c.bundle = value;
                        &mut bundle
                    }
                    _ if flag(&pair[0], "--pid-file", "") => {
                        c.pid_file = Some(value.into());
                        &mut pid_file
                    }
                    _ if flag(&pair[0], "--console-socket", "") => {
                        c.console_socket = Some(value.into());
                        &mut socket
                    }
                    _ => return None,
                };
                if std::mem::replace(seen, true) {
                    return None;
                }
            }
            Cmd::Create(c)
        }
        _ => return None,
    };
    Some(Cli {
        global: Global::none(),
        cmd: Some(cmd),
        run: RunArgs::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn argv(args: &[&str]) -> Vec<OsString> {
        std::iter::once("ct-exec")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn run_args_default_is_what_clap_reads_from_no_argument() {
        let cli = Cli::try_parse_from(argv(&[])).expect("clap");
        assert_eq!(cli.run, RunArgs::default());
    }

    /// Every call [`lifecycle_call`] reads is read as clap reads it; the forms podman and
    /// containerd use are read; anything else is left to clap.
    #[test]
    fn lifecycle_calls_read_without_clap_are_read_as_clap_reads_them() {
        let read = [
            &["start", "abc"][..],
            &["state", "abc"],
            &["delete", "abc"],
            &["delete", "--force", "abc"],
            &["delete", "-f", "abc"],
            &["kill", "abc"],
            &["kill", "abc", "KILL"],
            &["kill", "abc", "9"],
            &["kill", "--all", "abc", "TERM"],
            &["kill", "-a", "abc"],
            &["create", "--bundle", "/b", "--pid-file", "/p", "id1"],
            &["create", "--pid-file", "p", "--bundle", "b", "id1"],
            &["create", "-b", "b", "id1"],
            &["create", "id1"],
            &[
                "create",
                "--bundle",
                "b",
                "--pid-file",
                "p",
                "--console-socket",
                "s",
                "id1",
            ],
        ];
        for args in read {
            let fast = lifecycle_call(&argv(args)).unwrap_or_else(|| panic!("{args:?}: not read"));
            let clap =
                Cli::try_parse_from(argv(args)).unwrap_or_else(|e| panic!("{args:?}: clap: {e}"));
            assert_eq!(fast.cmd, clap.cmd, "{args:?}");
            assert_eq!(fast.run, clap.run, "{args:?}");
        }
        let left = [
            &["start"][..],
            &["start", "a", "b"],
            &["start", "--help"],
            &["start", "-x"],
            &["start", ""],
            &["delete", "abc", "--force"],
            &["delete", "--force", "--force", "abc"],
            &["kill", "abc", "-9"],
            &["kill", "--all", "--all", "abc"],
            &["kill", "a", "b", "c"],
            &["create", "--bundle", "b"],
            &["create", "--bundle=b", "id1"],
            &["create", "--bundle", "b", "--bundle", "c", "id1"],
            &["create", "--no-pivot", "--bundle", "b", "id1"],
            &["create", "--bundle", "-b", "id1"],
            &["create", "--bundle", "b", "--preserve-fds", "1", "id1"],
            &["run", "--bundle", "b", "id1"],
            &["list"],
            &["bundle-dir"],
        ];
        for args in left {
            assert!(lifecycle_call(&argv(args)).is_none(), "{args:?}: read");
        }
    }
}
