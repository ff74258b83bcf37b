//! ct-net as a CNI plugin (containernetworking/cni `SPEC.md`): when `CNI_COMMAND` is set, the
//! runtime hands over the container's namespace and ct-net does its bridge networking there.
//!
//! * Parameters come from the environment: `CNI_COMMAND` (ADD, DEL, CHECK, VERSION, and
//!   CNI 1.1's STATUS and GC),
//!   `CNI_CONTAINERID`, `CNI_NETNS` (a namespace path the runtime made), `CNI_IFNAME`,
//!   `CNI_ARGS`, `CNI_PATH`.
//! * The network configuration comes as JSON on stdin:
//!   `{"cniVersion":"1.0.0","name":"ct","type":"ct-net","bridge":"ct0","subnet":"10.66.0.0/16",
//!     "nftTable":"ct","dataDir":"/var/lib/ct","runtimeConfig":{"portMappings":[…]}}`
//!   (`subnet` may also be given as `ipam.subnet`; `dataDir` is `$CT_ROOT`, default from the
//!   environment like the command line tool).
//! * ADD prints the result (`ct_layout::net_record`); with a `prevResult` (ct-net later in a plugin
//!   chain) that result extended by ct-net's interfaces, addresses and routes. A static
//!   address comes from `CNI_ARGS` (`IP=10.66.0.9`) or `runtimeConfig.ips` (the `ips`
//!   capability, podman `--ip`); `isDefaultGateway: false` leaves the default route alone,
//!   for a second network in the same namespace (another `CNI_IFNAME`).
//! * `ipam` with a `type` names an IPAM plugin (`host-local`, `static`, `dhcp`, …): ct-net
//!   runs it from `CNI_PATH` with the same environment and configuration, as a runtime runs
//!   a plugin, and uses the first IPv4 address it assigns (the network's subnet, when not
//!   given, is that address's); DEL gives it back there too. A type not in `CNI_PATH` is
//!   refused (code 7) (`cni_ipam.rs`). Without `ipam.type` ct-net leases addresses itself
//!   (`lease.rs`). The configuration's keys are in `cni_conf.rs`.
//! * DEL prints nothing and succeeds when there is nothing left to delete, and never looks at
//!   what it cannot undo anyway (port mappings come from the lease, not the request);
//!   CHECK (0.4.0 and later only) prints nothing when all is as ADD left it; VERSION prints
//!   the versions spoken; STATUS succeeds when ct-net can do ADD (its records and `nft` are
//!   usable); GC releases every attachment of this network and store not named in
//!   `cni.dev/valid-attachments` (lease, veth, port rules).
//! * A failure prints `{"cniVersion","code","msg","details"}` on stdout and exits 1, with the
//!   spec's codes: 1 incompatible version, 4 invalid environment, 6 undecodable config,
//!   7 invalid network config, 5 I/O failure, 100 and up for ct-net's own failures.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ct_layout::Store;

use crate::bridge::{self, NetOpts};
use crate::cni_conf::{port_mappings, static_ip, NetConf, ValidAttachment};
use crate::cni_ipam::{ipam_add, ipam_exec, ipam_plugin};
use crate::lease::NetStore;
use crate::rtnetlink::Rtnl;
use crate::{netns, veth, Error};
use ct_layout::net_record::NetRecord;

/// CNI versions ct-net speaks (1.1.0 adds STATUS and GC).
pub const SUPPORTED: [&str; 5] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

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

