//! IPv4 subnets in CIDR notation (RFC 4632): `10.88.0.0/16` is the 2^16 addresses whose first
//! 16 bits are those of 10.88.0.0. In a network ct-net builds, the first address names the
//! network, the last is the broadcast address, the first usable one (`.1`) is the gateway on
//! the bridge, and containers get the rest.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// A subnet: its (masked) network address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subnet {
    network: Ipv4Addr,
    prefix: u8,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubnetError {
    #[error("'{0}' is not an IPv4 subnet in CIDR form (like 10.88.0.0/16)")]
    Syntax(String),
    #[error("'{0}': prefix must be between 8 and 30, to leave room for a gateway and containers")]
    Prefix(String),
    #[error("'{0}' has host bits set (did you mean {1}?)")]
    HostBits(String, String),
}

fn mask(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

impl Subnet {
    pub fn network(&self) -> Ipv4Addr {
        self.network
    }
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !mask(self.prefix))
    }
    /// The bridge's address: the first usable one.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        u32::from(a) & mask(self.prefix) == u32::from(self.network)
    }
    /// Do two subnets share any address? (One then contains the other's network address.)
    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }
    /// Addresses a container may get: everything but network, gateway and broadcast.
    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> {
        let first = u32::from(self.network) + 2;
        let last = u32::from(self.broadcast()).saturating_sub(1);
        (first..=last).map(Ipv4Addr::from)
    }
    /// Could `a` be handed to a container?
    pub fn is_host(&self, a: Ipv4Addr) -> bool {
        self.contains(a) && a != self.network && a != self.gateway() && a != self.broadcast()
    }
    /// The subnet of an address configured with a prefix (for comparing host addresses).
    pub fn of(addr: Ipv4Addr, prefix: u8) -> Subnet {
        let prefix = prefix.min(32);
        Subnet {
            network: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        }
    }
}

impl FromStr for Subnet {
    type Err = SubnetError;
    fn from_str(s: &str) -> Result<Subnet, SubnetError> {
        let syntax = || SubnetError::Syntax(s.to_string());
        let (a, p) = s.split_once('/').ok_or_else(syntax)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| syntax())?;
        let prefix: u8 = p.parse().map_err(|_| syntax())?;
        if !(8..=30).contains(&prefix) {
            return Err(SubnetError::Prefix(s.to_string()));
        }
        let net = Subnet::of(addr, prefix);
        if net.network != addr {
            return Err(SubnetError::HostBits(s.to_string(), net.to_string()));
        }
        Ok(net)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl serde::Serialize for Subnet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Subnet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Subnet, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_parts() {
        let n: Subnet = "10.88.0.0/16".parse().unwrap();
        assert_eq!(n.gateway(), Ipv4Addr::new(10, 88, 0, 1));
        assert_eq!(n.broadcast(), Ipv4Addr::new(10, 88, 255, 255));
        assert_eq!(n.hosts().next(), Some(Ipv4Addr::new(10, 88, 0, 2)));
        assert_eq!(n.hosts().count(), 65536 - 3);
        assert!(n.is_host(Ipv4Addr::new(10, 88, 3, 4)));
        assert!(!n.is_host(Ipv4Addr::new(10, 88, 0, 1)));
        assert!(!n.is_host(Ipv4Addr::new(10, 89, 0, 5)));
        let small: Subnet = "10.0.0.0/30".parse().unwrap();
        assert_eq!(
            small.hosts().collect::<Vec<_>>(),
            [Ipv4Addr::new(10, 0, 0, 2)]
        );
    }

    #[test]
    fn rejects() {
        assert!(matches!(
            "10.88.0.1/16".parse::<Subnet>(),
            Err(SubnetError::HostBits(_, ref s)) if s == "10.88.0.0/16"
        ));
        assert!(matches!(
            "10.0.0.0/31".parse::<Subnet>(),
            Err(SubnetError::Prefix(_))
        ));
        assert!(matches!(
            "10.0.0.0".parse::<Subnet>(),
            Err(SubnetError::Syntax(_))
        ));
        assert!(matches!(
            "x/8".parse::<Subnet>(),
            Err(SubnetError::Syntax(_))
        ));
    }

    #[test]
    fn overlap() {
        let a: Subnet = "10.88.0.0/16".parse().unwrap();
        let b: Subnet = "10.88.5.0/24".parse().unwrap();
        let c: Subnet = "10.89.0.0/24".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
        assert_eq!(Subnet::of(Ipv4Addr::new(10, 88, 0, 1), 16), a);
    }
}
