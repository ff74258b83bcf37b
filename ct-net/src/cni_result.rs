//! The CNI result (CNI spec, "Success" result of ADD): what a network plugin reports it did.
//! ct-net writes the same object to `BUNDLE/net.json`, plus a top-level `portMappings` array
//! (the CNI `portMappings` capability's entries), so CNI tools and `ct-ls` read it alike:
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

use std::net::{IpAddr, Ipv4Addr};

use crate::publish::PortMapping;

pub const CNI_VERSION: &str = "1.0.0";

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CniResult {
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

impl CniResult {
    /// The container's first IPv4 address without its prefix (what `ct-ls` shows).
    pub fn address(&self) -> Option<Ipv4Addr> {
        self.ips
            .first()
            .and_then(|ip| ip.address.split('/').next())
            .and_then(|a| a.parse().ok())
    }
}
