//! Published ports, docker's `-p [HOSTIP:]HOSTPORT:CTRPORT[/tcp|/udp]` (an IPv6 HOSTIP in
//! brackets: `[::1]:8080:80`). One mapping becomes one DNAT rule per address family it covers
//! (see `nft.rs`) and one entry of the CNI `portMappings` capability:
//! `{"hostPort":8080,"containerPort":80,"protocol":"tcp","hostIP":""}`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

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
        assert_eq!(p.host_ip, Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)));
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
}
