//! Reading an OCI runtime config (`config.json`, runtime-spec `config.md` and
//! `config-linux.md`) into a [`Plan`]: everything the child will do, checked and resolved in
//! the parent *before* any process or namespace exists, so a bad bundle fails early with one
//! line and leaves nothing behind.
//!
//! Steps:
//! 1. Parse the JSON (oci-spec's types) and, separately, walk its keys: a key ct-exec does not
//!    implement is a warning naming it (`process.apparmorProfile`, `process.ioPriority` …) or an error when
//!    ignoring it would be unsafe or wrong (`linux.intelRdt`, idmapped mounts, another OS).
//! 2. Apply the command-line overrides (`-- CMD`, `-e`, `-w`, `-u`, `--hostname`, `-t`).
//! 3. Resolve the rootfs, parse mounts, devices, capabilities, rlimits, namespaces, maps:
//!    one function per part below [`Plan::new`] (`oci_config/process.rs`, `oci_config/linux.rs`).
//!    Keys: [`crate::config_keys`]; users and ids: [`crate::process_user`].

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::capabilities::CapError;
use crate::credentials::Identity;
use crate::devices::{DeviceError, DevicePlan};
use crate::mounts::{MountError, MountPlan};
use crate::namespaces::{NsError, NsPlan};
use crate::pivot_root::PivotError;
use crate::rlimits::{self, Rlimit, RlimitError};
use crate::sysctl::SysctlError;
use crate::user_ns::{self, UserNsError};

use crate::config_keys::is_empty;
pub use crate::config_keys::{check_json, check_keys};
use crate::process_user::check_ids;
pub use crate::process_user::parse_user;

mod linux;
mod process;
use linux::{
    absolute_paths, device_list, mount_list, root_filesystem, sysctls, time_offsets, uts_names,
};
use process::{capabilities, command, cstring, environment, working_directory};

/// Command-line overrides of the config.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Replaces `process.args` when not empty.
    pub args: Vec<String>,
    /// `KEY=VALUE` (or `KEY`, taken from ct-exec's environment), added or replacing.
    pub env: Vec<String>,
    pub cwd: Option<String>,
    /// `uid[:gid]` or `name[:group]` (names from the rootfs's /etc/passwd and /etc/group).
    pub user: Option<String>,
    pub hostname: Option<String>,
    /// Force a terminal (`-t`).
    pub tty: bool,
}

