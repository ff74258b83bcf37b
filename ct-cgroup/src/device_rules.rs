//! The device controller's rules (kernel docs `admin-guide/cgroup-v1/devices.rst`, runtime-spec
//! `config-linux.md` "Allowed Device Access"): which device nodes a cgroup's processes may
//! open (`r`, `w`) or create with mknod(2) (`m`). Without them a container's root can
//! `mknod /tmp/disk b 8 0` and read and write the host's disk.
//!
//! The kernel keeps, per cgroup, a default (allow all or deny all) and a list of exceptions
//! `TYPE MAJOR:MINOR ACCESS` (`c 1:3 rwm`, `*` for any number). Writing `a` to `devices.deny`
//! makes it "deny all, no exceptions"; then each `devices.allow` line adds an exception. In
//! "allow all" mode the roles swap: `devices.deny` lines add exceptions, `devices.allow` lines
//! remove them. An OCI `linux.resources.devices` list is that sequence of writes, in order.
//!
//! [`Policy`] replays the list the way the kernel does (as runc's `devices/emulator` does), so
//! the same result can be written to v1's files (`cgroup_v1::set_devices`) or compiled into a
//! cgroup v2 BPF program (`devices_bpf.rs`), and so v1's `devices.list` can be read back and
//! compared. Like runc, a rule that would punch a hole into a wildcard exception (`c *:* rwm`
//! allowed, then `c 1:3 w` denied) is refused: v1 would silently keep the wildcard.
//!
//! An OCI runtime also allows the devices it creates itself in every container's `/dev`:
//! [`RUNTIME_DEFAULTS`] (runc's list) go after the config's rules, as runc appends them.

use std::collections::BTreeMap;
use std::fmt;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::CgroupError;

/// Character or block device (the kernel's `c` and `b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Char,
    Block,
}

impl Kind {
    pub fn letter(self) -> char {
        match self {
            Kind::Char => 'c',
            Kind::Block => 'b',
        }
    }
}

/// A set of `r`, `w`, `m`, with the bit values of the BPF context's `access_type`
/// (`BPF_DEVCG_ACC_MKNOD` 1, `READ` 2, `WRITE` 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Access(pub u8);

impl Access {
    pub const MKNOD: u8 = 1;
    pub const READ: u8 = 2;
    pub const WRITE: u8 = 4;
    pub const ALL: Access = Access(7);

    /// `rwm` in any order, each letter at most once.
    pub fn parse(s: &str) -> Option<Access> {
        let mut bits = 0;
        for c in s.chars() {
            let b = match c {
                'r' => Access::READ,
                'w' => Access::WRITE,
                'm' => Access::MKNOD,
                _ => return None,
            };
            if bits & b != 0 {
                return None;
            }
            bits |= b;
        }
        Some(Access(bits))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (bit, c) in [
            (Access::READ, 'r'),
            (Access::WRITE, 'w'),
            (Access::MKNOD, 'm'),
        ] {
            if self.0 & bit != 0 {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// Which devices an exception covers; `None` is the wildcard `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Devices {
    pub kind: Kind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
}

impl fmt::Display for Devices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |v: Option<u32>| v.map_or("*".to_string(), |v| v.to_string());
        write!(
            f,
            "{} {}:{}",
            self.kind.letter(),
            n(self.major),
            n(self.minor)
        )
    }
}

/// One rule of the OCI list: `kind` `None` is the kernel's `a` (every device: a reset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    pub kind: Option<Kind>,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: Access,
}

impl Rule {
    const fn allow(kind: Kind, major: Option<u32>, minor: Option<u32>, access: u8) -> Rule {
        Rule {
            allow: true,
            kind: Some(kind),
            major,
            minor,
            access: Access(access),
        }
    }
}

const RWM: u8 = 7;
const M: u8 = Access::MKNOD;

/// The devices runc allows in every container whatever the config says (its
/// `specconv.AllowedDevices`): mknod of any node (opening one is still refused), and the nodes
/// a runtime puts in `/dev` itself.
pub const RUNTIME_DEFAULTS: &[Rule] = &[
    Rule::allow(Kind::Char, None, None, M),
    Rule::allow(Kind::Block, None, None, M),
    Rule::allow(Kind::Char, Some(1), Some(3), RWM), // null
    Rule::allow(Kind::Char, Some(1), Some(8), RWM), // random
    Rule::allow(Kind::Char, Some(1), Some(7), RWM), // full
    Rule::allow(Kind::Char, Some(5), Some(0), RWM), // tty
    Rule::allow(Kind::Char, Some(1), Some(5), RWM), // zero
    Rule::allow(Kind::Char, Some(1), Some(9), RWM), // urandom
    Rule::allow(Kind::Char, Some(136), None, RWM),  // pts/*
    Rule::allow(Kind::Char, Some(5), Some(2), RWM), // ptmx
    Rule::allow(Kind::Char, Some(10), Some(200), RWM), // net/tun
];

