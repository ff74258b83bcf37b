//! Which keys of `config.json` ct-exec implements (runtime-spec `config.md`,
//! `config-linux.md`), checked on the JSON itself before it is read into oci-spec's types,
//! which would drop what they do not know without a word.
//!
//! Every key is made generic (`mounts.3.options.0` → `mounts.*.options.*`) and looked up in
//! three lists: [`KNOWN`] (implemented), `ERROR_IF_SET` (ignoring it would run the container
//! with less protection, or differently, than asked: an error unless empty), and
//! `WARN_IF_SET` (ignored with a warning naming it). A key in none of them is an unknown key:
//! a warning. `linux.resources` keys that ct-cgroup does not apply are named too.

use std::borrow::Cow;
use std::sync::OnceLock;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
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

/// A list of key patterns as a trie of their components, so that a key is looked up in a
/// few comparisons per component, without building a string: this runs for every key of
/// config.json (a default seccomp profile alone has hundreds).
struct Trie {
    nodes: Vec<Node>,
}

#[derive(Default)]
struct Node {
    children: Vec<(&'static str, usize)>,
    /// A pattern ends here.
    end: bool,
}

impl Trie {
    fn new(list: &'static [&'static str]) -> Trie {
        let mut t = Trie {
            nodes: vec![Node::default()],
        };
        for pattern in list {
            let mut at = 0;
            for c in pattern.split('.') {
                at = match t.nodes[at].children.iter().find(|(n, _)| *n == c) {
                    Some(&(_, next)) => next,
                    None => {
                        t.nodes.push(Node::default());
                        let next = t.nodes.len() - 1;
                        t.nodes[at].children.push((c, next));
                        next
                    }
                };
            }
            t.nodes[at].end = true;
        }
        t
    }

    /// The nodes a key reaches from `set` by one more component `c`: a `*` of a pattern
    /// stands for any one component; a `*` of the key (an array element, a free-form map
    /// key) is matched by a `*` of a pattern only.
    fn step(&self, set: &[usize], c: &str) -> Vec<usize> {
        let mut next = Vec::new();
        for &n in set {
            for &(name, child) in &self.nodes[n].children {
                if (name == "*" || name == c) && !next.contains(&child) {
                    next.push(child);
                }
            }
        }
        next
    }

    /// The node of the pattern prefix `…c` after `n`, written as the key is (no wildcard).
    fn child(&self, n: usize, c: &str) -> Option<usize> {
        let children = &self.nodes[n].children;
        children
            .iter()
            .find(|(name, _)| *name == c)
            .map(|&(_, next)| next)
    }

    fn ends(&self, set: &[usize]) -> bool {
        set.iter().any(|&n| self.nodes[n].end)
    }
}

fn known() -> &'static Trie {
    static P: OnceLock<Trie> = OnceLock::new();
    P.get_or_init(|| Trie::new(KNOWN))
}

fn error_if_set() -> &'static Trie {
    static P: OnceLock<Trie> = OnceLock::new();
    P.get_or_init(|| Trie::new(ERROR_IF_SET))
}

fn warn_if_set() -> &'static Trie {
    static P: OnceLock<Trie> = OnceLock::new();
    P.get_or_init(|| Trie::new(WARN_IF_SET))
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

/// A key made generic, as the three lists see it: the trie nodes it reaches in each (every
/// pattern that matches it so far), and the node of KNOWN it is exactly, if any. One step
/// per component, so no key is ever looked up from the start.
#[derive(Clone)]
struct At {
    known: Vec<usize>,
    error: Vec<usize>,
    warn: Vec<usize>,
    exact: Option<usize>,
}

impl At {
    fn root() -> At {
        At {
            known: vec![0],
            error: vec![0],
            warn: vec![0],
            exact: Some(0),
        }
    }

