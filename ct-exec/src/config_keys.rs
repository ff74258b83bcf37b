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
}
