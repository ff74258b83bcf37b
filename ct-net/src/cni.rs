//! ct-net as a CNI plugin (containernetworking/cni `SPEC.md`): when `CNI_COMMAND` is set, the
//! runtime hands over the container's namespace and ct-net does its bridge networking there.
//!
//! * Parameters come from the environment: `CNI_COMMAND` (ADD, DEL, CHECK, VERSION),
//!   `CNI_CONTAINERID`, `CNI_NETNS` (a namespace path the runtime made), `CNI_IFNAME`,
//!   `CNI_ARGS`, `CNI_PATH`.
//! * The network configuration comes as JSON on stdin:
//!   `{"cniVersion":"1.0.0","name":"ct","type":"ct-net","bridge":"ct0","subnet":"10.66.0.0/16",
//!     "nftTable":"ct","dataDir":"/var/lib/ct","runtimeConfig":{"portMappings":[…]}}`
//!   (`subnet` may also be given as `ipam.subnet`; `dataDir` is `$CT_ROOT`, default from the
//!   environment like the command line tool).
//! * ADD prints the result (`cni_result.rs`); DEL prints nothing and succeeds when there is
//!   nothing left to delete; CHECK prints nothing when all is as ADD left it; VERSION prints
//!   the versions spoken.
//! * A failure prints `{"cniVersion","code","msg","details"}` on stdout and exits 1, with the
//!   spec's codes: 1 incompatible version, 4 invalid environment, 6 undecodable config,
//!   7 invalid network config, 5 I/O failure, 100 and up for ct-net's own failures.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ct_layout::Store;

use crate::bridge::{self, NetOpts};
use crate::cni_result::CniResult;
use crate::lease::NetStore;
use crate::publish::PortMapping;
use crate::rtnetlink::Rtnl;
use crate::{netns, veth, Error};

