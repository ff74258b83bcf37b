//! The network configuration a CNI runtime gives a plugin on stdin (containernetworking/cni
//! `SPEC.md`, "Network configuration"), as ct-net reads it: its own keys (`bridge`,
//! `subnet`, `subnet6`, `nftTable`, `dataDir`), `ipam`, the `runtimeConfig` of the
//! capabilities it declares (`portMappings`, `ips`), a `prevResult` in a chain, and CNI 1.1's
//! `cni.dev/valid-attachments` for GC. Port mappings and static addresses are decoded here,
//! refusing what ct-net cannot apply.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use ct_layout::net_record::PortMapping;

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NetConf {
    pub(crate) cni_version: String,
    #[serde(default)]
    pub(crate) name: String,
    pub(crate) bridge: Option<String>,
    pub(crate) subnet: Option<String>,
    /// Dual stack: an IPv6 subnet as well (a ULA such as `fd66::/64`).
    pub(crate) subnet6: Option<String>,
    pub(crate) ipam: Option<Ipam>,
    pub(crate) nft_table: Option<String>,
    pub(crate) data_dir: Option<PathBuf>,
    #[serde(default)]
    pub(crate) runtime_config: RuntimeConfig,
    pub(crate) prev_result: Option<serde_json::Value>,
    pub(crate) is_default_gateway: Option<bool>,
    /// GC (CNI 1.1): the attachments the runtime still uses.
    #[serde(rename = "cni.dev/valid-attachments", default)]
    pub(crate) valid_attachments: Vec<ValidAttachment>,
}

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct Ipam {
    #[serde(rename = "type")]
    pub(crate) typ: Option<String>,
    pub(crate) subnet: Option<String>,
}

/// Port mappings are decoded only by ADD, entry by entry, so a mapping ct-net cannot apply
/// (an IPv6 `hostIP`, `sctp`) is refused by ADD with a clear code and never makes DEL fail.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RuntimeConfig {
    #[serde(default)]
    pub(crate) port_mappings: Vec<serde_json::Value>,
    #[serde(default)]
    pub(crate) ips: Vec<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ValidAttachment {
    #[serde(rename = "containerID")]
    pub(crate) container_id: String,
    pub(crate) ifname: String,
}

/// The one static address asked for, from `runtimeConfig.ips` or `CNI_ARGS` `IP=`.
pub(crate) fn static_ip(conf: &NetConf, args: Option<&str>) -> Result<Option<Ipv4Addr>, String> {
    let from_args = args
        .unwrap_or_default()
        .split(';')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "IP")
        .map(|(_, v)| v.to_string());
    let asked: Vec<String> = conf
        .runtime_config
        .ips
        .iter()
        .cloned()
        .chain(from_args)
        .collect();
    let mut out = None;
    for a in asked {
        let bare = a.split('/').next().unwrap_or_default();
        let ip: Ipv4Addr = bare
            .parse()
            .map_err(|_| format!("static address '{a}' is not an IPv4 address"))?;
        if out.is_some_and(|o| o != ip) {
            return Err("more than one static IPv4 address asked for".into());
        }
        out = Some(ip);
    }
    Ok(out)
}

/// Decode the `portMappings` capability: refused (code 7) what ct-net cannot apply.
pub(crate) fn port_mappings(raw: &[serde_json::Value]) -> Result<Vec<PortMapping>, String> {
    raw.iter()
        .map(|v| {
            let proto = v["protocol"].as_str().unwrap_or("tcp");
            if proto != "tcp" && proto != "udp" {
                return Err(format!(
                    "port mapping {v}: protocol '{proto}' is not supported (tcp, udp)"
                ));
            }
            let mut v = v.clone();
            if v["protocol"].is_null() {
                v["protocol"] = "tcp".into();
            }
            serde_json::from_value(v.clone()).map_err(|e| format!("port mapping {v}: {e}"))
        })
        .collect()
}

/// "1.0.0" as a comparable triple (missing or odd parts are 0).
pub(crate) fn version_of(s: &str) -> (u32, u32, u32) {
    let mut p = s.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
    (
        p.next().unwrap_or(0),
        p.next().unwrap_or(0),
        p.next().unwrap_or(0),
    )
}

/// Is the version `v` ("1.0.0") at least `min`?
pub(crate) fn at_least(v: &str, min: (u32, u32, u32)) -> bool {
    version_of(v) >= min
}
