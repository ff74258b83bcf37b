//! A container stopped and started again gets its address back on a new veth, with a new
//! link-layer (MAC) address. The host must not keep sending to the old veth's MAC, which it
//! learned for that address (its neighbour table, ip-neighbour(8)): ct-net forgets the entry
//! when it hands the address out, so the published port answers at once, not after the entry
//! ages out. (With another container on the bridge, that is: the last port leaving takes the
//! bridge's carrier, and the kernel's entries for it, down.)

use std::process::Command;

use ct_tests::sandbox::{http_get, stdout, wait_for, Sandbox};

/// The MAC the host has for `ip` on `bridge`, if any (`ip neigh show IP dev BRIDGE`).
fn neighbour(ip: &str, bridge: &str) -> Option<String> {
    let out = Command::new("ip")
        .args(["neigh", "show", ip, "dev", bridge])
        .output()
        .unwrap();
    let text = stdout(&out);
    let mut words = text.split_whitespace();
    words.find(|w| *w == "lladdr")?;
    words.next().map(String::from)
}

fn container(ct: &Sandbox, name: &str) -> (String, String) {
    let rec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(ct.root.join("containers").join(name).join("net.json")).unwrap(),
    )
    .unwrap();
    let ip = rec["ips"][0]["address"].as_str().unwrap();
    let mac = rec["interfaces"][2]["mac"].as_str().unwrap();
    (ip.split('/').next().unwrap().to_string(), mac.to_string())
}

#[test]
fn a_restarted_container_answers_on_its_published_port_at_once() {
    let ct = Sandbox::new();
    ct.local_busybox("localhost/again:1");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = format!("127.0.0.1:{port}:80");
    let serve = "mkdir -p /w && echo hello > /w/index.html && exec httpd -f -p 80 -h /w";
    ct.ok(&[
        "run",
        "-d",
        "--name",
        "other",
        "localhost/again:1",
        "sleep",
        "600",
    ]);
    ct.ok(&[
        "run",
        "-d",
        "--name",
        "w",
        "-p",
        &p,
        "localhost/again:1",
        "sh",
        "-c",
        serve,
    ]);
    assert!(wait_for(20, || http_get(port).filter(|b| b.contains("hello"))).is_some());
    let (ip, mac) = container(&ct, "w");
    // Talking to it made the host learn its MAC.
    assert_eq!(neighbour(&ip, &ct.bridge).as_deref(), Some(&*mac));

    ct.ok(&["stop", "-t", "1", "w"]);
    ct.ok(&["start", "w"]);
    let (ip2, mac2) = container(&ct, "w");
    assert_eq!(ip2, ip, "the same address again");
    assert_ne!(mac2, mac, "on a new veth");
    let known = neighbour(&ip, &ct.bridge);
    assert!(
        known.as_deref() != Some(&*mac),
        "the host forgot the old veth's MAC {mac} for {ip}"
    );
    assert!(wait_for(20, || http_get(port).filter(|b| b.contains("hello"))).is_some());
    ct.ok(&["rm", "-f", "w", "other"]);
}
