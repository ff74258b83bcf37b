//! User namespaces (user_namespaces(7)): uid 0 inside, an unprivileged uid outside.
//!
//! A new user namespace starts with no ids mapped; its creator has every capability *in it*
//! but appears as the overflow uid 65534. Steps:
//!
//! 1. The child is created in the new namespace (`clone(CLONE_NEWUSER|…)`) and waits.
//! 2. The parent writes `/proc/CHILD/uid_map` and `/proc/CHILD/gid_map` — one line
//!    `INSIDE OUTSIDE COUNT` per `uidMappings` entry. Each file can be written once (through
//!    an fd checked to be on procfs, [`crate::procfs`]). The child is dumpable meanwhile (its
//!    `/proc` files would otherwise belong to the host's root, closed to an unprivileged
//!    parent). Who may write what:
//!    - a privileged parent (root, CAP_SETUID/CAP_SETGID): any map, and it need not deny
//!      `setgroups` first, so the container can still set its supplementary groups;
//!    - an unprivileged parent (rootless, `runc spec --rootless`): only its own id, as one line
//!      `X OWN 1`, and for the gid map only after writing `deny` to `/proc/CHILD/setgroups`
//!      (since Linux 3.19: otherwise the container could drop a group that denies it access);
//!    - anything more (the user's subordinate ranges of `/etc/subuid`, `/etc/subgid`) is
//!      written by the setuid helpers `newuidmap`/`newgidmap` (Debian's uidmap), which check
//!      those files — as runc and podman do.
//! 3. The child, told to go on, calls `setresgid(0)` / `setresuid(0)` to become the mapped
//!    root, so the files it creates (device nodes, mount points) belong to the container's root.

use std::io;
use std::path::PathBuf;

use oci_spec::runtime::{LinuxIdMapping, Spec};

#[derive(Debug, thiserror::Error)]
pub enum UserNsError {
    #[error("a user namespace needs linux.uidMappings and linux.gidMappings")]
    NoMappings,
    #[error("cannot map ids ({content}) with {helper}")]
    Helper {
        helper: &'static str,
        content: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot write '{path}' ({content})")]
    Write {
        path: PathBuf,
        content: String,
        #[source]
        source: io::Error,
    },
}

/// The `uid_map` / `gid_map` file contents for a config.
pub fn map_contents(spec: &Spec) -> Result<(String, String), UserNsError> {
    let linux = spec.linux().as_ref();
    let uids = linux
        .and_then(|l| l.uid_mappings().clone())
        .unwrap_or_default();
    let gids = linux
        .and_then(|l| l.gid_mappings().clone())
        .unwrap_or_default();
    if uids.is_empty() || gids.is_empty() {
        return Err(UserNsError::NoMappings);
    }
    Ok((lines(&uids), lines(&gids)))
}

fn lines(m: &[LinuxIdMapping]) -> String {
    m.iter()
        .map(|e| format!("{} {} {}\n", e.container_id(), e.host_id(), e.size()))
        .collect()
}

/// Step 2, run by the parent.
pub fn write_maps(pid: i32, uid_map: &str, gid_map: &str) -> Result<(), UserNsError> {
    let root = rustix::process::geteuid().is_root();
    let own_uid = rustix::process::geteuid().as_raw();
    let own_gid = rustix::process::getegid().as_raw();
    for (file, content, own, helper) in [
        ("uid_map", uid_map, own_uid, "newuidmap"),
        ("gid_map", gid_map, own_gid, "newgidmap"),
    ] {
        match (root, only_own_id(content, own)) {
            (true, _) => write_proc(pid, file, content)?,
            (false, true) => {
                if file == "gid_map" {
                    write_proc(pid, "setgroups", "deny")?;
                }
                write_proc(pid, file, content)?;
            }
            (false, false) => run_helper(helper, pid, content)?,
        }
    }
    Ok(())
}

/// Does `map` map exactly one id, `own`, which an unprivileged process may write itself?
pub fn only_own_id(map: &str, own: u32) -> bool {
    let lines: Vec<Vec<&str>> = map
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    matches!(lines.as_slice(), [l] if l.len() == 3 && l[1] == own.to_string() && l[2] == "1")
}

fn write_proc(pid: i32, file: &str, content: &str) -> Result<(), UserNsError> {
    let rel = format!("{pid}/{file}");
    crate::procfs::write(&rel, content.as_bytes()).map_err(|source| UserNsError::Write {
        path: PathBuf::from("/proc").join(&rel),
        content: content.trim().replace('\n', ", "),
        source,
    })
}

/// `newuidmap PID INSIDE OUTSIDE COUNT…` (or newgidmap): checks the ranges against
/// `/etc/subuid` (`/etc/subgid`) and writes the map as root.
fn run_helper(helper: &'static str, pid: i32, content: &str) -> Result<(), UserNsError> {
    let fail = |source| UserNsError::Helper {
        helper,
        content: content.trim().replace('\n', ", "),
        source,
    };
    let prog = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        .iter()
        .map(|d| std::path::Path::new(d).join(helper))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            fail(io::Error::other(format!(
                "no {helper} (Debian's uidmap package): without it a user may map only their own id"
            )))
        })?;
    let out = std::process::Command::new(prog)
        .arg(pid.to_string())
        .args(content.split_whitespace())
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(fail)?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        return Err(fail(io::Error::other(ct_layout::pipe::quote(
            why.trim().as_bytes(),
        ))));
    }
    Ok(())
}

/// Step 3, run by the child once the maps are written.
pub fn become_root() -> io::Result<()> {
    use nix::unistd::{setresgid, setresuid, Gid, Uid};
    setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))?;
    setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))?;
    Ok(())
}

/// Has `setgroups(2)` been denied in this process's user namespace (by an unprivileged
/// parent, before a one-id gid map)? Then supplementary groups cannot be set there.
pub fn setgroups_denied() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny")
}

#[cfg(test)]
mod tests {
    use super::only_own_id;

    #[test]
    fn only_a_single_line_of_ones_own_id_is_written_without_a_helper() {
        assert!(only_own_id("0 1001 1\n", 1001));
        assert!(!only_own_id("0 1001 1\n", 1002));
        assert!(!only_own_id("0 1001 2\n", 1001));
        assert!(!only_own_id("0 1001 1\n1 100000 65536\n", 1001));
        assert!(!only_own_id("", 1001));
    }
}
