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

/// The type of setrlimit(2)'s first argument: an enum in glibc's headers, an int in musl's.
#[cfg(target_env = "gnu")]
pub type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
pub type Resource = libc::c_int;

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
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

pub fn name(r: Resource) -> String {
    let n = match r {
        libc::RLIMIT_CPU => "CPU",
        libc::RLIMIT_FSIZE => "FSIZE",
        libc::RLIMIT_DATA => "DATA",
        libc::RLIMIT_STACK => "STACK",
        libc::RLIMIT_CORE => "CORE",
        libc::RLIMIT_RSS => "RSS",
        libc::RLIMIT_NPROC => "NPROC",
        libc::RLIMIT_NOFILE => "NOFILE",
        libc::RLIMIT_MEMLOCK => "MEMLOCK",
        libc::RLIMIT_AS => "AS",
        libc::RLIMIT_LOCKS => "LOCKS",
        libc::RLIMIT_SIGPENDING => "SIGPENDING",
        libc::RLIMIT_MSGQUEUE => "MSGQUEUE",
        libc::RLIMIT_NICE => "NICE",
        libc::RLIMIT_RTPRIO => "RTPRIO",
        libc::RLIMIT_RTTIME => "RTTIME",
        _ => "?",
    };
    format!("RLIMIT_{n}")
}

pub fn get(r: Resource) -> (u64, u64) {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into l.
    unsafe { libc::getrlimit(r, &mut l) };
    (l.rlim_cur, l.rlim_max)
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
        let l = libc::rlimit {
            rlim_cur: r.soft,
            rlim_max: r.hard,
        };
        // SAFETY: setrlimit reads l.
        if unsafe { libc::setrlimit(r.resource, &l) } != 0 {
            return Err(RlimitError::Set {
                name: name(r.resource),
                soft: r.soft,
                hard: r.hard,
                source: io::Error::last_os_error(),
            });
        }
    }
    Ok(())
}
