//! Recording a container's cgroup in its OCI runtime bundle (runtime-spec `config-linux.md`,
//! "Control groups"): `linux.cgroupsPath` names the cgroup and `linux.resources` holds the
//! limits, so ct-exec — or runc, crun, any OCI runtime — places the container there. The file
//! is read, changed and replaced atomically (`ct_layout::bundle`), keeping every other field,
//! and only the sections ct-cgroup was asked to set are changed.
//!
//! [`resource_warnings`] names every `linux.resources` key that ct does not apply, so no limit
//! is dropped without a word (ct-exec and ct-cgroup print them).

use oci_spec::runtime::{Linux, LinuxCpu, LinuxMemory, LinuxResources};

use ct_layout::bundle::Bundle;

use crate::error::CgroupError;

fn bundle_err(bundle: &Bundle) -> impl Fn(ct_layout::bundle::BundleError) -> CgroupError + '_ {
    move |source| CgroupError::Bundle {
        input: bundle.dir.display().to_string(),
        source,
    }
}

/// The bundle's `linux.cgroupsPath`, if it has one.
pub fn cgroups_path(bundle: &Bundle) -> Result<Option<String>, CgroupError> {
    let spec = bundle.load_config().map_err(bundle_err(bundle))?;
    Ok(spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| !p.is_empty()))
}

/// The bundle's `linux.resources`, if it has them.
pub fn resources(bundle: &Bundle) -> Result<Option<LinuxResources>, CgroupError> {
    let spec = bundle.load_config().map_err(bundle_err(bundle))?;
    Ok(spec.linux().as_ref().and_then(|l| l.resources().clone()))
}

/// [`resource_warnings`] for parsed resources.
pub fn resource_warnings_of(r: &LinuxResources) -> Vec<String> {
    serde_json::to_value(r)
        .map(|v| resource_warnings(&v))
        .unwrap_or_default()
}

/// `base` with the given limits set (oci-spec 0.7 has no setters on LinuxMemory, so this goes
/// through its JSON form, which keeps every other field).
pub fn memory_with(
    base: Option<LinuxMemory>,
    limit: Option<i64>,
    swap: Option<i64>,
    reservation: Option<i64>,
) -> LinuxMemory {
    let base = base.unwrap_or_default();
    let Ok(serde_json::Value::Object(mut v)) = serde_json::to_value(base) else {
        return base;
    };
    for (k, val) in [
        ("limit", limit),
        ("swap", swap),
        ("reservation", reservation),
    ] {
        if let Some(x) = val {
            v.insert(k.into(), x.into());
        }
    }
    serde_json::from_value(serde_json::Value::Object(v)).unwrap_or(base)
}

/// `new` laid over `old`: every field set in `new` wins, the rest of `old` stays.
pub fn merge(old: Option<LinuxResources>, new: &LinuxResources) -> LinuxResources {
    let mut r = old.unwrap_or_default();
    if let Some(n) = new.memory() {
        let m = memory_with(*r.memory(), n.limit(), n.swap(), n.reservation());
        r.set_memory(Some(m));
    }
    if let Some(n) = new.cpu() {
        let mut c: LinuxCpu = r.cpu().clone().unwrap_or_default();
        if n.shares().is_some() {
            c.set_shares(n.shares());
        }
        if n.quota().is_some() {
            c.set_quota(n.quota());
        }
        if n.period().is_some() {
            c.set_period(n.period());
        }
        if n.cpus().is_some() {
            c.set_cpus(n.cpus().clone());
        }
        if n.mems().is_some() {
            c.set_mems(n.mems().clone());
        }
        r.set_cpu(Some(c));
    }
    if new.pids().is_some() {
        r.set_pids(*new.pids());
    }
    r
}

/// Write `linux.cgroupsPath` = `path` and merge `resources` into `linux.resources`.
pub fn record(bundle: &Bundle, path: &str, resources: &LinuxResources) -> Result<(), CgroupError> {
    let mut spec = bundle.load_config().map_err(bundle_err(bundle))?;
    // A config without a linux section gets an empty one, not oci-spec's defaults (which
    // would add namespaces and masked paths the bundle's author never asked for).
    let mut linux: Linux = match spec.linux().clone() {
        Some(l) => l,
        None => serde_json::from_str("{}").map_err(|source| CgroupError::Bundle {
            input: bundle.dir.display().to_string(),
            source: ct_layout::bundle::BundleError::Config {
                path: bundle.config_path(),
                source,
            },
        })?,
    };
    linux.set_cgroups_path(Some(path.into()));
    linux.set_resources(Some(merge(linux.resources().clone(), resources)));
    spec.set_linux(Some(linux));
    bundle.save_config(&spec).map_err(bundle_err(bundle))
}

