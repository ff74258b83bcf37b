//! Plugging one container into a network with a veth pair (veth(4)): two virtual Ethernet
//! devices joined back to back. One end stays on the host as a port of the bridge, the other
//! is the container's `eth0`. Attaching, in order:
//!
//! 1. Under the host-wide lock: refuse an owner that is already attached, a host port that is
//!    already published or that a host process holds (`host_ports.rs`), and pick a free one
//!    for a mapping without a host port (`-p 80`, `-P`); make sure the network
//!    exists (`bridge.rs`); reclaim leases whose namespace is gone (their container died
//!    without a teardown, or the host crashed); lease an address and record it with
//!    everything teardown will need. From here on any failure is undone by
//!    [`detach`], which is written to finish a half-made attachment.
//! 2. Published ports: DNAT rules tagged with the owner (`nft.rs`). Steps 2–4 are in `veth/wire.rs`.
//! 3. One netlink request creates the pair: host end `vethXXXXXXXXXXX` (a hash of store,
//!    owner and interface, so teardown finds it without any record) up on the bridge, peer named `eth0`
//!    directly inside the container's namespace; then hairpin mode on the bridge port.
//! 4. Through a netlink socket inside the namespace: the address, `eth0` up, `lo` up, the
//!    default route via the gateway.
//!
//! Detaching (`veth_detach.rs`) reverses 2–3 and releases the lease last, so a crash in
//! between leaves a record that a second `--down` uses to finish the job.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use sha2::{Digest, Sha256};

pub use crate::veth_detach::{detach, detach_with_netns, reclaim_stale, report_removed, Pending};

mod wire;
use wire::{make_pair, set_up_inside, wire};

use crate::bridge::{self, NetOpts};
use crate::lease::{self, Lease, NetStore};
use crate::rtnetlink::Rtnl;
use crate::{host_ports, nft, proxy, Error};
use ct_layout::net_record::NetRecord;
use ct_layout::net_record::PortMapping;

/// What to attach.
pub struct Attachment<'a> {
    /// Container id, or CNI_CONTAINERID.
    pub owner: &'a str,
    /// Interface name inside the namespace (`eth0`).
    pub ifname: &'a str,
    /// The namespace to put it in.
    pub netns: &'a Path,
    /// A specific address (`--ip`), else the lowest free one.
    pub ip: Option<Ipv4Addr>,
    /// A specific IPv6 address on a dual-stack network (an IPAM plugin's), else the lowest free.
    pub ip6: Option<Ipv6Addr>,
    /// More addresses (with prefix) an IPAM plugin assigned, added to the interface as they
    /// are: the kernel routes their subnets; no lease, no gateway.
    pub extra: Vec<(IpAddr, u8)>,
    /// An IPAM plugin that needs the interface to exist, up on the bridge, before it can
    /// assign its addresses (`dhcp`): the pair is made first, then this gives `ip`, `ip6` and
    /// `extra`.
    pub late_ipam: Option<&'a dyn Fn() -> Result<Addresses, Error>>,
    /// Published ports; host port 0 picks a free one (`host_ports::pick_free`).
    pub ports: &'a [PortMapping],
    /// A netlink socket already inside `netns` (ct-net made the namespace), else one is opened.
    pub inner: Option<Rtnl>,
    /// Route all traffic via this network's gateway (CNI `isDefaultGateway`). Without it the
    /// interface reaches its own subnet only (the route the kernel makes for the address):
    /// what a second network in the same namespace wants.
    pub default_route: bool,
}

/// The addresses an IPAM plugin assigned (`cni_ipam.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addresses {
    /// The first IPv4 address and its prefix length: the lease, and the network's subnet.
    pub v4: (Ipv4Addr, u8),
    /// The first IPv6 address with a prefix a dual-stack network takes (48..=120).
    pub v6: Option<(Ipv6Addr, u8)>,
    /// Every other address, added to the interface with its prefix.
    pub extra: Vec<(IpAddr, u8)>,
}

/// `veth` + 11 hex digits of sha256(store NUL owner NUL ifname): 15 characters, the most
/// IFNAMSIZ allows. (An old lease records the name it used, without the store.)
pub fn host_veth_name(store: &str, owner: &str, ifname: &str) -> String {
    let mut h = Sha256::new();
    h.update(store.as_bytes());
    h.update([0]);
    h.update(owner.as_bytes());
    h.update([0]);
    h.update(ifname.as_bytes());
    format!("veth{}", &hex::encode(h.finalize())[..11])
}

pub(crate) fn netlink(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Netlink { what, source }
}

