//! `ct run -P` publishes every port the image exposes (its config's `ExposedPorts`, which
//! ct-unpack copies to the annotation `org.opencontainers.image.exposedPorts`) on a free host
//! port each, as `docker run -P` does; `ct port` shows where, and the ports answer from the
//! host. `-p CTRPORT` (no host port) picks a free one the same way.

use std::collections::BTreeMap;

use ct_layout::image_layout::ImageLayout;
use ct_tests::image::{busybox_layer, Compression, Image};
use ct_tests::sandbox::{http_get, wait_for, Sandbox};
use serde_json::json;

/// `ct port ID` as {"80/tcp": host port}, checking every line's shape.
fn ports(ct: &Sandbox, id: &str) -> BTreeMap<String, u16> {
    ct.ok(&["port", id])
        .lines()
        .map(|l| {
            let (c, h) = l.split_once(" -> ").expect(l);
            let (_, port) = h.rsplit_once(':').expect(l);
            (c.to_string(), port.parse().expect(l))
        })
        .collect()
}

#[test]
fn run_dash_capital_p_publishes_every_exposed_port_on_a_free_host_port() {
    let ct = Sandbox::new();
    let dir = ct.dir.path().join("layout-exposed");
    let serve = "for p in 80 81; do mkdir -p /w$p; echo port$p > /w$p/index.html; \
                 httpd -p $p -h /w$p; done; exec sleep 60";
    Image::new()
        .layer(busybox_layer(), Compression::Gzip)
        .config(json!({"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
                       "Cmd": ["/bin/sh", "-c", serve],
                       "ExposedPorts": {"80/tcp": {}, "81/tcp": {}, "53/udp": {}}}))
        .write(&ImageLayout::at(&dir), "fixture");
    let img = "localhost/exposed:1";
    ct.ok(&[
        "pull",
        "--tag",
        img,
        &format!("oci:{}:fixture", dir.display()),
    ]);

    let id = ct.ok(&["run", "-d", "-P", img]).trim().to_string();
    let got = ports(&ct, &id);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        ["53/udp", "80/tcp", "81/tcp"],
        "{got:?}"
    );
    assert!(got.values().all(|&p| p != 0), "{got:?}");
    let lines = ct.ok(&["port", &id]);
    assert_eq!(lines.matches(" -> 0.0.0.0:").count(), 3, "{lines}");
    assert_ne!(got["80/tcp"], got["81/tcp"]);
    for c in [80, 81] {
        let host = got[&format!("{c}/tcp")];
        let body = wait_for(10, || http_get(host));
        assert_eq!(body.as_deref(), Some(format!("port{c}\n").as_str()), "{c}");
    }

    // -p CTRPORT next to -P: the explicit mapping is kept, only 80 and 53 get picked ports.
    let explicit = ct_tests::registry::free_port();
    let p81 = format!("127.0.0.1:{explicit}:81");
    let id2 = ct
        .ok(&["run", "-d", "-P", "-p", &p81, "-p", "9/udp", img])
        .trim()
        .to_string();
    let lines = ct.ok(&["port", &id2]);
    assert!(
        lines.contains(&format!("81/tcp -> 127.0.0.1:{explicit}\n")),
        "{lines}"
    );
    assert_eq!(lines.matches("81/tcp").count(), 1, "{lines}");
    for c in ["80/tcp", "53/udp", "9/udp"] {
        assert!(lines.contains(&format!("{c} -> 0.0.0.0:")), "{c}: {lines}");
    }
    let body = wait_for(10, || http_get(explicit));
    assert_eq!(body.as_deref(), Some("port81\n"));
    // No two containers got the same host port.
    let second = ports(&ct, &id2);
    assert_ne!(second["80/tcp"], got["80/tcp"]);
    ct.ok(&["rm", "-f", &id, &id2]);
    let leases = std::fs::read_to_string(ct.leases_file()).unwrap_or_default();
    assert!(!leases.contains(&id) && !leases.contains(&id2), "{leases}");
}

/// The image's `ExposedPorts` is untrusted: a range of tens of thousands of ports (each would
/// take a host port and a rule) or a protocol ct-net cannot publish makes `ct run -P` fail
/// with one line naming it, and nothing is left: no container, namespace, rule or cgroup.
#[test]
fn run_dash_capital_p_refuses_a_hostile_exposed_ports_list_and_leaves_nothing() {
    let ct = Sandbox::new();
    for (tag, exposed, named) in [
        ("range", "1-60000/tcp", "1-60000/tcp"),
        ("sctp", "80/sctp", "80/sctp"),
    ] {
        let dir = ct.dir.path().join(format!("layout-{tag}"));
        Image::new()
            .layer(busybox_layer(), Compression::Gzip)
            .config(json!({"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
                           "Cmd": ["sleep", "60"],
                           "ExposedPorts": {exposed: {}}}))
            .write(&ImageLayout::at(&dir), "fixture");
        let img = format!("localhost/hostile-{tag}:1");
        ct.ok(&[
            "pull",
            "--tag",
            &img,
            &format!("oci:{}:fixture", dir.display()),
        ]);
        let o = ct.out(&["run", "-d", "-P", "--name", tag, &img]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(125), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("ct-net: ") && err.contains(named), "{err}");
        assert!(ct.containers().is_empty(), "{:?}", ct.containers());
        assert!(ct.netns().is_empty(), "{:?}", ct.netns());
        assert!(ct.bridge_ports().trim().is_empty(), "{}", ct.bridge_ports());
        assert!(ct.cgroups_left().is_empty(), "{:?}", ct.cgroups_left());
    }
}
