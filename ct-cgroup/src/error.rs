//! What can fail while detecting, creating, limiting, reading and removing cgroups: one variant
//! per step, each carrying the cgroup file and the value involved, so the one-line message a
//! user sees names exactly what the kernel refused (`cannot write '67108864' to
//! '/sys/fs/cgroup/memory/ct/web/memory.limit_in_bytes': Device or resource busy`).

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cannot read '{path}'")]
    ReadProc {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("no cgroup hierarchy is mounted (no cgroup or cgroup2 line in /proc/self/mountinfo)")]
    NoHierarchy,
    #[error("invalid cgroups path '{path}': {reason}")]
    InvalidPath { path: String, reason: &'static str },
    #[error("invalid {what} '{value}': {reason}")]
    InvalidValue {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("the {controller} controller is not available on this host (needed for {needed_for}){where_}")]
    ControllerAbsent {
        controller: &'static str,
        needed_for: &'static str,
        /// Extra context, e.g. ` in the unified hierarchy at '/sys/fs/cgroup' (cgroup.controllers: cpu io)`.
        where_: String,
    },
    #[error("'{path}' is absent: swap accounting is off, so a memory+swap limit cannot be set")]
    SwapAccountingOff { path: PathBuf },
    #[error("cannot create cgroup '{path}'")]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write '{value}' to '{path}'")]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot read '{path}'")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("unexpected content in '{path}': '{content}'")]
    Parse { path: PathBuf, content: String },
    #[error("cannot move process {pid} into '{path}'")]
    Move {
        pid: i32,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot open '{path}'")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot move this process into '{path}'")]
    Enter {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("no cgroup '{path}' on this host")]
    NotFound { path: String },
    #[error("cannot signal process {pid} in '{path}'")]
    Kill {
        pid: i32,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("'{path}' is still {state} {secs} s after asking the kernel to freeze it")]
    FreezeTimeout {
        path: PathBuf,
        state: String,
        secs: u64,
    },
    #[error("processes are still alive in '{path}' {secs} s after SIGKILL: {pids:?}")]
    StillPopulated {
        path: PathBuf,
        pids: Vec<i32>,
        secs: u64,
    },
    #[error("cannot remove cgroup '{path}'")]
    Remove {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot {what} '{path}'{detail}", detail = if detail.is_empty() { String::new() } else { format!(" ({detail})") })]
    Bpf {
        what: &'static str,
        path: PathBuf,
        /// The verifier's last line, when it refused a program.
        detail: String,
        #[source]
        source: io::Error,
    },
    #[error("bundle '{input}'")]
    Bundle {
        input: String,
        #[source]
        source: ct_layout::bundle::BundleError,
    },
    #[error(transparent)]
    Input(#[from] ct_layout::pipe::InputError),
    #[error("bundle '{dir}' has no linux.cgroupsPath in config.json (run ct-cgroup on it first)")]
    NoCgroupsPath { dir: PathBuf },
}

impl CgroupError {
    /// `hint:` lines for the kernel's known refusals.
    pub fn hints(&self) -> Vec<&'static str> {
        let errno = |s: &io::Error| s.raw_os_error().unwrap_or(0);
        match self {
            CgroupError::Write { path, source, .. } => {
                let file = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                match (file.as_str(), errno(source)) {
                    ("memory.limit_in_bytes" | "memory.memsw.limit_in_bytes", libc::EBUSY) => {
                        vec!["the limit is below what the cgroup already uses; raise it or stop processes first"]
                    }
                    ("memory.limit_in_bytes", libc::EINVAL) => {
                        vec!["on cgroup v1 memory.memsw.limit_in_bytes must stay >= memory.limit_in_bytes"]
                    }
                    ("memory.memsw.limit_in_bytes", libc::EINVAL) => {
                        vec!["--memory-swap is memory plus swap, so it must be >= --memory"]
                    }
                    ("cpu.cfs_quota_us" | "cpu.max", libc::EINVAL) => {
                        vec!["the quota must be at least 1000 us and fit below the parent's quota"]
                    }
                    ("cpuset.cpus" | "cpuset.mems", libc::EINVAL | libc::ERANGE) => {
                        vec!["the list must name CPUs (or memory nodes) the parent cgroup has, e.g. 0-1 or 0,1"]
                    }
                    ("cgroup.subtree_control", libc::EBUSY) => {
                        vec!["cgroup v2's no-internal-process rule: a cgroup with processes cannot delegate controllers to children"]
                    }
                    _ => vec![],
                }
            }
            CgroupError::Move { source, .. } if errno(source) == libc::ESRCH => {
                vec!["no such process (it may have exited already)"]
            }
            CgroupError::Create { source, .. } | CgroupError::Remove { source, .. }
                if errno(source) == libc::EACCES || errno(source) == libc::EPERM =>
            {
                vec!["creating and removing cgroups needs root (or a delegated subtree)"]
            }
            CgroupError::Bpf { source, .. }
                if errno(source) == libc::EPERM || errno(source) == libc::EACCES =>
            {
                vec!["cgroup v2 device rules are a BPF program: loading one needs CAP_BPF and CAP_SYS_ADMIN (root)"]
            }
            CgroupError::SwapAccountingOff { .. } => {
                vec!["boot the kernel with swapaccount=1 (cgroup v1) to enable memory.memsw.*, or leave --memory-swap out"]
            }
            CgroupError::ControllerAbsent { .. } => {
                vec!["`ct-cgroup layout` shows which controllers this host has and where they are mounted"]
            }
            _ => vec![],
        }
    }
}

impl ct_layout::tool::Failure for CgroupError {
    fn exit_code(&self) -> i32 {
        match self {
            CgroupError::InvalidValue { .. }
            | CgroupError::InvalidPath { .. }
            | CgroupError::Input(ct_layout::pipe::InputError::Missing(_)) => {
                ct_layout::pipe::EXIT_USAGE
            }
            _ => ct_layout::pipe::EXIT_FAILURE,
        }
    }
    fn hints(&self) -> Vec<String> {
        CgroupError::hints(self)
            .into_iter()
            .map(str::to_string)
            .collect()
    }
}