/// Everything the container needs, resolved.
#[derive(Debug, Clone)]
pub struct Plan {
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub root_readonly: bool,
    pub ns: NsPlan,
    pub uid_map: String,
    pub gid_map: String,
    /// The maps are written by an unprivileged parent (or its newuidmap), which needs the
    /// child dumpable meanwhile ([`crate::user_ns`]).
    pub maps_by_user: bool,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub propagation: libc::c_ulong,
    pub mounts: Vec<MountPlan>,
    pub devices: Vec<DevicePlan>,
    pub masked: Vec<PathBuf>,
    pub readonly: Vec<PathBuf>,
    pub sysctl: Vec<(String, String)>,
    pub time_offsets: Vec<(String, String)>,
    pub terminal: bool,
    pub console_size: Option<(u16, u16)>,
    pub args: Vec<CString>,
    pub env: Vec<CString>,
    pub cwd: PathBuf,
    pub identity: Identity,
    pub rlimits: Vec<Rlimit>,
    pub oom_score_adj: Option<i32>,
    pub cgroups_path: Option<PathBuf>,
    pub has_resources: bool,
    pub spec: Spec,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config.json: {0} is not supported")]
    Unsupported(String),
    #[error("config.json: {0}")]
    Invalid(String),
    #[error("config.json: no process to run (process.args is empty and no command was given)")]
    NoArgs,
    #[error("root filesystem '{path}' is not a directory")]
    Rootfs {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("-u {0}: no such user or group in the rootfs's /etc/passwd or /etc/group")]
    User(String),
    /// A uid or gid the process cannot be: `field` names where it came from.
    #[error("{field}: {kind} {id} {why}")]
    Id {
        field: String,
        kind: &'static str,
        id: u32,
        why: &'static str,
    },
    #[error(transparent)]
    Ns(#[from] NsError),
    #[error(transparent)]
    UserNs(#[from] UserNsError),
    #[error(transparent)]
    Mount(#[from] MountError),
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error(transparent)]
    Cap(#[from] CapError),
    #[error(transparent)]
    Rlimit(#[from] RlimitError),
    #[error(transparent)]
    Pivot(#[from] PivotError),
    #[error(transparent)]
    Sysctl(#[from] SysctlError),
}

impl Plan {
    /// Steps 2 and 3, one named step per part of the config, in the order their errors are
    /// reported. The key check on the raw JSON (step 1) is the caller's.
    pub fn new(mut spec: Spec, bundle: &Path, o: &Overrides) -> Result<Plan, ConfigError> {
        let (rootfs, root_readonly) = root_filesystem(&spec, bundle)?;
        let mut process = spec
            .process()
            .clone()
            .ok_or(ConfigError::Invalid("process is missing".into()))?;
        let args = command(&mut process, o)?;
        let env = environment(&process, o);
        let cwd = working_directory(&process, o)?;
        let user = process.user().clone();
        let (uid, gid) = match &o.user {
            Some(u) => parse_user(u, &rootfs)?,
            None => (user.uid(), user.gid()),
        };
        let terminal = o.tty || process.terminal().unwrap_or(false);
        let console_size = process
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16));

        let ns = NsPlan::from_spec(&spec)?;
        let groups = user.additional_gids().clone().unwrap_or_default();
        check_ids(&spec, ns.new_user, o.user.as_deref(), uid, gid, &groups)?;
        let (uid_map, gid_map) = if ns.new_user {
            user_ns::map_contents(&spec)?
        } else {
            (String::new(), String::new())
        };
        let linux = spec.linux().clone().unwrap_or_default();
        let (hostname, domainname) = uts_names(&spec, o, &ns)?;
        let (propagation, mounts) = mount_list(&spec, &linux, &ns, bundle)?;
        let devices = device_list(&linux)?;
        let masked = absolute_paths(linux.masked_paths(), "linux.maskedPaths")?;
        let readonly = absolute_paths(linux.readonly_paths(), "linux.readonlyPaths")?;
        let sysctl = sysctls(&linux, &ns)?;
        let time_offsets = time_offsets(&linux, &ns)?;
        let identity = Identity {
            uid,
            gid,
            groups,
            // Like runc: a config without one gets 0022, not whatever ct-exec was started with.
            umask: Some(user.umask().unwrap_or(0o022)),
            caps: capabilities(&spec)?,
            no_new_privs: process.no_new_privileges().unwrap_or(false),
        };
        let rlimits = rlimits::from_spec(&spec)?;
        let has_resources = linux
            .resources()
            .as_ref()
            .and_then(|r| serde_json::to_value(r).ok())
            .is_some_and(|v| !is_empty(&v));

        let args = args
            .iter()
            .map(|a| cstring(a, "process.args"))
            .collect::<Result<Vec<_>, _>>()?;
        let env = env
            .iter()
            .map(|kv| cstring(kv, "process.env"))
            .collect::<Result<Vec<_>, _>>()?;
        if cwd.as_os_str().as_bytes().contains(&0) {
            return Err(ConfigError::Invalid(
                "process.cwd contains a NUL byte".into(),
            ));
        }
        spec.set_process(Some(process));
        Ok(Plan {
            bundle: bundle.to_path_buf(),
            rootfs,
            root_readonly,
            uid_map,
            gid_map,
            maps_by_user: ns.new_user && !rustix::process::geteuid().is_root(),
            hostname,
            domainname,
            propagation,
            mounts,
            devices,
            masked,
            readonly,
            sysctl,
            time_offsets,
            terminal,
            console_size,
            args,
            env,
            cwd,
            identity,
            rlimits,
            oom_score_adj: spec.process().as_ref().and_then(|p| p.oom_score_adj()),
            cgroups_path: linux.cgroups_path().clone(),
            has_resources,
            ns,
            spec,
        })
    }

    /// The command as a human reads it.
    pub fn command_line(&self) -> String {
        self.args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}
