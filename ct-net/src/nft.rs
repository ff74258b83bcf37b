//! nftables rules in a table of ct's own (nft(8), libnftables-json(5)). Everything ct adds
//! lives in `table ip TABLE` (default `ctnet`); no other table is ever read or changed, so a
//! host firewall and docker's or podman's rules are left alone, and `nft delete table ip ctnet`
//! removes all of ct's rules at once. The ruleset, as `nft list table ip ctnet` prints it:
//!
//! ```text
//! table ip ctnet {
//!   set subnets { type ipv4_addr; flags interval; elements = { 10.66.0.0/16 } }
//!   set bridges { type ifname; elements = { "ct0" } }
//!   chain postrouting { type nat hook postrouting priority srcnat;
//!     ip saddr @subnets ip daddr != @subnets masquerade        # outbound: only ct's subnets
//!     oifname @bridges ip saddr 127.0.0.0/8 masquerade         # 127.0.0.1:PORT, see below
//!     ct status dnat ip saddr @subnets ip daddr @subnets masquerade }  # container → host:PORT
//!   chain prerouting { type nat hook prerouting priority dstnat;
//!     fib daddr type local jump ports }                        # traffic from other hosts
//!   chain output { type nat hook output priority -100;
//!     fib daddr type local jump ports }                        # traffic from the host itself
//!   chain ports {
//!     tcp dport 8080 dnat to 10.66.0.2:80 comment "ct:web/eth0@1a2b3c4d" }
//! }
//! ```
//!
//! Published ports and 127.0.0.1: locally generated packets never pass `prerouting`, so the
//! DNAT is repeated in `output`. A connection to 127.0.0.1:8080 is then re-routed to the
//! bridge with source 127.0.0.1, which the kernel drops as a "martian" unless the outgoing
//! device has `route_localnet=1` (set on ct's bridge only, see `sysctl.rs`); the second
//! `postrouting` rule masquerades that source to the gateway address, because the container
//! would answer 127.0.0.1 to its own loopback. Docker's hairpin mode does the same.
//! A container reaching a published port through the host's address is DNATed back into the
//! subnet; without the third rule the server would answer it directly over the bridge, from
//! an address the client never called, and the connection would be reset. The bridge port's
//! hairpin mode (`rtnetlink.rs`) covers a container calling its own published port.
//!
//! The base (sets and base chains) is built idempotently in one transaction: `add` of an
//! existing table, chain, set or element is a no-op, and the base chains are flushed and
//! refilled. It runs when a network is new, when its bridge had to be (re)made, or when the
//! table is missing (after `nft flush ruleset`); [`table_exists`] asks the kernel directly over
//! nfnetlink, because starting `nft` costs more than everything else ct-net does. Port rules carry the
//! comment `ct:OWNER/IFNAME@STORE`; teardown lists the `ports` chain with handles and deletes
//! those. ct-net drives nft only with JSON documents (`nft -j -f -`, through the `nftables`
//! crate for changes), never with nft's command grammar: there a table named like a keyword
//! (`ct`, the default of older versions, is conntrack's) is a syntax error and cannot even be
//! quoted, while in JSON a name is just a string.

use std::io;
use std::net::Ipv4Addr;

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

use nftables::helper::{self, NftablesError};
use nftables::schema::{NfListObject, NfObject, Nftables};
use serde_json::{json, Value};

use crate::lease::Network;
use crate::Error;
use ct_layout::net_record::PortMapping;

fn nft_err(what: String) -> impl FnOnce(NftablesError) -> Error {
    move |source| Error::Nft {
        what,
        source: Box::new(source),
    }
}

fn apply(what: String, cmds: Vec<Value>) -> Result<(), Error> {
    let doc = json!({ "nftables": cmds });
    let typed: Nftables = serde_json::from_value(doc).map_err(|e| Error::Nft {
        what: what.clone(),
        source: Box::new(NftablesError::NftInvalidJson(e)),
    })?;
    helper::apply_ruleset_with_args(&typed, helper::DEFAULT_NFT, helper::DEFAULT_ARGS)
        .map_err(nft_err(what))
}

fn matches(op: &str, left: Value, right: Value) -> Value {
    json!({"match": {"op": op, "left": left, "right": right}})
}

/// An address family of a network's rules: `table ip TABLE` for its IPv4 subnet, `table ip6
/// TABLE` for the IPv6 subnet of a dual-stack network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Ip,
    Ip6,
}

