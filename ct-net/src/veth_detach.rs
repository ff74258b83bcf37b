//! Taking a container off a network (the reverse of `veth.rs`): its `[::1]` proxies, its port
//! rules, the veth pair — deleting either end of a pair deletes both (veth(4)), and removing
//! the namespace takes the peer and so the host end with it — then the lease, last, so a
//! crash in between leaves a record that the next `--down` finishes with. A lease whose
//! namespace is gone (its container died without a teardown, the host rebooted) is reclaimed
//! by the next attach.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::lease::{Lease, NetStore, Network};
use crate::rtnetlink::Rtnl;
use crate::veth::host_veth_name;
use crate::{nft, proxy, Error};

fn netlink(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Netlink { what, source }
}

/// Release every lease, of any store, whose namespace is gone. Call with the lock held.
pub fn reclaim_stale(nets: &NetStore, rt: &mut Rtnl) -> Result<usize, Error> {
    let mut n = 0;
    for net in nets.networks()? {
        let mut leases = nets.leases(&net.bridge)?;
        let stale: Vec<Ipv4Addr> = leases
            .iter()
            .filter(|(_, l)| !l.netns.exists())
            .map(|(ip, _)| *ip)
            .collect();
        if stale.is_empty() {
            continue;
        }
        for ip in stale {
            if let Some(l) = leases.remove(&ip) {
                release_stale(rt, &net, ip, &l);
                n += 1;
            }
        }
        nets.save_leases(&net.bridge, &leases)?;
    }
    Ok(n)
}

/// A lease whose namespace is gone: its container cannot use it any more (it died without a
/// teardown, or the host rebooted). Its port rules and host veth go (best effort: a veth
/// usually went with the namespace), and the caller drops the lease.
fn release_stale(rt: &mut Rtnl, net: &Network, ip: Ipv4Addr, l: &Lease) {
    eprintln!(
        "ct-net: reclaiming {ip} on '{}' from '{}': its namespace {} is gone",
        net.bridge,
        l.owner,
        l.netns.display()
    );
    if !l.ports.is_empty() {
        if let Err(e) = nft::del_ports(&net.nft_table, &l.rule_tag(), net.subnet6.is_some()) {
            eprintln!("ct-net: {}", ct_layout::pipe::chain(&e));
        }
    }
    l.proxies.iter().for_each(proxy::stop);
    let _ = rt.del_link(&l.host_veth);
}

/// Say that port rules could not be removed because their table or chain is gone.
pub fn report_removed(removed: nft::Removed, net: &Network, owner: &str) {
    if removed == nft::Removed::TableGone {
        eprintln!(
            "ct-net: nftables table 'ip {}' or its chain 'ports' is gone (removed by hand?): \
             no port rules of '{owner}' left to remove",
            net.nft_table
        );
    }
}

/// Undo an attachment, whole or half-made: port rules, the veth pair, then the lease.
/// Returns whether a lease was found. Running it again is a no-op.
pub fn detach(nets: &NetStore, owner: &str, ifname: &str) -> Result<bool, Error> {
    detach_then(nets, owner, ifname, None).map(|(found, _)| found)
}

/// How long the host end may take to go after its namespace was removed before it is
/// deleted by name. Unheld, the kernel's cleanup takes it in 1-15 ms; the bound only runs out
/// when something still holds the namespace (a process in it, an open fd).
const NETNS_CLEANUP_WAIT: Duration = Duration::from_millis(500);

/// [`detach`] for a pair whose peer is in a namespace that goes too: remove the namespace
/// (`remove_netns`) first. The kernel's namespace cleanup then unregisters the peer and with
/// it the host end (veth(4): deleting either end deletes the pair), in its own work queue,
/// while RTM_DELLINK would hold the caller through the RCU grace periods of the unregister
/// (20-30 ms here). The lease is released at once; a host end the kernel has not taken yet
/// is returned as [`Pending`], for the caller to wait for or hand to a background reaper.
/// The namespace's removal error, if any, is returned after all of that.
pub fn detach_with_netns(
    nets: &NetStore,
    owner: &str,
    ifname: &str,
    remove_netns: &dyn Fn() -> Result<bool, Error>,
) -> Result<(bool, Option<Pending>), Error> {
    detach_then(nets, owner, ifname, Some(remove_netns))
}

