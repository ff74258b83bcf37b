//! The `process` part of the config with the command line's overrides applied: the command
//! (`-- CMD`), the environment (`-e`, merged by key in first-seen order), the working directory
//! (`-w`, absolute) and the capability sets (the kernel raises an ambient capability only if it
//! is also permitted and inheritable: capabilities(7)). Strings that go to execve(2) cannot
//! hold a NUL byte.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::path::PathBuf;

use oci_spec::runtime::{Process, Spec};

use super::{ConfigError, Overrides};
use crate::capabilities::CapSets;

/// `process.args`, replaced by `-- CMD` when given; never empty.
pub(super) fn command(process: &mut Process, o: &Overrides) -> Result<Vec<String>, ConfigError> {
    if !o.args.is_empty() {
        process.set_args(Some(o.args.clone()));
    }
    let args: Vec<String> = process.args().clone().unwrap_or_default();
    if args.is_empty() {
        return Err(ConfigError::NoArgs);
    }
    Ok(args)
}

/// `process.env` then `-e` (`KEY=VALUE`, or `KEY` from ct-exec's own environment), as
/// `KEY=VALUE` in first-seen order of the keys; a later value replaces an earlier one.
pub(super) fn environment(process: &Process, o: &Overrides) -> Vec<String> {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut put = |kv: &str| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        if env.insert(k.to_string(), v.to_string()).is_none() {
            order.push(k.to_string());
        }
    };
    for kv in process.env().iter().flatten() {
        put(kv);
    }
    for kv in &o.env {
        if kv.contains('=') {
            put(kv);
        } else if let Ok(v) = std::env::var(kv) {
            put(&format!("{kv}={v}"));
        }
    }
    order.iter().map(|k| format!("{k}={}", env[k])).collect()
}

/// `process.cwd`, or `-w`; absolute.
pub(super) fn working_directory(process: &Process, o: &Overrides) -> Result<PathBuf, ConfigError> {
    let cwd = o
        .cwd
        .clone()
        .map(PathBuf::from)
        .unwrap_or_else(|| process.cwd().clone());
    if !cwd.is_absolute() {
        return Err(ConfigError::Invalid(format!(
            "process.cwd '{}' must be absolute",
            cwd.display()
        )));
    }
    Ok(cwd)
}

/// `process.capabilities`. The kernel only raises an ambient capability that is permitted and
/// inheritable; like runc, say which ones cannot be and go on without them.
pub(super) fn capabilities(spec: &Spec) -> Result<CapSets, ConfigError> {
    let mut caps = CapSets::from_spec(spec)?;
    let cannot = caps.ambient & !(caps.inheritable & caps.permitted);
    if cannot != 0 {
        let names: Vec<String> = (0..64)
            .filter(|n| cannot & (1u64 << n) != 0)
            .map(crate::capabilities::name)
            .collect();
        eprintln!(
            "ct-exec: warning: process.capabilities.ambient: {} not raised (not in both inheritable and permitted)",
            names.join(", ")
        );
        caps.ambient &= caps.inheritable & caps.permitted;
    }
    Ok(caps)
}

pub(super) fn cstring(s: &str, what: &str) -> Result<CString, ConfigError> {
    CString::new(s).map_err(|_| ConfigError::Invalid(format!("{what} contains a NUL byte")))
}
