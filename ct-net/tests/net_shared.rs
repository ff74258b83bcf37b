//! ct-net's host-global state against the ways it used to break (issue 15): two stores on one
//! bridge, a host port a host process already holds, a container whose namespace died without
//! a teardown, a network made under the old default table name `ct`, a table removed by hand.
//! Each test works in its own lab (`lab/mod.rs`: own host namespace, bridge, table); the
//! lease records of a lab bridge live in the host-global `/run/ct/net/BRIDGE`, removed by
//! the lab's Drop.

mod lab;

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};

use lab::*;

fn sa(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

/// A bundle `id` in the store `root` (config.json only, as `Lab::bundle` makes them).
fn bundle_in(root: &Path, id: &str) -> PathBuf {
    let dir = root.join("containers").join(id);
    fs::create_dir_all(&dir).unwrap();
    let config = serde_json::json!({
        "ociVersion": "1.0.2",
        "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
        "root": {"path": "rootfs"},
        "hostname": id,
        "linux": {"namespaces": [{"type": "network"}]}
    });
    fs::write(dir.join("config.json"), config.to_string()).unwrap();
    dir
}

#[test]
fn two_stores_on_one_bridge_get_distinct_addresses_and_namespaces() {
    let lab = Lab::new("10.231.21.0/24", false);
    // Store 1 is the lab's; store 2 is a second CT_ROOT using the same bridge. Both name their
    // container `web`.
    let b1 = lab.bundle("web");
    let id = lab.id("web");
    let root2 = lab.root.path().join("root2");
    let b2 = bundle_in(&root2, &id);
    let ns1 = lab.nsof(&id);
    let ns2 = ct_net::netns::name_for(&ct_net::lease::store_tag(&root2), &id);
    // Namespaces this test may leave: the lab's sandbox deletes them.
    lab.sb.own_netns(&ns1);
    lab.sb.own_netns(&ns2);
    let store2 = |args: &[&str]| {
        lab.cmd()
            .env("CT_ROOT", &root2)
            .env("CT_RUN", lab.root.path().join("run2"))
            .args(args)
            .output()
            .unwrap()
    };

    let ip1 = lab.up(&b1, &["-p", "8081:80"]);
    let out = store2(&["-p", "8082:80", b2.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "second store: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ip2 = address(&b2).unwrap();
    assert_ne!(ip1, ip2, "two stores leased the same address");
    assert_ne!(ns1, ns2);
    assert!(netns_exists(&ns1) && netns_exists(&ns2));
    assert_eq!(lab.leases().len(), 2);
    // Each address is configured in its own namespace, and the two reach each other.
    assert!(ping(&ns1, ip2) && ping(&ns2, ip1));

    // A store tears down its own `web` only: the other keeps its address, veth and port.
    let out = store2(&["--down", "web-does-not-exist"]);
    assert!(out.status.success());
    let out = store2(&["--down", b2.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!netns_exists(&ns2));
    assert!(netns_exists(&ns1));
    let left = lab.leases();
    assert_eq!(left.len(), 1);
    assert!(left.contains_key(&ip1.to_string()));
    assert_eq!(lab.port_rules().len(), 1);
    assert!(
        lab.port_rules()[0].contains(":80"),
        "{:?}",
        lab.port_rules()
    );
    assert!(ping(&ns1, Ipv4Addr::new(10, 231, 21, 1)));
    lab.down(&b1);
    assert!(lab.leases().is_empty() && lab.port_rules().is_empty());
}

#[test]
fn a_host_port_a_host_process_holds_is_refused_before_any_rule() {
    let lab = Lab::new("10.231.22.0/24", false);
    let c = lab.bundle("shadow");
    // A first container makes the network, so its table exists for the counts below.
    let first = lab.bundle("first");
    lab.up(&first, &[]);
    let rules = lab.port_rules();
    // Host services in the lab host: TCP on 127.0.0.1:8080, TCP on every address :8090,
    // UDP on 127.0.0.1:5353. They stay bound while the handles live.
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let holder = in_netns(&lab.host, move || {
        let a = TcpListener::bind(sa(Ipv4Addr::LOCALHOST, 8080)).unwrap();
        let b = TcpListener::bind(sa(Ipv4Addr::UNSPECIFIED, 8090)).unwrap();
        let u = UdpSocket::bind(sa(Ipv4Addr::LOCALHOST, 5353)).unwrap();
        tx.send(()).unwrap();
        let _ = stop_rx.recv_timeout(std::time::Duration::from_secs(60));
        drop((a, b, u));
    });
    rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();

    for (p, socket) in [
        ("127.0.0.1:8080:80", "127.0.0.1:8080/tcp"),
        ("8080:80", "127.0.0.1:8080/tcp"),
        ("127.0.0.1:8090:80", "0.0.0.0:8090/tcp"),
        ("5353:53/udp", "127.0.0.1:5353/udp"),
    ] {
        let out = lab.run(&["-p", p, c.to_str().unwrap()]);
        assert!(!out.status.success(), "{p} was accepted");
        let e = one_line_error(&out);
        assert!(
            e.contains("already in use") && e.contains(socket),
            "{p}: {e}"
        );
        assert_eq!(lab.port_rules(), rules, "{p}: a rule was added");
        assert_eq!(lab.leases().len(), 1, "{p}: a lease was left");
        assert!(!netns_exists(&lab.ns("shadow")), "{p}: netns left");
        assert!(!c.join("net.json").exists());
    }
    // A port nobody holds, and the busy port on another protocol, are fine.
    lab.up(&c, &["-p", "8080:80/udp", "-p", "8091:80"]);
    assert_eq!(lab.port_rules().len(), rules.len() + 2);
    lab.down(&c);
    let _ = stop_tx.send(());
    holder.join().unwrap();
}

#[test]
fn a_lease_whose_namespace_died_is_reclaimed_by_the_next_run() {
    let lab = Lab::new("10.231.23.0/24", false);
    let dead = lab.bundle("dead");
    let ip = lab.up(&dead, &["-p", "8085:80"]);
    assert_eq!(lab.port_rules().len(), 1);
    // The container's namespace goes away without a teardown (it died and its runtime
    // removed the namespace, or the host rebooted): the lease and the port rule stay.
    sh("ip", &["netns", "del", &lab.ns("dead")]);
    assert_eq!(lab.leases().len(), 1);
    // The next run reclaims them: the same address and the same host port are free again.
    let next = lab.bundle("next");
    let out = lab
        .cmd()
        .args(["-p", "8085:80", next.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("reclaiming"));
    assert_eq!(address(&next), Some(ip));
    assert_eq!(lab.leases().len(), 1);
    assert_eq!(lab.port_rules().len(), 1);
    lab.down(&next);
    assert!(lab.port_rules().is_empty());
}

/// The lab's network as an older ct-net recorded it in its store, with table `ct` (an nft
/// keyword, the old default), under a bridge of its own.
fn old_network(lab: &Lab) {
    let dir = lab.store().join("net").join(&lab.bridge);
    fs::create_dir_all(&dir).unwrap();
    let net = serde_json::json!({"bridge": lab.bridge, "subnet": lab.subnet,
        "gateway": lab.subnet.replace(".0/24", ".1"), "nftTable": "ct"});
    fs::write(dir.join("network.json"), net.to_string()).unwrap();
}

/// `nft -j list ruleset` of the lab host, as text (the only way to see a table named `ct`).
fn ruleset(lab: &Lab) -> String {
    sh(
        "ip",
        &["netns", "exec", &lab.host, "nft", "-j", "list", "ruleset"],
    )
}

#[test]
fn down_removes_the_ports_of_a_network_made_under_the_old_table_name_ct() {
    let lab = Lab::new("10.231.24.0/24", false);
    old_network(&lab);
    let c = lab.bundle("old");
    // The lab sets CT_NET_TABLE; an existing network keeps its table, so ask for that one.
    let out = lab
        .cmd()
        .env("CT_NET_TABLE", "ct")
        .args(["-p", "8086:80", c.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        ruleset(&lab).contains("\"dport\"}}, \"right\": 8086"),
        "no DNAT rule"
    );
    let out = lab.run(&["--down", c.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rs = ruleset(&lab);
    assert!(rs.contains("\"table\": \"ct\""), "table ct is not there");
    assert!(!rs.contains("8086"), "the DNAT rule was left behind: {rs}");
    assert!(lab.leases().is_empty());
    assert!(!netns_exists(&lab.ns("old")));
}

#[test]
fn down_after_the_table_was_removed_by_hand_says_so_and_finishes() {
    let lab = Lab::new("10.231.25.0/24", false);
    let c = lab.bundle("hand");
    lab.up(&c, &["-p", "8087:80"]);
    sh(
        "ip",
        &[
            "netns", "exec", &lab.host, "nft", "delete", "table", "ip", &lab.table,
        ],
    );
    let out = lab.run(&["--down", c.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("ct-net: ") && err.contains("is gone"),
        "{err}"
    );
    assert!(lab.leases().is_empty());
    assert!(!netns_exists(&lab.ns("hand")));
    let links = lab.links_without_veths();
    assert!(!links.iter().any(|l| l.starts_with("veth")), "{links:?}");
}

#[test]
fn a_stopped_container_gives_back_its_address_and_ports_and_gets_them_again_on_start() {
    let lab = Lab::new("10.231.26.0/24", false);
    let c = lab.bundle("stops");
    let ip = lab.up(&c, &["-p", "8088:80"]);
    let ns = lab.ns("stops");
    // Stop: address, port rule, veth and namespace are given back; config.json and the
    // bundle stay.
    let out = lab.ok(&["--release", c.to_str().unwrap()]);
    assert_eq!(out.trim(), c.to_str().unwrap());
    assert!(lab.leases().is_empty(), "{:?}", lab.leases());
    assert!(lab.port_rules().is_empty());
    assert!(!netns_exists(&ns));
    let links = lab.links_without_veths();
    assert!(!links.iter().any(|l| l.starts_with("veth")), "{links:?}");
    assert!(c.join(ct_net::RELEASED).exists() && !c.join("net.json").exists());
    // Released twice is fine; meanwhile another container may publish the same port.
    lab.ok(&["--release", c.to_str().unwrap()]);
    // Another container meanwhile gets the address given back.
    let other = lab.bundle("other");
    assert_eq!(lab.up(&other, &["-p", "8089:80"]), ip);
    // Start: the same network and port; the old address is taken, so another one.
    let out = lab.ok(&["--renew", c.to_str().unwrap()]);
    assert_eq!(out.trim(), c.to_str().unwrap());
    let second = address(&c).unwrap();
    assert_ne!(second, ip);
    assert_eq!(lab.leases().len(), 2);
    // Stopped and started with nobody in between: the same address again.
    lab.ok(&["--release", c.to_str().unwrap()]);
    assert_eq!(lab.leases().len(), 1);
    lab.ok(&["--renew", c.to_str().unwrap()]);
    assert_eq!(address(&c), Some(second));
    assert!(netns_exists(&ns));
    let rules = lab.port_rules();
    assert!(rules.iter().any(|r| r.contains("dport 8088")), "{rules:?}");
    assert!(!c.join(ct_net::RELEASED).exists());
    // Renewing a wired container does nothing; --down removes it all.
    lab.ok(&["--renew", c.to_str().unwrap()]);
    lab.down(&c);
    lab.down(&other);
    assert!(lab.leases().is_empty() && lab.port_rules().is_empty());
}

/// A network whose bridge was deleted (by `ct network rm`, or by hand) and that leases nothing
/// leaves only its record behind; the next network of that name is made anew, with the subnet
/// it asks for, not refused for the old one's.
#[test]
fn a_network_whose_bridge_was_deleted_is_made_anew_with_another_subnet() {
    let lab = Lab::new("10.231.27.0/24", false);
    let b = lab.bundle("first");
    lab.up(&b, &[]);
    lab.down(&b);
    lab.ip(&["link", "del", &lab.bridge]);
    let b2 = lab.bundle("second");
    let out = lab.run(&["--subnet", "10.231.28.0/24", b2.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "the stale record refused the new network: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ip = address(&b2).unwrap();
    assert_eq!(ip.octets()[..3], [10, 231, 28], "{ip}");
    lab.down(&b2);
}