impl Family {
    /// The nftables family (and payload protocol) name.
    pub fn name(self) -> &'static str {
        match self {
            Family::Ip => "ip",
            Family::Ip6 => "ip6",
        }
    }

    fn addr_type(self) -> &'static str {
        match self {
            Family::Ip => "ipv4_addr",
            Family::Ip6 => "ipv6_addr",
        }
    }
}

/// The sets, base chains and masquerade rules of `net` for `family`, (re)made in one
/// transaction: outbound masquerade, published ports from outside and from the host, a
/// container reaching a published port through the host's address. IPv4 also masquerades
/// 127.0.0.1 sources leaving on the bridge (the `route_localnet` hairpin); IPv6 has no
/// `route_localnet`, so these rules do not forward `[::1]:PORT`: `proxy.rs` serves it.
/// `Family::Ip6` does nothing on a network without an IPv6 subnet.
pub fn ensure_base(net: &Network, family: Family) -> Result<(), Error> {
    let (addr, len) = match (family, &net.subnet6) {
        (Family::Ip, _) => (net.subnet.network().to_string(), net.subnet.prefix()),
        (Family::Ip6, Some(s6)) => (s6.network().to_string(), s6.prefix()),
        (Family::Ip6, None) => return Ok(()),
    };
    let t = net.nft_table.as_str();
    let f = family.name();
    let chain = |name: &str, hook: &str, prio: i32| {
        json!({"add": {"chain": {"family": f, "table": t, "name": name,
            "type": "nat", "hook": hook, "prio": prio, "policy": "accept"}}})
    };
    let flush = |name: &str| json!({"flush": {"chain": {"family": f, "table": t, "name": name}}});
    let rule = |chain: &str, expr: Vec<Value>| json!({"add": {"rule": {"family": f, "table": t, "chain": chain, "expr": expr}}});
    let field = |name: &str| json!({"payload": {"protocol": f, "field": name}});
    let local_jump = || {
        vec![
            matches(
                "==",
                json!({"fib": {"result": "type", "flags": ["daddr"]}}),
                json!("local"),
            ),
            json!({"jump": {"target": "ports"}}),
        ]
    };
    let mut cmds = vec![
        json!({"add": {"table": {"family": f, "name": t}}}),
        json!({"add": {"set": {"family": f, "table": t, "name": "subnets",
            "type": family.addr_type(), "flags": ["interval"]}}}),
        json!({"add": {"element": {"family": f, "table": t, "name": "subnets",
            "elem": [{"prefix": {"addr": addr, "len": len}}]}}}),
    ];
    if family == Family::Ip {
        cmds.extend([
            json!({"add": {"set": {"family": f, "table": t, "name": "bridges", "type": "ifname"}}}),
            json!({"add": {"element": {"family": f, "table": t, "name": "bridges", "elem": [net.bridge]}}}),
        ]);
    }
    cmds.extend([
        chain("postrouting", "postrouting", 100),
        chain("prerouting", "prerouting", -100),
        chain("output", "output", -100),
        json!({"add": {"chain": {"family": f, "table": t, "name": "ports"}}}),
        flush("postrouting"),
        flush("prerouting"),
        flush("output"),
        rule(
            "postrouting",
            vec![
                matches("==", field("saddr"), json!("@subnets")),
                matches("!=", field("daddr"), json!("@subnets")),
                json!({"masquerade": null}),
            ],
        ),
    ]);
    if family == Family::Ip {
        cmds.push(rule(
            "postrouting",
            vec![
                matches("==", json!({"meta": {"key": "oifname"}}), json!("@bridges")),
                matches(
                    "==",
                    field("saddr"),
                    json!({"prefix": {"addr": "127.0.0.0", "len": 8}}),
                ),
                json!({"masquerade": null}),
            ],
        ));
    }
    cmds.extend([
        rule(
            "postrouting",
            vec![
                matches("in", json!({"ct": {"key": "status"}}), json!("dnat")),
                matches("==", field("saddr"), json!("@subnets")),
                matches("==", field("daddr"), json!("@subnets")),
                json!({"masquerade": null}),
            ],
        ),
        rule("prerouting", local_jump()),
        rule("output", local_jump()),
    ]);
    apply(format!("cannot set up nftables table '{f} {t}'"), cmds)
}

