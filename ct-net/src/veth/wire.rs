//! Steps 2–4 of [`attach`](super::attach), over netlink (rtnetlink(7)): the published ports'
//! DNAT rules, then one `RTM_NEWLINK` that creates the veth pair with the host end enslaved to
//! the bridge and the peer created directly inside the container's namespace (`IFLA_NET_NS_FD`),
//! hairpin mode on the bridge port (so a container reaches its own published port); then,
//! through a second netlink socket opened inside the namespace, the addresses on the peer, the
//! peer and `lo` up, and the default routes. What comes back is the CNI result.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

use super::{netlink, Attachment};
use crate::lease::Network;
use crate::rtnetlink::{mac_string, Link, Rtnl};
use crate::{etc_files, netns, nft, Error};
use ct_layout::net_record::PortMapping;
use ct_layout::net_record::{Interface, IpConfig, NetRecord, Route, CNI_VERSION};

/// `ifname` up inside `netns`, for an IPAM plugin that talks on it.
pub(super) fn set_up_inside(netns: &Path, ifname: &str) -> Result<(), Error> {
    let mut inner = netns::socket_in(netns)?;
    let inside = |what: String| netlink(format!("{what} in '{}'", netns.display()));
    let eth = inner
        .link_by_name(ifname)
        .map_err(inside(format!("cannot look up '{ifname}'")))?
        .ok_or_else(|| {
            inside(format!("'{ifname}' did not arrive"))(std::io::Error::from_raw_os_error(
                libc::ENODEV,
            ))
        })?;
    inner
        .set_up(eth.index)
        .map_err(inside(format!("cannot set '{ifname}' up")))
}

/// Step 3: the veth pair, host end up on the bridge in hairpin mode, `ifname` in `netns`.
/// Returns the bridge and the host end.
pub(super) fn make_pair(
    rt: &mut Rtnl,
    net: &Network,
    host_veth: &str,
    ifname: &str,
    netns: &Path,
) -> Result<(Link, Link), Error> {
    let br = rt
        .link_by_name(&net.bridge)
        .map_err(netlink(format!("cannot look up bridge '{}'", net.bridge)))?
        .ok_or_else(|| {
            netlink(format!("bridge '{}' vanished", net.bridge))(std::io::Error::from_raw_os_error(
                libc::ENODEV,
            ))
        })?;
    let nsf = File::open(netns).map_err(|source| Error::Netns {
        what: "cannot open",
        path: netns.to_path_buf(),
        source,
    })?;
    let mut made = rt.add_veth(host_veth, br.index, ifname, nsf.as_raw_fd());
    if made
        .as_ref()
        .is_err_and(|e| e.raw_os_error() == Some(libc::EEXIST))
    {
        // The host end of this container's last attachment (its name is this store's, this
        // container's and this interface's, and it holds no lease), still waiting for the
        // kernel's cleanup of its namespace: `ct rm X && ct run --name X`, a stop and a
        // start. Let it go (bounded, then deleted), and try once more.
        crate::veth::Pending::leftover(host_veth).finish()?;
        made = rt.add_veth(host_veth, br.index, ifname, nsf.as_raw_fd());
    }
    made.map_err(netlink(format!(
        "cannot create veth pair '{host_veth}' / '{}'",
        ifname
    )))?;
    let host = rt
        .link_by_name(host_veth)
        .map_err(netlink(format!("cannot look up veth '{host_veth}'")))?
        .ok_or_else(|| {
            netlink(format!("veth '{host_veth}' vanished"))(std::io::Error::from_raw_os_error(
                libc::ENODEV,
            ))
        })?;
    rt.set_hairpin(host.index)
        .map_err(netlink(format!("cannot set hairpin mode on '{host_veth}'")))?;
    Ok((br, host))
}

