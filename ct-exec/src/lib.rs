//! ct-exec: an OCI runtime. Runs a bundle (`config.json` + `rootfs/`) as a container: new
//! namespaces, the mounts, `pivot_root`, devices, identity and capabilities, then `execve`.
//!
//! Read it in this order: [`run`] (the parent: from a bundle to an exit status; it claims
//! the state directory in `state_dir`, creates the process in `start` and `clone`, and
//! waits for it in `relay`), [`child`]
//! (the container's first process, step by step), then one module per kernel primitive —
//! [`namespaces`], [`user_ns`], [`mounts`], [`rootfs_path`], [`devices`], [`pivot_root`],
//! [`masked_paths`], [`sysctl`], [`rlimits`], [`capabilities`], [`credentials`], [`pty`],
//! [`signals`], [`init`], [`exec`], [`seccomp`]. [`lifecycle`] is runc's verbs on an existing
//! container (`start`, `state`, `kill`, `delete`, `pause`, `resume`, `ps`; `create` is
//! [`run`] stopped at [`exec_fifo`]; [`console_socket`], [`hooks`], [`runc_log`], [`update`],
//! [`features`] are the rest of runc's command line);
//! [`nsenter`] is `exec`, a new process in a running container. [`cloned_binary`] and [`fds`]
//! are what `run` and `exec` do first, before anything else: run from a read-only view of the
//! binary, non-dumpable, and keep no inherited fd but those passed on purpose.
//!
//! Exit codes (the table in `ct_layout::pipe`): a run or an exec ends with the command's own
//! status (128+N when killed by signal N), 125 when ct-exec itself fails (chroot(1)'s codes:
//! 1..=124 belong to the command), 126 when the command cannot be run, 127 when it is not
//! found. `kill` and `delete` run no command: 0 ok, 1 failure. Usage errors are 2.

pub mod capabilities;
pub mod cgroup;
mod cgroup_mount;
pub mod child;
mod clone;
pub mod cloned_binary;
pub mod config_keys;
pub mod console;
pub mod console_socket;
pub mod container_log;
pub mod copy_tar;
pub mod credentials;
pub mod devices;
pub mod exec;
pub mod exec_fifo;
pub mod fds;
pub mod features;
pub mod hooks;
pub mod init;
pub mod lifecycle;
pub mod masked_paths;
pub mod mounts;
pub mod namespaces;
pub mod nsenter;
pub mod oci_config;
pub mod pivot_root;
pub mod process_user;
pub mod procfs;
pub mod pty;
mod relay;
pub mod rlimits;
pub mod rootfs_path;
pub mod rootless;
pub mod run;
pub mod runc_cli;
pub mod runc_log;
pub mod seccomp_hook;
pub mod signals;
mod start;
mod state_dir;
pub mod sync_socket;
pub mod sysctl;
pub mod unshare;
pub mod update;
pub mod user_ns;
pub mod verbs;
pub mod wait;

use std::io;
use std::path::PathBuf;