/// Does `table ip NAME` exist? One NFT_MSG_GETTABLE request on a NETLINK_NETFILTER socket
/// (the message `nft list table` starts with): `nlmsghdr`, `nfgenmsg` {family NFPROTO_IPV4,
/// version 0, res_id 0}, attribute NFTA_TABLE_NAME. The kernel answers NFT_MSG_NEWTABLE, or
/// an error with -ENOENT.
pub fn table_exists(name: &str) -> io::Result<bool> {
    table_exists_in(2, name)
}

/// [`table_exists`] for `table ip6 NAME` (a dual-stack network's IPv6 rules).
pub fn table6_exists(name: &str) -> io::Result<bool> {
    table_exists_in(10, name)
}

/// Does `table FAMILY NAME` exist (`family`: NFPROTO_IPV4 2, NFPROTO_IPV6 10)?
fn table_exists_in(family: u8, name: &str) -> io::Result<bool> {
    const NFNL_SUBSYS_NFTABLES: u16 = 10;
    const NFT_MSG_NEWTABLE: u16 = 0;
    const NFT_MSG_GETTABLE: u16 = 1;
    const NFTA_TABLE_NAME: u16 = 1;
    const NLMSG_ERROR: u16 = 2;
    const NLMSG_DONE: u16 = 3;
    let mut sock = Socket::new(NETLINK_NETFILTER)?;
    sock.bind_auto()?;
    sock.connect(&SocketAddr::new(0, 0))?;
    let attr_len = 4 + name.len() + 1;
    let padded = (attr_len + 3) & !3;
    let len = 16 + 4 + padded;
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&(len as u32).to_ne_bytes());
    msg.extend_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE).to_ne_bytes());
    msg.extend_from_slice(&(libc::NLM_F_REQUEST as u16 | libc::NLM_F_ACK as u16).to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
    msg.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
    msg.extend_from_slice(&[family, 0, 0, 0]);
    msg.extend_from_slice(&(attr_len as u16).to_ne_bytes());
    msg.extend_from_slice(&NFTA_TABLE_NAME.to_ne_bytes());
    msg.extend_from_slice(name.as_bytes());
    msg.resize(len, 0);
    sock.send(&msg, 0)?;
    let mut found = false;
    // Bounded: the answer is one NEWTABLE and one ack (or one error).
    for _ in 0..8 {
        let (data, _) = sock.recv_from_full()?;
        let mut off = 0;
        while off + 16 <= data.len() {
            let mlen = u32::from_ne_bytes([data[off], data[off + 1], data[off + 2], data[off + 3]])
                as usize;
            let mtype = u16::from_ne_bytes([data[off + 4], data[off + 5]]);
            if mlen < 16 || off + mlen > data.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "short nfnetlink message",
                ));
            }
            if mtype == NLMSG_ERROR && mlen >= 20 {
                let code = i32::from_ne_bytes([
                    data[off + 16],
                    data[off + 17],
                    data[off + 18],
                    data[off + 19],
                ]);
                return match code {
                    0 => Ok(found),
                    c if -c == libc::ENOENT => Ok(false),
                    c => Err(io::Error::from_raw_os_error(-c)),
                };
            }
            if mtype == NLMSG_DONE {
                return Ok(found);
            }
            if mtype == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE {
                found = true;
            }
            off += (mlen + 3) & !3;
        }
    }
    Ok(found)
}

/// The comment that marks one attachment's port rules: `ct:OWNER/IFNAME@STORE`, the store
/// tag telling apart two stores' containers of the same name.
pub fn tag(store: &str, owner: &str, ifname: &str) -> String {
    format!("ct:{owner}/{ifname}@{store}")
}

