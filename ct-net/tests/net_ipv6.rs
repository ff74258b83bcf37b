//! Dual-stack networks (`--subnet6`, a unique local IPv6 prefix): containers get an IPv6
//! address beside the IPv4 one, reach each other and the outside over IPv6 (masqueraded), and
//! published ports answer on the host's IPv6 addresses — the cases `net.rs` proves for IPv4.
//! The lab's outside link gets 2001:db8::/64 (the documentation prefix) beside 192.0.2.0/24.

mod lab;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::process::{Command, Stdio};

use lab::*;

const S6: &str = "fd66:51::/64";

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// Give the lab's outside link IPv6 addresses: host 2001:db8::1, outside 2001:db8::2.
fn uplink6(lab: &Lab) {
    let o = lab.outside.as_ref().unwrap();
    lab.ip(&["addr", "add", "2001:db8::1/64", "dev", "uplink", "nodad"]);
    sh(
        "ip",
        &[
            "-n",
            o,
            "addr",
            "add",
            "2001:db8::2/64",
            "dev",
            "eth0",
            "nodad",
        ],
    );
}

/// `ct-net --subnet6 S6 EXTRA BUNDLE`; returns the bundle's IPv6 address.
fn up6(lab: &Lab, bundle: &std::path::Path, extra: &[&str]) -> Ipv6Addr {
    let out = lab
        .cmd()
        .env("CT_NET_SUBNET6", S6)
        .args(extra)
        .arg(bundle)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("net.json")).unwrap()).unwrap();
    let a = j["ips"][1]["address"].as_str().expect("an IPv6 address");
    assert_eq!(j["ips"][1]["gateway"], "fd66:51::1");
    v6(a.split('/').next().unwrap())
}

/// The DNAT rules in `table ip6 TABLE` of the lab host.
fn rules6(lab: &Lab) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "exec", &lab.host, "nft", "list", "chain", "ip6"])
        .arg(&lab.table)
        .arg("ports")
        .stderr(Stdio::null())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("dnat"))
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn dual_stack_containers_reach_each_other_the_outside_and_publish_ports_over_ipv6() {
    let lab = Lab::new("10.231.51.0/24", true);
    uplink6(&lab);
    let outside = lab.outside.clone().unwrap();
    let (a, b) = (lab.bundle("a"), lab.bundle("b"));
    let a6 = up6(&lab, &a, &["-p", "8080:80", "-p", "[2001:db8::1]:8081:81"]);
    let b6 = up6(&lab, &b, &[]);
    assert_eq!((a6, b6), (v6("fd66:51::2"), v6("fd66:51::3")));
    let inside = sh(
        "ip",
        &[
            "-n",
            &lab.ns("a"),
            "-6",
            "-o",
            "addr",
            "show",
            "dev",
            "eth0",
        ],
    );
    assert!(inside.contains("fd66:51::2/64"), "{inside}");
    let route = sh(
        "ip",
        &["-n", &lab.ns("a"), "-6", "route", "show", "default"],
    );
    assert!(route.contains("via fd66:51::1"), "{route}");
    // -p without a host address: one rule per family; [V6]:…: only the IPv6 one.
    assert_eq!(rules6(&lab).len(), 2, "{:?}", rules6(&lab));
    assert_eq!(lab.port_rules().len(), 1, "{:?}", lab.port_rules());

    // b → a over IPv6, the outside host → the published port over IPv6 (both mappings).
    let any6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, 80));
    let server = tcp_server(&lab.ns("a"), any6, "over ipv6\n", 2);
    let got = tcp_get(&lab.ns("b"), SocketAddr::from((a6, 80))).expect("b → [a]:80");
    assert_eq!(got, "over ipv6\n");
    let got = tcp_get(&outside, SocketAddr::from((v6("2001:db8::1"), 8080)))
        .expect("outside → [host]:8080");
    assert_eq!(got, "over ipv6\n");
    let peers = server.join().unwrap();
    assert_eq!(peers.len(), 2);
    assert_eq!(
        peers[0].ip(),
        IpAddr::V6(b6),
        "container to container is not NATed"
    );
    let s81 = tcp_server(
        &lab.ns("a"),
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, 81)),
        "81\n",
        1,
    );
    assert_eq!(
        tcp_get(&outside, SocketAddr::from((v6("2001:db8::1"), 8081))).unwrap(),
        "81\n"
    );
    s81.join().unwrap();

    // b → the outside host over IPv6: masqueraded to the host's uplink address.
    let far = tcp_server(
        &outside,
        SocketAddr::from((v6("2001:db8::2"), 9000)),
        "outside\n",
        1,
    );
    assert_eq!(
        tcp_get(&lab.ns("b"), SocketAddr::from((v6("2001:db8::2"), 9000))).unwrap(),
        "outside\n"
    );
    let seen = far.join().unwrap();
    assert_eq!(
        seen[0].ip(),
        IpAddr::V6(v6("2001:db8::1")),
        "not masqueraded"
    );

    // Teardown takes the IPv6 rules too; the addresses go back to the pool.
    lab.down(&a);
    assert!(rules6(&lab).is_empty(), "{:?}", rules6(&lab));
    assert!(lab.port_rules().is_empty());
    let c = lab.bundle("c");
    assert_eq!(up6(&lab, &c, &[]), v6("fd66:51::2"));
    lab.down(&b);
    lab.down(&c);
    assert!(lab.leases().is_empty());
}

