//! Wiring one container and taking it apart again: `ct-net BUNDLE` ([`up`]) runs the steps of
//! the crate's overview in order — namespace, veth on the bridge with a leased address and
//! published ports, then the bundle's files, `net.json` and finally `config.json`, so that
//! what a runtime reads is complete or untouched; a failure undoes what was done. `ct-net
//! --down` ([`down`]) undoes them all, idempotently, even for a half-built network or a
//! bundle that is gone.

use std::fs;
use std::io;
use std::path::PathBuf;

use ct_layout::bundle::{Bundle, BundleError};
use ct_layout::net_record;
use ct_layout::paths::valid_id;
use ct_layout::Store;

use crate::{
    etc_files, lease, netns, oci_config, user_net, veth, write_runtime_json, Error, Mode,
    NetRecord, UpOptions, IFNAME, RELEASED,
};

/// `ct-net BUNDLE`: wire the container; returns the bundle directory.
pub fn up(store: &Store, input: &str, o: &UpOptions) -> Result<PathBuf, Error> {
    if !o.mode.publishes() && !o.ports.is_empty() {
        return Err(Error::Usage(
            "--publish needs --network bridge, pasta or slirp4netns".into(),
        ));
    }
    if o.mode != Mode::Bridge && o.ip.is_some() {
        return Err(Error::Usage("--ip needs --network bridge".into()));
    }
    let rootless = ct_layout::rootless::active();
    let user_net = o.mode.user_net(rootless);
    if rootless && o.ip.is_some() {
        return Err(Error::Usage(
            "--ip needs a bridge network, which needs root (without root: a user-mode network)"
                .into(),
        ));
    }
    let bundle = Bundle::find(store, input)?;
    let id = bundle.id();
    if !valid_id(&id) {
        return Err(Error::InvalidId(id));
    }
    if bundle.net_result().exists() {
        return Err(Error::AlreadyWired(bundle.dir.clone()));
    }
    let spec = bundle.load_config()?;
    let hostname = spec.hostname().clone().unwrap_or_else(|| id.clone());
    let mut ports = o.ports.clone();
    if o.publish_all && o.mode.publishes() {
        let exposed = spec
            .annotations()
            .as_ref()
            .and_then(|a| a.get(EXPOSED_PORTS))
            .map(|v| exposed_ports(v))
            .transpose()?
            .unwrap_or_default();
        for p in exposed {
            let given = |q: &&crate::PortMapping| {
                q.container_port == p.container_port && q.protocol == p.protocol
            };
            if !o.ports.iter().any(|q| given(&q)) {
                ports.push(p);
            }
        }
    }
    let o = &UpOptions { ports, ..o.clone() };

    if o.mode == Mode::Host {
        let dns = etc_files::host_dns(true);
        let hosts =
            fs::read_to_string("/etc/hosts").unwrap_or_else(|_| etc_files::hosts(&hostname, None));
        let result = NetRecord {
            cni_version: net_record::CNI_VERSION.into(),
            dns: dns.clone(),
            ..Default::default()
        };
        let r = finish(&bundle, &hostname, &hosts, &result, None);
        if r.is_err() {
            undo_bundle(&bundle, std::path::Path::new("/nonexistent"));
        }
        return r.map(|()| bundle.dir);
    }

    let nets = lease::NetStore::host(store);
    let nsname = netns::name_for(&nets.store, &id);
    let nspath = netns::path_of(&nsname);
    if nspath.exists() {
        return Err(Error::NetnsExists { path: nspath });
    }
    let (nspath, inner) = netns::create(&nsname)?;
    let mut attached = false;
    let mut helper = None;
    let r = (|| {
        let result = if let Some(program) = user_net {
            // The helper listens itself: a free port is one no socket holds.
            let ports = crate::host_ports::with_free_ports(&o.ports, &|_| false)?;
            let h = user_net::start(program, &nspath, &ports)?;
            helper = Some(h.clone());
            NetRecord {
                cni_version: net_record::CNI_VERSION.into(),
                interfaces: vec![net_record::Interface {
                    name: IFNAME.into(),
                    mac: None,
                    sandbox: Some(nspath.display().to_string()),
                }],
                dns: etc_files::host_dns(false),
                port_mappings: ports,
                user_net: Some(h),
                ..Default::default()
            }
        } else if o.mode == Mode::Bridge {
            let r = veth::attach(
                &nets,
                &o.net,
                veth::Attachment {
                    owner: &id,
                    ifname: IFNAME,
                    netns: &nspath,
                    ip: o.ip,
                    ip6: None,
                    extra: Vec::new(),
                    late_ipam: None,
                    ports: &o.ports,
                    inner: Some(inner),
                    default_route: true,
                },
            )?;
            attached = true;
            r
        } else {
            NetRecord {
                cni_version: net_record::CNI_VERSION.into(),
                interfaces: vec![net_record::Interface {
                    name: "lo".into(),
                    mac: None,
                    sandbox: Some(nspath.display().to_string()),
                }],
                ..Default::default()
            }
        };
        let hosts = etc_files::hosts(&hostname, result.address());
        finish(&bundle, &hostname, &hosts, &result, Some(&nspath))
    })();
    if let Err(e) = r {
        if attached {
            let _ = veth::detach(&nets, &id, IFNAME);
        }
        if let Some(h) = &helper {
            user_net::stop(h, &nspath, true);
        }
        let _ = netns::remove(&nsname);
        undo_bundle(&bundle, &nspath);
        return Err(e);
    }
    Ok(bundle.dir)
}