    fn step(&self, c: &str) -> At {
        At {
            known: known().step(&self.known, c),
            error: error_if_set().step(&self.error, c),
            warn: warn_if_set().step(&self.warn, c),
            exact: self.exact.and_then(|n| known().child(n, c)),
        }
    }

    /// Whether the key is in KNOWN as written.
    fn is_known_exactly(&self) -> bool {
        self.exact.is_some_and(|n| known().nodes[n].end)
    }

    fn class(&self) -> Class {
        if error_if_set().ends(&self.error) {
            Class::Error
        } else if warn_if_set().ends(&self.warn) {
            Class::Warn
        } else if !known().ends(&self.known) {
            Class::Unknown
        } else if self.exact.is_some() && self.exact == resources() {
            Class::Resources
        } else {
            Class::Known
        }
    }
}

/// The node of `linux.resources` in KNOWN.
fn resources() -> Option<usize> {
    static N: OnceLock<Option<usize>> = OnceLock::new();
    *N.get_or_init(|| {
        let t = known();
        t.child(0, "linux").and_then(|n| t.child(n, "resources"))
    })
}

/// Step 1 (keys): (warnings, errors), each naming the key, of a config.json already read.
pub fn check_keys(v: &Value) -> (Vec<String>, Vec<String>) {
    check(v).unwrap_or_default()
}

/// [`check_keys`] straight from config.json's bytes, reading them once and keeping nothing
/// but what it reports; `Err` when they are not JSON.
pub fn check_json(bytes: &[u8]) -> Result<(Vec<String>, Vec<String>), serde_json::Error> {
    check(&mut serde_json::Deserializer::from_slice(bytes))
}

fn check<'de, D: Deserializer<'de>>(d: D) -> Result<(Vec<String>, Vec<String>), D::Error> {
    let mut walk = Walk {
        printed: Vec::new(),
        at: At::root(),
        warn: Vec::new(),
        err: Vec::new(),
    };
    Walked(Some(&mut walk)).deserialize(d)?;
    Ok((walk.warn, walk.err))
}

/// Where the walk is: the key as printed (`mounts.3.options`) and made generic (array
/// indexes, and free-form map keys, which may contain dots like annotations, become `*`; a
/// dotted key elsewhere is as many components, as the patterns would read it), and what
/// it found.
struct Walk<'de> {
    printed: Vec<Printed<'de>>,
    at: At,
    warn: Vec<String>,
    err: Vec<String>,
}

enum Printed<'de> {
    Key(Cow<'de, str>),
    Index(usize),
}

impl Walk<'_> {
    fn path(&self) -> String {
        let mut s = String::new();
        for (i, p) in self.printed.iter().enumerate() {
            if i > 0 {
                s.push('.');
            }
            match p {
                Printed::Key(k) => s.push_str(k),
                Printed::Index(n) => s.push_str(&n.to_string()),
            }
        }
        s
    }
}

/// A value of config.json, walked at the key [`Walk`] is at (with None, only read past);
/// yields whether it is empty (null, "", [] or {}).
struct Walked<'w, 'de>(Option<&'w mut Walk<'de>>);

/// A value whose key is in one of the lists: checked by [`Class`], looked into when known.
struct Classified<'w, 'de>(&'w mut Walk<'de>, Class);

