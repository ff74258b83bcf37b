//! The container's world in the config, each part checked against the namespaces it needs:
//! `root` (relative to the bundle, a directory), `hostname`/`domainname` (a uts namespace),
//! `mounts` and `linux.rootfsPropagation` (a mount namespace), `linux.devices` over the default
//! ones, `linux.maskedPaths`/`readonlyPaths` (absolute), `linux.sysctl` (only the keys the
//! container's namespaces own) and `linux.timeOffsets` (a time namespace).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Linux, Spec};

use super::{ConfigError, Overrides};
use crate::devices::DevicePlan;
use crate::mounts::MountPlan;
use crate::namespaces::NsPlan;
use crate::pivot_root;

/// `root.path`, relative to the bundle, canonical, a directory; and `root.readonly`.
pub(super) fn root_filesystem(spec: &Spec, bundle: &Path) -> Result<(PathBuf, bool), ConfigError> {
    let root = spec
        .root()
        .as_ref()
        .ok_or(ConfigError::Invalid("root.path is missing".into()))?;
    let rootfs = bundle.join(root.path());
    let rootfs = fs::canonicalize(&rootfs).map_err(|source| ConfigError::Rootfs {
        path: rootfs.clone(),
        source,
    })?;
    if !rootfs.is_dir() {
        return Err(ConfigError::Rootfs {
            path: rootfs,
            source: io::Error::from_raw_os_error(libc::ENOTDIR),
        });
    }
    Ok((rootfs, root.readonly().unwrap_or(false)))
}

/// `hostname` (or `--hostname`) and `domainname`, which need a uts namespace of their own.
pub(super) fn uts_names(
    spec: &Spec,
    o: &Overrides,
    ns: &NsPlan,
) -> Result<(Option<String>, Option<String>), ConfigError> {
    let hostname = o.hostname.clone().or_else(|| spec.hostname().clone());
    let hostname = hostname.filter(|h| !h.is_empty());
    let domainname = spec.domainname().clone().filter(|h| !h.is_empty());
    if (hostname.is_some() || domainname.is_some()) && !ns.uts_new {
        return Err(ConfigError::Invalid(
            "hostname/domainname need a new uts namespace (linux.namespaces)".into(),
        ));
    }
    Ok((hostname, domainname))
}

/// `linux.rootfsPropagation` and `mounts`, which need a mount namespace of their own.
pub(super) fn mount_list(
    spec: &Spec,
    linux: &Linux,
    ns: &NsPlan,
    bundle: &Path,
) -> Result<(libc::c_ulong, Vec<MountPlan>), ConfigError> {
    if !ns.mount && !spec.mounts().as_ref().is_none_or(Vec::is_empty) {
        return Err(ConfigError::Invalid(
            "mounts need a mount namespace (linux.namespaces)".into(),
        ));
    }
    let propagation =
        pivot_root::propagation_flags(linux.rootfs_propagation().as_deref().unwrap_or(""))?;
    let mut mounts = Vec::new();
    for m in spec.mounts().iter().flatten() {
        mounts.push(MountPlan::from_spec(m, bundle)?);
    }
    Ok((propagation, mounts))
}

/// The default devices, each replaced by a `linux.devices` entry of the same path.
pub(super) fn device_list(linux: &Linux) -> Result<Vec<DevicePlan>, ConfigError> {
    let mut devices = crate::devices::defaults();
    for d in linux.devices().iter().flatten() {
        let d = DevicePlan::from_spec(d)?;
        devices.retain(|x| x.path != d.path);
        devices.push(d);
    }
    Ok(devices)
}

/// `linux.maskedPaths` or `linux.readonlyPaths`: absolute paths.
pub(super) fn absolute_paths(
    v: &Option<Vec<String>>,
    what: &str,
) -> Result<Vec<PathBuf>, ConfigError> {
    v.iter()
        .flatten()
        .map(|p| {
            let p = PathBuf::from(p);
            if p.is_absolute() {
                Ok(p)
            } else {
                Err(ConfigError::Invalid(format!(
                    "{what} '{}' must be absolute",
                    p.display()
                )))
            }
        })
        .collect()
}

/// `linux.sysctl`, sorted, each allowed for the namespaces the container has.
pub(super) fn sysctls(linux: &Linux, ns: &NsPlan) -> Result<Vec<(String, String)>, ConfigError> {
    let mut sysctl: Vec<(String, String)> = linux
        .sysctl()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    sysctl.sort();
    for (k, _) in &sysctl {
        crate::sysctl::check(k, ns)?;
    }
    Ok(sysctl)
}

/// `linux.timeOffsets`: the clocks a time namespace can shift, which it needs.
pub(super) fn time_offsets(
    linux: &Linux,
    ns: &NsPlan,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut time_offsets = Vec::new();
    for (clock, v) in linux.time_offsets().clone().unwrap_or_default() {
        let id = match clock.as_str() {
            "monotonic" => "monotonic",
            "boottime" => "boottime",
            _ => {
                return Err(ConfigError::Invalid(format!(
                    "linux.timeOffsets: unknown clock '{clock}'"
                )))
            }
        };
        time_offsets.push((id.to_string(), v));
    }
    if !time_offsets.is_empty() && !ns.new_time {
        return Err(ConfigError::Invalid(
            "linux.timeOffsets needs a new time namespace".into(),
        ));
    }
    Ok(time_offsets)
}
