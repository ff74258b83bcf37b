//! `linux.cgroupsPath` and `linux.resources` (cgroups(7)): the container's process is put in
//! its cgroup, with the memory, cpu and pids limits and the device rules (the config's, then
//! the devices every runtime allows, as runc: opening any other device node fails with EPERM)
//! written, *before* it executes anything. The cgroup code is ct-cgroup's library
//! (`ct_cgroup::prepare`), so ct-exec and ct-cgroup agree on paths and on v1, v2 and hybrid
//! hosts.
//!
//! Steps:
//! 1. Which cgroup: `linux.cgroupsPath` as runc reads it (absolute from each hierarchy's root,
//!    relative under `$CT_CGROUP_PARENT` or `ct`); without a path, `/ct/ID` — even with no
//!    resources at all, as runc does: the device rules are what keeps a process with
//!    CAP_MKNOD from making and opening the host's disks, so every container started by root
//!    gets them. (Not root: only with a path or resources; rootless containers get no devices
//!    but those bind-mounted from the host; and a user's cgroup is made only where the user
//!    may, see [`usable`].)
//! 2. Parent, before `clone(2)`: create it on every hierarchy, write the limits, open its entry
//!    files. The child moves itself in as its first step, the fast way (`0` to each v1
//!    `tasks` file; on v2 `clone3(2)` creates it inside), which skips the RCU grace period a
//!    `cgroup.procs` write waits for (ct-cgroup's `self_join.rs`). A fork on the slow path
//!    inherits the cgroup.
//! 3. When the container has exited (foreground run, or the monitor of a detached one): remove
//!    the cgroup again, so nothing is left behind.

use oci_spec::runtime::LinuxResources;

use crate::oci_config::Plan;
use crate::ExecError;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cannot set up cgroup '{path}'")]
    Prepare {
        path: String,
        #[source]
        source: ct_cgroup::CgroupError,
    },
}

/// Step 1. With `systemd` (`--systemd-cgroup`), `linux.cgroupsPath` is systemd's
/// `slice:prefix:name` and names the directory systemd would give that unit
/// ([`systemd_path`]); systemd itself is not needed for that layout.
pub fn path_for(plan: &Plan, id: &str, systemd: bool) -> Result<Option<String>, ExecError> {
    Ok(match (&plan.cgroups_path, plan.has_resources) {
        (Some(p), _) if !p.as_os_str().is_empty() => {
            let p = p.to_string_lossy().into_owned();
            match systemd {
                true => Some(systemd_path(&p).ok_or_else(|| {
                    ExecError::Usage(format!(
                        "--systemd-cgroup: cgroupsPath {} is not slice:prefix:name",
                        ct_layout::pipe::quote(&p)
                    ))
                })?),
                false => Some(p),
            }
        }
        (_, true) => Some(ct_cgroup::default_path(id)),
        _ if crate::rootless::host_root() => Some(ct_cgroup::default_path(id)),
        _ => None,
    })
}

/// systemd's `slice:prefix:name` as a cgroupfs path, as runc's systemd driver places it: the
/// slice expanded into its parents (`a-b.slice` is `/a.slice/a-b.slice`; empty is
/// `system.slice`, `-.slice` is the root), then the unit `prefix-name.scope` (or `name`
/// itself when it is a `.slice`).
pub fn systemd_path(s: &str) -> Option<String> {
    let mut parts = s.split(':');
    let (slice, prefix, name) = (parts.next()?, parts.next()?, parts.next()?);
    let ok = |p: &str| !p.contains('/') && p != "." && p != "..";
    if parts.next().is_some() || name.is_empty() || ![slice, prefix, name].into_iter().all(ok) {
        return None;
    }
    let slice = if slice.is_empty() {
        "system.slice"
    } else {
        slice
    };
    let mut path = String::new();
    if slice != "-.slice" {
        let stem = slice.strip_suffix(".slice")?;
        if stem.is_empty() || stem.starts_with('-') || stem.ends_with('-') || stem.contains("--") {
            return None;
        }
        let mut acc = String::new();
        for (i, w) in stem.split('-').enumerate() {
            if i > 0 {
                acc.push('-');
            }
            acc.push_str(w);
            path.push('/');
            path.push_str(&acc);
            path.push_str(".slice");
        }
    }
    path.push('/');
    match (name.ends_with(".slice"), prefix.is_empty()) {
        (true, _) => path.push_str(name),
        (false, true) => path.push_str(&format!("{name}.scope")),
        (false, false) => path.push_str(&format!("{prefix}-{name}.scope")),
    }
    Some(path)
}

