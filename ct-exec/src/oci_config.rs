//! Reading an OCI runtime config (`config.json`, runtime-spec `config.md` and
//! `config-linux.md`) into a [`Plan`]: everything the child will do, checked and resolved in
//! the parent *before* any process or namespace exists, so a bad bundle fails early with one
//! line and leaves nothing behind.
//!
//! Steps:
//! 1. Parse the JSON (oci-spec's types) and, separately, walk its keys: a key ct-exec does not
//!    implement is a warning naming it (`hooks.startContainer`, `process.apparmorProfile` …) or an error when
//!    ignoring it would be unsafe or wrong (`linux.intelRdt`, idmapped mounts, another OS).
//! 2. Apply the command-line overrides (`-- CMD`, `-e`, `-w`, `-u`, `--hostname`, `-t`).
//! 3. Resolve the rootfs, parse mounts, devices, capabilities, rlimits, namespaces, maps.

use std::collections::{BTreeMap, HashSet};
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use oci_spec::runtime::Spec;
use serde_json::Value;

use crate::capabilities::{CapError, CapSets};
use crate::credentials::Identity;
use crate::devices::{DeviceError, DevicePlan};
use crate::mounts::{MountError, MountPlan};
use crate::namespaces::{NsError, NsPlan};
use crate::pivot_root::{self, PivotError};
use crate::rlimits::{self, Rlimit, RlimitError};
use crate::sysctl::SysctlError;
use crate::user_ns::{self, UserNsError};
use ct_layout::in_root::Root;

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

/// Keys ct-exec implements, as dotted paths; `*` stands for "any array element / map key".
const KNOWN: &[&str] = &[
    "ociVersion",
    "root",
    "root.path",
    "root.readonly",
    "hostname",
    "domainname",
    "annotations",
    "annotations.*",
    "mounts",
    "mounts.*",
    "mounts.*.destination",
    "mounts.*.type",
    "mounts.*.source",
    "mounts.*.options",
    "mounts.*.options.*",
    "process",
    "hooks",
    "hooks.prestart",
    "hooks.createRuntime",
    "hooks.poststart",
    "hooks.poststop",
    "hooks.*.*",
    "hooks.*.*.path",
    "hooks.*.*.args",
    "hooks.*.*.env",
    "hooks.*.*.timeout",
    "process.terminal",
    "process.consoleSize",
    "process.consoleSize.height",
    "process.consoleSize.width",
    "process.user",
    "process.user.uid",
    "process.user.gid",
    "process.user.umask",
    "process.user.additionalGids",
    "process.user.additionalGids.*",
    "process.user.username",
    "process.args",
    "process.args.*",
    "process.env",
    "process.env.*",
    "process.cwd",
    "process.capabilities",
    "process.capabilities.*",
    "process.capabilities.*.*",
    "process.rlimits",
    "process.rlimits.*",
    "process.rlimits.*.type",
    "process.rlimits.*.soft",
    "process.rlimits.*.hard",
    "process.noNewPrivileges",
    "process.oomScoreAdj",
    "linux",
    "linux.uidMappings",
    "linux.uidMappings.*",
    "linux.uidMappings.*.*",
    "linux.gidMappings",
    "linux.gidMappings.*",
    "linux.gidMappings.*.*",
    "linux.sysctl",
    "linux.sysctl.*",
    "linux.namespaces",
    "linux.namespaces.*",
    "linux.namespaces.*.type",
    "linux.namespaces.*.path",
    "linux.devices",
    "linux.devices.*",
    "linux.devices.*.*",
    "linux.rootfsPropagation",
    "linux.maskedPaths",
    "linux.maskedPaths.*",
    "linux.readonlyPaths",
    "linux.readonlyPaths.*",
    "linux.cgroupsPath",
    "linux.resources",
    "linux.seccomp",
    "linux.seccomp.*",
    "linux.seccomp.*.*",
    "linux.seccomp.*.*.*",
    "linux.seccomp.*.*.*.*",
    "linux.seccomp.*.*.*.*.*",
    "linux.timeOffsets",
    "linux.timeOffsets.*",
    "linux.timeOffsets.*.*",
];