/// A host end whose namespace is gone and which the kernel's cleanup is about to take away.
#[must_use = "a pending host end is waited for or reaped in the background"]
pub struct Pending(String);

impl Pending {
    /// A host end named `name` that holds no lease.
    pub(crate) fn leftover(name: &str) -> Pending {
        Pending(name.to_string())
    }

    /// Wait (bounded) for the kernel to take the host end, and delete it by name if it
    /// outlives the bound: on return it is gone.
    pub fn finish(self) -> Result<(), Error> {
        let mut rt = Rtnl::open().map_err(netlink("cannot open a netlink socket".into()))?;
        if wait_gone(&mut rt, &self.0) {
            return Ok(());
        }
        rt.del_link(&self.0)
            .map(drop)
            .map_err(netlink(format!("cannot delete veth '{}'", self.0)))
    }

    /// [`Pending::finish`] in a process of its own, so that the caller does not wait for
    /// the kernel: a child in a new session, with no stdio and no other inherited fd (a
    /// caller reading our stdout, or holding a lock on an fd we inherited, is not kept
    /// waiting by it). Only from a process with one thread. On a failed fork, in place.
    pub fn in_background(self) -> Result<(), Error> {
        // SAFETY: the caller has one thread; the child only makes syscalls and exits.
        match unsafe { nix::unistd::fork() } {
            Ok(nix::unistd::ForkResult::Parent { .. }) => Ok(()),
            Ok(nix::unistd::ForkResult::Child) => {
                let _ = nix::unistd::setsid();
                if let Ok(null) = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open("/dev/null")
                {
                    use std::os::fd::AsRawFd;
                    for fd in 0..3 {
                        let _ = nix::unistd::dup2(null.as_raw_fd(), fd);
                    }
                }
                // SAFETY: close_range(2) on every fd above stdio; none is used after.
                unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
                let code = i32::from(self.finish().is_err());
                // SAFETY: leave without running the parent's exit handlers or destructors.
                unsafe { libc::_exit(code) }
            }
            Err(_) => self.finish(),
        }
    }
}

/// Has the host end left the kernel's link list (polling `ip link show NAME`, bounded)?
fn wait_gone(rt: &mut Rtnl, name: &str) -> bool {
    let deadline = Instant::now() + NETNS_CLEANUP_WAIT;
    loop {
        match rt.link_by_name(name) {
            Ok(None) => return true,
            Ok(Some(_)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_micros(500))
            }
            _ => return false,
        }
    }
}

fn detach_then(
    nets: &NetStore,
    owner: &str,
    ifname: &str,
    remove_netns: Option<&dyn Fn() -> Result<bool, Error>>,
) -> Result<(bool, Option<Pending>), Error> {
    let found = {
        let _lock = nets.lock()?;
        nets.find(owner, ifname)?
    };
    if let Some((net, _, lease)) = &found {
        lease.proxies.iter().for_each(proxy::stop);
        if !lease.ports.is_empty() {
            report_removed(
                nft::del_ports(&net.nft_table, &lease.rule_tag(), net.subnet6.is_some())?,
                net,
                owner,
            );
        }
    }
    let name = found
        .as_ref()
        .map(|f| f.2.host_veth.clone())
        .unwrap_or_else(|| host_veth_name(&nets.store, owner, ifname));
    let mut rt = Rtnl::open().map_err(netlink("cannot open a netlink socket".into()))?;
    let removed = remove_netns.map(|f| f());
    // Only a namespace that existed and is now unlinked takes the pair with it.
    let mut pending = None;
    if matches!(removed, Some(Ok(true))) {
        match rt.link_by_name(&name) {
            Ok(None) => {}
            _ => pending = Some(Pending(name)),
        }
    } else {
        rt.del_link(&name)
            .map_err(netlink(format!("cannot delete veth '{name}'")))?;
    }
    if let Some((net, ..)) = &found {
        let _lock = nets.lock()?;
        let mut leases = nets.leases(&net.bridge)?;
        leases.retain(|_, l| !l.is(&nets.store, owner, ifname));
        nets.save_leases(&net.bridge, &leases)?;
    }
    if let Some(r) = removed {
        r?;
    }
    Ok((found.is_some(), pending))
}