impl<'de> DeserializeSeed<'de> for Classified<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let Classified(w, class) = self;
        match class {
            Class::Known => {
                Walked(Some(w)).deserialize(d)?;
            }
            Class::Error | Class::Warn => {
                if !Walked(None).deserialize(d)? {
                    let path = w.path();
                    match class {
                        Class::Error => w.err.push(path),
                        _ => w.warn.push(format!("{path} is ignored")),
                    }
                }
            }
            Class::Unknown => {
                IgnoredAny::deserialize(d)?;
                let path = w.path();
                w.warn.push(format!("unknown key {path} is ignored"));
            }
            Class::Resources => {
                let v = Value::deserialize(d)?;
                w.warn.extend(ct_cgroup::oci_config::resource_warnings(&v));
            }
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Walked<'_, 'de> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walked<'_, 'de> {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let Some(w) = self.0 else {
            let mut empty = true;
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
                empty = false;
            }
            return Ok(empty);
        };
        let depth = w.printed.len();
        let parent = w.at.clone();
        // A free-form map (annotations, sysctl…): its keys are `*`, but for those KNOWN
        // names as they are.
        let any_key = parent.step("*");
        let free_form = any_key.is_known_exactly();
        let mut empty = true;
        while let Some(Key(k)) = map.next_key()? {
            empty = false;
            let literal = k.split('.').fold(parent.clone(), |at, c| at.step(c));
            w.at = match free_form && !literal.is_known_exactly() {
                true => any_key.clone(),
                false => literal,
            };
            let class = w.at.class();
            w.printed.push(Printed::Key(k));
            map.next_value_seed(Classified(w, class))?;
            w.printed.truncate(depth);
        }
        w.at = parent;
        Ok(empty)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let Some(w) = self.0 else {
            let mut empty = true;
            while seq.next_element::<IgnoredAny>()?.is_some() {
                empty = false;
            }
            return Ok(empty);
        };
        let depth = w.printed.len();
        // All elements share one generic key, so it is classified once.
        let element = w.at.step("*");
        let class = element.class();
        // (A value's walk leaves `w.at` as it found it.)
        let parent = std::mem::replace(&mut w.at, element);
        let mut i = 0;
        loop {
            w.printed.push(Printed::Index(i));
            let more = seq.next_element_seed(Classified(w, class))?;
            w.printed.truncate(depth);
            if more.is_none() {
                break;
            }
            i += 1;
        }
        w.at = parent;
        Ok(i == 0)
    }

    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(v.is_empty())
    }

    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_none<E>(self) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
}

/// A map key, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
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

    /// The bytes of config.json are checked as its tree is: the same keys named, whatever
    /// their spelling in JSON (an escaped key is the key it spells), and a dotted key outside
    /// a free-form map is as many components as the patterns would read.
    #[test]
    fn keys_read_from_the_bytes_are_named_as_from_the_tree() {
        let mut v = json!({
            "ociVersion": "1.0.2",
            "process": {"args": ["sh"], "user": {"uid": 0, "gid": 0, "bogus": null}},
            "linux": {"sysctl": {"net.ipv4.ip_forward": "1"}, "personality": {},
                "resources": {"blockIO": {"weight": 10}}},
            "annotations": {"a.b.c": "d"},
            "mounts": [{"destination": "/x", "uidMappings": [{"size": 1}]}],
        });
        v["linux"]["seccomp"] =
            serde_json::to_value(ct_unpack::seccomp_default::profile()).expect("profile");
        let text = serde_json::to_string_pretty(&v).expect("json");
        // `process.\u0061rgs` is `process.args`; `process.a.b` is three components.
        let text = text.replacen("\"args\"", "\"\\u0061rgs\"", 1);
        let text = text.replacen("\"ociVersion\"", "\"process.a.b\": 1, \"ociVersion\"", 1);
        let tree: Value = serde_json::from_str(&text).expect("json");
        // The bytes in their order, the tree (a sorted map) in its.
        let sorted = |(mut w, mut e): (Vec<String>, Vec<String>)| {
            w.sort();
            e.sort();
            (w, e)
        };
        let from_bytes = check_json(text.as_bytes()).expect("json");
        assert_eq!(sorted(from_bytes.clone()), sorted(check_keys(&tree)));
        let (warn, err) = from_bytes;
        assert_eq!(
            warn,
            [
                "linux.resources.blockIO is not applied",
                "unknown key process.a.b is ignored",
                "unknown key process.user.bogus is ignored",
            ]
        );
        assert_eq!(err, ["mounts.0.uidMappings"]);
        assert!(check_json(b"{\"process\": [1,").is_err());
    }
}