fn resources(plan: &Plan) -> Option<&LinuxResources> {
    plan.spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
}

/// Step 1 as a user ([`crate::rootless`]): the cgroup only below the user's delegated cgroup
/// v2 subtree (`ct_cgroup::delegation`: a relative path, or the default one, goes there);
/// elsewhere none, with one warning — and one more when the config has device rules, which
/// live in the cgroup too — and the container runs, as with rootless podman.
pub fn usable(plan: &Plan, id: &str, path: Option<String>) -> Option<String> {
    let path = path?;
    if crate::rootless::host_root() {
        return Some(path);
    }
    let res = resources(plan);
    let why = match delegated_path(res, id, &path) {
        Ok(p) => match ct_cgroup::prepare(&p, res) {
            Ok(_) => return Some(p),
            Err(e) => format!("cannot create cgroup '{p}': {}", ct_layout::pipe::chain(&e)),
        },
        Err(why) => why,
    };
    eprintln!(
        "ct-exec: warning: no cgroup, so no resource limits (linux.resources): {why}; a user's \
         limits need a cgroup v2 subtree delegated to them"
    );
    let rules = res.and_then(|r| r.devices().as_ref());
    if rules.is_some_and(|d| !d.is_empty()) {
        eprintln!(
            "ct-exec: warning: linux.resources.devices not applied (they need the cgroup); the \
             container has only the device nodes it is given"
        );
    }
    None
}

/// Where a user's cgroup `path` goes: below the user's delegated subtree when relative (or
/// ct's default `/PARENT/ID`), as given when absolute; or why there is none.
fn delegated_path(res: Option<&LinuxResources>, id: &str, path: &str) -> Result<String, String> {
    use ct_cgroup::delegation::{controllers_for, decide, Decision, Facts};
    let h = ct_cgroup::Hierarchy::detect().map_err(|e| ct_layout::pipe::chain(&e))?;
    let wanted = res.map(controllers_for).unwrap_or_default();
    match decide(&Facts::read(&h), &wanted) {
        Decision::NotDelegated(why) => Err(why),
        Decision::Delegated(parent) => {
            let below = match path {
                p if p == ct_cgroup::default_path(id) => id,
                p if !p.starts_with('/') => p,
                p => return Ok(p.to_string()),
            };
            ct_cgroup::cgroups_path::resolve(below, &parent).map_err(|e| e.to_string())
        }
    }
}

/// Step 2, in the parent.
pub fn prepare(plan: &Plan, path: &str) -> Result<ct_cgroup::SelfJoin, CgroupError> {
    ct_cgroup::prepare(path, resources(plan))
        .map(|(_, join)| join)
        .map_err(|source| CgroupError::Prepare {
            path: path.to_string(),
            source,
        })
}

/// Step 2 for a process that joins a running container (`exec`): the cgroup as it is, if it
/// still exists.
pub fn open_existing(path: &str) -> Result<Option<ct_cgroup::SelfJoin>, CgroupError> {
    let err = |source| CgroupError::Prepare {
        path: path.to_string(),
        source,
    };
    let cg = ct_cgroup::open(path).map_err(err)?;
    if !cg.exists() {
        return Ok(None);
    }
    cg.self_join().map(Some).map_err(err)
}

/// Step 3. A failure is reported, not fatal: the container has already run.
pub fn remove(path: &str) {
    if let Err(e) = ct_cgroup::remove(path) {
        eprintln!(
            "ct-exec: warning: cannot remove cgroup '{path}': {}",
            ct_layout::pipe::chain(&e)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::systemd_path;

    #[test]
    fn systemd_slices_expand_into_their_parents() {
        let p = systemd_path("machine-ct.slice:libpod:abc").unwrap();
        assert_eq!(p, "/machine.slice/machine-ct.slice/libpod-abc.scope");
        assert_eq!(systemd_path(":ct:x").unwrap(), "/system.slice/ct-x.scope");
        assert_eq!(systemd_path("-.slice::x").unwrap(), "/x.scope");
        assert_eq!(
            systemd_path("a.slice:p:b.slice").unwrap(),
            "/a.slice/b.slice"
        );
        for bad in [
            "a",
            "a.slice:p",
            "a:p:x",
            "a.slice:p:../x",
            "a--b.slice:p:x",
            "a.slice:p:",
        ] {
            assert_eq!(systemd_path(bad), None, "{bad}");
        }
    }
}
