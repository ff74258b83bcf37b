//! ct-net's command line: the clap definition (its doc comments are `--help` and the man
//! page) and `run`, which does what the parsed command says; `main.rs` hands both to the
//! tool skeleton (`ct_layout::tool::main`), unless a CNI runtime called.

use std::net::Ipv4Addr;

use crate::{bridge, Error, Mode, NetOpts, PortMapping, Subnet, UpOptions};
use clap::Parser;
use ct_layout::bundle::BundleError;
use ct_layout::pipe::{self, quote};
use ct_layout::tool::{AnyFailure, CannotCreate};

/// Give a container a network: its own network namespace on a bridge, with an address from
/// a pool, NAT to the outside and published ports.
///
/// Reads the bundle (a directory with config.json, or a container id in $CT_ROOT/containers)
/// from the argument or one line of stdin, and prints it when done. With CNI_COMMAND in the
/// environment it acts as a CNI plugin instead (ADD, DEL, CHECK, VERSION, STATUS, GC).
///
/// Exit status: 0 done, 1 failure, 2 usage error.
#[derive(Parser)]
#[command(name = "ct-net", version)]
pub struct Cli {
    /// Bundle directory or container id (default: one line of stdin).
    bundle: Option<String>,

    /// Tear the network down: port rules, veth, address lease, namespace. Idempotent.
    #[arg(long, conflicts_with_all = ["release", "renew"])]
    down: bool,

    /// The container stopped: give back its address, ports, veth and namespace, and remember
    /// them in BUNDLE/net.released.json for --renew.
    #[arg(long, conflicts_with = "renew")]
    release: bool,

    /// The container starts again: wire it as it was before --release (same ports, the same
    /// address if free). Nothing to do without a release.
    #[arg(long)]
    renew: bool,

    /// bridge: own namespace on the bridge; none: loopback only; host: the host's network.
    #[arg(long, value_enum, default_value = "bridge")]
    network: Mode,

    /// Bridge to attach to; made on first use. Each bridge is one network.
    #[arg(long, env = "CT_NET_BRIDGE", default_value = bridge::DEFAULT_BRIDGE)]
    bridge: String,

    /// Subnet of a new network [default: 10.66.0.0/16]; must match an existing one.
    #[arg(long, env = "CT_NET_SUBNET")]
    subnet: Option<Subnet>,

    /// Dual stack: an IPv6 subnet for a new network as well (a ULA such as fd66::/64); must
    /// match an existing one.
    #[arg(long, env = "CT_NET_SUBNET6")]
    subnet6: Option<crate::Subnet6>,

    /// nftables table (families ip and ip6) for a new network's rules [default: ctnet].
    #[arg(long, env = "CT_NET_TABLE")]
    nft_table: Option<String>,

    /// Ask for this address instead of the lowest free one.
    #[arg(long)]
    ip: Option<Ipv4Addr>,

    /// Publish a port: [HOSTIP:]HOSTPORT:CTRPORT[/tcp|/udp] ([V6ADDR]:… for an IPv6 host
    /// address). Repeatable.
    #[arg(short = 'p', long = "publish", value_name = "MAPPING")]
    publish: Vec<PortMapping>,
}

pub fn run(cli: Cli) -> Result<i32, AnyFailure> {
    if !bridge::valid_ifname(&cli.bridge) {
        return Err(Error::Usage(format!(
            "invalid bridge name {} (1-15 of [A-Za-z0-9._-])",
            quote(&cli.bridge)
        ))
        .into());
    }
    if let Some(t) = cli.nft_table.as_ref().filter(|t| !bridge::valid_table(t)) {
        return Err(Error::Usage(format!("invalid nftables table name {}", quote(t))).into());
    }
    let input = pipe::input(cli.bundle, "bundle")?;
    let store = ct_layout::Store::from_env();
    store
        .ensure_root("ct-net")
        .map_err(|(path, e)| CannotCreate(path, e))?;
    if cli.release {
        pipe::emit(crate::release(&store, &input)?);
        return Ok(pipe::EXIT_OK);
    }
    if cli.renew {
        pipe::emit(crate::renew(&store, &input)?.display());
        return Ok(pipe::EXIT_OK);
    }
    if cli.down {
        // Undoing what is already undone succeeds: no bundle and nothing of its network left.
        match crate::down(&store, &input) {
            Err(Error::Bundle(BundleError::NotFound(_))) => {
                eprintln!(
                    "ct-net: no bundle {} and no network of it: nothing to tear down",
                    quote(&input)
                );
            }
            r => pipe::emit(r?),
        }
        return Ok(pipe::EXIT_OK);
    }
    let o = UpOptions {
        mode: cli.network,
        net: NetOpts {
            bridge: cli.bridge,
            subnet: cli.subnet,
            subnet6: cli.subnet6,
            table: cli.nft_table,
        },
        ip: cli.ip,
        ports: cli.publish,
    };
    pipe::emit(crate::up(&store, &input, &o)?.display());
    Ok(pipe::EXIT_OK)
}