/// Steps 2–4.
pub(super) fn wire(
    rt: &mut Rtnl,
    net: &Network,
    (ip, ip6): (Ipv4Addr, Option<Ipv6Addr>),
    (host_veth, rule_tag): (&str, &str),
    ports: &[PortMapping],
    pair: Option<(Link, Link)>,
    a: Attachment,
) -> Result<NetRecord, Error> {
    if !ports.is_empty() {
        nft::add_ports(&net.nft_table, rule_tag, ip, ip6, ports)?;
    }
    let (br, host) = match pair {
        Some(p) => p,
        None => make_pair(rt, net, host_veth, a.ifname, a.netns)?,
    };
    // The address may have been another veth's a moment ago (a container stopped and started
    // again, or a freed lease taken by the next one): the host would keep sending to that
    // veth's link-layer address, which no longer exists, until its neighbour entry ages out
    // (tens of seconds of silence). Forget it; the next packet asks anew.
    for addr in std::iter::once(IpAddr::V4(ip)).chain(ip6.map(IpAddr::V6)) {
        rt.del_neigh(br.index, addr).map_err(netlink(format!(
            "cannot forget the old neighbour {addr} on '{}'",
            net.bridge
        )))?;
    }
    let mut inner = match a.inner {
        Some(r) => r,
        None => netns::socket_in(a.netns)?,
    };
    let inside = |what: &str| format!("{what} in '{}'", a.netns.display());
    let eth = inner
        .link_by_name(a.ifname)
        .map_err(netlink(inside(&format!("cannot look up '{}'", a.ifname))))?
        .ok_or_else(|| {
            netlink(inside(&format!("'{}' did not arrive", a.ifname)))(
                std::io::Error::from_raw_os_error(libc::ENODEV),
            )
        })?;
    inner
        .add_addr(eth.index, ip, net.subnet.prefix())
        .map_err(netlink(inside(&format!(
            "cannot add {ip} to '{}'",
            a.ifname
        ))))?;
    inner
        .set_up(eth.index)
        .map_err(netlink(inside(&format!("cannot set '{}' up", a.ifname))))?;
    if let Ok(Some(lo)) = inner.link_by_name("lo") {
        inner
            .set_up(lo.index)
            .map_err(netlink(inside("cannot set 'lo' up")))?;
    }
    if a.default_route {
        inner
            .add_default_route(net.gateway, eth.index)
            .map_err(netlink(inside(&format!(
                "cannot add a default route via {}",
                net.gateway
            ))))?;
    }
    let v6 = net.subnet6.zip(ip6);
    if let Some((s6, a6)) = v6 {
        inner
            .add_addr6(eth.index, a6, s6.prefix())
            .map_err(netlink(inside(&format!(
                "cannot add {a6} to '{}'",
                a.ifname
            ))))?;
        if a.default_route {
            inner
                .add_default_route6(s6.gateway(), eth.index)
                .map_err(netlink(inside(&format!(
                    "cannot add a default route via {}",
                    s6.gateway()
                ))))?;
        }
    }
    for &(addr, prefix) in &a.extra {
        match addr {
            IpAddr::V4(x) => inner.add_addr(eth.index, x, prefix),
            IpAddr::V6(x) => inner.add_addr6(eth.index, x, prefix),
        }
        .map_err(netlink(inside(&format!(
            "cannot add {addr}/{prefix} to '{}'",
            a.ifname
        ))))?;
    }
    Ok(NetRecord {
        cni_version: CNI_VERSION.into(),
        interfaces: vec![
            Interface {
                name: net.bridge.clone(),
                mac: br.mac.as_ref().map(mac_string),
                sandbox: None,
            },
            Interface {
                name: host_veth.to_string(),
                mac: host.mac.as_ref().map(mac_string),
                sandbox: None,
            },
            Interface {
                name: a.ifname.to_string(),
                mac: eth.mac.as_ref().map(mac_string),
                sandbox: Some(a.netns.display().to_string()),
            },
        ],
        ips: std::iter::once(IpConfig {
            version: None,
            address: format!("{ip}/{}", net.subnet.prefix()),
            gateway: Some(net.gateway.into()),
            interface: Some(2),
        })
        .chain(v6.map(|(s6, a6)| IpConfig {
            version: None,
            address: format!("{a6}/{}", s6.prefix()),
            gateway: Some(s6.gateway().into()),
            interface: Some(2),
        }))
        .chain(a.extra.iter().map(|(addr, prefix)| IpConfig {
            version: None,
            address: format!("{addr}/{prefix}"),
            gateway: None,
            interface: Some(2),
        }))
        .collect(),
        routes: if a.default_route {
            std::iter::once(Route {
                dst: "0.0.0.0/0".into(),
                gw: Some(net.gateway.into()),
            })
            .chain(v6.map(|(s6, _)| Route {
                dst: "::/0".into(),
                gw: Some(s6.gateway().into()),
            }))
            .collect()
        } else {
            Vec::new()
        },
        dns: etc_files::host_dns(false),
        port_mappings: ports.to_vec(),
        user_net: None,
    })
}
