//! Capabilities (capabilities(7)): root's power split into ~41 bits, in five sets per process.
//!
//! * bounding — the ceiling: a capability dropped here can never come back, not even through
//!   a setuid binary. Dropped with `prctl(PR_CAPBSET_DROP)`, which itself needs CAP_SETPCAP,
//!   so it happens first, while ct-exec still has everything.
//! * permitted / effective — what the process may use / is using now.
//! * inheritable — what survives `execve` for programs with matching file capabilities.
//! * ambient — what survives `execve` of *any* program (each must be permitted and inheritable).
//!
//! Steps (the credential dance in [`crate::credentials`] calls them in this order):
//! 1. drop from the bounding set every capability not in `bounding`;
//! 2. `prctl(PR_SET_KEEPCAPS)` so `setuid` to a non-root uid keeps the permitted set;
//! 3. after `setuid`: `capset(2)` with effective, permitted, inheritable;
//! 4. raise each ambient capability with `prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE)`.

use std::fs;
use std::io;

use oci_spec::runtime::{Capabilities, Spec};
use rustix::thread::CapabilitySet;

/// Capability names, index = number (linux/capability.h).
pub const NAMES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The five sets as bit masks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CapError {
    #[error("unknown capability '{0}'")]
    Unknown(String),
    #[error("cannot drop {name} from the bounding set")]
    Bounding {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot set capabilities (capset)")]
    Capset(#[source] io::Error),
    #[error("cannot raise ambient capability {name}")]
    Ambient {
        name: String,
        #[source]
        source: io::Error,
    },
}

fn mask(set: &Option<Capabilities>) -> Result<u64, CapError> {
    let mut m = 0u64;
    for c in set.iter().flatten() {
        // oci-spec's enum serializes to the kernel name ("CAP_KILL").
        let name = serde_json::to_value(c)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let n = NAMES
            .iter()
            .position(|x| *x == name)
            .ok_or(CapError::Unknown(name))?;
        m |= 1 << n;
    }
    Ok(m)
}

impl CapSets {
    /// No `capabilities` in the config means none at all.
    pub fn from_spec(spec: &Spec) -> Result<CapSets, CapError> {
        let Some(c) = spec
            .process()
            .as_ref()
            .and_then(|p| p.capabilities().as_ref())
        else {
            return Ok(CapSets::default());
        };
        let last = last_cap();
        let known = if last >= 63 {
            u64::MAX
        } else {
            (1u64 << (last + 1)) - 1
        };
        Ok(CapSets {
            bounding: mask(c.bounding())? & known,
            effective: mask(c.effective())? & known,
            permitted: mask(c.permitted())? & known,
            inheritable: mask(c.inheritable())? & known,
            ambient: mask(c.ambient())? & known,
        })
    }
}

pub fn name(n: u32) -> String {
    NAMES
        .get(n as usize)
        .map_or_else(|| format!("capability {n}"), |s| s.to_string())
}

/// The highest capability this kernel knows.
pub fn last_cap() -> u32 {
    fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// Step 1.
pub fn drop_bounding(keep: u64) -> Result<(), CapError> {
    for n in 0..=last_cap() {
        if keep & (1 << n) != 0 {
            continue;
        }
        match rustix::thread::remove_capability_from_bounding_set(one(n)) {
            // EINVAL: the kernel does not know this capability; nothing to drop.
            Ok(()) | Err(rustix::io::Errno::INVAL) => {}
            Err(e) => {
                return Err(CapError::Bounding {
                    name: name(n),
                    source: e.into(),
                })
            }
        }
    }
    Ok(())
}

/// Capability number `n` as a set of one.
fn one(n: u32) -> CapabilitySet {
    CapabilitySet::from_bits_retain(1 << n)
}

/// Step 3: capset(2), version 3 (64 bits per set).
pub fn capset(s: &CapSets) -> Result<(), CapError> {
    let sets = rustix::thread::CapabilitySets {
        effective: CapabilitySet::from_bits_retain(s.effective),
        permitted: CapabilitySet::from_bits_retain(s.permitted),
        inheritable: CapabilitySet::from_bits_retain(s.inheritable),
    };
    rustix::thread::set_capabilities(None, sets).map_err(|e| CapError::Capset(e.into()))
}

/// Step 4.
pub fn raise_ambient(set: u64) -> Result<(), CapError> {
    for n in 0..64u32 {
        if set & (1 << n) == 0 {
            continue;
        }
        rustix::thread::configure_capability_in_ambient_set(one(n), true).map_err(|e| {
            CapError::Ambient {
                name: name(n),
                source: e.into(),
            }
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_to_bits() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "process": {"cwd": "/", "user": {"uid": 0, "gid": 0},
                "capabilities": {"bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE"], "effective": ["CAP_KILL"]}}
        }))
        .unwrap();
        let c = CapSets::from_spec(&spec).unwrap();
        assert_eq!(c.bounding, (1 << 5) | (1 << 10));
        assert_eq!(c.effective, 1 << 5);
        assert_eq!(c.ambient, 0);
        assert_eq!(NAMES[21], "CAP_SYS_ADMIN");
        assert_eq!(NAMES.len(), 41);
    }
}
