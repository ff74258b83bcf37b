//! The network a container joins: a Linux bridge (a virtual switch, `ip link add type bridge`)
//! holding the gateway address, plus the host-side settings that make it a NATed network.
//! Made on first use and then left in place, like docker's `docker0`; every use repairs what
//! is missing (after `nft flush ruleset` or `ip link del`, the records are still there).
//!
//! Steps, all under the host-wide lock (`lease.rs`):
//! 1. Find the network in `/run/ct/net/BRIDGE/network.json`, or check a new one: its subnet
//!    must not overlap another ct network nor any address configured on this host.
//! 2. Bridge: create it (fixed MAC, up) if missing, set it up, give it the gateway address.
//! 3. `ip_forward` and the bridge's `route_localnet` (`sysctl.rs`).
//! 4. nftables base: masquerade for the subnet, the port chains (`nft.rs`) — when the network
//!    is new, the bridge had to be made, or the table is gone.
//! 5. Only then record a new network, so a failure leaves no network file behind.

use sha2::{Digest, Sha256};

use crate::ipv4_subnet::Subnet;
use crate::ipv6_subnet::Subnet6;
use crate::lease::{NetStore, Network};
use crate::rtnetlink::Rtnl;
use crate::{nft, sysctl, Error};

pub const DEFAULT_BRIDGE: &str = "ct0";
pub const DEFAULT_SUBNET: &str = "10.66.0.0/16";
/// Not `ct`: that is an nft keyword (conntrack), so `nft list table ip ct` is a syntax error.
pub const DEFAULT_TABLE: &str = "ctnet";

/// Which network to use: the bridge names it; subnet and table only matter when it is new
/// (given explicitly for an existing network, they must match).
#[derive(Debug, Clone)]
pub struct NetOpts {
    pub bridge: String,
    pub subnet: Option<Subnet>,
    /// Dual stack: an IPv6 subnet too (only for a new network; must match an existing one).
    pub subnet6: Option<Subnet6>,
    pub table: Option<String>,
}