fn bad(i: usize, rule: &LinuxDeviceCgroup, reason: &str) -> CgroupError {
    CgroupError::InvalidValue {
        what: "linux.resources.devices rule",
        value: format!("#{i} {rule}"),
        reason: reason.to_string(),
    }
}

fn number(n: Option<i64>) -> Result<Option<u32>, &'static str> {
    match n {
        None | Some(-1) => Ok(None),
        Some(n) => u32::try_from(n)
            .map(Some)
            .map_err(|_| "major and minor are -1 (any) or 0 to 4294967295"),
    }
}

/// The OCI rules, checked: type `a`, `b` or `c`; major and minor absent or -1 (any) or a
/// device number; access letters from `rwm`, not empty (runc refuses an empty one too).
pub fn from_oci(rules: &[LinuxDeviceCgroup]) -> Result<Vec<Rule>, CgroupError> {
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let kind = match r.typ().unwrap_or(LinuxDeviceType::A) {
                LinuxDeviceType::A => None,
                LinuxDeviceType::C => Some(Kind::Char),
                LinuxDeviceType::B => Some(Kind::Block),
                LinuxDeviceType::U | LinuxDeviceType::P => {
                    return Err(bad(i, r, "the device cgroup knows types a, b and c only"))
                }
            };
            let access = match r.access().as_deref().map(Access::parse) {
                Some(Some(a)) if !a.is_empty() => a,
                _ => return Err(bad(i, r, "access must be letters from rwm, each once")),
            };
            Ok(Rule {
                allow: r.allow(),
                kind,
                major: number(r.major()).map_err(|e| bad(i, r, e))?,
                minor: number(r.minor()).map_err(|e| bad(i, r, e))?,
                access,
            })
        })
        .collect()
}

/// What a devices cgroup ends up as: a default and the exceptions to it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    /// Allow all but the exceptions (a "blacklist"), else deny all but them.
    pub default_allow: bool,
    pub exceptions: BTreeMap<Devices, Access>,
}

impl Policy {
    /// Deny all, no exceptions: where runc starts, so a list without an `a` rule is an allow
    /// list.
    pub fn deny_all() -> Policy {
        Policy::default()
    }

    /// The OCI list (checked as [`from_oci`]) followed by [`RUNTIME_DEFAULTS`]: what a
    /// container's cgroup gets.
    pub fn for_container(rules: &[LinuxDeviceCgroup]) -> Result<Policy, CgroupError> {
        let mut p = Policy::deny_all();
        for r in from_oci(rules)?.iter().chain(RUNTIME_DEFAULTS) {
            p.apply(r)?;
        }
        Ok(p)
    }

    /// Only the OCI list, from "deny all".
    pub fn from_rules(rules: &[LinuxDeviceCgroup]) -> Result<Policy, CgroupError> {
        let mut p = Policy::deny_all();
        for r in from_oci(rules)? {
            p.apply(&r)?;
        }
        Ok(p)
    }

    /// One rule, as the kernel applies a write to `devices.allow` or `devices.deny`.
    pub fn apply(&mut self, r: &Rule) -> Result<(), CgroupError> {
        let Some(kind) = r.kind else {
            *self = Policy {
                default_allow: r.allow,
                exceptions: BTreeMap::new(),
            };
            return Ok(());
        };
        let key = Devices {
            kind,
            major: r.major,
            minor: r.minor,
        };
        if r.allow != self.default_allow {
            let e = self.exceptions.entry(key).or_default();
            e.0 |= r.access.0;
            return Ok(());
        }
        // Removing (part of) an exception: v1 only removes from the exception with exactly
        // these numbers, so a wider one that overlaps would silently stay.
        for wider in [
            Devices { major: None, ..key },
            Devices { minor: None, ..key },
            Devices {
                major: None,
                minor: None,
                ..key
            },
        ] {
            if wider == key {
                continue;
            }
            if let Some(a) = self.exceptions.get(&wider) {
                if a.0 & r.access.0 != 0 {
                    return Err(CgroupError::InvalidValue {
                        what: "linux.resources.devices rule",
                        value: format!("{} {key} {}", verb(r.allow), r.access),
                        reason: format!(
                            "it would punch a hole into the wider rule '{wider} {a}', which the \
                             device cgroup cannot do"
                        ),
                    });
                }
            }
        }
        if let Some(a) = self.exceptions.get_mut(&key) {
            a.0 &= !r.access.0;
            if a.is_empty() {
                self.exceptions.remove(&key);
            }
        }
        Ok(())
    }

    /// Does this policy let a process do `access` on device `kind major:minor`? (The kernel's
    /// check: in deny-all mode one exception must cover all of `access`; in allow-all mode no
    /// exception may share any of it.)
    pub fn permits(&self, kind: Kind, major: u32, minor: u32, access: Access) -> bool {
        let hits = |d: &Devices| {
            d.kind == kind
                && (d.major.is_none() || d.major == Some(major))
                && (d.minor.is_none() || d.minor == Some(minor))
        };
        let mut matching = self.exceptions.iter().filter(|(d, _)| hits(d));
        if self.default_allow {
            !matching.any(|(_, a)| a.0 & access.0 != 0)
        } else {
            matching.any(|(_, a)| a.0 & access.0 == access.0)
        }
    }