/// One DNAT rule per published port and address family, in one transaction: a mapping with
/// an IPv4 host address only in `table ip`, with an IPv6 one only in `table ip6`, without
/// one in both (the IPv6 rule only when the container has an IPv6 address, `ip6`).
pub fn add_ports(
    table: &str,
    tag: &str,
    ip: Ipv4Addr,
    ip6: Option<std::net::Ipv6Addr>,
    ports: &[PortMapping],
) -> Result<(), Error> {
    let mut cmds = Vec::new();
    for p in ports {
        let families: Vec<(&str, String)> = match p.host_ip {
            Some(std::net::IpAddr::V4(_)) => vec![("ip", ip.to_string())],
            Some(std::net::IpAddr::V6(_)) => ip6.iter().map(|a| ("ip6", a.to_string())).collect(),
            None => std::iter::once(("ip", ip.to_string()))
                .chain(ip6.iter().map(|a| ("ip6", a.to_string())))
                .collect(),
        };
        for (family, to) in families {
            let daddr = json!({"payload": {"protocol": family, "field": "daddr"}});
            let mut expr = Vec::new();
            match p.host_ip {
                // `[::1]` is the proxy's (`proxy.rs`): no rule could forward from it.
                Some(h) if h == std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST) => continue,
                Some(h) => expr.push(matches("==", daddr, json!(h.to_string()))),
                None if family == "ip6" => expr.push(matches("!=", daddr, json!("::1"))),
                None => {}
            }
            expr.push(matches(
                "==",
                json!({"payload": {"protocol": p.protocol.as_str(), "field": "dport"}}),
                json!(p.host_port),
            ));
            expr.push(json!({"dnat": {"addr": to, "port": p.container_port}}));
            cmds.push(
                json!({"add": {"rule": {"family": family, "table": table, "chain": "ports",
                "comment": tag, "expr": expr}}}),
            );
        }
    }
    apply(format!("cannot publish ports in table '{table}'"), cmds)
}

/// What [`del_ports`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    /// This many rules carried the tag and are gone now.
    Rules(usize),
    /// The table or its `ports` chain does not exist (deleted by hand, or `nft flush
    /// ruleset`): no rule of anyone is left to remove.
    TableGone,
}

/// `{"list": {"chain": …}}` through `nft -j -a -f -`: the rules of `table`'s `ports` chain
/// with their handles. JSON input is never parsed by nft's command grammar, so a table named
/// like a keyword (`ct`, the old default) works where `nft list chain ip ct ports` is a syntax
/// error. `None`: the table or chain does not exist.
fn list_ports(family: &str, table: &str) -> Result<Option<Nftables<'static>>, Error> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let what = || format!("cannot list chain 'ports' of table '{family} {table}'");
    let doc = json!({"nftables": [{"list": {"chain":
        {"family": family, "table": table, "name": "ports"}}}]});
    let mut child = Command::new("nft")
        .args(["-j", "-a", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            nft_err(what())(NftablesError::NftExecution {
                program: "nft".into(),
                inner: e,
            })
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(doc.to_string().as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| {
        nft_err(what())(NftablesError::NftExecution {
            program: "nft".into(),
            inner: e,
        })
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if stderr.contains("No such file or directory") {
            return Ok(None);
        }
        return Err(nft_err(what())(NftablesError::NftFailed {
            program: "nft".into(),
            hint: "listing the ports chain".into(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr,
        }));
    }
    serde_json::from_slice::<Nftables>(&out.stdout)
        .map(Some)
        .map_err(|e| nft_err(what())(NftablesError::NftInvalidJson(e)))
}

/// Delete every rule in `ports` carrying `tag`, in `table ip` and, when `dual`, `table ip6`.
/// A missing table or chain means there is nothing to delete, which the caller reports (for
/// the IPv4 table, always there while the network is).
pub fn del_ports(table: &str, tag: &str, dual: bool) -> Result<Removed, Error> {
    let mut found = Removed::TableGone;
    for family in ["ip", "ip6"] {
        if family == "ip6" && !dual {
            continue;
        }
        let Some(ruleset) = list_ports(family, table)? else {
            continue;
        };
        let cmds: Vec<Value> = ruleset
            .objects
            .iter()
            .filter_map(|o| match o {
                NfObject::ListObject(NfListObject::Rule(r))
                    if r.comment.as_deref() == Some(tag) =>
                {
                    r.handle.map(|h| {
                        json!({"delete": {"rule": {"family": family, "table": table,
                            "chain": "ports", "handle": h, "expr": []}}})
                    })
                }
                _ => None,
            })
            .collect();
        let n = cmds.len();
        if n > 0 {
            apply(
                format!("cannot remove published ports from table '{family} {table}'"),
                cmds,
            )?;
        }
        found = match (found, family) {
            (Removed::Rules(m), _) => Removed::Rules(m + n),
            (Removed::TableGone, "ip") => Removed::Rules(n),
            (gone, _) => gone,
        };
    }
    Ok(found)
}