#[test]
fn an_ipv6_host_address_on_an_ipv4_only_network_is_refused() {
    let lab = Lab::new("10.231.52.0/24", false);
    let c = lab.bundle("v4only");
    // The store as ct-net leaves it (0700), so its first run has no notice to print.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(lab.store(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = lab.run(&["-p", "[fd00::1]:8080:80", c.to_str().unwrap()]);
    let e = one_line_error(&out);
    assert!(e.contains("dual-stack"), "{e}");
    assert_eq!(out.status.code(), Some(2));
    assert!(lab.leases().is_empty());
    assert!(!netns_exists(&lab.ns("v4only")));
}

/// Is `pid` a live process (not gone, not a zombie nobody reaped)?
fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.trim_start().to_string()))
        .is_some_and(|r| !r.starts_with('Z') && !r.starts_with('X'))
}

/// The host reaches a published port through `[::1]` as it does through 127.0.0.1: no rule
/// can forward from IPv6's loopback, so a `ct-net proxy` process listens there (for `-p
/// PORT:CPORT` and `-p [::1]:PORT:CPORT`) and connects to the container over the bridge. Its
/// pid is in the lease; `--down` kills it, and nothing listens on the port after.
#[test]
fn the_host_reaches_a_published_port_through_ipv6_loopback_and_down_stops_the_proxy() {
    let lab = Lab::new("10.231.53.0/24", false);
    let a = lab.bundle("a");
    let a6 = up6(&lab, &a, &["-p", "8090:80", "-p", "[::1]:8091:81"]);
    for (port, cport) in [(8090u16, 80u16), (8091, 81)] {
        let server = tcp_server(
            &lab.ns("a"),
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, cport)),
            "via ::1\n",
            1,
        );
        let got = tcp_get(&lab.host, SocketAddr::from((Ipv6Addr::LOCALHOST, port)));
        assert_eq!(got.expect("host → [::1]:PORT").as_str(), "via ::1\n");
        let peers = server.join().unwrap();
        // The proxy connects from the host's end of the bridge.
        assert_eq!(peers[0].ip(), IpAddr::V6(v6("fd66:51::1")), "{port}");
    }
    let leases = lab.leases();
    let proxies: Vec<u64> = leases
        .values()
        .flat_map(|l| l["proxies"].as_array().cloned().unwrap_or_default())
        .map(|p| p["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(proxies.len(), 2, "{leases:?}");
    assert!(proxies.iter().all(|&p| alive(p)));
    // [::1] is the proxy's: only 8090 has an ip6 DNAT rule (for the host's other addresses).
    assert_eq!(rules6(&lab).len(), 1, "{:?}", rules6(&lab));

    // 127.0.0.1 still works through the kernel's rules.
    let server = tcp_server(
        &lab.ns("a"),
        SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 80)),
        "v4\n",
        1,
    );
    let got = tcp_get(&lab.host, SocketAddr::from(([127, 0, 0, 1], 8090)));
    assert_eq!(got.unwrap(), "v4\n");
    server.join().unwrap();
    let _ = a6;

    lab.down(&a);
    assert!(
        proxies.iter().all(|&p| !alive(p)),
        "a proxy outlived --down"
    );
    for port in [8090u16, 8091] {
        let got = tcp_get(&lab.host, SocketAddr::from((Ipv6Addr::LOCALHOST, port)));
        assert!(got.is_err(), "[::1]:{port} still answers: {got:?}");
    }
    assert!(lab.leases().is_empty());
    assert!(rules6(&lab).is_empty());
}
