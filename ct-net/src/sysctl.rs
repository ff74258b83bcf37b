//! The two kernel switches a bridge network needs, through `/proc/sys` (sysctl(8),
//! Documentation/networking/ip-sysctl.rst). Both files belong to the network namespace of the
//! process that opens them, so ct-net sets them for the namespace it runs in.
//!
//! * `net/ipv4/ip_forward = 1`: route packets between interfaces at all. It is one switch per
//!   namespace (docker and the CNI bridge plugin flip the same one); which traffic is then
//!   NATed is limited to ct's own subnets by the nftables rules (`nft.rs`).
//! * `net/ipv4/conf/BRIDGE/route_localnet = 1`: allow 127.0.0.0/8 as source or destination on
//!   this one bridge, so a DNATed connection to 127.0.0.1:HOSTPORT can leave through it. Only
//!   ct's bridge gets it, never `all`.

use std::fs;
use std::path::Path;

use crate::Error;

fn set(path: &str, value: &str) -> Result<(), Error> {
    // Read first: writing needs no privilege when nothing changes, and costs a sysctl notifier.
    if fs::read_to_string(path).is_ok_and(|v| v.trim() == value) {
        return Ok(());
    }
    fs::write(path, value).map_err(|source| Error::Sysctl {
        path: Path::new(path).to_path_buf(),
        source,
    })
}

pub fn enable_forwarding() -> Result<(), Error> {
    set("/proc/sys/net/ipv4/ip_forward", "1")
}

/// `net/ipv6/conf/all/forwarding = 1`, for a dual-stack network: IPv6's switch is per
/// interface, `all` turns it on for every one (as docker does for its IPv6 networks).
pub fn enable_forwarding6() -> Result<(), Error> {
    set("/proc/sys/net/ipv6/conf/all/forwarding", "1")
}

pub fn enable_route_localnet(bridge: &str) -> Result<(), Error> {
    set(
        &format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet"),
        "1",
    )
}