/// Keys that are fine to ignore when empty, and an error otherwise (ignoring them would run
/// the container with less protection, or differently, than asked).
const ERROR_IF_SET: &[&str] = &[
    "linux.intelRdt",
    "linux.personality",
    "mounts.*.uidMappings",
    "mounts.*.gidMappings",
    "solaris",
    "windows",
    "vm",
    "zos",
];

/// Keys that are ignored with a warning.
const WARN_IF_SET: &[&str] = &[
    // Run: prestart, createRuntime, poststart, poststop (crate::hooks).
    "hooks.createContainer",
    "hooks.startContainer",
    "process.apparmorProfile",
    "process.selinuxLabel",
    "process.ioPriority",
    "process.scheduler",
    "process.execCPUAffinity",
    "process.commandLine",
    "linux.mountLabel",
];

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

// Component by component without collecting: this runs for every key of config.json against
// every pattern (a default seccomp profile alone has hundreds of keys), so it must not allocate.
fn matches(pattern: &str, path: &str) -> bool {
    let (mut p, mut k) = (pattern.split('.'), path.split('.'));
    loop {
        match (p.next(), k.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a == "*" || a == b => {}
            _ => return false,
        }
    }
}

/// A list of key patterns, looked up as runc's key check would be but in a time that does
/// not grow with the list: every pattern by exact key first (one hash lookup — the common
/// case, since keys are made generic the same way the patterns are written), then only the
/// patterns with a `*` one by one.
struct Patterns {
    exact: HashSet<&'static str>,
    wild: Vec<&'static str>,
}

impl Patterns {
    fn new(list: &'static [&'static str]) -> Patterns {
        Patterns {
            exact: list.iter().copied().collect(),
            wild: list.iter().copied().filter(|p| p.contains('*')).collect(),
        }
    }

    fn matches(&self, key: &str) -> bool {
        self.exact.contains(key) || self.wild.iter().any(|p| matches(p, key))
    }
}

fn known() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| Patterns::new(KNOWN))
}

fn error_if_set() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| Patterns::new(ERROR_IF_SET))
}

fn warn_if_set() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| Patterns::new(WARN_IF_SET))
}

/// Step 1 (keys): (warnings, errors), each naming the key.
pub fn check_keys(v: &Value) -> (Vec<String>, Vec<String>) {
    let mut warn = Vec::new();
    let mut err = Vec::new();
    // `path` is the key as printed; `generic` the same with array indexes and free-form map
    // keys (which may contain dots, like annotations) replaced by `*`.
    fn walk(v: &Value, path: &str, generic: &str, warn: &mut Vec<String>, err: &mut Vec<String>) {
        let children: Vec<(String, bool, &Value)> = match v {
            Value::Object(o) => o.iter().map(|(k, v)| (k.clone(), false, v)).collect(),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), true, v))
                .collect(),
            _ => return,
        };
        let free_form = known().exact.contains(format!("{generic}.*").as_str());
        for (k, index, child) in children {
            let join = |a: &str, b: &str| {
                if a.is_empty() {
                    b.to_string()
                } else {
                    format!("{a}.{b}")
                }
            };
            let p = join(path, &k);
            let literal = join(generic, &k);
            let g = if index || (free_form && !known().exact.contains(literal.as_str())) {
                join(generic, "*")
            } else {
                literal
            };
            if error_if_set().matches(&g) {
                if !is_empty(child) {
                    err.push(p);
                }
                continue;
            }
            if warn_if_set().matches(&g) {
                if !is_empty(child) {
                    warn.push(format!("{p} is ignored"));
                }
                continue;
            }
            if !known().matches(&g) {
                warn.push(format!("unknown key {p} is ignored"));
                continue;
            }
            // ct-cgroup applies the resources, and names what it does not.
            if g == "linux.resources" {
                warn.extend(ct_cgroup::oci_config::resource_warnings(child));
                continue;
            }
            walk(child, &p, &g, warn, err);
        }
    }
    walk(v, "", "", &mut warn, &mut err);
    (warn, err)
}

fn cstring(s: &str, what: &str) -> Result<CString, ConfigError> {
    CString::new(s).map_err(|_| ConfigError::Invalid(format!("{what} contains a NUL byte")))
}