pub(crate) fn fail(
    version: &str,
    code: u32,
    msg: impl Into<String>,
    details: impl Into<String>,
) -> CniError {
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

/// The whole plugin, as `main` runs it: the configuration from stdin, the parameters from the
/// environment, the answer on stdout; returns the exit code (0, or 1 with the error object
/// printed).
pub fn main() -> i32 {
    use std::io::Read;
    let mut stdin = String::new();
    let (out, ok) = match std::io::stdin().read_to_string(&mut stdin) {
        Ok(_) => run(&|k| std::env::var(k).ok(), &stdin),
        Err(e) => (
            serde_json::json!({"cniVersion": "1.0.0", "code": 5,
                "msg": "cannot read the network configuration", "details": e.to_string()})
            .to_string(),
            false,
        ),
    };
    if !out.is_empty() {
        ct_layout::pipe::print_out(&format!("{out}\n"));
    }
    if ok {
        ct_layout::pipe::EXIT_OK
    } else {
        ct_layout::pipe::EXIT_FAILURE
    }
}

fn dispatch(env: &dyn Fn(&str) -> Option<String>, stdin: &str) -> Result<String, CniError> {
    let v0 = ct_layout::net_record::CNI_VERSION;
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
    // `ipam.type`: addresses come from that IPAM plugin (host-local, static, dhcp, …).
    let ipam = match conf.ipam.as_ref().and_then(|i| i.typ.as_deref()) {
        Some(t) => Some(ipam_plugin(env, t).map_err(|m| fail(&v, 7, m, ""))?),
        None => None,
    };
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
    let subnet6 = conf
        .subnet6
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e: crate::ipv6_subnet::Subnet6Error| fail(&v, 7, e.to_string(), ""))?;
    let mut opts = NetOpts {
        bridge: bridge_name,
        subnet,
        subnet6,
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
            let ports = port_mappings(&conf.runtime_config.port_mappings)
                .map_err(|m| fail(&v, 7, m, ""))?;
            let mut ip =
                static_ip(&conf, env("CNI_ARGS").as_deref()).map_err(|m| fail(&v, 7, m, ""))?;
            if let Some(plugin) = &ipam {
                let (addr, prefix) = ipam_add(env, plugin, stdin, &v)?;
                // Without a subnet of its own the network is the one the IPAM address is in.
                if opts.subnet.is_none() {
                    opts.subnet = Some(crate::ipv4_subnet::Subnet::of(addr, prefix));
                }
                ip = Some(addr);
            }
            let attached = veth::attach(
                &nets,
                &opts,
                veth::Attachment {
                    owner: &id,
                    ifname: &ifname,
                    netns: &ns,
                    ip,
                    ports: &ports,
                    inner: None,
                    default_route: conf.is_default_gateway.unwrap_or(true),
                },
            );
            let r = match attached {
                Ok(r) => r,
                Err(e) => {
                    // Give the IPAM plugin's address back too.
                    if let Some(plugin) = &ipam {
                        let _ = ipam_exec(env, plugin, "DEL", stdin, &v);
                    }
                    return Err(from_error(&v, &e));
                }
            };
            let mut out = serde_json::to_value(&r)
                .map_err(|e| fail(&v, 100, "cannot encode result", e.to_string()))?;
            // `portMappings` is ct-net's own key of net.json, not part of a CNI result.
            if let Some(o) = out.as_object_mut() {
                o.remove("portMappings");
            }
            if let Some(prev) = &conf.prev_result {
                out = chain_result(prev, out);
            }
            out["cniVersion"] = v.clone().into();
            if v.starts_with("0.") {
                if let Some(ips) = out["ips"].as_array_mut() {
                    for ip in ips {
                        if ip["version"].is_null() {
                            let six = ip["address"].as_str().is_some_and(|a| a.contains(':'));
                            ip["version"] = if six { "6" } else { "4" }.into();
                        }
                    }
                }
            }
            Ok(out.to_string())
        }
        "DEL" => {
            let id = need("CNI_CONTAINERID")?;
            let ifname = need("CNI_IFNAME")?;
            veth::detach(&nets, &id, &ifname).map_err(|e| from_error(&v, &e))?;
            if let Some(plugin) = &ipam {
                ipam_exec(env, plugin, "DEL", stdin, &v)?;
            }
            Ok(String::new())
        }
        "CHECK" => {
            if !at_least(&v, (0, 4, 0)) {
                return Err(fail(
                    &v,
                    1,
                    format!("CHECK needs cniVersion 0.4.0 or later, not {v}"),
                    "",
                ));
            }
            let id = need("CNI_CONTAINERID")?;
            let ns = PathBuf::from(need("CNI_NETNS")?);
            let ifname = need("CNI_IFNAME")?;
            let prev: Option<NetRecord> = conf
                .prev_result
                .as_ref()
                .and_then(|p| serde_json::from_value(p.clone()).ok());
            check(&nets, &id, &ns, &ifname, prev.as_ref())
                .map_err(|(code, msg)| fail(&v, code, msg, ""))?;
            Ok(String::new())
        }
        "STATUS" if at_least(&v, (1, 1, 0)) => {
            status(&nets).map_err(|m| fail(&v, 50, "ct-net cannot add attachments now", m))?;
            Ok(String::new())
        }
        "GC" if at_least(&v, (1, 1, 0)) => {
            gc(&nets, &opts.bridge, &conf.valid_attachments).map_err(|e| from_error(&v, &e))?;
            Ok(String::new())
        }
        other => Err(fail(
            &v,
            4,
            format!("unknown CNI_COMMAND '{other}' for cniVersion {v}"),
            "",
        )),
    }
}