    /// The exceptions as `devices.list` shows them in deny-all mode (`c 1:3 rwm`).
    pub fn lines(&self) -> Vec<String> {
        self.exceptions
            .iter()
            .map(|(d, a)| format!("{d} {a}"))
            .collect()
    }

    /// Parse v1's `devices.list`: `a *:* rwm` alone means allow all (the kernel does not list
    /// the deny exceptions of that mode); otherwise each line is an allowed exception.
    pub fn parse_list(text: &str) -> Option<Policy> {
        let mut p = Policy::deny_all();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [t, nums, access] = f[..] else {
                return None;
            };
            let (maj, min) = nums.split_once(':')?;
            let n = |s: &str| -> Option<Option<u32>> {
                if s == "*" {
                    Some(None)
                } else {
                    s.parse().ok().map(Some)
                }
            };
            let kind = match t {
                "a" => None,
                "c" => Some(Kind::Char),
                "b" => Some(Kind::Block),
                _ => return None,
            };
            p.apply(&Rule {
                allow: true,
                kind,
                major: n(maj)?,
                minor: n(min)?,
                access: Access::parse(access)?,
            })
            .ok()?;
        }
        Some(p)
    }
}

fn verb(allow: bool) -> &'static str {
    if allow {
        "allow"
    } else {
        "deny"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(v: serde_json::Value) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn deny_all_then_allow_is_an_allow_list() {
        let p = Policy::from_rules(&rules(serde_json::json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "type": "b", "access": "m"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "r"},
        ])))
        .unwrap();
        assert!(!p.default_allow);
        assert_eq!(p.lines(), ["c 1:3 rwm", "b *:* m"]);
        assert!(p.permits(Kind::Char, 1, 3, Access(Access::READ | Access::WRITE)));
        assert!(p.permits(Kind::Block, 254, 0, Access(Access::MKNOD)));
        assert!(!p.permits(Kind::Block, 254, 0, Access(Access::READ)));
        assert!(!p.permits(Kind::Char, 1, 4, Access(Access::READ)));
    }

    #[test]
    fn an_a_rule_resets_and_deny_rules_in_allow_mode_are_exceptions() {
        let p = Policy::from_rules(&rules(serde_json::json!([
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "access": "rwm"},
            {"allow": false, "type": "b", "major": 254, "access": "rw"},
        ])))
        .unwrap();
        assert!(p.default_allow);
        assert_eq!(p.lines(), ["b 254:* rw"]);
        assert!(!p.permits(Kind::Block, 254, 1, Access(Access::READ | Access::MKNOD)));
        assert!(p.permits(Kind::Block, 254, 1, Access(Access::MKNOD)));
        assert!(p.permits(Kind::Block, 8, 0, Access(Access::READ)));
    }

    #[test]
    fn removing_from_a_wildcard_is_refused() {
        let e = Policy::from_rules(&rules(serde_json::json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "access": "rwm"},
            {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "w"},
        ])))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("punch a hole into the wider rule 'c *:* rwm'"),
            "{e}"
        );
    }

    #[test]
    fn bad_rules_are_named() {
        for (v, why) in [
            (
                serde_json::json!({"allow": true, "type": "p", "access": "r"}),
                "types a, b and c",
            ),
            (
                serde_json::json!({"allow": true, "type": "c", "access": "rx"}),
                "rwm",
            ),
            (serde_json::json!({"allow": true, "type": "c"}), "rwm"),
            (
                serde_json::json!({"allow": true, "type": "c", "major": -2, "access": "r"}),
                "-1",
            ),
        ] {
            let e = from_oci(&rules(serde_json::json!([v])))
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("invalid linux.resources.devices rule '#0 "),
                "{e}"
            );
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn runtime_defaults_come_last_and_win() {
        let p = Policy::for_container(&rules(serde_json::json!([
            {"allow": false, "access": "rwm"},
        ])))
        .unwrap();
        assert!(p.permits(Kind::Char, 1, 3, Access::ALL));
        assert!(p.permits(Kind::Char, 136, 7, Access::ALL));
        assert!(!p.permits(Kind::Char, 5, 1, Access(Access::READ)));
        assert_eq!(p.exceptions.len(), RUNTIME_DEFAULTS.len());
    }

    #[test]
    fn devices_list_round_trips() {
        let p = Policy::for_container(&[]).unwrap();
        let text = p.lines().join("\n");
        assert_eq!(Policy::parse_list(&text), Some(p));
        assert_eq!(
            Policy::parse_list("a *:* rwm\n").map(|p| p.default_allow),
            Some(true)
        );
        assert_eq!(Policy::parse_list("c 1:x rwm"), None);
    }
}