/// Look up `name` in an /etc/passwd-style file of the image; field 2 is the id, field 3
/// (passwd) the gid. The file is opened inside the rootfs (openat2 `RESOLVE_IN_ROOT`): the
/// image's `/etc/passwd -> /etc/passwd` or `-> /root/secret` must not read the host's.
fn lookup_name(root: &Root, file: &str, name: &str) -> Option<(u32, Option<u32>)> {
    let bytes = root.read(Path::new(file), 16 << 20).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.first() == Some(&name) {
            let id = f.get(2)?.parse().ok()?;
            let gid = f.get(3).and_then(|g| g.parse().ok());
            Some((id, gid))
        } else {
            None
        }
    })
}

/// `-u uid[:gid]` or `name[:group]` → (uid, gid).
pub fn parse_user(s: &str, rootfs: &Path) -> Result<(u32, u32), ConfigError> {
    let (u, g) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    let root = || Root::open(rootfs).map_err(|_| ConfigError::User(s.into()));
    let (uid, primary) = match u.parse::<u32>() {
        Ok(n) => (n, None),
        Err(_) => lookup_name(&root()?, "/etc/passwd", u).ok_or(ConfigError::User(s.into()))?,
    };
    let gid = match g {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                lookup_name(&root()?, "/etc/group", g)
                    .ok_or(ConfigError::User(s.into()))?
                    .0
            }
        },
        None => primary.unwrap_or(uid),
    };
    Ok((uid, gid))
}

/// `(u32)-1` is no id: setresuid(-1, -1, -1) and setresgid leave the id unchanged, so the
/// command would run as ct-exec's own user, root.
const NO_ID: u32 = u32::MAX;

/// Whether `id` falls in one of the mappings' container-side ranges.
fn mapped(id: u32, maps: &[oci_spec::runtime::LinuxIdMapping]) -> bool {
    maps.iter().any(|m| {
        let start = u64::from(m.container_id());
        (start..start + u64::from(m.size())).contains(&u64::from(id))
    })
}

/// Numeric ids, checked before anything starts: none is 4294967295, and with a user
/// namespace each is inside its mappings (the kernel would refuse it later, half way through
/// the container's setup). `user` is the `-u` value when it replaced the config's.
fn check_ids(
    spec: &Spec,
    new_user: bool,
    user: Option<&str>,
    uid: u32,
    gid: u32,
    groups: &[u32],
) -> Result<(), ConfigError> {
    let linux = spec.linux().as_ref();
    let uid_maps = linux
        .and_then(|l| l.uid_mappings().clone())
        .unwrap_or_default();
    let gid_maps = linux
        .and_then(|l| l.gid_mappings().clone())
        .unwrap_or_default();
    let field = |config: &str| match user {
        Some(u) if config != "process.user.additionalGids" => {
            format!("-u {}", ct_layout::pipe::quote(u))
        }
        _ => format!("config.json: {config}"),
    };
    let mut ids = vec![("process.user.uid", "uid", uid, &uid_maps)];
    ids.push(("process.user.gid", "gid", gid, &gid_maps));
    ids.extend(
        groups
            .iter()
            .map(|&g| ("process.user.additionalGids", "gid", g, &gid_maps)),
    );
    for (config, kind, id, maps) in ids {
        let why = if id == NO_ID {
            "is (uid_t)-1, which the kernel takes for \"no id\""
        } else if new_user && !mapped(id, maps) {
            if kind == "uid" {
                "is not mapped in the container's user namespace (linux.uidMappings)"
            } else {
                "is not mapped in the container's user namespace (linux.gidMappings)"
            }
        } else {
            continue;
        };
        return Err(ConfigError::Id {
            field: field(config),
            kind,
            id,
            why,
        });
    }
    Ok(())
}