/// Is the version `v` ("1.0.0") at least `min`?
fn at_least(v: &str, min: (u32, u32, u32)) -> bool {
    let mut p = v.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
    let got = (
        p.next().unwrap_or(0),
        p.next().unwrap_or(0),
        p.next().unwrap_or(0),
    );
    got >= min
}

/// ADD's result after earlier plugins: theirs, then ct-net's interfaces (its `ips[].interface`
/// indexes shifted past theirs), addresses and routes; DNS from theirs when they set it.
fn chain_result(prev: &serde_json::Value, mine: serde_json::Value) -> serde_json::Value {
    let mut out = prev.clone();
    let list = |v: &serde_json::Value, k: &str| v[k].as_array().cloned().unwrap_or_default();
    let mut ifaces = list(prev, "interfaces");
    let shift = ifaces.len() as u64;
    ifaces.extend(list(&mine, "interfaces"));
    let mut ips = list(prev, "ips");
    ips.extend(list(&mine, "ips").into_iter().map(|mut ip| {
        if let Some(i) = ip["interface"].as_u64() {
            ip["interface"] = (i + shift).into();
        }
        ip
    }));
    let mut routes = list(prev, "routes");
    routes.extend(list(&mine, "routes"));
    out["interfaces"] = ifaces.into();
    out["ips"] = ips.into();
    out["routes"] = routes.into();
    let prev_dns_empty = prev["dns"].as_object().is_none_or(|d| d.is_empty());
    if prev_dns_empty {
        out["dns"] = mine["dns"].clone();
    }
    out
}

/// STATUS: the records can be locked (and moved over) and `nft` runs.
fn status(nets: &NetStore) -> Result<(), String> {
    drop(nets.lock().map_err(|e| ct_layout::pipe::chain(&e))?);
    let nft = std::process::Command::new("nft")
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run nft: {e}"))?;
    if !nft.status.success() {
        return Err("nft --version failed".into());
    }
    Ok(())
}

/// GC: detach every attachment on `bridge` of this store that the runtime does not list.
fn gc(nets: &NetStore, bridge: &str, valid: &[ValidAttachment]) -> Result<(), Error> {
    let leases = {
        let _lock = nets.lock()?;
        nets.leases(bridge)?
    };
    for l in leases.values() {
        let keep = valid
            .iter()
            .any(|a| a.container_id == l.owner && a.ifname == l.ifname);
        if l.store == nets.store && !keep {
            veth::detach(nets, &l.owner, &l.ifname)?;
        }
    }
    Ok(())
}

/// CHECK: the lease, the host end on the bridge, and the address inside are all still there.
fn check(
    nets: &NetStore,
    id: &str,
    ns: &Path,
    ifname: &str,
    prev: Option<&NetRecord>,
) -> Result<(), (u32, String)> {
    let io = |e: Error| (100, ct_layout::pipe::chain(&e));
    let (net, ip, lease) = nets
        .find(id, ifname)
        .map_err(io)?
        .ok_or((3, format!("'{id}' has no address on any ct network")))?;
    // The prevResult of a chain also holds other plugins' addresses: the lease must be one.
    if let Some(p) = prev.filter(|p| !p.ips.is_empty()) {
        let listed = p
            .ips
            .iter()
            .any(|c| c.address.split('/').next() == Some(ip.to_string().as_str()));
        if !listed {
            return Err((100, format!("prevResult does not list {ip}, the lease")));
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
