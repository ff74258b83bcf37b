//! Which keys of `config.json` ct-exec implements (runtime-spec `config.md`,
//! `config-linux.md`), checked on the JSON itself before it is read into oci-spec's types,
//! which would drop what they do not know without a word.
//!
//! Every key is made generic (`mounts.3.options.0` → `mounts.*.options.*`) and looked up in
//! three lists: [`KNOWN`] (implemented), `ERROR_IF_SET` (ignoring it would run the container
//! with less protection, or differently, than asked: an error unless empty), and
//! `WARN_IF_SET` (ignored with a warning naming it). A key in none of them is an unknown key:
//! a warning. `linux.resources` keys that ct-cgroup does not apply are named too.

use std::collections::HashSet;
use std::sync::OnceLock;

use serde_json::Value;

/// Keys ct-exec implements, as dotted paths; `*` stands for "any array element / map key".
pub const KNOWN: &[&str] = &[
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
    "hooks.createContainer",
    "hooks.startContainer",
    "hooks.poststart",
    "hooks.poststop",
    "hooks.*.*",
    "hooks.*.*.path",
    "hooks.*.*.args",
    "hooks.*.*.args.*",
    "hooks.*.*.env",
    "hooks.*.*.env.*",
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
    "process.apparmorProfile",
    "process.selinuxLabel",
    "process.ioPriority",
    "process.scheduler",
    "process.execCPUAffinity",
    "process.commandLine",
    "linux.mountLabel",
];

pub(crate) fn is_empty(v: &Value) -> bool {
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

/// What a generic key is to ct-exec: the lists above, in the order they are consulted.
#[derive(Clone, Copy, PartialEq)]
enum Class {
    /// In `ERROR_IF_SET`: an error unless empty.
    Error,
    /// In `WARN_IF_SET`: a warning unless empty.
    Warn,
    /// In no list.
    Unknown,
    /// `linux.resources`: ct-cgroup names what it does not apply.
    Resources,
    /// In [`KNOWN`]: look inside.
    Known,
}

fn classify(generic: &str) -> Class {
    if error_if_set().matches(generic) {
        Class::Error
    } else if warn_if_set().matches(generic) {
        Class::Warn
    } else if !known().matches(generic) {
        Class::Unknown
    } else if generic == "linux.resources" {
        Class::Resources
    } else {
        Class::Known
    }
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}.{b}")
    }
}

/// Step 1 (keys): (warnings, errors), each naming the key.
pub fn check_keys(v: &Value) -> (Vec<String>, Vec<String>) {
    let mut out = Out::default();
    walk(v, "", "", &mut out);
    (out.warn, out.err)
}

/// What [`check_keys`] collects.
#[derive(Default)]
struct Out {
    warn: Vec<String>,
    err: Vec<String>,
}

/// The children of `v`, whose key as printed is `path` and made generic `generic` (array
/// indexes, and free-form map keys, which may contain dots like annotations, become `*`).
/// All elements of an array share one generic key, so it is classified once; a known scalar
/// element costs nothing (docker's seccomp profile alone has hundreds).
fn walk(v: &Value, path: &str, generic: &str, out: &mut Out) {
    match v {
        Value::Object(o) => {
            let free_form = known().exact.contains(format!("{generic}.*").as_str());
            for (k, child) in o {
                let literal = join(generic, k);
                let g = match free_form && !known().exact.contains(&*literal) {
                    true => join(generic, "*"),
                    false => literal,
                };
                visit(child, classify(&g), || join(path, k), &g, out);
            }
        }
        Value::Array(a) => {
            let g = join(generic, "*");
            let class = classify(&g);
            for (i, child) in a.iter().enumerate() {
                visit(child, class, || join(path, &i.to_string()), &g, out);
            }
        }
        _ => {}
    }
}

fn visit(child: &Value, class: Class, path: impl FnOnce() -> String, generic: &str, out: &mut Out) {
    match class {
        Class::Error if !is_empty(child) => out.err.push(path()),
        Class::Warn if !is_empty(child) => out.warn.push(format!("{} is ignored", path())),
        Class::Error | Class::Warn => {}
        Class::Unknown => out.warn.push(format!("unknown key {} is ignored", path())),
        Class::Resources => out
            .warn
            .extend(ct_cgroup::oci_config::resource_warnings(child)),
        Class::Known if child.is_object() || child.is_array() => walk(child, &path(), generic, out),
        Class::Known => {}
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

    /// Keys inside array elements are named with their index, once per element; a profile
    /// of hundreds of known names says nothing.
    #[test]
    fn keys_in_array_elements_are_named_with_their_index() {
        let mut v = json!({
            "mounts": [{"destination": "/a", "bogus": 1}, {"destination": "/b"}, {"bogus": 2}],
            "process": {"args": ["sh", "-c", "true"], "rlimits": [{"type": "RLIMIT_NOFILE",
                "soft": 1, "hard": 1, "extra": true}]},
            "linux": {"maskedPaths": ["/proc/kcore"], "intelRdt": {}},
        });
        v["linux"]["seccomp"] =
            serde_json::to_value(ct_unpack::seccomp_default::profile()).expect("profile");
        let (warn, err) = check_keys(&v);
        assert_eq!(
            warn,
            [
                "unknown key mounts.0.bogus is ignored",
                "unknown key mounts.2.bogus is ignored",
                "unknown key process.rlimits.0.extra is ignored",
            ]
        );
        // An empty intelRdt asks for nothing.
        assert!(err.is_empty(), "{err:?}");
        v["hooks"] = json!({"prestart": [{"path": "/bin/true"}, {"path": "/x", "bogus": 1}]});
        v["linux"]["intelRdt"] = json!({"closID": "a"});
        let (warn, err) = check_keys(&v);
        assert_eq!(warn.len(), 4, "{warn:?}");
        assert!(warn.contains(&"unknown key hooks.prestart.1.bogus is ignored".into()));
        assert_eq!(err, ["linux.intelRdt"]);
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
}
