//! ct-net's errors: one variant per step that can fail, with the path or the object it
//! failed on and the cause, the `hint:`s for the usual causes (a missing capability, an
//! exhausted pool), and the exit code each means (2 for a bad flag or subnet, else 1).

use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use ct_layout::bundle::BundleError;

use crate::{ipv4_subnet, Subnet};

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
    #[error("no user-mode network helper: {}", match .0 {
        Some(p) => format!("{p} is not in PATH"),
        None => "neither pasta nor slirp4netns is in PATH".into(),
    })]
    NoUserNetHelper(Option<&'static str>),
    #[error("{program}: cannot {what}")]
    UserNet {
        program: String,
        what: String,
        #[source]
        source: io::Error,
    },
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
    #[error("cannot publish container port {port}: no free host port found")]
    NoFreePort { port: String },
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
    Proxy {
        what: String,
        #[source]
        source: io::Error,
    },
    /// A delegated IPAM plugin's error result, passed on with its code (`cni_ipam.rs`).
    #[error("{msg}")]
    Ipam {
        code: u32,
        msg: String,
        details: String,
    },
    #[error("the proxy for {listen} did not start: {msg}")]
    ProxyStart { listen: String, msg: String },
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
            Error::NoUserNetHelper(_) => vec![
                "without root, a container's network needs pasta (apt-get install passt) or \
                 slirp4netns; or use --network none or --network host"
                    .into(),
            ],
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
