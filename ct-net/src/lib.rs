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
//!    `cni_result.rs` the CNI result in `BUNDLE/net.json`.
//!
//! `ct-net --down` undoes them in reverse; `cni.rs` offers the same as a CNI plugin.
//! Netlink requests are built with `netlink-packet-route` and sent by `rtnetlink.rs`.

pub mod bridge;
pub mod cni;
pub mod cni_result;
pub mod etc_files;
pub mod host_ports;
pub mod ipv4_subnet;
pub mod ipv6_subnet;
pub mod lease;
pub mod netns;
pub mod nft;
pub mod oci_config;
pub mod publish;
pub mod rtnetlink;
pub mod sysctl;
pub mod veth;

use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use ct_layout::bundle::{Bundle, BundleError};
use ct_layout::paths::valid_id;
use ct_layout::Store;

pub use bridge::NetOpts;
pub use cni_result::CniResult;
pub use ipv4_subnet::Subnet;
pub use ipv6_subnet::Subnet6;
pub use publish::PortMapping;

/// Everything that can go wrong, one variant per step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error("container id '{0}' cannot name a network namespace")]
    InvalidId(String),
    #[error("bundle '{0}' already has a network (net.json exists)")]
    AlreadyWired(PathBuf),
    #[error("'{owner}' is already attached to '{bridge}' with {ip}")]
    AlreadyAttached {
        owner: String,
        ip: Ipv4Addr,
        bridge: String,
    },
    #[error("network namespace '{}' already exists", path.display())]
    NetnsExists { path: PathBuf },
    #[error("{0}")]
    Usage(String),
    #[error("{0} panicked")]
    Panicked(&'static str),
    #[error(transparent)]
    Subnet(#[from] ipv4_subnet::SubnetError),
    #[error("network '{bridge}' has {what} {have}, not {want}")]
    NetworkMismatch {
        bridge: String,
        what: &'static str,
        have: String,
        want: String,
    },
    #[error("subnet {subnet} overlaps {with}")]
    SubnetOverlap { subnet: String, with: String },
    #[error("address pool {subnet} is exhausted")]
    PoolExhausted { subnet: Subnet },
    #[error("address {ip} is already leased to '{owner}'")]
    IpTaken { ip: Ipv4Addr, owner: String },
    #[error("address {ip} is not a usable address of {subnet}")]
    IpOutside { ip: Ipv4Addr, subnet: Subnet },
    #[error("port {port} is already published by '{owner}'")]
    PortTaken { port: String, owner: String },
    #[error("cannot publish port {port}: address already in use by a host socket on {socket}")]
    PortInUse { port: String, socket: String },
    #[error("cannot lock '{}'", path.display())]
    StoreLock {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read '{}'", path.display())]
    StoreRead {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid JSON in '{}'", path.display())]
    StoreParse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write '{}'", path.display())]
    StoreWrite {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write '{}'", path.display())]
    WriteFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{what}")]
    Netlink {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("{what} network namespace '{}'", path.display())]
    Netns {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot set '{}'", path.display())]
    Sysctl {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{what}")]
    Nft {
        what: String,
        #[source]
        source: Box<nftables::helper::NftablesError>,
    },
}

impl Error {
    /// Hints for errors with a known cause and remedy.
    pub fn hints(&self) -> Vec<String> {
        match self {
            Error::AlreadyWired(b) => {
                vec![format!("tear it down first: ct-net --down {}", b.display())]
            }
            Error::NetnsExists { .. } => {
                vec!["a container with this id is wired, or a run crashed: ct-net --down ID".into()]
            }
            Error::SubnetOverlap { .. } => vec!["pick another one with --subnet".into()],
            Error::PoolExhausted { .. } => {
                vec!["tear down unused containers, or use a larger subnet on another bridge".into()]
            }
            Error::Netlink { source, .. } | Error::Netns { source, .. }
                if source.raw_os_error() == Some(libc::EPERM) =>
            {
                vec!["ct-net needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN)".into()]
            }
            _ => Vec::new(),
        }
    }

    /// Is this a mistake in how ct-net was called (exit 2) rather than a failure (exit 1)?
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::Usage(_) | Error::Subnet(_))
    }
}

impl ct_layout::tool::Failure for Error {
    fn exit_code(&self) -> i32 {
        if self.is_usage() {
            ct_layout::pipe::EXIT_USAGE
        } else {
            ct_layout::pipe::EXIT_FAILURE
        }
    }
    fn hints(&self) -> Vec<String> {
        Error::hints(self)
    }
}

/// `--network`: what kind of network the container gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Its own namespace on the bridge, with NAT and published ports.
    Bridge,
    /// Its own namespace with only loopback.
    None,
    /// The host's namespace (no isolation).
    Host,
}

/// What `ct-net BUNDLE` was asked for.
#[derive(Debug, Clone)]
pub struct UpOptions {
    pub mode: Mode,
    pub net: NetOpts,
    pub ip: Option<Ipv4Addr>,
    pub ports: Vec<PortMapping>,
}

/// Replace `path` with `bytes` by temp file + rename (`ct_layout::atomic::temp_path`), without
/// fsync. For files that describe network state only — leases, net.json, hosts, hostname,
/// resolv.conf: a crash of ct-net still leaves the old or the new file (rename is atomic), and
/// after a power loss the namespaces and veths they describe are gone anyway, so waiting for
/// the disk (two fsyncs per file, most of ct-net's run time on a disk) buys nothing.
/// Network definitions and config.json still go through `ct_layout::atomic`, synced.
pub(crate) fn write_runtime(path: &std::path::Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let tmp = ct_layout::atomic::temp_path(path);
    let r = fs::write(&tmp, bytes).and_then(|()| fs::rename(&tmp, path));
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r
}

/// [`write_runtime`] of pretty JSON.
pub(crate) fn write_runtime_json<T: serde::Serialize>(
    path: &std::path::Path,
    value: &T,
) -> io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    bytes.push(b'\n');
    write_runtime(path, &bytes)
}

/// The interface name inside ct's own containers.
pub const IFNAME: &str = "eth0";

/// `ct-net BUNDLE`: wire the container; returns the bundle directory.
pub fn up(store: &Store, input: &str, o: &UpOptions) -> Result<PathBuf, Error> {
    if o.mode != Mode::Bridge && (!o.ports.is_empty() || o.ip.is_some()) {
        return Err(Error::Usage(
            "--publish and --ip need --network bridge".into(),
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

    if o.mode == Mode::Host {
        let dns = etc_files::host_dns(true);
        let hosts =
            fs::read_to_string("/etc/hosts").unwrap_or_else(|_| etc_files::hosts(&hostname, None));
        let result = CniResult {
            cni_version: cni_result::CNI_VERSION.into(),
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
    let r = (|| {
        let result = if o.mode == Mode::Bridge {
            let r = veth::attach(
                &nets,
                &o.net,
                veth::Attachment {
                    owner: &id,
                    ifname: IFNAME,
                    netns: &nspath,
                    ip: o.ip,
                    ports: &o.ports,
                    inner: Some(inner),
                    default_route: true,
                },
            )?;
            attached = true;
            r
        } else {
            CniResult {
                cni_version: cni_result::CNI_VERSION.into(),
                interfaces: vec![cni_result::Interface {
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
        let _ = netns::remove(&nsname);
        undo_bundle(&bundle, &nspath);
        return Err(e);
    }
    Ok(bundle.dir)
}

/// Files, net.json, then config.json last (what a runtime reads is complete or untouched).
fn finish(
    bundle: &Bundle,
    hostname: &str,
    hosts: &str,
    result: &CniResult,
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
            .filter(|p| p.parent() == Some(std::path::Path::new(netns::NETNS_DIR)))
    });
    let nspath = recorded.or(configured).unwrap_or_else(|| own_ns(&id));
    // The bundle's side (config.json, synced to disk) and the kernel's side (the namespace,
    // whose removal takes the veth pair with it, see veth::detach_with_netns) are independent, and every step tolerates the others being
    // done or not, so they run at the same time: teardown takes the longer of the two waits,
    // not their sum.
    let ns_for_bundle = nspath.clone();
    let bundle_side = bundle.map(|b| {
        let nspath = ns_for_bundle;
        std::thread::spawn(move || -> Result<String, Error> {
            let mut spec = b.load_config()?;
            if oci_config::undo(&mut spec, &b.dir, &nspath) {
                oci_config::save(&b, &spec)?;
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
        })
    });
    let kernel_side = veth::detach_with_netns(&nets, &id, IFNAME, &|| netns::remove_path(&nspath));
    let printed = match bundle_side {
        Some(h) => h
            .join()
            .unwrap_or(Err(Error::Panicked("teardown of the bundle files"))),
        None => Ok(id),
    };
    kernel_side?;
    printed
}

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
            veth::detach_with_netns(&nets, &r.owner, IFNAME, &|| netns::remove_path(ns))?;
        }
    }
    Ok(dead.into_iter().map(|(r, _)| r).collect())
}

/// `BUNDLE/net.released.json`: what [`release`] tore down, for [`renew`] to make again —
/// `{"network":"bridge"|"none","bridge":"ct0","ip":"10.66.0.2","ports":[PORT MAPPING, …]}`.
pub const RELEASED: &str = "net.released.json";

/// What a stopped container had, to wire it again when it starts.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct ReleaseRecord {
    network: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bridge: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ip: Option<Ipv4Addr>,
    #[serde(default)]
    ports: Vec<PortMapping>,
}

/// `ct-net --release BUNDLE` (a container stopped): give its address, ports, veth and
/// namespace back, as `--down` does, and keep in `net.released.json` what it had, so
/// [`renew`] wires it the same way when it starts again. A bundle without a network (never
/// wired, already released, `--network host`) is left as it is. Returns the bundle.
pub fn release(store: &Store, input: &str) -> Result<String, Error> {
    let bundle = Bundle::find(store, input)?;
    let path = bundle.net_result();
    let result: CniResult = match fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|source| Error::StoreParse {
            path: path.clone(),
            source,
        })?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(bundle.dir.display().to_string())
        }
        Err(source) => return Err(Error::StoreRead { path, source }),
    };
    let keep = match (result.address(), result.interfaces.first()) {
        (Some(ip), Some(br)) => ReleaseRecord {
            network: "bridge".into(),
            bridge: Some(br.name.clone()),
            ip: Some(ip),
            ports: result.port_mappings.clone(),
        },
        (None, Some(_)) => ReleaseRecord {
            network: "none".into(),
            bridge: None,
            ip: None,
            ports: Vec::new(),
        },
        // --network host: nothing of the host's to give back.
        _ => return Ok(bundle.dir.display().to_string()),
    };
    let record = bundle.dir.join(RELEASED);
    write_runtime_json(&record, &keep).map_err(|source| Error::WriteFile {
        path: record.clone(),
        source,
    })?;
    down(store, input)?;
    // down() removes the record too (it undoes everything): write it back.
    write_runtime_json(&record, &keep).map_err(|source| Error::WriteFile {
        path: record,
        source,
    })?;
    Ok(bundle.dir.display().to_string())
}

/// `ct-net --renew BUNDLE` (a released container starts again): wire it as it was — same
/// network, same published ports, the same address if it is still free (else the lowest
/// free one). Without a release record there is nothing to do. Returns the bundle.
pub fn renew(store: &Store, input: &str) -> Result<PathBuf, Error> {
    let bundle = Bundle::find(store, input)?;
    let record = bundle.dir.join(RELEASED);
    let keep: ReleaseRecord = match fs::read(&record) {
        Ok(b) => serde_json::from_slice(&b).map_err(|source| Error::StoreParse {
            path: record.clone(),
            source,
        })?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(bundle.dir),
        Err(source) => {
            return Err(Error::StoreRead {
                path: record,
                source,
            })
        }
    };
    let mut o = UpOptions {
        mode: if keep.network == "none" {
            Mode::None
        } else {
            Mode::Bridge
        },
        net: NetOpts {
            bridge: keep.bridge.unwrap_or_else(|| bridge::DEFAULT_BRIDGE.into()),
            subnet: None,
            subnet6: None,
            table: None,
        },
        ip: keep.ip,
        ports: keep.ports,
    };
    let dir = match up(store, input, &o) {
        Err(Error::IpTaken { .. }) => {
            o.ip = None;
            up(store, input, &o)?
        }
        r => r?,
    };
    let _ = fs::remove_file(&record);
    Ok(dir)
}
