//! `linux.sysctl`: kernel parameters of the container's namespaces, written to `/proc/sys`
//! (sysctl(8)). Only namespaced ones make sense (`net.*` with a network namespace, `kernel.shm*`
//! `kernel.msg*` `kernel.sem` `fs.mqueue.*` with an IPC namespace, `kernel.hostname` …); the
//! kernel decides, and refuses the others with EPERM or EROFS.
//!
//! Steps: after `pivot_root`, with the container's `/proc` mounted, and *before*
//! `readonlyPaths` makes `/proc/sys` read-only, write each value to
//! `/proc/sys/` + the key with dots turned into slashes.

use std::fs;
use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SysctlError {
    #[error("sysctl '{0}': not a valid key")]
    Key(String),
    #[error("cannot set sysctl {key}={value} ('{path}')")]
    Write {
        key: String,
        value: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

pub fn path_of(key: &str) -> Result<PathBuf, SysctlError> {
    if key.is_empty() || key.contains("..") || key.starts_with('/') || key.starts_with('.') {
        return Err(SysctlError::Key(key.into()));
    }
    Ok(PathBuf::from("/proc/sys").join(key.replace('.', "/")))
}

pub fn set(key: &str, value: &str) -> Result<(), SysctlError> {
    let path = path_of(key)?;
    fs::write(&path, value).map_err(|source| SysctlError::Write {
        key: key.into(),
        value: value.into(),
        path,
        source,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_become_paths() {
        assert_eq!(
            super::path_of("net.ipv4.ip_forward").unwrap(),
            std::path::PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
        assert!(super::path_of("../etc").is_err());
    }
}
