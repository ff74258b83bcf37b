//! Leases and address picking on sample networks.

use super::*;

fn lease(owner: &str) -> Lease {
    Lease {
        owner: owner.into(),
        ifname: "eth0".into(),
        host_veth: "vethx".into(),
        netns: "/run/netns/x".into(),
        ip6: None,
        ports: vec!["8080:80".parse().unwrap()],
        store: "s1".into(),
        rule_tag: String::new(),
        proxies: Vec::new(),
    }
}

#[test]
fn picks_lowest_free_then_exhausts() {
    let net: Subnet = "10.9.0.0/29".parse().unwrap(); // .2 .. .6 usable
    let mut leases = Leases::new();
    for i in 2..=6u8 {
        let ip = pick(&net, &leases, None).unwrap();
        assert_eq!(ip, Ipv4Addr::new(10, 9, 0, i));
        leases.insert(ip, lease("c"));
    }
    assert!(matches!(
        pick(&net, &leases, None),
        Err(Error::PoolExhausted { .. })
    ));
    leases.remove(&Ipv4Addr::new(10, 9, 0, 4));
    assert_eq!(
        pick(&net, &leases, None).unwrap(),
        Ipv4Addr::new(10, 9, 0, 4)
    );
}

#[test]
fn asked_for_address() {
    let net: Subnet = "10.9.0.0/24".parse().unwrap();
    let mut leases = Leases::new();
    let want = Ipv4Addr::new(10, 9, 0, 77);
    assert_eq!(pick(&net, &leases, Some(want)).unwrap(), want);
    leases.insert(want, lease("a"));
    assert!(matches!(
        pick(&net, &leases, Some(want)),
        Err(Error::IpTaken { .. })
    ));
    for bad in [[10, 9, 0, 1], [10, 9, 0, 0], [10, 9, 0, 255], [10, 8, 0, 5]] {
        assert!(matches!(
            pick(&net, &leases, Some(Ipv4Addr::from(bad))),
            Err(Error::IpOutside { .. })
        ));
    }
}

#[test]
fn store_round_trip_and_lookups() {
    let d = tempfile::tempdir().unwrap();
    let s = NetStore::new(d.path(), "s1");
    let _l = s.lock().unwrap();
    let net = Network {
        bridge: "ctt0".into(),
        subnet: "10.9.0.0/24".parse().unwrap(),
        gateway: Ipv4Addr::new(10, 9, 0, 1),
        nft_table: "ctt".into(),
        subnet6: None,
    };
    s.save_network(&net).unwrap();
    let mut leases = Leases::new();
    leases.insert(Ipv4Addr::new(10, 9, 0, 2), lease("web"));
    s.save_leases("ctt0", &leases).unwrap();
    assert_eq!(s.networks().unwrap(), vec![net.clone()]);
    assert_eq!(s.leases("ctt0").unwrap(), leases);
    let (n, ip, l) = s.find("web", "eth0").unwrap().unwrap();
    assert_eq!(
        (n, ip, l.owner.as_str()),
        (net, Ipv4Addr::new(10, 9, 0, 2), "web")
    );
    assert!(s.find("web", "eth1").unwrap().is_none());
    assert_eq!(
        s.port_conflict(&"8080:81/tcp".parse().unwrap()).unwrap(),
        Some("web".into())
    );
    assert_eq!(
        s.port_conflict(&"8080:81/udp".parse().unwrap()).unwrap(),
        None
    );
}
