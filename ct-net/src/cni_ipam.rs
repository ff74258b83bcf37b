//! Delegated IPAM (CNI `SPEC.md`, "IP Allocation"): when the configuration's `ipam.type`
//! names a plugin (`host-local`, `static`, `dhcp`, …), ct-net runs that executable from
//! `CNI_PATH` as a runtime runs a plugin — the same `CNI_*` environment, the same
//! configuration on stdin — and takes the first IPv4 address of its result; DEL gives the
//! address back through it. Its error result is passed on as it is.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::cni::{fail, CniError};

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

/// IPAM ADD: the first IPv4 address it assigned, with its prefix length.
pub(crate) fn ipam_add(
    env: &dyn Fn(&str) -> Option<String>,
    plugin: &Path,
    stdin: &str,
    v: &str,
) -> Result<(Ipv4Addr, u8), CniError> {
    let r = ipam_exec(env, plugin, "ADD", stdin, v)?;
    let first = r["ips"].as_array().into_iter().flatten().find_map(|ip| {
        let (a, p) = ip["address"].as_str()?.split_once('/')?;
        Some((a.parse::<Ipv4Addr>().ok()?, p.parse::<u8>().ok()?))
    });
    match first {
        Some((a, p)) if (8..=30).contains(&p) => Ok((a, p)),
        _ => {
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
