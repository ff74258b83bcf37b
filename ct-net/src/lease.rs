//! Networks and address leases — ct-net's IPAM, in plain JSON files. They live where the
//! network lives: a bridge, its nftables table and `/run/netns` are host-global, so their
//! records are too (`/run`, a tmpfs: they die with the machine, as the bridge does), shared by
//! every store (`$CT_ROOT`) that uses the bridge:
//!
//! ```text
//! /run/ct/net/                 (of the host's network namespace; `netns-INODE/` of others)
//! ├── net.lock                 flock(2): held while reading-then-changing anything below
//! └── BRIDGE/
//!     ├── network.json         {"bridge","subnet","gateway","nftTable"}
//!     └── leases.json          {"10.66.0.2": {"owner","ifname","hostVeth","netns","ports",
//!                                             "store","ruleTag","proxies"}}
//! ```
//!
//! Every change is read-modify-write of one file under the one host-wide lock, written with
//! temp file + rename: concurrent ct-net runs of any store queue on the lock, so an address is
//! never handed out twice, and a crash leaves either the old or the new file.
//! One lock for all networks because two checks span networks: subnets must not overlap and
//! a host port can be published only once.
//!
//! A lease names its store by a tag (8 hex digits of sha256 of the store's root path): two
//! stores may both have a container `web`, and each finds, and releases, only its own.
//! Leases of an older ct-net lived in `$CT_ROOT/net/BRIDGE/`; the first run that takes the lock
//! moves them here (and copies a network definition the host does not have yet).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use ct_layout::atomic;
use ct_layout::lock::Lock;

use crate::ipv4_subnet::Subnet;
use crate::ipv6_subnet::Subnet6;
use crate::Error;

mod pick;
use ct_layout::net_record::PortMapping;
pub use pick::{pick, pick6};

/// One network: a bridge, its subnet and the nftables table its rules live in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    pub bridge: String,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    pub nft_table: String,
    /// Dual stack: the IPv6 subnet (gateway `::1` of it), rules in `table ip6 TABLE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet6: Option<Subnet6>,
}

/// Who holds an address, and what to undo when it is released.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    /// Container id (ct's bundles) or CNI_CONTAINERID.
    pub owner: String,
    pub ifname: String,
    pub host_veth: String,
    pub netns: PathBuf,
    /// The IPv6 address of a dual-stack network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<Ipv6Addr>,
    #[serde(default)]
    pub ports: Vec<PortMapping>,
    /// Tag of the store the owner belongs to ([`store_tag`]; empty in an old record).
    #[serde(default)]
    pub store: String,
    /// The comment on this lease's port rules (empty in an old record: `ct:OWNER/IFNAME`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub rule_tag: String,
    /// The `[::1]:PORT` proxies of its published ports (`proxy.rs`), killed with the lease.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proxies: Vec<crate::proxy::ProxyProcess>,
}

impl Lease {
    pub fn is(&self, store: &str, owner: &str, ifname: &str) -> bool {
        self.store == store && self.owner == owner && self.ifname == ifname
    }

    /// The comment its port rules carry.
    pub fn rule_tag(&self) -> String {
        if self.rule_tag.is_empty() {
            format!("ct:{}/{}", self.owner, self.ifname)
        } else {
            self.rule_tag.clone()
        }
    }
}

/// Where networks and leases live.
pub const HOST_DIR: &str = "/run/ct/net";

/// The records of the network namespace ct-net runs in. A bridge is an object of one network
/// namespace: the host's (the one of PID 1) keeps its records in [`HOST_DIR`], any other one
/// (ct-net run inside a container, a test lab) in `HOST_DIR/netns-INODE` (its nsfs inode, as
/// `stat -L /proc/self/ns/net` shows it), so networks of the same name in two namespaces are
/// never mixed up. When PID 1's namespace cannot be looked at (the kernel refuses it to a
/// process in another namespace), ct-net is not in it, or cannot tell: the inode it is.
pub fn host_dir() -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let ns = |p: &str| fs::metadata(p).map(|m| (m.dev(), m.ino()));
    match (ns("/proc/self/ns/net"), ns("/proc/1/ns/net")) {
        (Ok(me), Ok(init)) if me == init => PathBuf::from(HOST_DIR),
        (Ok(me), _) => Path::new(HOST_DIR).join(format!("netns-{}", me.1)),
        _ => PathBuf::from(HOST_DIR),
    }
}

/// 8 hex digits of sha256 of the store's root (made absolute and resolved when it exists):
/// what tells two stores' containers of the same name apart in shared places.
pub fn store_tag(root: &Path) -> String {
    use sha2::{Digest, Sha256};
    let abs = fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    hex::encode(Sha256::digest(abs.as_os_str().as_encoded_bytes()))[..8].to_string()
}

pub type Leases = BTreeMap<Ipv4Addr, Lease>;

/// The lease database, seen from one store.
pub struct NetStore {
    /// [`host_dir`] (a temporary directory in unit tests).
    dir: PathBuf,
    /// The store's tag ([`store_tag`]).
    pub store: String,
    /// The store's `$CT_ROOT/net`, where older ct-nets kept networks and leases.
    legacy: Option<PathBuf>,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, Error> {
    match fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|source| Error::StoreParse {
                path: path.to_path_buf(),
                source,
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::StoreRead {
            path: path.to_path_buf(),
            source,
        }),
    }
}

impl NetStore {
    /// The database in `dir`, used by the store tagged `store`, without an old location.
    pub fn new(dir: impl Into<PathBuf>, store: &str) -> NetStore {
        NetStore {
            dir: dir.into(),
            store: store.to_string(),
            legacy: None,
        }
    }

