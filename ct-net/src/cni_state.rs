//! The CNI verbs that compare what exists with what the runtime says (containernetworking/cni
//! `SPEC.md`): CHECK (the attachment ADD made is still whole: lease, host veth on the bridge,
//! the address inside the namespace), STATUS (CNI 1.1: ct-net could do ADD now) and GC (CNI
//! 1.1: every attachment of this network and store that `cni.dev/valid-attachments` does not
//! name is detached — lease, veth, port rules).

use std::net::Ipv4Addr;
use std::path::Path;

use crate::cni_conf::ValidAttachment;
use crate::lease::NetStore;
use crate::rtnetlink::Rtnl;
use crate::{netns, veth, Error};
use ct_layout::net_record::NetRecord;

/// STATUS: the records can be locked (and moved over) and `nft` runs.
pub(crate) fn status(nets: &NetStore) -> Result<(), String> {
    drop(nets.lock().map_err(|e| ct_layout::pipe::chain(&e))?);
    let nft = std::process::Command::new("nft")
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run nft: {e}"))?;
    if !nft.status.success() {
        return Err("nft --version failed".into());
    }
    Ok(())
}

/// GC's list: every attachment `(containerID, ifname)` on `bridge` of this store that the
/// runtime does not name in `cni.dev/valid-attachments`.
pub(crate) fn stale(
    nets: &NetStore,
    bridge: &str,
    valid: &[ValidAttachment],
) -> Result<Vec<(String, String)>, Error> {
    let leases = {
        let _lock = nets.lock()?;
        nets.leases(bridge)?
    };
    Ok(leases
        .into_values()
        .filter(|l| l.store == nets.store)
        .filter(|l| {
            !valid
                .iter()
                .any(|a| a.container_id == l.owner && a.ifname == l.ifname)
        })
        .map(|l| (l.owner, l.ifname))
        .collect())
}

/// GC: detach each of `stale`, going on past failures (the spec: remove as much as
/// possible); the first is returned.
pub(crate) fn gc(nets: &NetStore, stale: &[(String, String)]) -> Result<(), Error> {
    let mut first = None;
    for (owner, ifname) in stale {
        if let Err(e) = veth::detach(nets, owner, ifname) {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

/// CHECK: the lease, the host end on the bridge, and the address inside are all still there.
pub(crate) fn check(
    nets: &NetStore,
    id: &str,
    ns: &Path,
    ifname: &str,
    prev: Option<&NetRecord>,
) -> Result<(), (u32, String)> {
    let io = |e: Error| (100, ct_layout::pipe::chain(&e));
    let (net, ip, lease) = nets
        .find(id, ifname)
        .map_err(io)?
        .ok_or((3, format!("'{id}' has no address on any ct network")))?;
    // The prevResult of a chain also holds other plugins' addresses: the lease must be one.
    if let Some(p) = prev.filter(|p| !p.ips.is_empty()) {
        let listed = p
            .ips
            .iter()
            .any(|c| c.address.split('/').next() == Some(ip.to_string().as_str()));
        if !listed {
            return Err((100, format!("prevResult does not list {ip}, the lease")));
        }
    }
    let mut rt = Rtnl::open().map_err(|e| (100, e.to_string()))?;
    let br = rt
        .link_by_name(&net.bridge)
        .map_err(|e| (100, e.to_string()))?
        .ok_or((100, format!("bridge '{}' is missing", net.bridge)))?;
    let host = rt
        .link_by_name(&lease.host_veth)
        .map_err(|e| (100, e.to_string()))?
        .ok_or((100, format!("veth '{}' is missing", lease.host_veth)))?;
    if host.controller != Some(br.index) {
        return Err((
            100,
            format!(
                "veth '{}' is not on bridge '{}'",
                lease.host_veth, net.bridge
            ),
        ));
    }
    let mut inner = netns::socket_in(ns).map_err(io)?;
    let eth = inner
        .link_by_name(ifname)
        .map_err(|e| (100, e.to_string()))?
        .ok_or((100, format!("'{ifname}' is missing in '{}'", ns.display())))?;
    let has: Vec<Ipv4Addr> = inner
        .addrs()
        .map_err(|e| (100, e.to_string()))?
        .into_iter()
        .filter(|a| a.index == eth.index)
        .map(|a| a.addr)
        .collect();
    if !has.contains(&ip) {
        return Err((100, format!("'{ifname}' does not have {ip}")));
    }
    Ok(())
}
