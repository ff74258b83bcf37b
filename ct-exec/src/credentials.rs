//! Who the container's process is: uid, gid, supplementary groups, umask, capabilities and
//! no_new_privs (credentials(7), setresuid(2), setgroups(2), prctl(2)).
//!
//! The order matters, because each step needs privileges the next one takes away:
//! 1. drop the bounding set (needs CAP_SETPCAP);
//! 2. `PR_SET_KEEPCAPS`, so the permitted set survives a switch to a non-zero uid;
//! 3. `setgroups(additionalGids)` (skipped when none are asked for and the user namespace
//!    denies it, [`crate::user_ns::setgroups_denied`]), `setresgid(gid)`, then
//!    `setresuid(uid)` (uid last: after it CAP_SETGID may be gone);
//! 4. `capset` the effective, permitted and inheritable sets, raise the ambient ones;
//! 5. `umask`;
//! 6. `PR_SET_NO_NEW_PRIVS` when `noNewPrivileges`: setuid binaries and file capabilities no
//!    longer grant anything on execve (and a seccomp filter can be installed without
//!    CAP_SYS_ADMIN).

use std::io;

use crate::capabilities::{self, CapError, CapSets};

#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub umask: Option<u32>,
    pub caps: CapSets,
    pub no_new_privs: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CredError {
    #[error(transparent)]
    Cap(#[from] CapError),
    #[error("cannot set supplementary groups {0:?}")]
    Groups(Vec<u32>, #[source] io::Error),
    #[error("cannot switch to gid {0}")]
    Gid(u32, #[source] io::Error),
    #[error("cannot switch to uid {0}")]
    Uid(u32, #[source] io::Error),
    #[error("cannot set no_new_privs")]
    NoNewPrivs(#[source] io::Error),
}

/// Steps 1 to 6.
pub fn apply(id: &Identity) -> Result<(), CredError> {
    capabilities::drop_bounding(id.caps.bounding)?;
    use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
    let keepcaps =
        |on| nix::sys::prctl::set_keepcaps(on).map_err(|e| CredError::Uid(id.uid, e.into()));
    keepcaps(true)?;
    let groups: Vec<Gid> = id.groups.iter().map(|&g| Gid::from_raw(g)).collect();
    // In a user namespace whose gid map an unprivileged parent wrote, setgroups(2) is denied:
    // no groups asked for, nothing to do (as runc); groups asked for are an error.
    if !(groups.is_empty() && crate::user_ns::setgroups_denied()) {
        setgroups(&groups).map_err(|e| CredError::Groups(id.groups.clone(), e.into()))?;
    }
    let (gid, uid) = (Gid::from_raw(id.gid), Uid::from_raw(id.uid));
    setresgid(gid, gid, gid).map_err(|e| CredError::Gid(id.gid, e.into()))?;
    setresuid(uid, uid, uid).map_err(|e| CredError::Uid(id.uid, e.into()))?;
    keepcaps(false)?;
    capabilities::capset(&id.caps)?;
    capabilities::raise_ambient(id.caps.ambient)?;
    if let Some(m) = id.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(m as libc::mode_t));
    }
    if id.no_new_privs {
        nix::sys::prctl::set_no_new_privs().map_err(|e| CredError::NoNewPrivs(e.into()))?;
    }
    Ok(())
}