    /// The host's database ([`HOST_DIR`]) as used by `store`.
    pub fn host(store: &ct_layout::Store) -> NetStore {
        NetStore {
            dir: host_dir(),
            store: store_tag(&store.root),
            legacy: Some(store.net()),
        }
    }

    /// Take the host-wide lock (blocks while another ct-net holds it), then move over what
    /// the store still keeps in the old place.
    pub fn lock(&self) -> Result<Lock, Error> {
        let path = self.dir.join("net.lock");
        if let Err(source) = fs::create_dir_all(&self.dir) {
            return Err(Error::StoreLock { path, source });
        }
        let lock = Lock::exclusive(&path).map_err(|source| Error::StoreLock { path, source })?;
        self.adopt_legacy()?;
        Ok(lock)
    }

    /// `$CT_ROOT/net/BRIDGE/{network,leases}.json` of an older ct-net: a network the host does
    /// not know yet is copied (the store's copy stays, so a custom subnet survives a reboot);
    /// leases move here, owned by this store, unless the address is already leased here (the
    /// duplicate the old per-store files allowed; it is reported and dropped).
    fn adopt_legacy(&self) -> Result<(), Error> {
        let Some(old) = &self.legacy else {
            return Ok(());
        };
        let Ok(entries) = fs::read_dir(old) else {
            return Ok(());
        };
        for e in entries.flatten() {
            let dir = e.path();
            let old_leases = dir.join("leases.json");
            let Some(net) = read_json::<Network>(&dir.join("network.json"))? else {
                continue;
            };
            if self.network(&net.bridge)?.is_none() {
                self.save_network(&net)?;
            }
            let Some(raw) = read_json::<BTreeMap<String, Lease>>(&old_leases)? else {
                continue;
            };
            let mut leases = self.leases(&net.bridge)?;
            for (k, mut l) in raw {
                let Ok(ip) = k.parse::<Ipv4Addr>() else {
                    continue;
                };
                l.store = self.store.clone();
                match leases.get(&ip) {
                    Some(have) if !have.is(&l.store, &l.owner, &l.ifname) => eprintln!(
                        "ct-net: {ip} of '{}' in {} is leased to '{}' already: not moved",
                        l.owner,
                        old_leases.display(),
                        have.owner
                    ),
                    _ => {
                        leases.insert(ip, l);
                    }
                }
            }
            self.save_leases(&net.bridge, &leases)?;
            fs::remove_file(&old_leases).map_err(|source| Error::StoreWrite {
                path: old_leases.clone(),
                source,
            })?;
        }
        Ok(())
    }

    fn network_file(&self, bridge: &str) -> PathBuf {
        self.dir.join(bridge).join("network.json")
    }
    fn leases_file(&self, bridge: &str) -> PathBuf {
        self.dir.join(bridge).join("leases.json")
    }

    pub fn network(&self, bridge: &str) -> Result<Option<Network>, Error> {
        read_json(&self.network_file(bridge))
    }

    pub fn save_network(&self, net: &Network) -> Result<(), Error> {
        let path = self.network_file(&net.bridge);
        atomic::write_json(&path, net).map_err(|source| Error::StoreWrite { path, source })
    }

    /// Forget a network: its record and (empty) leases, nothing on the host.
    pub fn forget(&self, bridge: &str) -> Result<(), Error> {
        let dir = self.dir.join(bridge);
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::StoreWrite { path: dir, source }),
        }
    }

    /// Every network recorded in the store.
    pub fn networks(&self) -> Result<Vec<Network>, Error> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(Error::StoreRead {
                    path: self.dir.clone(),
                    source,
                })
            }
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            // `netns-INODE`: the records of other namespaces, see host_dir.
            if e.path().is_dir() && !name.starts_with("netns-") {
                if let Some(n) = self.network(&name)? {
                    out.push(n);
                }
            }
        }
        out.sort_by(|a, b| a.bridge.cmp(&b.bridge));
        Ok(out)
    }

    pub fn leases(&self, bridge: &str) -> Result<Leases, Error> {
        let raw: Option<BTreeMap<String, Lease>> = read_json(&self.leases_file(bridge))?;
        let mut out = Leases::new();
        for (k, v) in raw.unwrap_or_default() {
            let ip = k.parse().map_err(|_| Error::StoreParse {
                path: self.leases_file(bridge),
                source: serde::de::Error::custom(format!("bad address key '{k}'")),
            })?;
            out.insert(ip, v);
        }
        Ok(out)
    }

    pub fn save_leases(&self, bridge: &str, leases: &Leases) -> Result<(), Error> {
        let path = self.leases_file(bridge);
        let raw: BTreeMap<String, &Lease> =
            leases.iter().map(|(k, v)| (k.to_string(), v)).collect();
        crate::write_runtime_json(&path, &raw).map_err(|source| Error::StoreWrite { path, source })
    }

    /// The network and address leased to this store's `owner`/`ifname`, if any.
    pub fn find(
        &self,
        owner: &str,
        ifname: &str,
    ) -> Result<Option<(Network, Ipv4Addr, Lease)>, Error> {
        for net in self.networks()? {
            for (ip, l) in self.leases(&net.bridge)? {
                if l.is(&self.store, owner, ifname) {
                    return Ok(Some((net, ip, l)));
                }
            }
        }
        Ok(None)
    }

    /// A port mapping of any container in any network that claims the same host socket.
    pub fn port_conflict(&self, p: &PortMapping) -> Result<Option<String>, Error> {
        for net in self.networks()? {
            for l in self.leases(&net.bridge)?.values() {
                if l.ports.iter().any(|q| q.conflicts(p)) {
                    return Ok(Some(l.owner.clone()));
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests;
