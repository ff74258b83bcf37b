//! rtnetlink(7): the kernel's routing socket, spoken synchronously.
//!
//! `ip link`, `ip addr` and `ip route` are thin front ends to one socket family,
//! `socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE)`. A request is a `nlmsghdr` followed by a
//! typed payload (`ifinfomsg` for links, `ifaddrmsg` for addresses, `rtmsg` for routes) and a
//! list of attributes; the kernel answers an `NLM_F_ACK` request with an `NLMSG_ERROR`
//! whose code is 0 for success or `-errno`, and a `NLM_F_DUMP` request with a stream of
//! messages ended by `NLMSG_DONE`. The packets are built and parsed by `netlink-packet-route`;
//! this file only does the send / receive loop, one request at a time.
//!
//! A netlink socket belongs to the network namespace of the thread that created it, for
//! its whole life: that is how ct-net configures the inside of a container's namespace
//! without moving the whole process there (see `netns.rs`).

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::RawFd;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressHeaderFlags, AddressMessage};
use netlink_packet_route::link::{
    InfoBridgePort, InfoData, InfoKind, InfoPortData, InfoPortKind, InfoVeth, LinkAttribute,
    LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// One link as the kernel reports it.
#[derive(Debug, Clone)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub mac: Option<[u8; 6]>,
    /// Index of the bridge (or other controller) this link is a port of.
    pub controller: Option<u32>,
}

/// An IPv4 address on a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    pub index: u32,
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

/// A synchronous NETLINK_ROUTE socket in the namespace it was opened in.
pub struct Rtnl {
    sock: Socket,
    seq: u32,
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

impl Rtnl {
    /// Open a socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Rtnl> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        // Extended acks make the kernel attach a reason string to some errors; harmless when
        // unsupported.
        let _ = sock.set_ext_ack(true);
        Ok(Rtnl { sock, seq: 0 })
    }

    /// Send one request and collect the answer: the messages of a dump, or nothing for an
    /// acknowledged change. A negative error code becomes the matching `io::Error`.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut header = NetlinkHeader::default();
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        // Every other request asks for an ack: it marks the end of the answer (a GET's reply
        // is followed by it), so the loop below always knows when to stop.
        header.flags = NLM_F_REQUEST | flags | if dump { 0 } else { NLM_F_ACK };
        header.sequence_number = seq;
        let mut nl = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        nl.finalize();
        let mut buf = vec![0u8; nl.buffer_len()];
        nl.serialize(&mut buf);
        self.sock.send(&buf, 0)?;