/// The annotation ct-unpack copies the image config's `ExposedPorts` to: `53/udp,80/tcp`.
pub const EXPOSED_PORTS: &str = "org.opencontainers.image.exposedPorts";

/// Most ports one exposed range (`8000-8099/tcp`) may publish.
const MAX_RANGE: u32 = 1024;

/// The image's exposed ports (`PORT[/PROTO]` or `FIRST-LAST[/PROTO]`, comma-separated), each
/// as a mapping to a free host port (host port 0). The image is untrusted: anything else, or
/// a range over [`MAX_RANGE`] ports, is refused by name.
pub fn exposed_ports(list: &str) -> Result<Vec<crate::PortMapping>, Error> {
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let bad = || {
            Error::Usage(format!(
                "the image exposes {}, not PORT[/tcp|/udp]",
                ct_layout::pipe::quote(item)
            ))
        };
        let (ports, proto) = item.split_once('/').unwrap_or((item, "tcp"));
        let (first, last) = ports.split_once('-').unwrap_or((ports, ports));
        let port = |s: &str| s.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(bad);
        let (first, last) = (port(first)?, port(last)?);
        if last < first || u32::from(last - first) >= MAX_RANGE {
            return Err(bad());
        }
        for cport in first..=last {
            let mut p: crate::PortMapping =
                format!("1:{cport}/{proto}").parse().map_err(|_| bad())?;
            p.host_port = 0;
            out.push(p);
        }
    }
    Ok(out)
}

/// Files, net.json, then config.json last (what a runtime reads is complete or untouched).
fn finish(
    bundle: &Bundle,
    hostname: &str,
    hosts: &str,
    result: &NetRecord,
    netns: Option<&std::path::Path>,
) -> Result<(), Error> {
    etc_files::write(&bundle.dir, hostname, hosts, &result.dns)?;
    let path = bundle.net_result();
    write_runtime_json(&path, result).map_err(|source| Error::WriteFile { path, source })?;
    let mut spec = bundle.load_config()?;
    oci_config::set_netns(&mut spec, netns);
    oci_config::add_mounts(&mut spec, &bundle.dir);
    oci_config::save(bundle, &spec)?;
    Ok(())
}

/// Remove ct-net's files from the bundle and its entries from config.json (best effort).
fn undo_bundle(bundle: &Bundle, nspath: &std::path::Path) {
    if let Ok(mut spec) = bundle.load_config() {
        if oci_config::undo(&mut spec, &bundle.dir, nspath) {
            let _ = oci_config::save(bundle, &spec);
        }
    }
    etc_files::remove(&bundle.dir);
    let _ = fs::remove_file(bundle.net_result());
}

