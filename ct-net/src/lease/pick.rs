//! Choosing a container's address from a network's pool: the one asked for (`--ip`, an IPAM
//! plugin's) if it is a host address of the subnet and no lease holds it, else the lowest free
//! one. IPv4 walks the whole subnet (at most a /16's worth); IPv6 subnets are too large for
//! that, so the walk stops after one more address than there are leases, which always finds
//! a free one if any is left among them.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::Leases;
use crate::ipv4_subnet::Subnet;
use crate::ipv6_subnet::Subnet6;
use crate::Error;

/// Choose an address: the one asked for if it is usable and free, else the lowest free one.
pub fn pick(subnet: &Subnet, leases: &Leases, want: Option<Ipv4Addr>) -> Result<Ipv4Addr, Error> {
    match want {
        Some(ip) if !subnet.is_host(ip) => Err(Error::IpOutside {
            ip,
            subnet: *subnet,
        }),
        Some(ip) => match leases.get(&ip) {
            Some(l) => Err(Error::IpTaken {
                ip,
                owner: l.owner.clone(),
            }),
            None => Ok(ip),
        },
        None => subnet
            .hosts()
            .find(|ip| !leases.contains_key(ip))
            .ok_or(Error::PoolExhausted { subnet: *subnet }),
    }
}

/// The IPv6 address asked for (an IPAM plugin's) if it is in `subnet` and free, else the
/// lowest one of `subnet` no lease holds (bounded: one more than there are leases is always
/// enough to find one).
pub fn pick6(subnet: &Subnet6, leases: &Leases, want: Option<Ipv6Addr>) -> Result<Ipv6Addr, Error> {
    let taken: std::collections::HashSet<Ipv6Addr> =
        leases.values().filter_map(|l| l.ip6).collect();
    if let Some(a) = want {
        if !subnet.is_host(a) {
            return Err(Error::Usage(format!(
                "{a} is not a host address of {subnet}"
            )));
        }
        if taken.contains(&a) {
            return Err(Error::Usage(format!("{a} is already leased")));
        }
        return Ok(a);
    }
    subnet
        .hosts()
        .take(taken.len() + 1)
        .find(|a| !taken.contains(a))
        .ok_or_else(|| Error::Usage(format!("IPv6 subnet {subnet} is exhausted")))
}
