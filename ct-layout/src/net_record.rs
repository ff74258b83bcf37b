//! `BUNDLE/net.json`, the network record ct-net writes for a container and ct-ls (and any
//! CNI tool) reads: a CNI result (containernetworking/cni `SPEC.md`, the "Success" result of
//! ADD: what a network plugin reports it did) plus a top-level `portMappings` array, the
//! entries of the CNI `portMappings` capability. docs/LAYOUT.md shows it:
//!
//! ```json
//! {"cniVersion":"1.0.0",
//!  "interfaces":[{"name":"ct0","mac":"…"},{"name":"veth…","mac":"…"},
//!                {"name":"eth0","mac":"…","sandbox":"/run/netns/web"}],
//!  "ips":[{"address":"10.88.0.2/16","gateway":"10.88.0.1","interface":2}],
//!  "routes":[{"dst":"0.0.0.0/0","gw":"10.88.0.1"}],
//!  "dns":{"nameservers":["192.0.2.53"]},
//!  "portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp","hostIP":""}]}
//! ```
//!
//! A published port is written on the command line as docker's
//! `-p [HOSTIP:]HOSTPORT:CTRPORT[/tcp|/udp]` (an IPv6 HOSTIP in brackets: `[::1]:8080:80`)
//! and recorded in the `portMappings` shape ([`PortMapping`]); ct-net's leases and
//! `net.released.json` record it the same way.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::str::FromStr;

/// The CNI spec version ct-net speaks and writes.
pub const CNI_VERSION: &str = "1.0.0";

/// `BUNDLE/net.json`: a CNI "ADD success" result plus ct-net's `portMappings`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetRecord {
    pub cni_version: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub dns: Dns,
    #[serde(default)]
    pub port_mappings: Vec<PortMapping>,
    /// The helper process of a user-mode network (rootless ct-net: pasta or slirp4netns),
    /// stopped by `ct-net --down`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_net: Option<UserNet>,
}