/// `ct-net --down BUNDLE`: remove port rules, veth, lease, namespace, files. Idempotent, and
/// finishes a half-built network. A container id whose bundle is gone is still torn down if
/// anything of its network is left. Returns what to print (the bundle, or the id).
pub fn down(store: &Store, input: &str) -> Result<String, Error> {
    if ct_layout::rootless::active() || has_user_net(store, input) {
        return down_user_net(store, input);
    }
    let nets = lease::NetStore::host(store);
    let own_ns = |id: &str| netns::path_of(&netns::name_for(&nets.store, id));
    let (bundle, id) = match Bundle::find(store, input) {
        Ok(b) => {
            let id = b.id();
            (Some(b), id)
        }
        Err(BundleError::NotFound(_))
            if valid_id(input)
                && (own_ns(input).exists() || nets.find(input, IFNAME)?.is_some()) =>
        {
            (None, input.to_string())
        }
        Err(e) => return Err(e.into()),
    };
    if !valid_id(&id) {
        return Err(Error::InvalidId(id));
    }
    // The namespace: the one its lease records, else the one config.json names (made by an
    // older ct-net as /run/netns/ID, or by --network none), else this store's name for it.
    drop(nets.lock()?);
    let recorded = nets.find(&id, IFNAME)?.map(|(_, _, l)| l.netns);
    let configured = bundle.as_ref().and_then(|b| {
        let spec = b.load_config().ok()?;
        spec.linux()
            .as_ref()?
            .namespaces()
            .as_ref()?
            .iter()
            .find(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Network)?
            .path()
            .clone()
            .filter(|p| p.parent() == Some(netns::dir().as_path()))
    });
    let nspath = recorded.or(configured).unwrap_or_else(|| own_ns(&id));
    // The kernel's side (port rules, the namespace, whose removal takes the veth pair with it,
    // see veth::detach_with_netns, and the lease), then the bundle's side (config.json, synced
    // to disk). Every step tolerates the others being done or not. One after the other on
    // this thread: the kernel's side no longer waits for anything, and a helper thread's start
    // and join cost more (a scheduling round trip) than the ~0.1 ms it would overlap.
    // A failure of one side does not keep the other from running; the kernel's is reported.
    let kernel_side = veth::detach_with_netns(&nets, &id, IFNAME, &|| netns::remove_path(&nspath));
    let printed = match &bundle {
        Some(b) => undo_files(b, &nspath),
        None => Ok(id),
    };
    let (_, pending) = kernel_side?;
    // The wait for the kernel's cleanup goes to a process of its own (see veth::Pending)
    // instead of holding the teardown.
    if let Some(p) = pending {
        p.in_background()?;
    }
    printed
}

/// The bundle's side of a teardown: config.json's entries, the files, net.json.
fn undo_files(b: &Bundle, nspath: &std::path::Path) -> Result<String, Error> {
    let mut spec = b.load_config()?;
    if oci_config::undo(&mut spec, &b.dir, nspath) {
        oci_config::save(b, &spec)?;
    }
    etc_files::remove(&b.dir);
    let _ = fs::remove_file(b.dir.join(RELEASED));
    match fs::remove_file(b.net_result()) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(Error::WriteFile {
                path: b.net_result(),
                source,
            })
        }
    }
    Ok(b.dir.display().to_string())
}

/// The bundle's `net.json` records a user-mode helper (`--network pasta|slirp4netns`, also
/// as root): it has no bridge side to tear down.
fn has_user_net(store: &Store, input: &str) -> bool {
    Bundle::find(store, input)
        .ok()
        .and_then(|b| NetRecord::load(&b.net_result()).ok().flatten())
        .is_some_and(|r| r.user_net.is_some())
}

/// [`down`] for a user (inside the user's namespaces) or a user-mode network: no bridge,
/// lease or port rules, only the helper (stopped by the pid and start time `net.json`
/// records), the namespace under `$CT_RUN/netns` (`/run/netns` for root) and the bundle's
/// files.
fn down_user_net(store: &Store, input: &str) -> Result<String, Error> {
    let own_ns = |id: &str| netns::path_of(&netns::name_for(&lease::store_tag(&store.root), id));
    let bundle = match Bundle::find(store, input) {
        Ok(b) => Some(b),
        Err(BundleError::NotFound(_)) if valid_id(input) && own_ns(input).exists() => None,
        Err(e) => return Err(e.into()),
    };
    let id = bundle
        .as_ref()
        .map_or_else(|| input.to_string(), Bundle::id);
    if !valid_id(&id) {
        return Err(Error::InvalidId(id));
    }
    let record = match &bundle {
        Some(b) => NetRecord::load(&b.net_result()).map_err(|e| Error::Usage(e.to_string()))?,
        None => None,
    };
    let nspath = record
        .as_ref()
        .and_then(|r| r.interfaces.iter().find_map(|i| i.sandbox.clone()))
        .map(PathBuf::from)
        .filter(|p| p.parent() == Some(netns::dir().as_path()))
        .unwrap_or_else(|| own_ns(&id));
    if let Some(r) = &record {
        if let Some(h) = &r.user_net {
            user_net::stop(h, &nspath, !r.port_mappings.is_empty());
        }
    }
    netns::remove_path(&nspath)?;
    match bundle {
        Some(b) => undo_files(&b, &nspath),
        None => Ok(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposed_ports_are_read_as_the_image_wrote_them() {
        let got: Vec<String> = exposed_ports("53/udp, 80/tcp,8000-8001,")
            .unwrap()
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(got, ["0:53/udp", "0:80/tcp", "0:8000/tcp", "0:8001/tcp"]);
        for bad in ["80/sctp", "x", "0", "9-8", "1-2000", "80/tcp/x", "70000"] {
            assert!(exposed_ports(bad).is_err(), "{bad}");
        }
    }
}