/// `linux.resources` keys ct applies (`*`: any key or index).
const APPLIED: &[&str] = &[
    "devices",
    "devices.*",
    "devices.*.allow",
    "devices.*.type",
    "devices.*.major",
    "devices.*.minor",
    "devices.*.access",
    "memory",
    "memory.limit",
    "memory.swap",
    "memory.reservation",
    "memory.swappiness",
    "memory.disableOOMKiller",
    "cpu",
    "cpu.shares",
    "cpu.quota",
    "cpu.burst",
    "cpu.period",
    "cpu.realtimeRuntime",
    "cpu.realtimePeriod",
    "cpu.cpus",
    "cpu.mems",
    "cpu.idle",
    "pids",
    "pids.limit",
    "unified",
    "unified.*",
];

/// One warning per key of the `linux.resources` object `v` that ct does not apply and that is
/// set (not null, empty or false): `linux.resources.blockIO is not applied`.
pub fn resource_warnings(v: &serde_json::Value) -> Vec<String> {
    fn set(v: &serde_json::Value) -> bool {
        use serde_json::Value;
        match v {
            Value::Null | Value::Bool(false) => false,
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            _ => true,
        }
    }
    fn walk(v: &serde_json::Value, path: &str, generic: &str, out: &mut Vec<String>) {
        let children: Vec<(String, &serde_json::Value)> = match v {
            serde_json::Value::Object(o) => o.iter().map(|(k, v)| (k.clone(), v)).collect(),
            serde_json::Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect(),
            _ => return,
        };
        let sep = if generic.is_empty() { "" } else { "." };
        for (k, child) in children {
            let literal = format!("{generic}{sep}{k}");
            let any = format!("{generic}{sep}*");
            let g = if APPLIED.contains(&literal.as_str()) {
                literal
            } else if APPLIED.contains(&any.as_str()) {
                any
            } else {
                if set(child) {
                    out.push(format!("linux.resources.{path}{sep}{k} is not applied"));
                }
                continue;
            };
            // unified's keys are cgroup file names (with dots): values, not more keys.
            if g != "unified.*" {
                walk(child, &format!("{path}{sep}{k}"), &g, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(v, "", "", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxPids, Spec};

    #[test]
    fn record_keeps_other_fields_and_merges_limits() {
        let d = tempfile::tempdir().unwrap();
        let b = Bundle::new(d.path());
        let mut spec = Spec::default();
        spec.set_hostname(Some("keepme".into()));
        b.save_config(&spec).unwrap();

        let mut first = LinuxResources::default();
        let m = memory_with(None, Some(64 << 20), None, None);

        first.set_memory(Some(m));
        record(&b, "/ct/x", &first).unwrap();

        let mut second = LinuxResources::default();
        let mut p = LinuxPids::default();
        p.set_limit(20);
        second.set_pids(Some(p));
        record(&b, "/ct/x", &second).unwrap();

        let raw: serde_json::Value =
            serde_json::from_slice(&std::fs::read(b.config_path()).unwrap()).unwrap();
        assert_eq!(raw["linux"]["cgroupsPath"], "/ct/x");
        assert_eq!(raw["linux"]["resources"]["memory"]["limit"], 64 << 20);
        assert_eq!(raw["linux"]["resources"]["pids"]["limit"], 20);
        assert_eq!(raw["hostname"], "keepme");
        assert!(raw["linux"]["namespaces"].is_array());
        assert_eq!(cgroups_path(&b).unwrap().as_deref(), Some("/ct/x"));
        // Nothing but config.json in the bundle: the write was temp + rename.
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn keys_ct_does_not_apply_are_named() {
        let w = resource_warnings(&serde_json::json!({
            "devices": [{"allow": false, "access": "rwm"}],
            "memory": {"limit": 1, "kernel": 5, "useHierarchy": false, "disableOOMKiller": false},
            "blockIO": {"weight": 10},
            "hugepageLimits": [],
            "rdma": {"mlx": {"hcaHandles": 1}},
            "unified": {"memory.high": "1"},
            "network": null,
            "bogus": 1,
        }));
        assert_eq!(
            w,
            [
                "linux.resources.blockIO is not applied",
                "linux.resources.bogus is not applied",
                "linux.resources.memory.kernel is not applied",
                "linux.resources.rdma is not applied",
            ]
        );
    }

    #[test]
    fn config_without_linux_gets_only_the_cgroup() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("config.json"), r#"{"ociVersion":"1.0.2"}"#).unwrap();
        let b = Bundle::new(d.path());
        record(&b, "/ct/y", &LinuxResources::default()).unwrap();
        let raw: serde_json::Value =
            serde_json::from_slice(&std::fs::read(b.config_path()).unwrap()).unwrap();
        assert_eq!(raw["linux"]["cgroupsPath"], "/ct/y");
        assert!(raw["linux"].get("namespaces").is_none(), "{raw}");
    }
}
