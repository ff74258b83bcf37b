//! ct-net against real namespaces, veths, a bridge and nftables (run as root). Each test works
//! in its own lab (`lab/mod.rs`): a fresh host namespace, its own CT_ROOT, bridge, subnet and
//! table, and for NAT tests an "outside host" namespace on 192.0.2.0/24 (TEST-NET-1) that
//! stands in for the internet. No packet leaves these namespaces.

mod lab;

use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Stdio;

use lab::*;

fn sa(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

fn json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(path).expect("read json")).expect("parse json")
}

#[test]
fn two_containers_reach_each_other_and_the_gateway() {
    let lab = Lab::new("10.231.1.0/24", false);
    let a = lab.bundle("a");
    let b = lab.bundle("b");
    let ip_a = lab.up(&a, &[]);
    let ip_b = lab.up(&b, &[]);
    assert_eq!(ip_a, Ipv4Addr::new(10, 231, 1, 2));
    assert_eq!(ip_b, Ipv4Addr::new(10, 231, 1, 3));
    let gw = Ipv4Addr::new(10, 231, 1, 1);
    let (ida, idb) = (lab.id("a"), lab.id("b"));
    let (nsa, nsb) = (lab.nsof(&ida), lab.nsof(&idb));

    // Visible to `ip netns`, eth0 with the address, lo up, default route via the gateway.
    let list = sh("ip", &["netns", "list"]);
    assert!(
        list.lines()
            .any(|l| l.split_whitespace().next() == Some(nsa.as_str())),
        "{list}"
    );
    let addr = sh(
        "ip",
        &["-n", &nsa, "-4", "-o", "addr", "show", "dev", "eth0"],
    );
    assert!(addr.contains("10.231.1.2/24"), "{addr}");
    let lo = sh("ip", &["-n", &nsa, "-o", "link", "show", "lo"]);
    assert!(lo.contains("UP") || lo.contains("UNKNOWN"), "{lo}");
    let route = sh("ip", &["-n", &nsa, "route", "show", "default"]);
    assert!(route.contains("via 10.231.1.1 dev eth0"), "{route}");
    // The host end is a port of the bridge, which holds the gateway address.
    let ports = lab.ip(&["-o", "link", "show", "master", &lab.bridge]);
    assert_eq!(ports.lines().count(), 2, "{ports}");
    assert!(lab
        .ip(&["-4", "-o", "addr", "show", "dev", &lab.bridge])
        .contains("10.231.1.1/24"));

    assert!(ping(&nsa, ip_b), "a cannot reach b");
    assert!(ping(&nsb, ip_a), "b cannot reach a");
    assert!(ping(&nsa, gw), "a cannot reach the gateway");

    // config.json joins the namespace and mounts the bundle's /etc files.
    let cfg = json(&a.join("config.json"));
    let nets: Vec<_> = cfg["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["type"] == "network")
        .collect();
    assert_eq!(nets.len(), 1);
    assert_eq!(nets[0]["path"], format!("/run/netns/{}", lab.nsof(&ida)));
    for f in ["hosts", "hostname", "resolv.conf"] {
        let src = a.join(f);
        assert!(src.is_file(), "{f}");
        assert!(cfg["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["destination"] == format!("/etc/{f}")
                && m["source"] == src.to_str().unwrap()
                && m["type"] == "bind"));
    }
    assert!(fs::read_to_string(a.join("hosts"))
        .unwrap()
        .contains("10.231.1.2\ta\n"));
    assert_eq!(fs::read_to_string(a.join("hostname")).unwrap(), "a\n");
    let r = json(&a.join("net.json"));
    assert_eq!(r["cniVersion"], "1.0.0");
    assert_eq!(r["ips"][0]["address"], "10.231.1.2/24");
    assert_eq!(r["ips"][0]["gateway"], "10.231.1.1");
    let i = r["ips"][0]["interface"].as_u64().unwrap() as usize;
    assert_eq!(r["interfaces"][i]["name"], "eth0");
    assert_eq!(
        r["interfaces"][i]["sandbox"],
        format!("/run/netns/{}", lab.nsof(&ida))
    );
    assert_eq!(r["routes"][0]["dst"], "0.0.0.0/0");
    assert!(r["portMappings"].as_array().unwrap().is_empty());

    lab.down(&a);
    lab.down(&b);
    assert!(!netns_exists(&lab.nsof(&ida)) && !netns_exists(&lab.nsof(&idb)));
}

#[test]
fn masquerade_hides_the_container_from_the_outside_host() {
    let lab = Lab::new("10.231.2.0/24", true);
    let c = lab.bundle("c");
    lab.up(&c, &[]);
    let outside = lab.outside.clone().unwrap();
    let server = tcp_server(&outside, sa(Lab::OUTSIDE, 9000), "hello from outside\n", 1);
    let got = tcp_get(&lab.ns("c"), sa(Lab::OUTSIDE, 9000)).expect("container reaches outside");
    assert_eq!(got, "hello from outside\n");
    let peers = server.join().unwrap();
    assert_eq!(peers.len(), 1);
    assert_eq!(
        peers[0].ip(),
        Lab::HOST_UPLINK,
        "the outside host must see the host's address, not the container's"
    );
    // Forwarding was switched on in the (lab) host namespace.
    let fwd = sh(
        "ip",
        &[
            "netns",
            "exec",
            &lab.host,
            "cat",
            "/proc/sys/net/ipv4/ip_forward",
        ],
    );
    assert_eq!(fwd.trim(), "1");
    // Without the masquerade rule the outside host could not answer (it has no route back).
    sh(
        "ip",
        &[
            "netns",
            "exec",
            &lab.host,
            "nft",
            "flush",
            "chain",
            "ip",
            &lab.table,
            "postrouting",
        ],
    );
    assert!(tcp_get(&lab.ns("c"), sa(Lab::OUTSIDE, 9000)).is_err());
    // A table that vanished (`nft flush ruleset`) is rebuilt by the next ct-net run.
    sh(
        "ip",
        &[
            "netns", "exec", &lab.host, "nft", "delete", "table", "ip", &lab.table,
        ],
    );
    let d = lab.bundle("d");
    lab.up(&d, &[]);
    let server = tcp_server(&outside, sa(Lab::OUTSIDE, 9001), "again\n", 1);
    assert_eq!(
        tcp_get(&lab.ns("d"), sa(Lab::OUTSIDE, 9001)).unwrap(),
        "again\n"
    );
    assert_eq!(server.join().unwrap()[0].ip(), Lab::HOST_UPLINK);
}

#[test]
fn published_ports_answer_from_outside_and_localhost_tcp_and_udp() {
    let lab = Lab::new("10.231.3.0/24", true);
    let c = lab.bundle("web");
    let ip = lab.up(&c, &["-p", "8080:80", "-p", "5353:53/udp"]);
    let id = lab.id("web");
    let outside = lab.outside.clone().unwrap();
    let r = json(&c.join("net.json"));
    assert_eq!(
        r["portMappings"],
        serde_json::json!([
            {"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": ""},
            {"hostPort": 5353, "containerPort": 53, "protocol": "udp", "hostIP": ""}
        ])
    );

    let server = tcp_server(
        &lab.nsof(&id),
        sa(Ipv4Addr::UNSPECIFIED, 80),
        "hello from ct\n",
        2,
    );
    let from_outside = tcp_get(&outside, sa(Lab::HOST_UPLINK, 8080)).expect("outside → host:8080");
    assert_eq!(from_outside, "hello from ct\n");
    let from_lo = tcp_get(&lab.host, sa(Ipv4Addr::LOCALHOST, 8080)).expect("host 127.0.0.1:8080");
    assert_eq!(from_lo, "hello from ct\n");
    let peers = server.join().unwrap();
    assert_eq!(peers.len(), 2);
    // Traffic from other hosts keeps its source; loopback traffic is masqueraded to the gateway.
    assert_eq!(peers[0].ip(), Lab::OUTSIDE);
    assert_eq!(peers[1].ip(), Ipv4Addr::new(10, 231, 3, 1));

    let udp = udp_server(
        &lab.nsof(&id),
        sa(Ipv4Addr::UNSPECIFIED, 53),
        "udp from ct",
        2,
    );
    let a = udp_ask(
        &outside,
        sa(Ipv4Addr::UNSPECIFIED, 0),
        sa(Lab::HOST_UPLINK, 5353),
    )
    .expect("udp outside");
    assert_eq!(a, "udp from ct");
    let b = udp_ask(
        &lab.host,
        sa(Ipv4Addr::LOCALHOST, 0),
        sa(Ipv4Addr::LOCALHOST, 5353),
    )
    .expect("udp 127.0.0.1");
    assert_eq!(b, "udp from ct");
    assert!(!udp.join().unwrap().is_empty());

    // A port published on one host address only answers there.
    let d = lab.bundle("only-lo");
    lab.up(&d, &["-p", "127.0.0.1:8081:80"]);
    let s2 = tcp_server(
        &lab.ns("only-lo"),
        sa(Ipv4Addr::UNSPECIFIED, 80),
        "lo only\n",
        1,
    );
    assert!(tcp_get(&outside, sa(Lab::HOST_UPLINK, 8081)).is_err());
    assert_eq!(
        tcp_get(&lab.host, sa(Ipv4Addr::LOCALHOST, 8081)).unwrap(),
        "lo only\n"
    );
    s2.join().unwrap();

    lab.down(&c);
    assert_eq!(lab.port_rules().len(), 1, "only only-lo's rule is left");
    assert!(tcp_get(&lab.host, sa(Ipv4Addr::LOCALHOST, 8080)).is_err());
    let _ = ip;
}

#[test]
fn busybox_httpd_in_a_container_answers_on_a_published_port() {
    let lab = Lab::new("10.231.12.0/24", true);
    let c = lab.bundle("httpd");
    lab.up(&c, &["-p", "8000:80"]);
    let www = lab.root.path().join("www");
    fs::create_dir_all(&www).unwrap();
    fs::write(www.join("index.html"), "served by busybox httpd\n").unwrap();
    let _httpd = Server::start(
        &lab.ns("httpd"),
        &[
            "busybox",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            www.to_str().unwrap(),
        ],
    );
    let req = "GET /index.html HTTP/1.0\r\n\r\n";
    // Bounded wait for httpd to listen.
    let mut answer = Err(std::io::Error::other("never tried"));
    for _ in 0..50 {
        answer = tcp_request(&lab.host, sa(Ipv4Addr::LOCALHOST, 8000), req);
        if answer.is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let answer = answer.expect("httpd via 127.0.0.1:8000");
    assert!(answer.contains("served by busybox httpd"), "{answer}");
    let outside = lab.outside.clone().unwrap();
    let answer =
        tcp_request(&outside, sa(Lab::HOST_UPLINK, 8000), req).expect("httpd from outside");
    assert!(answer.contains("served by busybox httpd"), "{answer}");
}

#[test]
fn containers_reach_published_ports_through_the_host_address() {
    let lab = Lab::new("10.231.13.0/24", true);
    let web = lab.bundle("web");
    let cli = lab.bundle("client");
    lab.up(&web, &["-p", "8080:80"]);
    lab.up(&cli, &[]);
    let server = tcp_server(&lab.ns("web"), sa(Ipv4Addr::UNSPECIFIED, 80), "hi\n", 2);
    // Another container, through the host's address: answered via the host, not directly.
    let a = tcp_get(&lab.ns("client"), sa(Lab::HOST_UPLINK, 8080)).expect("client → host:8080");
    assert_eq!(a, "hi\n");
    // The container itself (hairpin: out of and back into the same bridge port).
    let b = tcp_get(&lab.ns("web"), sa(Lab::HOST_UPLINK, 8080)).expect("web → its own port");
    assert_eq!(b, "hi\n");
    let peers = server.join().unwrap();
    assert_eq!(peers.len(), 2);
    assert!(
        peers
            .iter()
            .all(|p| p.ip() == Ipv4Addr::new(10, 231, 13, 1)),
        "{peers:?}"
    );
}

#[test]
fn twenty_concurrent_runs_get_twenty_distinct_addresses() {
    let lab = Lab::new("10.231.4.0/24", false);
    let bundles: Vec<_> = (0..20).map(|i| lab.bundle(&format!("p{i}"))).collect();
    let children: Vec<_> = bundles
        .iter()
        .map(|b| {
            lab.cmd()
                .arg(b)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut ips: Vec<Ipv4Addr> = bundles
        .iter()
        .map(|b| address(b).expect("address"))
        .collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 20, "{ips:?}");
    assert_eq!(lab.leases().len(), 20);
    // Each address is really configured in its own namespace.
    for (i, b) in bundles.iter().enumerate() {
        let a = address(b).unwrap().to_string();
        let out = sh(
            "ip",
            &[
                "-n",
                &lab.ns(&format!("p{i}")),
                "-4",
                "-o",
                "addr",
                "show",
                "dev",
                "eth0",
            ],
        );
        assert!(out.contains(&a), "{out}");
    }
}

#[test]
fn hundred_create_teardown_cycles_leave_nothing_behind() {
    let lab = Lab::new("10.231.5.0/24", false);
    let c = lab.bundle("cycle");
    let id = lab.id("cycle");
    // The first run makes the network (bridge, table): that stays, like docker0.
    lab.up(&c, &["-p", "9090:90/udp"]);
    lab.down(&c);
    let links = lab.links_without_veths();
    assert!(links.contains(&lab.bridge));
    let config = fs::read(c.join("config.json")).unwrap();
    for i in 0..100 {
        let ip = lab.up(&c, &["-p", "9090:90/udp", "-p", "9091:91"]);
        assert_eq!(
            ip,
            Ipv4Addr::new(10, 231, 5, 2),
            "cycle {i}: lease not released"
        );
        lab.down(&c);
    }
    assert_eq!(lab.links_until(|l| l == links), links, "links left behind");
    assert!(!netns_exists(&lab.nsof(&id)), "namespace left behind");
    assert!(
        lab.leases().is_empty(),
        "leases left behind: {:?}",
        lab.leases()
    );
    assert!(
        lab.port_rules().is_empty(),
        "rules left behind: {:?}",
        lab.port_rules()
    );
    for f in ["net.json", "hosts", "hostname", "resolv.conf"] {
        assert!(!c.join(f).exists(), "{f} left behind");
    }
    let after: serde_json::Value =
        serde_json::from_slice(&fs::read(c.join("config.json")).unwrap()).unwrap();
    let before: serde_json::Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(after["mounts"], before["mounts"]);
}

#[test]
fn down_is_idempotent_and_finishes_a_half_built_network() {
    let lab = Lab::new("10.231.6.0/24", false);
    let c = lab.bundle("half");
    let id = lab.id("half");
    // Never wired: nothing to do, still fine.
    lab.down(&c);
    lab.up(&c, &["-p", "7070:70"]);
    // As if ct-net had crashed before writing its results.
    fs::remove_file(c.join("net.json")).unwrap();
    lab.down(&c);
    assert!(!netns_exists(&lab.nsof(&id)));
    assert!(lab.leases().is_empty());
    assert!(lab.port_rules().is_empty());
    assert_eq!(
        lab.links_without_veths()
            .iter()
            .filter(|l| l.starts_with("veth"))
            .count(),
        0
    );
    lab.down(&c);
    // A netns left by a crash is reported, not taken over; --down by id clears it.
    sh("ip", &["netns", "add", &lab.nsof(&id)]);
    let out = lab.run(&[c.to_str().unwrap()]);
    let e = one_line_error(&out);
    assert!(e.contains("already exists"), "{e}");
    lab.ok(&["--down", &id]);
    assert!(!netns_exists(&lab.nsof(&id)));
    lab.up(&c, &[]);
    lab.down(&c);

    // The state a crash between "lease recorded, port rule added" and "veth made" leaves:
    // a namespace, a lease with its ports, a tagged rule, no net.json, config untouched —
    // as an older ct-net recorded it: in the store, without store tag, the old rule comment.
    sh("ip", &["netns", "add", &lab.nsof(&id)]);
    let leases = lab
        .store()
        .join("net")
        .join(&lab.bridge)
        .join("leases.json");
    fs::create_dir_all(leases.parent().unwrap()).unwrap();
    fs::copy(
        lab.net_dir().join("network.json"),
        leases.with_file_name("network.json"),
    )
    .unwrap();
    let lease = serde_json::json!({"10.231.6.9": {"owner": id, "ifname": "eth0",
        "hostVeth": "vethdeadbeef000", "netns": format!("/run/netns/{}", lab.nsof(&id)),
        "ports": [{"hostPort": 7071, "containerPort": 71, "protocol": "tcp", "hostIP": ""}]}});
    fs::write(&leases, lease.to_string()).unwrap();
    let comment = format!("\"ct:{id}/eth0\"");
    sh(
        "ip",
        &[
            "netns",
            "exec",
            &lab.host,
            "nft",
            "add",
            "rule",
            "ip",
            &lab.table,
            "ports",
            "tcp",
            "dport",
            "7071",
            "dnat",
            "to",
            "10.231.6.9:71",
            "comment",
            &comment,
        ],
    );
    assert_eq!(lab.port_rules().len(), 1);
    lab.down(&c);
    assert!(!netns_exists(&lab.nsof(&id)));
    assert!(lab.leases().is_empty());
    assert!(lab.port_rules().is_empty());
}

#[test]
fn network_none_and_host() {
    let lab = Lab::new("10.231.7.0/24", false);
    let n = lab.bundle("none");
    lab.ok(&["--network", "none", n.to_str().unwrap()]);
    let id = lab.id("none");
    let links = sh("ip", &["-n", &lab.nsof(&id), "-o", "link", "show"]);
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(links.contains("lo:") && links.contains("UP"), "{links}");
    assert!(address(&n).is_none());
    assert!(
        !lab.links().contains(&lab.bridge),
        "none must not make a bridge"
    );
    lab.down(&n);
    assert!(!netns_exists(&lab.nsof(&id)));

    let h = lab.bundle("host");
    lab.ok(&["--network", "host", h.to_str().unwrap()]);
    let cfg = json(&h.join("config.json"));
    assert!(!cfg["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["type"] == "network"));
    assert!(!netns_exists(&lab.ns("host")));
    assert!(h.join("resolv.conf").is_file());
    let out = lab.run(&["--network", "host", "-p", "80:80", h.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn asked_for_address() {
    let lab = Lab::new("10.231.8.0/24", false);
    let a = lab.bundle("a");
    let b = lab.bundle("b");
    assert_eq!(
        lab.up(&a, &["--ip", "10.231.8.77"]),
        Ipv4Addr::new(10, 231, 8, 77)
    );
    let out = lab.run(&["--ip", "10.231.8.77", b.to_str().unwrap()]);
    let e = one_line_error(&out);
    assert!(e.contains("10.231.8.77 is already leased"), "{e}");
    assert!(!netns_exists(&lab.ns("b")));
}

#[test]
fn bad_input_gives_one_line_and_leaves_nothing() {
    let lab = Lab::new("10.231.9.0/24", true);
    // Unknown bundle.
    let out = lab.run(&["/nonexistent/bundle"]);
    let e = one_line_error(&out);
    assert!(
        e.starts_with("ct-net: no bundle '/nonexistent/bundle'"),
        "{e}"
    );
    assert_eq!(out.status.code(), Some(1));
    // Teardown of what is not there succeeds, with a one-line notice.
    let out = lab.run(&["--down", "no-such-container"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ct-net: no bundle 'no-such-container' and no network of it: nothing to tear down\n"
    );
    // Malformed flags are usage errors (`-p 80` is not: it picks a free host port).
    let out = lab.run(&["-p", "80/sctp", "x"]);
    assert_eq!(out.status.code(), Some(2));
    let out = lab.run(&["--subnet", "10.1.2.3/16", "x"]);
    assert_eq!(out.status.code(), Some(2));

    let first = lab.bundle("first");
    lab.up(&first, &["-p", "8080:80"]);
    let links = lab.links();
    let leases = lab.leases();
    let rules = lab.port_rules();
    let check_untouched = |b: &std::path::Path, name: &str| {
        assert!(!netns_exists(&lab.ns(name)), "{name}: netns left");
        assert!(!b.join("net.json").exists(), "{name}: net.json left");
        assert!(!b.join("hosts").exists(), "{name}: hosts left");
        let cfg = json(&b.join("config.json"));
        assert!(cfg.get("mounts").is_none(), "{name}: config changed");
        assert_eq!(
            lab.links_until(|l| l == links),
            links,
            "{name}: links changed"
        );
        assert_eq!(lab.leases(), leases, "{name}: leases changed");
        assert_eq!(lab.port_rules(), rules, "{name}: rules changed");
    };

    // Port already published (tcp 8080 by `first`).
    let b = lab.bundle("dup-port");
    let out = lab.run(&["-p", "8080:81", b.to_str().unwrap()]);
    let e = one_line_error(&out);
    assert!(
        e.contains("port 8080:81/tcp is already published by"),
        "{e}"
    );
    check_untouched(&b, "dup-port");

    // Overlapping subnet: with ct's own network, and with an address of the host.
    let b = lab.bundle("overlap");
    let out = lab.run(&[
        "--bridge",
        &format!("ctv{}", lab.tag),
        "--subnet",
        "10.231.9.128/25",
        b.to_str().unwrap(),
    ]);
    let e = one_line_error(&out);
    assert!(
        e.contains("subnet 10.231.9.128/25 overlaps ct network"),
        "{e}"
    );
    check_untouched(&b, "overlap");
    let out = lab.run(&[
        "--bridge",
        &format!("ctv{}", lab.tag),
        "--subnet",
        "192.0.2.0/24",
        b.to_str().unwrap(),
    ]);
    let e = one_line_error(&out);
    assert!(
        e.contains("overlaps address 192.0.2.1/24 of this host"),
        "{e}"
    );
    check_untouched(&b, "overlap");
    assert!(!lab
        .store()
        .join("net")
        .join(format!("ctv{}", lab.tag))
        .join("network.json")
        .exists());

    // Exhausted pool: a /30 has one address for containers.
    let tiny = format!("ctx{}", lab.tag);
    let t1 = lab.bundle("tiny1");
    lab.up(&t1, &["--bridge", &tiny, "--subnet", "10.231.10.0/30"]);
    let links = lab.links();
    let t2 = lab.bundle("tiny2");
    let out = lab.run(&[
        "--bridge",
        &tiny,
        "--subnet",
        "10.231.10.0/30",
        t2.to_str().unwrap(),
    ]);
    let e = one_line_error(&out);
    assert!(
        e.contains("address pool 10.231.10.0/30 is exhausted"),
        "{e}"
    );
    assert!(!netns_exists(&lab.ns("tiny2")));
    assert!(!t2.join("net.json").exists());
    assert_eq!(lab.links_until(|l| l == links), links);
}

#[test]
fn cni_add_check_del() {
    let lab = Lab::new("10.231.11.0/24", false);
    let id = format!("cni{}", lab.tag);
    // The runtime makes the namespace; the plugin only wires it. The lab's sandbox deletes it.
    lab.sb.add_netns(&id);
    let netns = format!("/run/netns/{id}");
    let conf = serde_json::json!({
        "cniVersion": "1.0.0", "name": "ctnet", "type": "ct-net",
        "bridge": lab.bridge, "subnet": "10.231.11.0/24", "nftTable": lab.table,
        "dataDir": lab.store(),
        "runtimeConfig": {"portMappings": [{"hostPort": 8088, "containerPort": 80, "protocol": "tcp"}]}
    });
    let cni = |cmd: &str, conf: &serde_json::Value, netns: Option<&str>| {
        let mut c = lab.cmd();
        c.env("CNI_COMMAND", cmd)
            .env("CNI_CONTAINERID", &id)
            .env("CNI_IFNAME", "eth0")
            .env("CNI_PATH", "/usr/lib/cni")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(n) = netns {
            c.env("CNI_NETNS", n);
        }
        let mut child = c.spawn().expect("spawn");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(conf.to_string().as_bytes())
            .unwrap();
        child.wait_with_output().expect("wait")
    };

    let v = cni("VERSION", &serde_json::json!({"cniVersion": "1.0.0"}), None);
    assert!(v.status.success());
    let vj: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
    assert!(vj["supportedVersions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x == "1.0.0"));

    let add = cni("ADD", &conf, Some(&netns));
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stdout)
    );
    let r: serde_json::Value = serde_json::from_slice(&add.stdout).expect("result JSON");
    assert_eq!(r["cniVersion"], "1.0.0");
    assert_eq!(r["ips"][0]["address"], "10.231.11.2/24");
    assert_eq!(r["ips"][0]["gateway"], "10.231.11.1");
    let i = r["ips"][0]["interface"].as_u64().unwrap() as usize;
    assert_eq!(r["interfaces"][i]["sandbox"], netns);
    assert_eq!(r["interfaces"][i]["name"], "eth0");
    let inside = sh(
        "ip",
        &["-n", &id, "-4", "-o", "addr", "show", "dev", "eth0"],
    );
    assert!(inside.contains("10.231.11.2/24"), "{inside}");
    assert_eq!(lab.port_rules().len(), 1);

    let mut with_prev = conf.clone();
    with_prev["prevResult"] = r.clone();
    let check = cni("CHECK", &with_prev, Some(&netns));
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    assert!(check.stdout.is_empty());

    // A second ADD for the same container is refused in the spec's error form.
    let again = cni("ADD", &conf, Some(&netns));
    assert!(!again.status.success());
    let e: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert!(
        e["code"].as_u64().unwrap() >= 100
            && e["msg"].as_str().unwrap().contains("already attached")
    );

    let del = cni("DEL", &conf, Some(&netns));
    assert!(
        del.status.success(),
        "{}",
        String::from_utf8_lossy(&del.stdout)
    );
    assert!(lab.leases().is_empty());
    assert!(lab.port_rules().is_empty());
    let links = sh("ip", &["-n", &id, "-o", "link", "show"]);
    assert!(!links.contains("eth0"), "{links}");
    // DEL is idempotent, also without a namespace.
    assert!(cni("DEL", &conf, Some(&netns)).status.success());
    assert!(cni("DEL", &conf, None).status.success());
    // CHECK now fails, in the spec's form.
    let check = cni("CHECK", &conf, Some(&netns));
    assert!(!check.status.success());
    let e: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(e["cniVersion"], "1.0.0");
    assert!(e["code"].is_u64() && e["msg"].is_string());

    // Bad input: a missing variable, an undecodable config, an unsupported version.
    let e: serde_json::Value = serde_json::from_slice(&cni("ADD", &conf, None).stdout).unwrap();
    assert_eq!(e["code"], 4);
    let mut c = lab.cmd();
    let out = c
        .env("CNI_COMMAND", "ADD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut ch| {
            use std::io::Write;
            ch.stdin.take().unwrap().write_all(b"{not json")?;
            ch.wait_with_output()
        })
        .unwrap();
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["code"], 6);
    let mut old = conf.clone();
    old["cniVersion"] = "9.9.9".into();
    let e: serde_json::Value =
        serde_json::from_slice(&cni("ADD", &old, Some(&netns)).stdout).unwrap();
    assert_eq!(e["code"], 1);
}

/// `--down` leaves the host veth to the kernel's cleanup of the container's namespace and
/// does not wait for it; when something still holds that namespace (here an open fd, as a
/// process left in it would), the pair would stay on the bridge, so a background reaper
/// deletes it within its bound. And the same container attached again at once, while its
/// old host end (same name) still waits for that, gets a new pair instead of "File exists".
#[test]
fn a_host_veth_whose_namespace_is_held_still_goes_and_its_name_can_be_reused() {
    let lab = Lab::new("10.231.27.0/24", false);
    let c = lab.bundle("held");
    let ns = lab.ns("held");
    let ip = lab.up(&c, &[]);
    let host_veth = |l: &[String]| l.iter().any(|n| n.starts_with("veth"));
    assert!(host_veth(&lab.links()));
    let hold = fs::File::open(format!("/run/netns/{ns}")).unwrap();
    lab.down(&c);
    assert!(!netns_exists(&ns));
    assert!(lab.leases().is_empty());
    // Held, the namespace (and its half of the pair) lives on: only the reaper takes it.
    let links = lab.links_without_veths();
    assert!(
        !host_veth(&links),
        "the host end outlived the reaper: {links:?}"
    );
    // Again, and up again right away: the old end has the new one's name.
    assert_eq!(lab.up(&c, &[]), ip);
    drop(hold);
    let hold = fs::File::open(format!("/run/netns/{ns}")).unwrap();
    lab.down(&c);
    assert_eq!(
        lab.up(&c, &[]),
        ip,
        "attached again while the old end lingered"
    );
    let veths: Vec<String> = lab
        .links()
        .into_iter()
        .filter(|n| n.starts_with("veth"))
        .collect();
    assert_eq!(veths.len(), 1, "{veths:?}");
    lab.down(&c);
    drop(hold);
    assert!(!host_veth(&lab.links_without_veths()));
}
