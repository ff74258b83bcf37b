//! `--network pasta` and `--network slirp4netns` (podman's names) as root: the container gets
//! its own network namespace connected by that user-mode helper instead of a veth on the
//! bridge — no lease, no nftables rule — with `-p` published by the helper's own listening
//! socket; `ct rm` stops the helper and leaves no namespace. (As a user the same modes are
//! tested in rootless_ct_net.rs.)

use std::net::TcpListener;

use ct_tests::sandbox::{http_get, stdout, wait_for, Sandbox};

/// The pids of live (not zombie) processes whose command matches `name` (pgrep -x).
fn live(name: &str) -> Vec<String> {
    let out = std::process::Command::new("pgrep")
        .args(["-x", name])
        .output()
        .unwrap();
    stdout(&out)
        .split_whitespace()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
                !s.lines()
                    .any(|l| l.starts_with("State:") && l.contains('Z'))
            })
        })
        .map(String::from)
        .collect()
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn network_pasta_and_slirp4netns_publish_a_port_and_rm_leaves_nothing() {
    let ct = Sandbox::new();
    ct.local_busybox("localhost/umn:1");
    let serve = "mkdir -p /w && echo hi-from-$0 > /w/index.html && exec httpd -f -p 80 -h /w";

    for (mode, process) in [
        ("slirp4netns", "slirp4netns"),
        ("pasta", "pasta|passt|passt.avx2"),
    ] {
        let before = live(process);
        let port = free_port();
        let p = format!("127.0.0.1:{port}:80");
        let name = format!("umn-{mode}");
        ct.ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            mode,
            "-p",
            &p,
            "localhost/umn:1",
            "sh",
            "-c",
            serve,
            mode,
        ]);
        let rec: serde_json::Value = serde_json::from_slice(
            &std::fs::read(ct.root.join("containers").join(&name).join("net.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(rec["userNet"]["program"], mode, "{rec}");
        let got = wait_for(10, || http_get(port).filter(|b| !b.is_empty()));
        assert_eq!(got.as_deref(), Some(&*format!("hi-from-{mode}\n")));
        // No bridge side: the helper's own socket serves the port.
        assert!(ct.bridge_ports().trim().is_empty(), "{}", ct.bridge_ports());

        ct.ok(&["rm", "-f", &name]);
        assert!(ct.netns().is_empty(), "no namespace left: {:?}", ct.netns());
        let after = live(process);
        let left: Vec<_> = after.iter().filter(|p| !before.contains(p)).collect();
        assert!(left.is_empty(), "{mode} stopped by rm: {left:?}");
        assert!(
            TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "the port is free again"
        );
    }
}