/// CNI versions whose ADD/DEL/CHECK/VERSION ct-net speaks (1.1 adds STATUS and GC, not done).
pub const SUPPORTED: [&str; 4] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0"];

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct NetConf {
    cni_version: String,
    #[serde(default)]
    name: String,
    bridge: Option<String>,
    subnet: Option<String>,
    ipam: Option<Ipam>,
    nft_table: Option<String>,
    data_dir: Option<PathBuf>,
    #[serde(default)]
    runtime_config: RuntimeConfig,
    prev_result: Option<CniResult>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct Ipam {
    subnet: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuntimeConfig {
    #[serde(default)]
    port_mappings: Vec<PortMapping>,
}

/// A CNI error result.
#[derive(Debug, serde::Serialize)]
pub struct CniError {
    #[serde(rename = "cniVersion")]
    pub cni_version: String,
    pub code: u32,
    pub msg: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub details: String,
}

fn fail(version: &str, code: u32, msg: impl Into<String>, details: impl Into<String>) -> CniError {
    CniError {
        cni_version: version.to_string(),
        code,
        msg: msg.into(),
        details: details.into(),
    }
}

fn from_error(version: &str, e: &Error) -> CniError {
    let code = match e {
        Error::Subnet(_)
        | Error::SubnetOverlap { .. }
        | Error::NetworkMismatch { .. }
        | Error::Usage(_) => 7,
        Error::StoreRead { .. }
        | Error::StoreWrite { .. }
        | Error::StoreLock { .. }
        | Error::WriteFile { .. } => 5,
        Error::StoreParse { .. } => 6,
        _ => 100,
    };
    fail(version, code, e.to_string(), ct_layout::pipe::chain(e))
}

/// Run one CNI command. `env` looks up a variable; returns what to print on stdout and
/// whether it succeeded.
pub fn run(env: &dyn Fn(&str) -> Option<String>, stdin: &str) -> (String, bool) {
    match dispatch(env, stdin) {
        Ok(out) => (out, true),
        Err(e) => (
            serde_json::to_string(&e).unwrap_or_else(|_| String::from("{}")),
            false,
        ),
    }
}

fn dispatch(env: &dyn Fn(&str) -> Option<String>, stdin: &str) -> Result<String, CniError> {
    let v0 = crate::cni_result::CNI_VERSION;
    let cmd = env("CNI_COMMAND").unwrap_or_default();
    if cmd == "VERSION" {
        let v = serde_json::json!({"cniVersion": v0, "supportedVersions": SUPPORTED});
        return Ok(v.to_string());
    }
    let conf: NetConf = serde_json::from_str(stdin).map_err(|e| {
        fail(
            v0,
            6,
            "cannot decode the network configuration",
            e.to_string(),
        )
    })?;
    let v = conf.cni_version.clone();
    if !SUPPORTED.contains(&v.as_str()) {
        return Err(fail(
            v0,
            1,
            format!("incompatible CNI version {v}"),
            format!("supported: {}", SUPPORTED.join(", ")),
        ));
    }
    let need = |k: &str| {
        env(k)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| fail(&v, 4, format!("{k} is not set"), ""))
    };
    let store = match &conf.data_dir {
        Some(d) => Store::new(d, Store::from_env().run),
        None => Store::from_env(),
    };
    let nets = NetStore::host(&store);
    let bridge_name = conf
        .bridge
        .clone()
        .unwrap_or_else(|| bridge::DEFAULT_BRIDGE.into());
    if !bridge::valid_ifname(&bridge_name) {
        return Err(fail(
            &v,
            7,
            format!("invalid bridge name '{bridge_name}'"),
            "",
        ));
    }
    let subnet = conf
        .subnet
        .clone()
        .or_else(|| conf.ipam.as_ref().and_then(|i| i.subnet.clone()))
        .map(|s| s.parse())
        .transpose()
        .map_err(|e: crate::ipv4_subnet::SubnetError| fail(&v, 7, e.to_string(), ""))?;
    if let Some(t) = conf.nft_table.as_ref().filter(|t| !bridge::valid_table(t)) {
        return Err(fail(&v, 7, format!("invalid nftTable '{t}'"), ""));
    }
    let opts = NetOpts {
        bridge: bridge_name,
        subnet,
        table: conf.nft_table.clone(),
    };
    let _ = &conf.name;
    match cmd.as_str() {
        "ADD" => {
            let id = need("CNI_CONTAINERID")?;
            let ns = PathBuf::from(need("CNI_NETNS")?);
            let ifname = need("CNI_IFNAME")?;
            if !bridge::valid_ifname(&ifname) {
                return Err(fail(&v, 4, format!("invalid CNI_IFNAME '{ifname}'"), ""));
            }
            if !ns.exists() {
                return Err(fail(
                    &v,
                    3,
                    format!("no network namespace '{}'", ns.display()),
                    "",
                ));
            }
            let mut r = veth::attach(
                &nets,
                &opts,
                veth::Attachment {
                    owner: &id,
                    ifname: &ifname,
                    netns: &ns,
                    ip: None,
                    ports: &conf.runtime_config.port_mappings,
                    inner: None,
                },
            )
            .map_err(|e| from_error(&v, &e))?;
            r.cni_version = v.clone();
            if v.starts_with("0.") {
                for ip in &mut r.ips {
                    ip.version = Some("4".into());
                }
            }
            serde_json::to_string(&r)
                .map_err(|e| fail(&v, 100, "cannot encode result", e.to_string()))
        }
        "DEL" => {
            let id = need("CNI_CONTAINERID")?;
            let ifname = need("CNI_IFNAME")?;
            veth::detach(&nets, &id, &ifname).map_err(|e| from_error(&v, &e))?;
            Ok(String::new())
        }
        "CHECK" => {
            let id = need("CNI_CONTAINERID")?;
            let ns = PathBuf::from(need("CNI_NETNS")?);
            let ifname = need("CNI_IFNAME")?;
            check(&nets, &id, &ns, &ifname, conf.prev_result.as_ref())
                .map_err(|(code, msg)| fail(&v, code, msg, ""))?;
            Ok(String::new())
        }
        other => Err(fail(&v, 4, format!("unknown CNI_COMMAND '{other}'"), "")),
    }
}

/// CHECK: the lease, the host end on the bridge, and the address inside are all still there.
fn check(
    nets: &NetStore,
    id: &str,
    ns: &Path,
    ifname: &str,
    prev: Option<&CniResult>,
) -> Result<(), (u32, String)> {
    let io = |e: Error| (100, ct_layout::pipe::chain(&e));
    let (net, ip, lease) = nets
        .find(id, ifname)
        .map_err(io)?
        .ok_or((3, format!("'{id}' has no address on any ct network")))?;
    if let Some(want) = prev.and_then(|p| p.address()) {
        if want != ip {
            return Err((100, format!("prevResult says {want} but the lease is {ip}")));
        }
    }
    let mut rt = Rtnl::open().map_err(|e| (100, e.to_string()))?;
    let br = rt
        .link_by_name(&net.bridge)
        .map_err(|e| (100, e.to_string()))?
        .ok_or((100, format!("bridge '{}' is missing", net.bridge)))?;
    let host = rt
        .link_by_name(&lease.host_veth)
        .map_err(|e| (100, e.to_string()))?
        .ok_or((100, format!("veth '{}' is missing", lease.host_veth)))?;
    if host.controller != Some(br.index) {
        return Err((
            100,
            format!(
                "veth '{}' is not on bridge '{}'",
                lease.host_veth, net.bridge
            ),
        ));
    }
    let mut inner = netns::socket_in(ns).map_err(io)?;
    let eth = inner
        .link_by_name(ifname)
        .map_err(|e| (100, e.to_string()))?
        .ok_or((100, format!("'{ifname}' is missing in '{}'", ns.display())))?;
    let has: Vec<Ipv4Addr> = inner
        .addrs()
        .map_err(|e| (100, e.to_string()))?
        .into_iter()
        .filter(|a| a.index == eth.index)
        .map(|a| a.addr)
        .collect();
    if !has.contains(&ip) {
        return Err((100, format!("'{ifname}' does not have {ip}")));
    }
    Ok(())
}