/// Steps 1–4; returns the CNI result.
pub fn attach(nets: &NetStore, opts: &NetOpts, mut a: Attachment) -> Result<NetRecord, Error> {
    let mut rt = Rtnl::open().map_err(netlink("cannot open a netlink socket".into()))?;
    let host_veth = host_veth_name(&nets.store, a.owner, a.ifname);
    let rule_tag = nft::tag(&nets.store, a.owner, a.ifname);
    let not_attached = |rt: &mut Rtnl| -> Result<(), Error> {
        reclaim_stale(nets, rt)?;
        match nets.find(a.owner, a.ifname)? {
            Some((n, ip, _)) => Err(Error::AlreadyAttached {
                owner: a.owner.to_string(),
                ip,
                bridge: n.bridge,
            }),
            None => Ok(()),
        }
    };
    let mut pair = None;
    if let Some(ipam) = a.late_ipam {
        let net = {
            let _lock = nets.lock()?;
            not_attached(&mut rt)?;
            bridge::ensure(nets, opts, &mut rt)?
        };
        // Outside the lock: a DHCP exchange takes a while. The pair has no lease yet; on
        // failure it goes by its name.
        let early = make_pair(&mut rt, &net, &host_veth, a.ifname, a.netns)
            .and_then(|p| set_up_inside(a.netns, a.ifname).map(|()| p))
            .and_then(|p| ipam().map(|got| (p, got)));
        match early {
            Ok((p, got)) => {
                pair = Some(p);
                a.ip = Some(got.v4.0);
                a.ip6 = got.v6.map(|v| v.0);
                a.extra = got.extra;
            }
            Err(e) => {
                let _ = rt.del_link(&host_veth);
                return Err(e);
            }
        }
    }
    let (net, ip, ip6, ports) = {
        let _lock = nets.lock()?;
        if let Err(e) = not_attached(&mut rt) {
            if pair.is_some() {
                let _ = rt.del_link(&host_veth);
            }
            return Err(e);
        }
        let fixed: Vec<&PortMapping> = a.ports.iter().filter(|p| p.host_port != 0).collect();
        if let Some(p) = a.ports.iter().find(|p| {
            p.protocol == ct_layout::net_record::Protocol::Udp
                && p.host_ip == Some(IpAddr::V6(Ipv6Addr::LOCALHOST))
        }) {
            return Err(Error::Usage(format!(
                "cannot publish {p}: UDP on [::1] is not forwarded (only TCP is proxied there)"
            )));
        }
        for (i, p) in fixed.iter().enumerate() {
            if fixed[..i].iter().any(|q| q.conflicts(p)) {
                return Err(Error::PortTaken {
                    port: p.to_string(),
                    owner: a.owner.to_string(),
                });
            }
            if let Some(owner) = nets.port_conflict(p)? {
                return Err(Error::PortTaken {
                    port: p.to_string(),
                    owner,
                });
            }
            if let Some(socket) = host_ports::in_use(p) {
                return Err(Error::PortInUse {
                    port: p.to_string(),
                    socket,
                });
            }
        }
        // Host port 0 (`-p 80`, `-P`): a free one, not one ct publishes already.
        let ports =
            host_ports::with_free_ports(a.ports, &|q| !matches!(nets.port_conflict(q), Ok(None)))?;
        let net = bridge::ensure(nets, opts, &mut rt)?;
        let mut leases = nets.leases(&net.bridge)?;

        if net.subnet6.is_none() && ports.iter().any(|p| p.host_ip.is_some_and(|h| h.is_ipv6())) {
            return Err(Error::Usage(format!(
                "an IPv6 host address needs a dual-stack network; '{}' has no IPv6 subnet",
                net.bridge
            )));
        }
        let ip = lease::pick(&net.subnet, &leases, a.ip)?;
        let ip6 = match &net.subnet6 {
            Some(s6) => Some(lease::pick6(s6, &leases, a.ip6)?),
            None => None,
        };
        let proxies = match ip6 {
            Some(a6) => start_proxies(&ports, a6)?,
            None => Vec::new(),
        };
        leases.insert(
            ip,
            Lease {
                owner: a.owner.to_string(),
                ifname: a.ifname.to_string(),
                host_veth: host_veth.clone(),
                netns: a.netns.to_path_buf(),
                ip6,
                ports: ports.clone(),
                store: nets.store.clone(),
                rule_tag: rule_tag.clone(),
                proxies: proxies.clone(),
            },
        );
        if let Err(e) = nets.save_leases(&net.bridge, &leases) {
            proxies.iter().for_each(proxy::stop);
            return Err(e);
        }
        (net, ip, ip6, ports)
    };
    let (owner, ifname) = (a.owner, a.ifname);
    match wire(
        &mut rt,
        &net,
        (ip, ip6),
        (&host_veth, &rule_tag),
        &ports,
        pair,
        a,
    ) {
        Ok(r) => Ok(r),
        Err(e) => {
            let _ = detach(nets, owner, ifname);
            Err(e)
        }
    }
}

/// A published TCP port a host connects to on `[::1]` (its host address is unspecified or
/// `::1`) goes through a proxy (`proxy.rs`): one per such port, or none at all.
fn start_proxies(ports: &[PortMapping], ip6: Ipv6Addr) -> Result<Vec<proxy::ProxyProcess>, Error> {
    let mut started = Vec::new();
    for p in ports.iter().filter(|p| proxy::serves(p)) {
        let listen = std::net::SocketAddr::from((Ipv6Addr::LOCALHOST, p.host_port));
        let to = std::net::SocketAddr::from((ip6, p.container_port));
        match proxy::start(listen, to) {
            Ok(x) => started.push(x),
            Err(e) => {
                started.iter().for_each(proxy::stop);
                return Err(e);
            }
        }
    }
    Ok(started)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_names_fit_and_differ() {
        let a = host_veth_name("s1", "web", "eth0");
        assert_eq!(a.len(), 15);
        assert!(a.starts_with("veth"));
        assert_eq!(a, host_veth_name("s1", "web", "eth0"));
        assert_ne!(a, host_veth_name("s1", "web", "eth1"));
        assert_ne!(a, host_veth_name("s1", "web2", "eth0"));
        assert_ne!(a, host_veth_name("s2", "web", "eth0"));
    }
}