impl Plan {
    /// Steps 2 and 3. `raw` is the same config as JSON, for the key check done by the caller.
    pub fn new(mut spec: Spec, bundle: &Path, o: &Overrides) -> Result<Plan, ConfigError> {
        let root = spec
            .root()
            .as_ref()
            .ok_or(ConfigError::Invalid("root.path is missing".into()))?;
        let rootfs = bundle.join(root.path());
        let rootfs = fs::canonicalize(&rootfs).map_err(|source| ConfigError::Rootfs {
            path: rootfs.clone(),
            source,
        })?;
        if !rootfs.is_dir() {
            return Err(ConfigError::Rootfs {
                path: rootfs,
                source: io::Error::from_raw_os_error(libc::ENOTDIR),
            });
        }
        let root_readonly = root.readonly().unwrap_or(false);

        let mut process = spec
            .process()
            .clone()
            .ok_or(ConfigError::Invalid("process is missing".into()))?;
        if !o.args.is_empty() {
            process.set_args(Some(o.args.clone()));
        }
        let args: Vec<String> = process.args().clone().unwrap_or_default();
        if args.is_empty() {
            return Err(ConfigError::NoArgs);
        }
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        let mut put = |kv: &str| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            if env.insert(k.to_string(), v.to_string()).is_none() {
                order.push(k.to_string());
            }
        };
        for kv in process.env().iter().flatten() {
            put(kv);
        }
        for kv in &o.env {
            if kv.contains('=') {
                put(kv);
            } else if let Ok(v) = std::env::var(kv) {
                put(&format!("{kv}={v}"));
            }
        }
        let cwd = o
            .cwd
            .clone()
            .map(PathBuf::from)
            .unwrap_or_else(|| process.cwd().clone());
        if !cwd.is_absolute() {
            return Err(ConfigError::Invalid(format!(
                "process.cwd '{}' must be absolute",
                cwd.display()
            )));
        }
        let user = process.user();
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
        let hostname = o.hostname.clone().or_else(|| spec.hostname().clone());
        let hostname = hostname.filter(|h| !h.is_empty());
        let domainname = spec.domainname().clone().filter(|h| !h.is_empty());
        if (hostname.is_some() || domainname.is_some()) && !ns.uts_new {
            return Err(ConfigError::Invalid(
                "hostname/domainname need a new uts namespace (linux.namespaces)".into(),
            ));
        }
        if !ns.mount && !spec.mounts().as_ref().is_none_or(Vec::is_empty) {
            return Err(ConfigError::Invalid(
                "mounts need a mount namespace (linux.namespaces)".into(),
            ));
        }
        let propagation =
            pivot_root::propagation_flags(linux.rootfs_propagation().as_deref().unwrap_or(""))?;
        let mut mounts = Vec::new();
        for m in spec.mounts().iter().flatten() {
            mounts.push(MountPlan::from_spec(m, bundle)?);
        }
        let mut devices = crate::devices::defaults();
        for d in linux.devices().iter().flatten() {
            let d = DevicePlan::from_spec(d)?;
            devices.retain(|x| x.path != d.path);
            devices.push(d);
        }
        let abs = |v: &Option<Vec<String>>, what: &str| -> Result<Vec<PathBuf>, ConfigError> {
            v.iter()
                .flatten()
                .map(|p| {
                    let p = PathBuf::from(p);
                    if p.is_absolute() {
                        Ok(p)
                    } else {
                        Err(ConfigError::Invalid(format!(
                            "{what} '{}' must be absolute",
                            p.display()
                        )))
                    }
                })
                .collect()
        };
        let masked = abs(linux.masked_paths(), "linux.maskedPaths")?;
        let readonly = abs(linux.readonly_paths(), "linux.readonlyPaths")?;
        let mut sysctl: Vec<(String, String)> = linux
            .sysctl()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        sysctl.sort();
        for (k, _) in &sysctl {
            crate::sysctl::check(k, &ns)?;
        }
        let mut time_offsets = Vec::new();
        for (clock, v) in linux.time_offsets().clone().unwrap_or_default() {
            let id = match clock.as_str() {
                "monotonic" => "monotonic",
                "boottime" => "boottime",
                _ => {
                    return Err(ConfigError::Invalid(format!(
                        "linux.timeOffsets: unknown clock '{clock}'"
                    )))
                }
            };
            time_offsets.push((id.to_string(), v));
        }
        if !time_offsets.is_empty() && !ns.new_time {
            return Err(ConfigError::Invalid(
                "linux.timeOffsets needs a new time namespace".into(),
            ));
        }
        let mut caps = CapSets::from_spec(&spec)?;
        // The kernel only raises an ambient capability that is permitted and inheritable;
        // like runc, say which ones cannot be and go on without them.
        let cannot = caps.ambient & !(caps.inheritable & caps.permitted);
        if cannot != 0 {
            let names: Vec<String> = (0..64)
                .filter(|n| cannot & (1u64 << n) != 0)
                .map(crate::capabilities::name)
                .collect();
            eprintln!(
                "ct-exec: warning: process.capabilities.ambient: {} not raised (not in both inheritable and permitted)",
                names.join(", ")
            );
            caps.ambient &= caps.inheritable & caps.permitted;
        }
        let identity = Identity {
            uid,
            gid,
            groups,
            // Like runc: a config without one gets 0022, not whatever ct-exec was started with.
            umask: Some(user.umask().unwrap_or(0o022)),
            caps,
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
        let env = order
            .iter()
            .map(|k| cstring(&format!("{k}={}", env[k]), "process.env"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_and_unsupported_keys_are_named() {
        let v = json!({
            "ociVersion": "1.0.2",
            "process": {"args": ["sh"], "apparmorProfile": "x", "selinuxLabel": "", "bogus": 1},
            "linux": {"intelRdt": {"closID": "a"}, "namespaces": [{"type": "pid"}],
                "sysctl": {"net.ipv4.ip_forward": "1"}},
            "annotations": {"org.example.k": "v"},
            "hooks": {"prestart": [{"path": "/bin/true"}]},
        });
        let (warn, err) = check_keys(&v);
        assert!(
            warn.contains(&"process.apparmorProfile is ignored".to_string()),
            "{warn:?}"
        );
        assert!(warn.contains(&"unknown key process.bogus is ignored".to_string()));
        assert!(!warn.iter().any(|w| w.contains("hooks")), "{warn:?}");
        assert!(!warn.iter().any(|w| w.contains("selinuxLabel")));
        assert!(
            !warn
                .iter()
                .any(|w| w.contains("annotations") || w.contains("sysctl")),
            "{warn:?}"
        );
        assert_eq!(err, vec!["linux.intelRdt".to_string()]);
    }

    #[test]
    fn resource_keys_ct_does_not_apply_are_named() {
        let v = json!({
            "linux": {"resources": {
                "devices": [{"allow": false, "access": "rwm"}],
                "memory": {"limit": 1000000},
                "blockIO": {"weight": 10},
                "hugepageLimits": [{"pageSize": "2MB", "limit": 1}],
            }},
        });
        let (warn, err) = check_keys(&v);
        assert_eq!(
            warn,
            [
                "linux.resources.blockIO is not applied",
                "linux.resources.hugepageLimits is not applied"
            ]
        );
        assert!(err.is_empty());
    }

    #[test]
    fn ids_are_checked_against_no_id_and_the_mappings() {
        let spec: Spec = serde_json::from_value(json!({
            "ociVersion": "1.0.2",
            "linux": {
                "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 10}],
                "gidMappings": [{"containerID": 5, "hostID": 2000, "size": 1}]
            }
        }))
        .unwrap();
        assert!(check_ids(&spec, true, None, 9, 5, &[5]).is_ok());
        assert!(check_ids(&spec, false, None, 70000, 70000, &[]).is_ok());
        let e = check_ids(&spec, true, None, 10, 5, &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "config.json: process.user.uid: uid 10 is not mapped in the container's user namespace (linux.uidMappings)"
        );
        let e = check_ids(&spec, true, None, 0, 5, &[5, 6]).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("config.json: process.user.additionalGids: gid 6 "));
        let e = check_ids(&spec, false, Some("0:4294967295"), 0, u32::MAX, &[]).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("-u '0:4294967295': gid 4294967295 is (uid_t)-1"));
    }

    #[test]
    fn users_by_number_or_name() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir(t.path().join("etc")).unwrap();
        fs::write(t.path().join("etc/passwd"), "app:x:1000:1001::/:/bin/sh\n").unwrap();
        fs::write(t.path().join("etc/group"), "staff:x:50:\n").unwrap();
        assert_eq!(parse_user("5:6", t.path()).unwrap(), (5, 6));
        assert_eq!(parse_user("7", t.path()).unwrap(), (7, 7));
        assert_eq!(parse_user("app", t.path()).unwrap(), (1000, 1001));
        assert_eq!(parse_user("app:staff", t.path()).unwrap(), (1000, 50));
        assert!(parse_user("nobody-here", t.path()).is_err());
    }
}