/// A user-mode network's helper: `{"program":"pasta","pid":1234,"start":5678}`, `start` the
/// process's start time (proc_pid_stat(5) field 22), so that a recycled pid is never killed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserNet {
    pub program: String,
    pub pid: u32,
    pub start: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Interface {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// The namespace path, for interfaces inside the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IpConfig {
    /// Spec versions before 1.0.0 carry the IP version ("4").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Address with prefix: `10.88.0.2/16` (or `fd66::2/64` in a dual-stack network).
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// Index into `interfaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Route {
    pub dst: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Dns {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl NetRecord {
    /// The container's first IPv4 address without its prefix (what `ct-ls` shows).
    pub fn address(&self) -> Option<Ipv4Addr> {
        self.ips
            .first()
            .and_then(|ip| ip.address.split('/').next())
            .and_then(|a| a.parse().ok())
    }

    /// The record in `path` (a bundle's `net.json`); `Ok(None)` when there is none.
    pub fn load(path: &Path) -> Result<Option<NetRecord>, NetRecordError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(NetRecordError::Read(path.to_path_buf(), e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| NetRecordError::Parse(path.to_path_buf(), e))
    }
}

/// A `net.json` that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum NetRecordError {
    #[error("cannot read {}", crate::pipe::quote_path(.0))]
    Read(std::path::PathBuf, #[source] io::Error),
    #[error("invalid JSON in {}", crate::pipe::quote_path(.0))]
    Parse(std::path::PathBuf, #[source] serde_json::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(&self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// One published port, in the CNI `portMappings` shape.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
    /// Empty: every address of the host (including 127.0.0.1).
    #[serde(rename = "hostIP", default, with = "host_ip")]
    pub host_ip: Option<IpAddr>,
}

mod host_ip {
    use std::net::IpAddr;

    pub fn serialize<S: serde::Serializer>(v: &Option<IpAddr>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(a) => s.collect_str(a),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<IpAddr>, D::Error> {
        let s: Option<String> = serde::Deserialize::deserialize(d)?;
        match s.as_deref() {
            None | Some("") | Some("0.0.0.0") | Some("::") => Ok(None),
            Some(a) => a.parse().map(Some).map_err(serde::de::Error::custom),
        }
    }
}

impl PortMapping {
    /// Do two mappings claim the same host socket? An unspecified host IP claims them all.
    pub fn conflicts(&self, other: &PortMapping) -> bool {
        self.host_port == other.host_port
            && self.protocol == other.protocol
            && (self.host_ip.is_none() || other.host_ip.is_none() || self.host_ip == other.host_ip)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid port mapping '{0}': expected [HOSTIP:]HOSTPORT:CTRPORT[/tcp|/udp] (IPv6 HOSTIP in brackets), ports 1-65535")]
pub struct PortSyntax(pub String);

impl FromStr for PortMapping {
    type Err = PortSyntax;
    fn from_str(s: &str) -> Result<PortMapping, PortSyntax> {
        let bad = || PortSyntax(s.to_string());
        let (spec, protocol) = match s.rsplit_once('/') {
            Some((spec, "tcp")) => (spec, Protocol::Tcp),
            Some((spec, "udp")) => (spec, Protocol::Udp),
            Some(_) => return Err(bad()),
            None => (s, Protocol::Tcp),
        };
        // `[V6]:HP:CP`: the address in brackets, then the two ports.
        let (ip, spec) = match spec.strip_prefix('[') {
            Some(rest) => {
                let (a, ports) = rest.split_once("]:").ok_or_else(bad)?;
                let a: std::net::Ipv6Addr = a.parse().map_err(|_| bad())?;
                (Some(IpAddr::V6(a)), ports)
            }
            None => (None, spec),
        };
        let parts: Vec<&str> = spec.split(':').collect();
        let (ip, hp, cp) = match (ip, parts.as_slice()) {
            (ip, [hp, cp]) => (ip, hp, cp),
            (None, [ip, hp, cp]) => (Some(IpAddr::V4(ip.parse().map_err(|_| bad())?)), hp, cp),
            _ => return Err(bad()),
        };
        let port = |p: &str| match p.parse::<u16>() {
            Ok(0) | Err(_) => Err(bad()),
            Ok(n) => Ok(n),
        };
        Ok(PortMapping {
            host_port: port(hp)?,
            container_port: port(cp)?,
            protocol,
            host_ip: ip.filter(|a| !a.is_unspecified()),
        })
    }
}

impl fmt::Display for PortMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host_ip {
            Some(IpAddr::V6(ip)) => write!(f, "[{ip}]:")?,
            Some(ip) => write!(f, "{ip}:")?,
            None => {}
        }
        write!(
            f,
            "{}:{}/{}",
            self.host_port,
            self.container_port,
            self.protocol.as_str()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_syntax() {
        let p: PortMapping = "8080:80".parse().unwrap();
        assert_eq!(
            p,
            PortMapping {
                host_port: 8080,
                container_port: 80,
                protocol: Protocol::Tcp,
                host_ip: None
            }
        );
        let p: PortMapping = "[fd66::1]:8443:443".parse().unwrap();
        assert_eq!(p.host_ip, Some("fd66::1".parse().unwrap()));
        assert_eq!(p.to_string(), "[fd66::1]:8443:443/tcp");
        let p: PortMapping = "127.0.0.1:5353:53/udp".parse().unwrap();
        assert_eq!(p.host_ip, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert_eq!(p.protocol, Protocol::Udp);
        assert_eq!(p.to_string(), "127.0.0.1:5353:53/udp");
        for bad in [
            "80",
            "0:80",
            "8080:80/sctp",
            "a:1:2",
            "1:2:3:4",
            "[::1:80:80",
            "[1.2.3.4]:80:80",
            "70000:80",
            "",
        ] {
            assert!(bad.parse::<PortMapping>().is_err(), "{bad}");
        }
    }

    #[test]
    fn conflicts_and_json() {
        let a: PortMapping = "8080:80".parse().unwrap();
        let b: PortMapping = "10.0.0.1:8080:81".parse().unwrap();
        let c: PortMapping = "8080:80/udp".parse().unwrap();
        let d: PortMapping = "10.0.0.2:8080:81".parse().unwrap();
        assert!(a.conflicts(&b) && b.conflicts(&a));
        assert!(!a.conflicts(&c));
        assert!(!b.conflicts(&d));
        let j = serde_json::to_value(&a).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"hostPort":8080,"containerPort":80,"protocol":"tcp","hostIP":""})
        );
        let back: PortMapping = serde_json::from_value(j).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn a_record_reads_and_writes_back_byte_for_byte() {
        let text = concat!(
            r#"{"cniVersion":"1.0.0","#,
            r#""interfaces":[{"name":"ct0","mac":"02:42:0a:42:00:01"},"#,
            r#"{"name":"eth0","mac":"02:42:0a:42:00:02","sandbox":"/run/netns/web-1a2b"}],"#,
            r#""ips":[{"address":"10.66.0.2/16","gateway":"10.66.0.1","interface":1}],"#,
            r#""routes":[{"dst":"0.0.0.0/0","gw":"10.66.0.1"}],"#,
            r#""dns":{"nameservers":["192.0.2.53"],"search":["lan"]},"#,
            r#""portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp","hostIP":""},"#,
            r#"{"hostPort":5353,"containerPort":53,"protocol":"udp","hostIP":"127.0.0.1"}]}"#
        );
        let r: NetRecord = serde_json::from_str(text).unwrap();
        assert_eq!(r.address(), Some(Ipv4Addr::new(10, 66, 0, 2)));
        assert_eq!(r.port_mappings[1].to_string(), "127.0.0.1:5353:53/udp");
        assert_eq!(serde_json::to_string(&r).unwrap(), text);
    }
}
