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
#[command(name = "ct-net", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,

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

    /// bridge: own namespace on the bridge (without root: user-mode, as pasta); none:
    /// loopback only; host: the host's network; pasta, slirp4netns: own namespace connected by
    /// that user-mode helper.
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
    /// address). Without HOSTPORT (CTRPORT, HOSTIP::CTRPORT) or with 0, a free host port is
    /// picked; net.json (`ct port`) shows it. Repeatable.
    #[arg(short = 'p', long = "publish", value_name = "MAPPING", value_parser = publish)]
    publish: Vec<PortMapping>,

    /// Publish every port the image exposes (the config.json annotation
    /// org.opencontainers.image.exposedPorts) on a free host port each, as docker run -P.
    #[arg(short = 'P', long)]
    publish_all: bool,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Forward TCP connections from LISTEN to TO until killed (started by ct-net itself for a
    /// port published on [::1] of a dual-stack network; see proxy.rs). Prints `ready` once it
    /// listens.
    Proxy {
        #[arg(long)]
        listen: std::net::SocketAddr,
        #[arg(long)]
        to: std::net::SocketAddr,
    },
}

/// `-p`: a [`PortMapping`], or one without a host port (`80`, `80/udp`, `IP::80`, `0:80`),
/// which gets host port 0: "pick a free one".
fn publish(s: &str) -> Result<PortMapping, String> {
    let (spec, proto) = match s.rsplit_once('/') {
        Some((spec, proto)) => (spec, format!("/{proto}")),
        None => (s, String::new()),
    };
    // The same mapping with host port 1, parsed as usual, then 0.
    let without_host_port = if spec.parse::<u16>().is_ok() {
        Some(format!("1:{spec}"))
    } else {
        spec.rsplit_once(':').and_then(|(head, cport)| {
            let host = match head {
                "0" => Some(""),
                _ => head.strip_suffix(":0").or_else(|| head.strip_suffix(':')),
            }?;
            let host = if host.is_empty() {
                String::new()
            } else {
                format!("{host}:")
            };
            Some(format!("{host}1:{cport}"))
        })
    };
    match without_host_port {
        Some(m) => {
            let mut p: PortMapping = format!("{m}{proto}")
                .parse()
                .map_err(|_| ct_layout::net_record::PortSyntax(s.to_string()).to_string())?;
            p.host_port = 0;
            Ok(p)
        }
        None => s
            .parse()
            .map_err(|e: ct_layout::net_record::PortSyntax| e.to_string()),
    }
}

pub fn run(cli: Cli) -> Result<i32, AnyFailure> {
    if let Some(Sub::Proxy { listen, to }) = cli.command {
        // Its stderr is /dev/null: the reason goes to the one who waits for `ready`.
        let e = crate::proxy::serve(listen, to).err();
        pipe::print_out(&format!(
            "{}\n",
            e.map(|e| pipe::chain(&e)).unwrap_or_default()
        ));
        return Ok(pipe::EXIT_FAILURE);
    }
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
        publish_all: cli.publish_all,
    };
    pipe::emit(crate::up(&store, &input, &o)?.display());
    Ok(pipe::EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapping_without_host_port_asks_for_a_free_one() {
        let p = |s: &str| publish(s).map(|m| m.to_string());
        assert_eq!(p("80").unwrap(), publish("0:80").unwrap().to_string());
        let m = publish("80/udp").unwrap();
        assert_eq!(
            (m.host_port, m.container_port, m.protocol.as_str()),
            (0, 80, "udp")
        );
        let m = publish("127.0.0.1::80").unwrap();
        assert_eq!(
            (m.host_port, m.host_ip),
            (0, Some("127.0.0.1".parse().unwrap()))
        );
        let m = publish("[::1]:0:80/tcp").unwrap();
        assert_eq!((m.host_port, m.host_ip), (0, Some("::1".parse().unwrap())));
        assert_eq!(publish("8080:80").unwrap().host_port, 8080);
        assert_eq!(publish("[fd00::1]:8080:80").unwrap().host_port, 8080);
        for bad in ["", "x", "0", "80:", ":80", "1.2.3.4:80", "80/sctp", "99999"] {
            assert!(publish(bad).is_err(), "{bad}");
        }
    }
}
