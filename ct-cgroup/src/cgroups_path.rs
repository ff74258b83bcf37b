//! `linux.cgroupsPath` of the OCI runtime spec (`config-linux.md`, "Cgroups path"), read the way
//! runc's cgroupfs driver reads it:
//!
//! * an **absolute** path (`/ct/web`) is relative to the root of every hierarchy: the same
//!   `ct/web` directory below each v1 controller's mount point and below the cgroup2 mount;
//! * a **relative** path (`web`) is placed under a parent of ct's own — `ct` unless
//!   `CT_CGROUP_PARENT` (or ct-cgroup's `--parent`) names another — so it becomes `/ct/web`;
//! * systemd's `slice:prefix:name` form belongs to the systemd driver, which ct does not have.
//!
//! `..` and `.` components are refused so that no path can climb out of a hierarchy.

use crate::error::CgroupError;

/// ct's parent cgroup when none is given.
pub const DEFAULT_PARENT: &str = "ct";
/// The environment variable that overrides the parent.
pub const PARENT_ENV: &str = "CT_CGROUP_PARENT";

/// The parent from `$CT_CGROUP_PARENT`, or `ct`.
pub fn parent_from_env() -> String {
    std::env::var(PARENT_ENV)
        .ok()
        .filter(|s| !s.trim_matches('/').is_empty())
        .unwrap_or_else(|| DEFAULT_PARENT.to_string())
}

fn check_components(path: &str, p: &str) -> Result<(), CgroupError> {
    for c in p.split('/').filter(|c| !c.is_empty()) {
        let reason = if c == ".." || c == "." {
            "'.' and '..' are not allowed"
        } else if c.contains(['\0', '\n']) {
            "contains a NUL or newline"
        } else if c.len() > 255 {
            "a component is longer than 255 bytes"
        } else {
            continue;
        };
        return Err(CgroupError::InvalidPath {
            path: path.to_string(),
            reason,
        });
    }
    Ok(())
}

/// The absolute cgroups path (`/a/b`, no trailing slash) that `cgroups_path` means, with
/// relative paths placed under `parent`.
pub fn resolve(cgroups_path: &str, parent: &str) -> Result<String, CgroupError> {
    if cgroups_path.trim().is_empty() {
        return Err(CgroupError::InvalidPath {
            path: cgroups_path.to_string(),
            reason: "it is empty",
        });
    }
    if cgroups_path.contains(':') && !cgroups_path.starts_with('/') {
        return Err(CgroupError::InvalidPath {
            path: cgroups_path.to_string(),
            reason: "systemd's slice:prefix:name form needs the systemd cgroup driver; ct uses cgroupfs paths like /ct/NAME",
        });
    }
    check_components(cgroups_path, cgroups_path)?;
    check_components(parent, parent)?;
    let joined = if cgroups_path.starts_with('/') {
        cgroups_path.to_string()
    } else {
        format!("/{}/{}", parent.trim_matches('/'), cgroups_path)
    };
    let norm: Vec<&str> = joined.split('/').filter(|c| !c.is_empty()).collect();
    if norm.is_empty() {
        return Err(CgroupError::InvalidPath {
            path: cgroups_path.to_string(),
            reason: "it names the root of the hierarchy, which ct never limits or removes",
        });
    }
    Ok(format!("/{}", norm.join("/")))
}

/// The cgroups path ct gives container `id` when nothing else is asked: `/PARENT/ID`.
pub fn default_path(id: &str) -> String {
    format!("/{}/{}", parent_from_env().trim_matches('/'), id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_is_from_root_relative_is_under_parent() {
        assert_eq!(resolve("/ct/web", "ct").unwrap(), "/ct/web");
        assert_eq!(resolve("/a//b/", "ct").unwrap(), "/a/b");
        assert_eq!(resolve("web", "ct").unwrap(), "/ct/web");
        assert_eq!(resolve("web", "/t-1/x/").unwrap(), "/t-1/x/web");
        assert_eq!(resolve("x/y", "p").unwrap(), "/p/x/y");
    }

    #[test]
    fn escapes_and_systemd_paths_are_refused() {
        for bad in ["/ct/../etc", "..", "/", "", "./x", "system.slice:ct:web"] {
            assert!(
                matches!(resolve(bad, "ct"), Err(CgroupError::InvalidPath { .. })),
                "{bad}"
            );
        }
        assert!(resolve("web", "../up").is_err());
    }
}