/// Is `name` usable as an interface name (IFNAMSIZ is 16 with the NUL)?
pub fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Is `name` usable as an nftables table name?
pub fn valid_table(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A locally administered unicast MAC derived from the bridge name: stable across re-creation.
fn bridge_mac(name: &str) -> [u8; 6] {
    let h = Sha256::digest(name.as_bytes());
    [0x02, h[0], h[1], h[2], h[3], h[4]]
}

fn netlink(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Netlink { what, source }
}

/// Steps 1–5. Call with the host-wide lock held.
pub fn ensure(nets: &NetStore, opts: &NetOpts, rt: &mut Rtnl) -> Result<Network, Error> {
    let name = opts.bridge.as_str();
    // A record whose bridge is gone from the host and that leases no address is all that is
    // left of a network (its bridge deleted by `ct network rm` or by hand): forget it, so the
    // network can be made anew, with another subnet if asked.
    for n in nets.networks()? {
        if nets.leases(&n.bridge)?.is_empty()
            && rt
                .link_by_name(&n.bridge)
                .map_err(netlink(format!("cannot look up bridge '{}'", n.bridge)))?
                .is_none()
        {
            nets.forget(&n.bridge)?;
        }
    }
    let (net, new) = match nets.network(name)? {
        Some(n) => {
            if let Some(want) = opts.subnet.filter(|s| *s != n.subnet) {
                return Err(Error::NetworkMismatch {
                    bridge: n.bridge,
                    what: "subnet",
                    have: n.subnet.to_string(),
                    want: want.to_string(),
                });
            }
            if let Some(want) = opts.subnet6.filter(|s| Some(*s) != n.subnet6) {
                return Err(Error::NetworkMismatch {
                    bridge: n.bridge,
                    what: "IPv6 subnet",
                    have: n.subnet6.map_or("none".into(), |s| s.to_string()),
                    want: want.to_string(),
                });
            }
            if let Some(want) = opts.table.as_ref().filter(|t| **t != n.nft_table) {
                return Err(Error::NetworkMismatch {
                    bridge: n.bridge,
                    what: "nftables table",
                    have: n.nft_table,
                    want: want.clone(),
                });
            }
            (n, false)
        }
        None => {
            let subnet = match opts.subnet {
                Some(s) => s,
                None => DEFAULT_SUBNET.parse().map_err(Error::Subnet)?,
            };
            for other in nets.networks()? {
                if other.subnet.overlaps(&subnet) {
                    return Err(Error::SubnetOverlap {
                        subnet: subnet.to_string(),
                        with: format!("ct network '{}' ({})", other.bridge, other.subnet),
                    });
                }
                if let (Some(a), Some(b)) = (opts.subnet6, other.subnet6) {
                    if a.overlaps(&b) {
                        return Err(Error::SubnetOverlap {
                            subnet: a.to_string(),
                            with: format!("ct network '{}' ({b})", other.bridge),
                        });
                    }
                }
            }
            let own = rt
                .link_by_name(name)
                .map_err(netlink(format!("cannot look up bridge '{name}'")))?
                .map(|l| l.index);
            let addrs = rt
                .addrs()
                .map_err(netlink("cannot list the host's addresses".into()))?;
            for a in addrs {
                if Some(a.index) == own || a.addr.is_loopback() {
                    continue;
                }
                if Subnet::of(a.addr, a.prefix).overlaps(&subnet) {
                    return Err(Error::SubnetOverlap {
                        subnet: subnet.to_string(),
                        with: format!("address {}/{} of this host", a.addr, a.prefix),
                    });
                }
            }
            let table = opts.table.clone().unwrap_or_else(|| DEFAULT_TABLE.into());
            let n = Network {
                bridge: name.to_string(),
                subnet,
                gateway: subnet.gateway(),
                nft_table: table,
                subnet6: opts.subnet6,
            };
            (n, true)
        }
    };

    let mut created = false;
    let r = kernel_side(&net, rt, &mut created, new);
    if let Err(e) = r {
        // A bridge made by this run for a network that never got recorded is undone.
        if created && new {
            let _ = rt.del_link(name);
        }
        return Err(e);
    }
    if new {
        nets.save_network(&net)?;
    }
    Ok(net)
}

/// Steps 2–4.
fn kernel_side(net: &Network, rt: &mut Rtnl, created: &mut bool, new: bool) -> Result<(), Error> {
    let name = net.bridge.as_str();
    let br = match rt
        .link_by_name(name)
        .map_err(netlink(format!("cannot look up bridge '{name}'")))?
    {
        Some(l) => l,
        None => {
            match rt.add_bridge(name, bridge_mac(name)) {
                Err(e) if e.raw_os_error() != Some(libc::EEXIST) => {
                    return Err(netlink(format!("cannot create bridge '{name}'"))(e))
                }
                Err(_) => {}
                Ok(()) => *created = true,
            }
            rt.link_by_name(name)
                .map_err(netlink(format!("cannot look up bridge '{name}'")))?
                .ok_or_else(|| {
                    netlink(format!("bridge '{name}' vanished"))(std::io::Error::from_raw_os_error(
                        libc::ENODEV,
                    ))
                })?
        }
    };
    rt.set_up(br.index)
        .map_err(netlink(format!("cannot set bridge '{name}' up")))?;
    rt.add_addr(br.index, net.gateway, net.subnet.prefix())
        .map_err(netlink(format!(
            "cannot add {}/{} to bridge '{name}'",
            net.gateway,
            net.subnet.prefix()
        )))?;
    sysctl::enable_forwarding()?;
    sysctl::enable_route_localnet(name)?;
    let table_there = nft::table_exists(&net.nft_table).map_err(|source| Error::Netlink {
        what: format!("cannot look up nftables table 'ip {}'", net.nft_table),
        source,
    })?;
    if new || *created || !table_there {
        nft::ensure_base(net, nft::Family::Ip)?;
    }
    if let Some(s6) = net.subnet6 {
        rt.add_addr6(br.index, s6.gateway(), s6.prefix())
            .map_err(netlink(format!(
                "cannot add {}/{} to bridge '{name}'",
                s6.gateway(),
                s6.prefix()
            )))?;
        sysctl::enable_forwarding6()?;
        let there6 = nft::table6_exists(&net.nft_table).map_err(|source| Error::Netlink {
            what: format!("cannot look up nftables table 'ip6 {}'", net.nft_table),
            source,
        })?;
        if new || *created || !there6 {
            nft::ensure_base(net, nft::Family::Ip6)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_ifname("ct0") && valid_ifname("veth0123456789a"));
        assert!(!valid_ifname("veth0123456789ab") && !valid_ifname("a/b") && !valid_ifname(""));
        assert!(valid_table("ct") && valid_table("ct_test-1"));
        assert!(!valid_table("1ct") && !valid_table("c t") && !valid_table(""));
        let m = bridge_mac("ct0");
        assert_eq!(m[0], 0x02);
        assert_eq!(m, bridge_mac("ct0"));
        assert_ne!(m, bridge_mac("ct1"));
    }
}
