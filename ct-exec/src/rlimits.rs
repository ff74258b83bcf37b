//! `process.rlimits`: resource limits (setrlimit(2), getrlimit(2)).
//!
//! Each limit has a soft value (what is enforced) and a hard value (the ceiling for the soft
//! one). Anyone may lower either; *raising* a hard limit needs CAP_SYS_RESOURCE. On a host
//! whose bounding set lacks it (like a container host inside a container), a config that asks
//! for a higher hard limit than ct-exec has cannot be honoured.
//!
//! Steps:
//! 1. In the parent, before anything is created: compare each requested hard limit with the
//!    current one, and fail early with a clear message when it would need raising without
//!    CAP_SYS_RESOURCE.
//! 2. In the child, before dropping capabilities: `setrlimit` each one (limits survive execve).

use std::io;

use oci_spec::runtime::{PosixRlimitType, Spec};

pub use rustix::process::Resource;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    pub resource: Resource,
    pub soft: u64,
    pub hard: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RlimitError {
    #[error("rlimit {name}: soft limit {soft} is above the hard limit {hard}")]
    SoftAboveHard { name: String, soft: u64, hard: u64 },
    #[error("rlimit {name}: cannot raise the hard limit to {want}: it is {have} and CAP_SYS_RESOURCE is not available (lower it in config.json)")]
    CannotRaise { name: String, want: u64, have: u64 },
    #[error("cannot set rlimit {name} to {soft}/{hard}")]
    Set {
        name: String,
        soft: u64,
        hard: u64,
        #[source]
        source: io::Error,
    },
}

fn resource(t: PosixRlimitType) -> Resource {
    match t {
        PosixRlimitType::RlimitCpu => Resource::Cpu,
        PosixRlimitType::RlimitFsize => Resource::Fsize,
        PosixRlimitType::RlimitData => Resource::Data,
        PosixRlimitType::RlimitStack => Resource::Stack,
        PosixRlimitType::RlimitCore => Resource::Core,
        PosixRlimitType::RlimitRss => Resource::Rss,
        PosixRlimitType::RlimitNproc => Resource::Nproc,
        PosixRlimitType::RlimitNofile => Resource::Nofile,
        PosixRlimitType::RlimitMemlock => Resource::Memlock,
        PosixRlimitType::RlimitAs => Resource::As,
        PosixRlimitType::RlimitLocks => Resource::Locks,
        PosixRlimitType::RlimitSigpending => Resource::Sigpending,
        PosixRlimitType::RlimitMsgqueue => Resource::Msgqueue,
        PosixRlimitType::RlimitNice => Resource::Nice,
        PosixRlimitType::RlimitRtprio => Resource::Rtprio,
        PosixRlimitType::RlimitRttime => Resource::Rttime,
    }
}

pub fn name(r: Resource) -> String {
    let n = match r {
        Resource::Cpu => "CPU",
        Resource::Fsize => "FSIZE",
        Resource::Data => "DATA",
        Resource::Stack => "STACK",
        Resource::Core => "CORE",
        Resource::Rss => "RSS",
        Resource::Nproc => "NPROC",
        Resource::Nofile => "NOFILE",
        Resource::Memlock => "MEMLOCK",
        Resource::As => "AS",
        Resource::Locks => "LOCKS",
        Resource::Sigpending => "SIGPENDING",
        Resource::Msgqueue => "MSGQUEUE",
        Resource::Nice => "NICE",
        Resource::Rtprio => "RTPRIO",
        Resource::Rttime => "RTTIME",
        _ => "?",
    };
    format!("RLIMIT_{n}")
}

/// RLIM_INFINITY is all ones in the kernel's ABI; rustix spells it `None`.
const INFINITY: u64 = u64::MAX;

pub fn get(r: Resource) -> (u64, u64) {
    let l = rustix::process::getrlimit(r);
    (l.current.unwrap_or(INFINITY), l.maximum.unwrap_or(INFINITY))
}

/// Does this process have CAP_SYS_RESOURCE in its effective set?
fn have_sys_resource() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|m| m & (1 << 24) != 0)
}

/// Step 1.
pub fn from_spec(spec: &Spec) -> Result<Vec<Rlimit>, RlimitError> {
    let list = spec
        .process()
        .as_ref()
        .and_then(|p| p.rlimits().clone())
        .unwrap_or_default();
    let mut out = Vec::new();
    let can_raise = list.is_empty() || have_sys_resource();
    for l in list {
        let r = Rlimit {
            resource: resource(l.typ()),
            soft: l.soft(),
            hard: l.hard(),
        };
        if r.soft > r.hard {
            return Err(RlimitError::SoftAboveHard {
                name: name(r.resource),
                soft: r.soft,
                hard: r.hard,
            });
        }
        let (_, have) = get(r.resource);
        if r.hard > have && !can_raise {
            return Err(RlimitError::CannotRaise {
                name: name(r.resource),
                want: r.hard,
                have,
            });
        }
        out.push(r);
    }
    Ok(out)
}

/// Step 2.
pub fn apply(limits: &[Rlimit]) -> Result<(), RlimitError> {
    for r in limits {
        let l = rustix::process::Rlimit {
            current: (r.soft != INFINITY).then_some(r.soft),
            maximum: (r.hard != INFINITY).then_some(r.hard),
        };
        rustix::process::setrlimit(r.resource, l).map_err(|e| RlimitError::Set {
            name: name(r.resource),
            soft: r.soft,
            hard: r.hard,
            source: e.into(),
        })?;
    }
    Ok(())
}