        let mut out = Vec::new();
        loop {
            let (data, _) = self.sock.recv_from_full()?;
            let mut off = 0;
            while off < data.len() {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[off..])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = msg.header.length as usize;
                if len == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "zero-length netlink message",
                    ));
                }
                off += align4(len);
                if msg.header.sequence_number != seq {
                    continue; // a late answer to an earlier request
                }
                match msg.payload {
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::Error(e) => {
                        if e.code.is_some() {
                            return Err(e.to_io());
                        }
                        if !dump {
                            return Ok(out);
                        }
                    }
                    NetlinkPayload::InnerMessage(m) => {
                        out.push(m);
                    }
                    _ => {}
                }
            }
        }
    }

    fn change(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
        self.request(msg, flags).map(|_| ())
    }

    /// `ip link show NAME`; `None` when there is no such link.
    pub fn link_by_name(&mut self, name: &str) -> io::Result<Option<Link>> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(m), 0) {
            Ok(msgs) => Ok(msgs.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(to_link(&l)),
                _ => None,
            })),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `ip link add NAME address MAC type bridge` then up. EEXIST is the caller's to judge.
    pub fn add_bridge(&mut self, name: &str, mac: [u8; 6]) -> io::Result<()> {
        let mut m = LinkMessage::default();
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        // A bridge without a fixed address takes the lowest address of its ports, so it would
        // change each time a container with a lower random veth address joins, and every
        // container's ARP entry for the gateway would go stale. Docker fixes it the same way.
        m.attributes.push(LinkAttribute::Address(mac.to_vec()));
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.change(RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL)
    }

    /// One request that makes a veth pair: `host` stays here, up, enslaved to `bridge`; the
    /// peer is created directly inside the namespace `netns_fd` under the name `peer`
    /// (`ip link add HOST master BR up type veth peer name PEER netns NS`). Creating the peer
    /// in place is the atomic form of "create, move to the namespace, rename to eth0": there
    /// is never a half-moved interface with a temporary name to clean up.
    pub fn add_veth(
        &mut self,
        host: &str,
        bridge: u32,
        peer: &str,
        netns_fd: RawFd,
    ) -> io::Result<()> {
        let mut p = LinkMessage::default();
        p.attributes.push(LinkAttribute::IfName(peer.to_string()));
        p.attributes.push(LinkAttribute::NetNsFd(netns_fd));
        let mut m = LinkMessage::default();
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        m.attributes.push(LinkAttribute::IfName(host.to_string()));
        m.attributes.push(LinkAttribute::Controller(bridge));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
        ]));
        self.change(RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL)
    }

    /// `ip link set dev INDEX type bridge_slave hairpin on`: let the bridge send a frame back
    /// out of the port it came in on, so a container can reach its own published port
    /// through the host's address (the DNATed packet returns to the same veth).
    pub fn set_hairpin(&mut self, index: u32) -> io::Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::PortKind(InfoPortKind::Bridge),
            LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(
                true,
            )])),
        ]));
        self.change(RouteNetlinkMessage::NewLink(m), 0)
    }

    /// `ip link set dev INDEX up`.
    pub fn set_up(&mut self, index: u32) -> io::Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        self.change(RouteNetlinkMessage::SetLink(m), 0)
    }

    /// `ip neigh del ADDR dev INDEX`: forget the link-layer address the host learned for
    /// `addr` on that link. Gone already (ENOENT) is success.
    pub fn del_neigh(&mut self, index: u32, addr: std::net::IpAddr) -> io::Result<()> {
        use netlink_packet_route::neighbour::{
            NeighbourAddress, NeighbourAttribute, NeighbourMessage,
        };
        let mut m = NeighbourMessage::default();
        m.header.ifindex = index;
        let dest = match addr {
            std::net::IpAddr::V4(a) => {
                m.header.family = AddressFamily::Inet;
                NeighbourAddress::Inet(a)
            }
            std::net::IpAddr::V6(a) => {
                m.header.family = AddressFamily::Inet6;
                NeighbourAddress::Inet6(a)
            }
        };
        m.attributes.push(NeighbourAttribute::Destination(dest));
        match self.change(RouteNetlinkMessage::DelNeighbour(m), 0) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
            r => r,
        }
    }

    /// `ip link del NAME`; `Ok(false)` when it was already gone. Deleting one end of a veth
    /// pair deletes both.
    pub fn del_link(&mut self, name: &str) -> io::Result<bool> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.change(RouteNetlinkMessage::DelLink(m), 0) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `ip addr add ADDR/PREFIX broadcast + dev INDEX`; EEXIST (already there) is success.
    pub fn add_addr(&mut self, index: u32, addr: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = prefix;
        m.header.index = index;
        m.attributes.push(AddressAttribute::Local(addr.into()));
        m.attributes.push(AddressAttribute::Address(addr.into()));
        if prefix < 31 {
            let mask = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
            let bcast = Ipv4Addr::from(u32::from(addr) | mask);
            m.attributes.push(AddressAttribute::Broadcast(bcast));
        }
        match self.change(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            r => r,
        }
    }

    /// `ip -6 addr add ADDR/PREFIX dev INDEX nodad`: usable at once, without the second of
    /// duplicate address detection (ct-net hands out each address once). EEXIST is success.
    pub fn add_addr6(&mut self, index: u32, addr: Ipv6Addr, prefix: u8) -> io::Result<()> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet6;
        m.header.prefix_len = prefix;
        m.header.index = index;
        m.header.flags = AddressHeaderFlags::Nodad;
        m.attributes.push(AddressAttribute::Address(addr.into()));
        match self.change(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            r => r,
        }
    }

    /// `ip -6 route add default via GW dev INDEX`.
    pub fn add_default_route6(&mut self, gw: Ipv6Addr, index: u32) -> io::Result<()> {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet6;
        m.header.table = RouteHeader::RT_TABLE_MAIN;
        m.header.protocol = RouteProtocol::Boot;
        m.header.scope = RouteScope::Universe;
        m.header.kind = RouteType::Unicast;
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet6(gw)));
        m.attributes.push(RouteAttribute::Oif(index));
        self.change(RouteNetlinkMessage::NewRoute(m), NLM_F_CREATE | NLM_F_EXCL)
    }

    /// `ip -4 addr show`: every IPv4 address in this namespace.
    pub fn addrs(&mut self) -> io::Result<Vec<Addr>> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        let msgs = self.request(RouteNetlinkMessage::GetAddress(m), NLM_F_DUMP)?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => {
                    let addr = a.attributes.iter().find_map(|at| match at {
                        AddressAttribute::Local(std::net::IpAddr::V4(v)) => Some(*v),
                        _ => None,
                    })?;
                    Some(Addr {
                        index: a.header.index,
                        addr,
                        prefix: a.header.prefix_len,
                    })
                }
                _ => None,
            })
            .collect())
    }

    /// `ip route add default via GW dev INDEX`.
    pub fn add_default_route(&mut self, gw: Ipv4Addr, index: u32) -> io::Result<()> {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.table = RouteHeader::RT_TABLE_MAIN;
        m.header.protocol = RouteProtocol::Boot;
        m.header.scope = RouteScope::Universe;
        m.header.kind = RouteType::Unicast;
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gw)));
        m.attributes.push(RouteAttribute::Oif(index));
        self.change(RouteNetlinkMessage::NewRoute(m), NLM_F_CREATE | NLM_F_EXCL)
    }
}

fn to_link(l: &LinkMessage) -> Link {
    let mut link = Link {
        index: l.header.index,
        name: String::new(),
        mac: None,
        controller: None,
    };
    for a in &l.attributes {
        match a {
            LinkAttribute::IfName(n) => link.name = n.clone(),
            LinkAttribute::Address(b) if b.len() == 6 => {
                let mut mac = [0u8; 6];
                mac.copy_from_slice(b);
                link.mac = Some(mac);
            }
            LinkAttribute::Controller(c) => link.controller = Some(*c),
            _ => {}
        }
    }
    link
}

/// `aa:bb:cc:dd:ee:ff`, the way CNI results write MAC addresses.
pub fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}
