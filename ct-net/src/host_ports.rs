//! Is a host port already taken by a process of the host? A published port is a DNAT rule,
//! not a socket: the kernel would happily rewrite connections meant for a host service
//! listening on the same port, so it would silently vanish behind the container. ct-net
//! refuses such a mapping first, as podman and docker do ("address already in use").
//!
//! The kernel lists the sockets of the current network namespace in `/proc/net/tcp`,
//! `tcp6`, `udp` and `udp6` (proc(5)), one per line:
//!
//! ```text
//!   sl  local_address rem_address   st tx_queue rx_queue …
//!    0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 …
//! ```
//!
//! `local_address` is the address as the kernel stores it, printed as 32-bit words in host
//! byte order (`0100007F` is 127.0.0.1 on little-endian machines; IPv6 is four such words),
//! then the port in hex. `st` is the TCP state: `0A` is LISTEN. For UDP every bound socket
//! holds its port (`07`, "closed", is how an unconnected UDP socket shows). A socket bound
//! to the wildcard (`0.0.0.0`, `::`) takes the port on every address, and an IPv6 wildcard
//! socket also takes IPv4 unless it is v6-only, which this file does not show, so it counts.
//!
//! A mapping without a host port (`-p 80`, `-P`; host port 0) gets a free one the way docker
//! picks it: bind(2) to port 0 on the host address makes the kernel choose a port of its
//! ephemeral range (`net.ipv4.ip_local_port_range`) that no socket holds ([`pick_free`]).

use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener, UdpSocket};

use ct_layout::net_record::{PortMapping, Protocol};

/// One bound socket: its local address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    pub addr: IpAddr,
    pub port: u16,
}

/// Parse `local_address` (`ADDR:PORT` in the kernel's hex form).
fn parse_local(s: &str) -> Option<Bound> {
    let (a, p) = s.split_once(':')?;
    let port = u16::from_str_radix(p, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let w = u32::from_str_radix(a.get(i * 8..i * 8 + 8)?, 16).ok()?;
        Some(w.to_ne_bytes())
    };
    let addr = match a.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some(Bound { addr, port })
}

/// The sockets in `text` (one `/proc/net/*` file) that hold their port: TCP listeners, or
/// every UDP socket.
pub fn parse(text: &str, tcp: bool) -> Vec<Bound> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let local = f.nth(1)?;
            let state = f.nth(1)?;
            (!tcp || state == "0A").then_some(())?;
            parse_local(local)
        })
        .collect()
}

/// Does a socket bound at `b` take the host port `p` asks for?
pub fn clashes(b: &Bound, p: &PortMapping) -> bool {
    if b.port != p.host_port {
        return false;
    }
    // 0.0.0.0 holds the port on every IPv4 address, :: on every address of both families.
    let wildcard = match (b.addr, p.host_ip) {
        (IpAddr::V4(a), Some(IpAddr::V6(_))) => {
            let _ = a;
            false
        }
        (IpAddr::V4(a), _) => a.is_unspecified(),
        (IpAddr::V6(a), _) => a.is_unspecified(),
    };
    let mapped = match b.addr {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(a) => a.to_ipv4_mapped(),
    };
    match p.host_ip {
        None => true,
        Some(want) => {
            wildcard || b.addr == want || matches!(want, IpAddr::V4(w) if mapped == Some(w))
        }
    }
}

/// A host socket that already holds `p`'s port, as `ADDR:PORT/PROTO`.
pub fn in_use(p: &PortMapping) -> Option<String> {
    let files: &[(&str, bool)] = match p.protocol {
        Protocol::Tcp => &[("/proc/net/tcp", true), ("/proc/net/tcp6", true)],
        Protocol::Udp => &[("/proc/net/udp", false), ("/proc/net/udp6", false)],
    };
    for (file, tcp) in files {
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        if let Some(b) = parse(&text, *tcp).into_iter().find(|b| clashes(b, p)) {
            let addr = match b.addr {
                IpAddr::V6(a) => format!("[{a}]"),
                a => a.to_string(),
            };
            return Some(format!("{addr}:{}/{}", b.port, p.protocol.as_str()));
        }
    }
    None
}

/// How often [`pick_free`] asks the kernel for a port before it gives up.
const PICK_TRIES: usize = 64;

/// A free host port for `p` (a mapping with host port 0): the port the kernel gives a probe
/// socket bound to port 0 on `p`'s host address (the wildcard without one), closed again at
/// once. A port `taken` calls taken (ct's own published ports are DNAT rules, no sockets) or a
/// host socket holds on another address ([`in_use`]) is asked again, [`PICK_TRIES`] times at
/// most. `None` when the address cannot be bound or no port was free.
pub fn pick_free(p: &PortMapping, taken: &dyn Fn(&PortMapping) -> bool) -> Option<u16> {
    let addr = p.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    for _ in 0..PICK_TRIES {
        let bound = match p.protocol {
            Protocol::Tcp => TcpListener::bind((addr, 0)).and_then(|s| s.local_addr()),
            Protocol::Udp => UdpSocket::bind((addr, 0)).and_then(|s| s.local_addr()),
        };
        let q = PortMapping {
            host_port: bound.ok()?.port(),
            ..p.clone()
        };
        if !taken(&q) && in_use(&q).is_none() {
            return Some(q.host_port);
        }
    }
    None
}

/// `ports` with every host port 0 replaced by a free one ([`pick_free`]), never one another
/// mapping of the list holds or `taken` calls taken.
pub fn with_free_ports(
    ports: &[PortMapping],
    taken: &dyn Fn(&PortMapping) -> bool,
) -> Result<Vec<PortMapping>, crate::Error> {
    let mut out = ports.to_vec();
    for i in 0..out.len() {
        if out[i].host_port != 0 {
            continue;
        }
        let listed = |q: &PortMapping| out.iter().any(|o| o.host_port != 0 && o.conflicts(q));
        let port = pick_free(&out[i], &|q| listed(q) || taken(q)).ok_or_else(|| {
            crate::Error::NoFreePort {
                port: format!("{}/{}", out[i].container_port, out[i].protocol.as_str()),
            }
        })?;
        out[i].host_port = port;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kernels_lines() {
        let lo = u32::from_ne_bytes([127, 0, 0, 1]);
        let tcp = format!(
            "  sl  local_address rem_address   st tx_queue rx_queue\n   \
             0: {lo:08X}:1F90 00000000:0000 0A 00000000:00000000\n   \
             1: 00000000:0050 0100007F:D431 01 00000000:00000000\n"
        );
        let got = parse(&tcp, true);
        assert_eq!(
            got,
            vec![Bound {
                addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
                port: 8080
            }]
        );
        let any6 = "  sl  local_address                         remote_address\n   \
             0: 00000000000000000000000000000000:1F91 00000000000000000000000000000000:0000 0A 0\n";
        let b = parse(any6, true)[0];
        assert_eq!(b.port, 8081);
        assert!(clashes(&b, &"127.0.0.1:8081:80".parse().unwrap()));
        let lo8080 = got[0];
        assert!(clashes(&lo8080, &"8080:80".parse().unwrap()));
        assert!(clashes(&lo8080, &"127.0.0.1:8080:80".parse().unwrap()));
        assert!(!clashes(&lo8080, &"10.0.0.1:8080:80".parse().unwrap()));
        assert!(!clashes(&lo8080, &"8081:80".parse().unwrap()));
    }
}
