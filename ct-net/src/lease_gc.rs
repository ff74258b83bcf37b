//! Garbage collection of network leases (`ct-gc prune`): a lease in
//! `/run/ct/net/BRIDGE/leases.json` whose container is gone — its bundle removed, or its
//! namespace gone after a reboot or a crash — still holds an address and published ports.
//! Each is released as `ct-net --down ID` would, under the leases' lock.

use std::net::Ipv4Addr;

use ct_layout::Store;

use crate::{lease, netns, veth, Error, IFNAME};

/// One lease [`gc_leases`] released (or, dry, would release).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    pub owner: String,
    pub ip: Ipv4Addr,
    pub bridge: String,
}

/// Garbage-collect `store`'s network leases: release each lease ct-net made for one of this
/// store's containers (its namespace is this store's `/run/netns/ID-TAG`) whose container is
/// gone: the bundle was removed, or the namespace is gone. Its port rules, veth, namespace
/// and lease go, as with `ct-net --down ID`. Leases of other stores, and CNI attachments
/// (their namespace is the runtime's; CNI GC handles them), are never touched.
pub fn gc_leases(store: &Store, dry_run: bool) -> Result<Vec<Released>, Error> {
    if !lease::host_dir().exists() && !store.net().exists() {
        return Ok(Vec::new()); // no ct network on this host (and nothing to move over)
    }
    let nets = lease::NetStore::host(store);
    let mut dead = Vec::new();
    {
        let _lock = nets.lock()?;
        for net in nets.networks()? {
            for (ip, l) in nets.leases(&net.bridge)? {
                let ours = l.store == nets.store
                    && l.ifname == IFNAME
                    && l.netns == netns::path_of(&netns::name_for(&nets.store, &l.owner));
                if ours && (!store.bundle(&l.owner).exists() || !l.netns.exists()) {
                    dead.push((
                        Released {
                            owner: l.owner.clone(),
                            ip,
                            bridge: net.bridge.clone(),
                        },
                        l.netns.clone(),
                    ));
                }
            }
        }
    }
    if !dry_run {
        for (r, ns) in &dead {
            let (_, pending) =
                veth::detach_with_netns(&nets, &r.owner, IFNAME, &|| netns::remove_path(ns))?;
            if let Some(p) = pending {
                p.finish()?;
            }
        }
    }
    Ok(dead.into_iter().map(|(r, _)| r).collect())
}
