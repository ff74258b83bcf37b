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
//!   a plugin, and uses every address it assigns: the first IPv4 one is the lease, the first
//!   IPv6 one makes the network dual-stack (the subnets, when not given, are those
//!   addresses'), the others go on the interface as they are; DEL gives them back there too,
//!   before the interface goes. `dhcp` asks on the interface itself, so for it the veth pair
//!   is made and up on the bridge first (the bridge's `subnet` must then be given). A type not in `CNI_PATH` is
//!   refused (code 7) (`cni_ipam.rs`). Without `ipam.type` ct-net leases addresses itself
//!   (`lease.rs`). The configuration's keys are in `cni_conf.rs`.
//! * DEL prints nothing and succeeds when there is nothing left to delete, and never looks at
//!   what it cannot undo anyway (port mappings come from the lease, not the request);
//!   CHECK (0.4.0 and later only) prints nothing when all is as ADD left it; VERSION prints
//!   the versions spoken; STATUS succeeds when ct-net can do ADD (its records and `nft` are
//!   usable) and a CNI 1.1 IPAM plugin's STATUS succeeds; GC releases every attachment of
//!   this network and store not named in `cni.dev/valid-attachments` (lease, veth, port
//!   rules, the IPAM plugin's reservation) and passes the GC on to a CNI 1.1 IPAM plugin.
//! * A failure prints `{"cniVersion","code","msg","details"}` on stdout and exits 1, with the
//!   spec's codes: 1 incompatible version, 4 invalid environment, 6 undecodable config,
//!   7 invalid network config, 5 I/O failure, 100 and up for ct-net's own failures.

use std::path::PathBuf;

use ct_layout::Store;

use crate::bridge::{self, NetOpts};
use crate::cni_conf::{at_least, port_mappings, static_ip, NetConf};
use crate::cni_ipam::{ipam_add, ipam_exec, ipam_gc, ipam_plugin, ipam_status};
use crate::cni_state::{check, gc, stale, status};
use crate::lease::NetStore;
use crate::{veth, Error, Subnet, Subnet6};
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
        Error::Ipam { code, msg, details } => {
            return fail(version, *code, msg.clone(), details.clone());
        }
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
            let mut ip6 = None;
            let mut extra = Vec::new();
            // `dhcp` asks for an address on the interface itself: it runs once the pair is
            // up on the bridge (the network's subnet, where the DHCP server is, must be given).
            let late = ipam.as_ref().filter(|p| p.ends_with("dhcp"));
            if late.is_some() && opts.subnet.is_none() {
                return Err(fail(
                    &v,
                    7,
                    "ipam type dhcp needs the bridge's subnet ('subnet' or 'ipam.subnet')",
                    "",
                ));
            }
            let vr = v.as_str();
            let late_ipam = late.map(|plugin| {
                move || {
                    ipam_add(env, plugin, stdin, vr).map_err(|e| Error::Ipam {
                        code: e.code,
                        msg: e.msg,
                        details: e.details,
                    })
                }
            });
            if let Some(plugin) = ipam.as_ref().filter(|_| late.is_none()) {
                let got = ipam_add(env, plugin, stdin, &v)?;
                // Without subnets of its own the network's are those of the IPAM addresses.
                let (a4, p4) = got.v4;
                opts.subnet.get_or_insert(Subnet::of(a4, p4));
                ip = Some(a4);
                if let Some((a6, p6)) = got.v6 {
                    opts.subnet6.get_or_insert(Subnet6::of(a6, p6));
                    ip6 = Some(a6);
                }
                extra = got.extra;
            }
            let attached = veth::attach(
                &nets,
                &opts,
                veth::Attachment {
                    owner: &id,
                    ifname: &ifname,
                    netns: &ns,
                    ip,
                    ip6,
                    extra,
                    late_ipam: late_ipam
                        .as_ref()
                        .map(|f| f as &dyn Fn() -> Result<veth::Addresses, Error>),
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
            // IPAM first, while the interface is there: `dhcp` sends its DHCPRELEASE on it
            // (the reference `bridge` plugin's order). Detached either way.
            let released = ipam.as_ref().map(|p| ipam_exec(env, p, "DEL", stdin, &v));
            veth::detach(&nets, &id, &ifname).map_err(|e| from_error(&v, &e))?;
            if let Some(r) = released {
                r?;
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
            if let Some(p) = &ipam {
                ipam_status(env, p, stdin, &v)?;
            }
            Ok(String::new())
        }
        "GC" if at_least(&v, (1, 1, 0)) => {
            let gone = stale(&nets, &opts.bridge, &conf.valid_attachments)
                .map_err(|e| from_error(&v, &e))?;
            // IPAM first, while the interfaces are there (as DEL does).
            let released = ipam.as_ref().map(|p| ipam_gc(env, p, stdin, &v, &gone));
            gc(&nets, &gone).map_err(|e| from_error(&v, &e))?;
            released.transpose()?;
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
