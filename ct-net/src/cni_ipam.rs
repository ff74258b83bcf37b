//! Delegated IPAM (CNI `SPEC.md`, "IP Allocation"): when the configuration's `ipam.type`
//! names a plugin (`host-local`, `static`, `dhcp`, …), ct-net runs that executable from
//! `CNI_PATH` as a runtime runs a plugin — the same `CNI_*` environment, the same
//! configuration on stdin — and uses every address of its result (`ips`: host-local with
//! `ranges: [[v4…], [v6…]]` gives one of each family): the first IPv4 one is the lease and
//! the network's subnet, the first IPv6 one the dual-stack address, the others are added to
//! the interface as they are. DEL gives the addresses back through it. Its error result is
//! passed on as it is.
//!
//! CNI 1.1 adds two verbs a delegating plugin passes on. STATUS: "If a plugin relies on a
//! delegated plugin (e.g. IPAM) to service `ADD` requests, it must also execute a `STATUS`
//! request to that plugin. If the delegated plugin return an error result, the executing
//! plugin should return an error result." GC: plugins "MUST, additionally, forward any GC
//! calls to delegated plugins they are configured to use", and "should remove any IPAM
//! reservations associated with attachments not in the provided list". A plugin learns what
//! another speaks from its VERSION answer (`supportedVersions`); an IPAM plugin without
//! 1.1.0 there (Debian's host-local 1.1.1 stops at 1.0.0) does not know STATUS or GC and is
//! not sent them. Its reservations for the attachments GC removes are given back with the
//! verb every version has, DEL, spoken in the newest version both know (DEL has no result,
//! so nothing else depends on that version).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::cni::{fail, CniError};
use crate::cni_conf::{at_least, version_of};
use crate::veth::Addresses;

/// The IPAM plugin `ipam.type` names: an executable of that name in a `CNI_PATH` directory
/// (the spec's lookup; the name is a plain file name, never a path).
pub(crate) fn ipam_plugin(
    env: &dyn Fn(&str) -> Option<String>,
    typ: &str,
) -> Result<PathBuf, String> {
    if typ.is_empty() || typ.contains('/') || typ == "." || typ == ".." {
        return Err(format!("invalid ipam type '{typ}'"));
    }
    let dirs = env("CNI_PATH").unwrap_or_default();
    std::env::split_paths(&dirs)
        .map(|d| d.join(typ))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("ipam plugin '{typ}' is not in CNI_PATH '{dirs}'"))
}

/// Run the IPAM plugin for `cmd` the way a runtime runs a plugin: the same `CNI_*`
/// environment and network configuration; its result (ADD) or nothing. Its error result is
/// passed on as it is.
pub(crate) fn ipam_exec(
    env: &dyn Fn(&str) -> Option<String>,
    plugin: &Path,
    cmd: &str,
    stdin: &str,
    v: &str,
) -> Result<serde_json::Value, CniError> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut c = Command::new(plugin);
    c.env("CNI_COMMAND", cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for k in [
        "CNI_CONTAINERID",
        "CNI_NETNS",
        "CNI_IFNAME",
        "CNI_ARGS",
        "CNI_PATH",
    ] {
        match env(k) {
            Some(val) => c.env(k, val),
            None => c.env_remove(k),
        };
    }
    let name = plugin.display().to_string();
    let mut child = c.spawn().map_err(|e| {
        fail(
            v,
            5,
            format!("cannot run ipam plugin '{name}'"),
            e.to_string(),
        )
    })?;
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| {
        fail(
            v,
            5,
            format!("cannot run ipam plugin '{name}'"),
            e.to_string(),
        )
    })?;
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&out.stdout).ok();
    if !out.status.success() {
        return Err(match parsed {
            Some(e) if e["code"].is_u64() => CniError {
                cni_version: v.to_string(),
                code: e["code"].as_u64().unwrap_or(100) as u32,
                msg: format!("ipam plugin '{name}': {}", e["msg"].as_str().unwrap_or("")),
                details: e["details"].as_str().unwrap_or_default().to_string(),
            },
            _ => fail(v, 100, format!("ipam plugin '{name}' failed"), ""),
        });
    }
    Ok(parsed.unwrap_or(serde_json::Value::Null))
}

/// Sort the `ips` of an IPAM result into [`Addresses`]; `None` without a usable IPv4
/// address (ct-net's lease is an IPv4 one).
pub(crate) fn sort_ips(result: &serde_json::Value) -> Option<Addresses> {
    let all: Vec<(IpAddr, u8)> = result["ips"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|ip| {
            let (a, p) = ip["address"].as_str()?.split_once('/')?;
            let (a, p) = (a.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?);
            let max = if a.is_ipv4() { 32 } else { 128 };
            (p <= max).then_some((a, p))
        })
        .collect();
    let v4 = all.iter().find_map(|&(a, p)| match a {
        IpAddr::V4(a) if (8..=30).contains(&p) => Some((a, p)),
        _ => None,
    })?;
    let v6 = all.iter().find_map(|&(a, p)| match a {
        IpAddr::V6(a) if (48..=120).contains(&p) => Some((a, p)),
        _ => None,
    });
    let extra = all
        .into_iter()
        .filter(|&(a, p)| (a, p) != (IpAddr::V4(v4.0), v4.1))
        .filter(|&(a, p)| v6.is_none_or(|(a6, p6)| (a, p) != (IpAddr::V6(a6), p6)))
        .collect();
    Some(Addresses { v4, v6, extra })
}

