//! ct-net: give a container a network — a network namespace, a bridge, a veth pair, an
//! address from a pool, NAT to the outside and published ports — the way docker's default
//! bridge network does, with every piece a standard kernel object you can inspect with
//! `ip netns`, `ip link`, `ip addr` and `nft list table ip ctnet`.
//!
//! The steps of `ct-net BUNDLE`, each in the file named after its primitive:
//!
//! 1. `netns.rs`    a named network namespace `/run/netns/ID-STORETAG`, `lo` up.
//! 2. `bridge.rs`   the bridge (`ct0`) with the gateway address, forwarding, NAT base rules.
//! 3. `lease.rs`    an address leased in `/run/ct/net/BRIDGE/leases.json` under a flock.
//! 4. `nft.rs`      DNAT rules for `-p` published ports in ct's own nftables table, after
//!    `host_ports.rs` made sure no host process holds the port.
//! 5. `veth.rs`     the veth pair: host end on the bridge, `eth0` inside, address, route.
//! 6. `etc_files.rs` hosts, hostname and resolv.conf in the bundle;
//!    `oci_config.rs` their mounts and the namespace path in `config.json`;
//!    the CNI result in `BUNDLE/net.json` (`ct_layout::net_record`, which ct-ls reads).
//!
//! `wire.rs` runs these steps (`up`) and undoes them in reverse (`ct-net --down`);
//! `release.rs` gives a stopped container's network back and wires it again (`--release`,
//! `--renew`); `lease_gc.rs` releases the leases of containers that are gone (`ct-gc`);
//! `proxy.rs` is `ct-net proxy`, which serves published ports on `[::1]`;
//! `cni.rs` offers the same as a CNI plugin (its stdin in `cni_conf.rs`, delegated IPAM in
//! `cni_ipam.rs`, CHECK, STATUS and GC in `cni_state.rs`); `error.rs` names what can fail.
//! Netlink requests are built with `netlink-packet-route` and sent by `rtnetlink.rs`.

pub mod bridge;
pub mod cli;
pub mod cni;
mod cni_conf;
mod cni_ipam;
mod cni_state;
pub mod error;
pub mod etc_files;
pub mod host_ports;
pub mod ipv4_subnet;
pub mod ipv6_subnet;
pub mod lease;
pub mod lease_gc;
pub mod netns;
pub mod nft;
pub mod oci_config;
pub mod proxy;
pub mod release;
pub mod rtnetlink;
pub mod sysctl;
pub mod user_net;
pub mod veth;
mod veth_detach;
pub mod wire;

use std::net::Ipv4Addr;

pub use bridge::NetOpts;
pub use ct_layout::net_record::{NetRecord, PortMapping};
pub use error::Error;
pub use ipv4_subnet::Subnet;
pub use ipv6_subnet::Subnet6;
pub use lease_gc::{gc_leases, Released};
pub use release::{release, renew, RELEASED};
pub use wire::{down, up};

/// `--network`: what kind of network the container gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Its own namespace on the bridge, with NAT and published ports.
    Bridge,
    /// Its own namespace with only loopback.
    None,
    /// The host's namespace (no isolation).
    Host,
    /// Its own namespace, connected by pasta (user-mode networking, as podman's
    /// `--network pasta`); what `bridge` becomes without root when pasta is installed.
    Pasta,
    /// The same through slirp4netns (podman's `--network slirp4netns`, its default before
    /// podman 5).
    Slirp4netns,
}

impl Mode {
    /// The user-mode helper this mode asks for: `Some(None)` for `bridge` without root (the
    /// first one installed), `None` for a mode without one.
    pub fn user_net(self, rootless: bool) -> Option<Option<&'static str>> {
        match self {
            Mode::Pasta => Some(Some("pasta")),
            Mode::Slirp4netns => Some(Some("slirp4netns")),
            Mode::Bridge if rootless => Some(None),
            _ => None,
        }
    }

    /// Published ports make sense for it (its own namespace, reachable from the host).
    pub fn publishes(self) -> bool {
        matches!(self, Mode::Bridge | Mode::Pasta | Mode::Slirp4netns)
    }
}

/// What `ct-net BUNDLE` was asked for.
#[derive(Debug, Clone)]
pub struct UpOptions {
    pub mode: Mode,
    pub net: NetOpts,
    pub ip: Option<Ipv4Addr>,
    /// Published ports (host port 0: a free one is picked).
    pub ports: Vec<PortMapping>,
    /// Publish every port the bundle's image exposes as well (`-P`).
    pub publish_all: bool,
}

/// The interface name inside ct's own containers.
pub const IFNAME: &str = "eth0";

/// Files that describe network state only — leases, net.json, hosts, hostname, resolv.conf —
/// are replaced atomically but not synced (`ct_layout::atomic::write_runtime`): the
/// namespaces and veths they describe do not survive a power loss either, and the two fsyncs
/// per file were most of ct-net's run time on a disk. Network definitions and config.json
/// still go through `ct_layout::atomic::write`, synced.
pub(crate) use ct_layout::atomic::{write_runtime, write_runtime_json};