use ct_layout::pipe::{EXIT_FAILURE, EXIT_RUNTIME_FAILURE, EXIT_USAGE};

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Input(#[from] ct_layout::pipe::InputError),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Bundle(#[from] ct_layout::bundle::BundleError),
    #[error("cannot read '{path}'")]
    ConfigRead {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid config '{path}'")]
    ConfigParse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("config.json: {0} is not supported by ct-exec")]
    Unsupported(String),
    #[error(transparent)]
    Config(#[from] oci_config::ConfigError),
    #[error(transparent)]
    UserNs(#[from] user_ns::UserNsError),
    #[error(transparent)]
    Pty(#[from] pty::PtyError),
    #[error(transparent)]
    Cgroup(#[from] cgroup::CgroupError),
    #[error("seccomp profile")]
    Seccomp(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("cannot create '{path}'")]
    StateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    State(#[from] ct_layout::state::StateError),
    #[error("container '{0}' already exists and is in use")]
    InUse(String),
    #[error("container '{0}' already exists (stopped); remove it with: ct-exec delete {0}")]
    Exists(String),
    #[error("cannot {step}")]
    Spawn {
        step: &'static str,
        #[source]
        source: io::Error,
    },
    /// The container's first process reported a failure; `code` is 125, 126 or 127.
    #[error("{message}")]
    Container { code: i32, message: String },
    #[error("container '{0}' is not running")]
    NotRunning(String),
    #[error("no container '{0}'")]
    NoSuchContainer(String),
    #[error("cannot {what}")]
    Enter {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("container '{0}' is running; stop it first (ct-exec kill {0}) or use delete --force")]
    StillRunning(String),
    #[error("interrupted by signal {0} while starting the container")]
    Interrupted(i32),
    /// Closing inherited fds, re-executing from a sealed copy, non-dumpable (at startup).
    #[error("{0}")]
    Containment(String),
    #[error("unknown signal '{0}'")]
    Signal(String),
    #[error("container '{0}' is still running after the timeout")]
    WaitTimeout(String),
    #[error(transparent)]
    Copy(#[from] copy_tar::CopyError),
    #[error("cannot signal container '{id}'")]
    Kill {
        id: String,
        #[source]
        source: io::Error,
    },
    #[error("container '{0}' does not exist")]
    DoesNotExist(String),
    /// A lifecycle operation in a state that does not allow it (runtime-spec `runtime.md`).
    #[error("cannot {verb} container '{id}': it is {status}")]
    WrongState {
        verb: &'static str,
        id: String,
        status: String,
    },
    #[error("cannot start container '{id}': no process waits for start")]
    Start {
        id: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    ConsoleSocket(#[from] console_socket::ConsoleSocketError),
    #[error("cannot {what} the cgroup of container '{id}'")]
    CgroupOf {
        what: &'static str,
        id: String,
        #[source]
        source: ct_cgroup::CgroupError,
    },
    #[error("cannot write '{path}'")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("hook {which}[{index}] ({path})")]
    Hook {
        which: &'static str,
        index: usize,
        path: String,
        #[source]
        source: io::Error,
    },
}

/// The verb that failed: it decides the exit code of a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// A run or an exec: 125 for ct-exec's own failure, as the command's statuses are 0..=124.
    Run,
    /// `kill` and `delete`, which run no command: 1 for every failure.
    Lifecycle,
}

/// First thing of the verbs that enter a container (run, exec): run from a sealed copy of the
/// binary, non-dumpable ([`cloned_binary`]), with no inherited fd above 2 but those passed on
/// purpose ([`fds`]; `LISTEN_FDS` for `run` only, as runc).
pub fn contain(listen: bool, preserve: u32) -> Result<fds::Passed, ExecError> {
    let fail = |what: &str, e: io::Error| ExecError::Containment(format!("{what}: {e}"));
    cloned_binary::ensure().map_err(|e| fail("cannot run from a read-only view of ct-exec", e))?;
    cloned_binary::not_dumpable().map_err(|e| fail("cannot make ct-exec non-dumpable", e))?;
    let listen = if listen { fds::listen_fds() } else { 0 };
    fds::keep_only(listen, preserve).map_err(ExecError::Containment)
}

impl ExecError {
    /// The exit code of this failure of a run or an exec.
    pub fn exit_code(&self) -> i32 {
        self.exit_code_of(Verb::Run)
    }

    /// The exit code of this failure of `verb` (the table in `ct_layout::pipe`).
    pub fn exit_code_of(&self, verb: Verb) -> i32 {
        match (self, verb) {
            (ExecError::Usage(_), _) => EXIT_USAGE,
            (ExecError::Input(e), _) => ct_layout::tool::Failure::exit_code(e),
            (_, Verb::Lifecycle) => EXIT_FAILURE,
            (ExecError::Container { code, .. }, Verb::Run) => *code,
            (ExecError::Interrupted(sig), Verb::Run) => 128 + sig,
            (_, Verb::Run) => EXIT_RUNTIME_FAILURE,
        }
    }

    /// `hint:` lines for known gotchas.
    pub fn hints(&self) -> Vec<&'static str> {
        match self {
            ExecError::Bundle(_) => {
                vec!["a bundle is a directory with config.json and rootfs/ (runc spec, umoci unpack, ct-unpack)"]
            }
            ExecError::Config(oci_config::ConfigError::Rlimit(_)) => {
                vec!["raising a hard limit needs CAP_SYS_RESOURCE; check `ulimit -H -a`"]
            }
            _ => Vec::new(),
        }
    }
}

impl ct_layout::tool::Failure for ExecError {
    fn exit_code(&self) -> i32 {
        ExecError::exit_code(self)
    }
    fn hints(&self) -> Vec<String> {
        ExecError::hints(self)
            .into_iter()
            .map(str::to_string)
            .collect()
    }
}

pub mod seccomp;