/// IPAM ADD: the addresses it assigned ([`sort_ips`]); without an IPv4 one in a /8../30
/// subnet they are given back and ADD is refused (code 7).
pub(crate) fn ipam_add(
    env: &dyn Fn(&str) -> Option<String>,
    plugin: &Path,
    stdin: &str,
    v: &str,
) -> Result<Addresses, CniError> {
    let r = ipam_exec(env, plugin, "ADD", stdin, v)?;
    match sort_ips(&r) {
        Some(a) => Ok(a),
        None => {
            let _ = ipam_exec(env, plugin, "DEL", stdin, v);
            Err(fail(
                v,
                7,
                "the ipam plugin assigned no IPv4 address in a /8../30 subnet",
                r.to_string(),
            ))
        }
    }
}

/// The CNI versions the IPAM plugin speaks: its VERSION answer's `supportedVersions`.
fn ipam_versions(
    env: &dyn Fn(&str) -> Option<String>,
    plugin: &Path,
    v: &str,
) -> Result<Vec<String>, CniError> {
    let stdin = serde_json::json!({ "cniVersion": v }).to_string();
    let r = ipam_exec(env, plugin, "VERSION", &stdin, v)?;
    Ok(r["supportedVersions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect())
}

/// STATUS: the IPAM plugin's STATUS decides too, its error result passed on as it is; an
/// IPAM plugin without CNI 1.1.0 has no STATUS and is not asked.
pub(crate) fn ipam_status(
    env: &dyn Fn(&str) -> Option<String>,
    plugin: &Path,
    stdin: &str,
    v: &str,
) -> Result<(), CniError> {
    if ipam_versions(env, plugin, v)?.iter().any(|s| s == "1.1.0") {
        ipam_exec(env, plugin, "STATUS", stdin, v)?;
    }
    Ok(())
}

/// GC: give back the IPAM reservation of every attachment in `stale` (`(containerID,
/// ifname)`, the ones ct-net removes) with DEL, then pass the GC itself, with the runtime's
/// `cni.dev/valid-attachments`, to an IPAM plugin that speaks CNI 1.1.0. Goes on past
/// failures (the spec: remove as much as possible) and returns the first.
pub(crate) fn ipam_gc(
    env: &dyn Fn(&str) -> Option<String>,
    plugin: &Path,
    stdin: &str,
    v: &str,
    stale: &[(String, String)],
) -> Result<(), CniError> {
    let versions = ipam_versions(env, plugin, v)?;
    let mut first = None;
    // DEL in the newest version both speak; none in common: ADD could not have used it.
    let del_v = versions
        .iter()
        .filter(|s| at_least(v, version_of(s)))
        .max_by_key(|s| version_of(s));
    if let (Some(del_v), false) = (del_v, stale.is_empty()) {
        let mut conf: serde_json::Value = serde_json::from_str(stdin).map_err(|e| {
            fail(
                v,
                6,
                "cannot decode the network configuration",
                e.to_string(),
            )
        })?;
        conf["cniVersion"] = del_v.as_str().into();
        if let Some(o) = conf.as_object_mut() {
            o.remove("cni.dev/valid-attachments");
        }
        let conf = conf.to_string();
        for (id, ifname) in stale {
            let env_del = |k: &str| match k {
                "CNI_CONTAINERID" => Some(id.clone()),
                "CNI_IFNAME" => Some(ifname.clone()),
                "CNI_NETNS" => None,
                _ => env(k),
            };
            if let Err(e) = ipam_exec(&env_del, plugin, "DEL", &conf, del_v) {
                first.get_or_insert(e);
            }
        }
    }
    if versions.iter().any(|s| s == "1.1.0") {
        if let Err(e) = ipam_exec(env, plugin, "GC", stdin, v) {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_address_of_an_ipam_result_is_used() {
        let r = serde_json::json!({"ips": [
            {"address": "fd42::5/64"},
            {"address": "10.44.0.5/24", "gateway": "10.44.0.1"},
            {"address": "10.45.0.9/24"},
            {"address": "fd43::9/64"},
            {"address": "junk"},
        ]});
        let a = sort_ips(&r).unwrap();
        assert_eq!(a.v4, ("10.44.0.5".parse().unwrap(), 24));
        assert_eq!(a.v6, Some(("fd42::5".parse().unwrap(), 64)));
        assert_eq!(
            a.extra,
            vec![
                ("10.45.0.9".parse().unwrap(), 24),
                ("fd43::9".parse().unwrap(), 64)
            ]
        );
        assert_eq!(
            sort_ips(&serde_json::json!({"ips": [{"address": "fd42::5/64"}]})),
            None
        );
    }
}
