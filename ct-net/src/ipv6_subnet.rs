//! IPv6 subnets for dual-stack networks (RFC 4291 prefixes, RFC 4193 unique local addresses):
//! `fd66::/64` is the addresses whose first 64 bits are those of fd66::. IPv6 has no
//! broadcast address; as in the IPv4 subnet (`ipv4_subnet.rs`) the first address names the
//! network, the next (`::1`) is the gateway on the bridge, and containers get the rest in
//! order (`::2`, `::3`, …). A unique local prefix (`fd00::/8` plus 40 random bits) is the
//! private range IPv6 offers in place of 10.0.0.0/8; ct-net masquerades it like the IPv4 one.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

/// An IPv6 subnet: its (masked) network address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subnet6 {
    network: Ipv6Addr,
    prefix: u8,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Subnet6Error {
    #[error("'{0}' is not an IPv6 subnet in CIDR form (like fd66::/64)")]
    Syntax(String),
    #[error("'{0}': prefix must be between 48 and 120")]
    Prefix(String),
    #[error("'{0}' has host bits set (did you mean {1}?)")]
    HostBits(String, String),
}

fn mask(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl Subnet6 {
    pub fn network(&self) -> Ipv6Addr {
        self.network
    }
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
    /// The bridge's address: `::1` of the subnet.
    pub fn gateway(&self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.network) + 1)
    }
    pub fn contains(&self, a: Ipv6Addr) -> bool {
        u128::from(a) & mask(self.prefix) == u128::from(self.network)
    }
    pub fn overlaps(&self, other: &Subnet6) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }
    /// Addresses a container may get, in order (never the network or gateway address).
    pub fn hosts(&self) -> impl Iterator<Item = Ipv6Addr> {
        let first = u128::from(self.network) + 2;
        let last = u128::from(self.network) | !mask(self.prefix);
        (first..=last).map(Ipv6Addr::from)
    }
    pub fn is_host(&self, a: Ipv6Addr) -> bool {
        self.contains(a) && a != self.network && a != self.gateway()
    }
    /// The subnet of an address configured with a prefix (an IPAM plugin's address).
    pub fn of(addr: Ipv6Addr, prefix: u8) -> Subnet6 {
        let prefix = prefix.min(128);
        Subnet6 {
            network: Ipv6Addr::from(u128::from(addr) & mask(prefix)),
            prefix,
        }
    }
}

impl FromStr for Subnet6 {
    type Err = Subnet6Error;
    fn from_str(s: &str) -> Result<Subnet6, Subnet6Error> {
        let syntax = || Subnet6Error::Syntax(s.to_string());
        let (a, p) = s.split_once('/').ok_or_else(syntax)?;
        let addr: Ipv6Addr = a.parse().map_err(|_| syntax())?;
        let prefix: u8 = p.parse().map_err(|_| syntax())?;
        if !(48..=120).contains(&prefix) {
            return Err(Subnet6Error::Prefix(s.to_string()));
        }
        let network = Ipv6Addr::from(u128::from(addr) & mask(prefix));
        if network != addr {
            return Err(Subnet6Error::HostBits(
                s.to_string(),
                format!("{network}/{prefix}"),
            ));
        }
        Ok(Subnet6 { network, prefix })
    }
}

impl fmt::Display for Subnet6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl serde::Serialize for Subnet6 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Subnet6 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Subnet6, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_pool_and_overlap() {
        let s: Subnet6 = "fd66:1::/64".parse().unwrap();
        assert_eq!(s.gateway(), "fd66:1::1".parse::<Ipv6Addr>().unwrap());
        let mut h = s.hosts();
        assert_eq!(h.next(), Some("fd66:1::2".parse().unwrap()));
        assert_eq!(h.next(), Some("fd66:1::3".parse().unwrap()));
        assert!(s.is_host("fd66:1::ffff".parse().unwrap()));
        assert!(!s.is_host("fd66:1::1".parse().unwrap()));
        assert!(!s.is_host("fd66:2::5".parse().unwrap()));
        assert!(s.overlaps(&"fd66:1::/48".parse().unwrap()));
        assert!(!s.overlaps(&"fd66:2::/64".parse().unwrap()));
        for bad in ["fd66::1/64", "fd66::/40", "10.0.0.0/8", "fd66::", "x/64"] {
            assert!(bad.parse::<Subnet6>().is_err(), "{bad}");
        }
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(j, "\"fd66:1::/64\"");
        assert_eq!(serde_json::from_str::<Subnet6>(&j).unwrap(), s);
    }
}
