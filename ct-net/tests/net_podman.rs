//! ct-net as the CNI plugin of a real runtime: podman with `network_backend = "cni"` and a
//! network whose plugin is ct-net — `--ip`, `-p`, `--network a,b` and `podman network
//! inspect`. podman runs in a lab host namespace (`lab/mod.rs`) with its own storage
//! (`--root`, `--runroot`, vfs) and configuration (`CONTAINERS_CONF`), and a rootfs of
//! busybox-static (`--rootfs`), so no image, registry or host network is involved.
//! This machine's constraints are set in that configuration, not worked around in ct-net:
//! runc with cgroupfs (crun refuses hybrid cgroups) and no default ulimits (the sandbox's
//! hard limits are lower than podman's defaults).

mod lab;

use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lab::*;
use serde_json::json;

struct Podman<'a> {
    lab: &'a Lab,
    dir: PathBuf,
}

impl<'a> Podman<'a> {
    fn new(lab: &'a Lab, networks: &[serde_json::Value]) -> Podman<'a> {
        let dir = lab.root.path().join("podman");
        for d in ["cni", "plugins", "rootfs/bin", "rootfs/www"] {
            fs::create_dir_all(dir.join(d)).unwrap();
        }
        fs::copy("/bin/busybox", dir.join("rootfs/bin/busybox")).unwrap();
        for c in ["sh", "ip", "httpd"] {
            std::os::unix::fs::symlink("busybox", dir.join("rootfs/bin").join(c)).unwrap();
        }
        fs::write(dir.join("rootfs/www/index.html"), "served via podman\n").unwrap();
        std::os::unix::fs::symlink(BIN, dir.join("plugins/ct-net")).unwrap();
        let conf = format!(
            "[containers]\ndefault_ulimits = []\n[network]\nnetwork_backend = \"cni\"\n\
             cni_plugin_dirs = [\"{p}\", \"/usr/lib/cni\"]\nnetwork_config_dir = \"{c}\"\n\
             [engine]\ncgroup_manager = \"cgroupfs\"\nruntime = \"runc\"\n",
            p = dir.join("plugins").display(),
            c = dir.join("cni").display()
        );
        fs::write(dir.join("containers.conf"), conf).unwrap();
        for n in networks {
            let name = n["name"].as_str().unwrap();
            fs::write(
                dir.join("cni").join(format!("{name}.conflist")),
                n.to_string(),
            )
            .unwrap();
        }
        Podman { lab, dir }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.lab.host))
            .arg("podman")
            .arg("--root")
            .arg(self.dir.join("root"))
            .arg("--runroot")
            .arg(self.dir.join("runroot"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .env("CONTAINERS_CONF", self.dir.join("containers.conf"))
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn rootfs(&self) -> String {
        self.dir.join("rootfs").display().to_string()
    }
}

impl Drop for Podman<'_> {
    fn drop(&mut self) {
        let _ = self.run(&["rm", "-a", "-f"]);
        // podman's own mounts under its runroot (shm, netns files) go before the lab's dir.
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut ours: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| Path::new(m).starts_with(&self.dir))
            .collect();
        ours.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in ours {
            let _ = Command::new("umount").args(["-l", m]).output();
        }
    }
}

fn network(
    lab: &Lab,
    name: &str,
    bridge: &str,
    subnet: &str,
    default_gw: bool,
) -> serde_json::Value {
    json!({"cniVersion": "1.0.0", "name": name, "plugins": [{
        "type": "ct-net", "bridge": bridge, "subnet": subnet, "nftTable": lab.table,
        "dataDir": lab.store(), "isDefaultGateway": default_gw,
        "capabilities": {"portMappings": true, "ips": true}}]})
}

#[test]
fn podman_with_the_cni_backend_runs_containers_on_ct_net_ip_ports_and_two_networks() {
    let lab = Lab::new("10.231.61.0/24", false);
    let (a, b) = (format!("pa{}", lab.tag), format!("pb{}", lab.tag));
    let bridge_b = format!("ctp{}", lab.tag);
    let pm = Podman::new(
        &lab,
        &[
            network(&lab, &a, &lab.bridge, "10.231.61.0/24", true),
            network(&lab, &b, &bridge_b, "10.231.62.0/24", false),
        ],
    );
    let rootfs = pm.rootfs();
    let run = |extra: &[&str], cmd: &[&str]| {
        let mut args = vec!["run", "--rm", "--ulimit", "host"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--rootfs", &rootfs]);
        args.extend_from_slice(cmd);
        pm.ok(&args)
    };

    // podman network inspect reads the network and its plugin.
    let inspect: serde_json::Value =
        serde_json::from_str(&pm.ok(&["network", "inspect", &a])).unwrap();
    assert_eq!(inspect[0]["name"], a.as_str());
    assert_eq!(inspect[0]["driver"], "ct-net");

    // --ip: the address asked for.
    let out = run(
        &["--network", &a, "--ip", "10.231.61.9"],
        &["/bin/ip", "-4", "-o", "addr", "show", "eth0"],
    );
    assert!(out.contains("10.231.61.9/24"), "{out}");
    assert!(lab.leases().is_empty(), "--rm released the lease");

    // --network a,b: one interface on each (podman picks which is eth0 and which eth1: the
    // order varies between runs), the default route only through a's (isDefaultGateway), b's
    // interface with its subnet route only.
    let out = run(
        &["--network", &format!("{a},{b}")],
        &["/bin/sh", "-c", "ip -4 -o addr; ip route"],
    );
    let dev_of = |addr: &str| {
        out.lines()
            .find(|l| l.contains(addr))
            .and_then(|l| l.split_whitespace().nth(1))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no {addr} in {out}"))
    };
    let (dev_a, dev_b) = (dev_of("10.231.61.2/24"), dev_of("10.231.62.2/24"));
    assert_ne!(dev_a, dev_b, "{out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("default")).count(),
        1,
        "{out}"
    );
    assert!(
        out.contains(&format!("default via 10.231.61.1 dev {dev_a}")),
        "{out}"
    );
    assert!(
        out.contains(&format!("10.231.62.0/24 dev {dev_b}")),
        "{out}"
    );

    // -p: the published port answers from the lab host, 127.0.0.1 included.
    let name = format!("web{}", lab.tag);
    pm.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--ulimit",
        "host",
        "--network",
        &a,
        "-p",
        "8090:80",
        "--rootfs",
        &rootfs,
        "/bin/httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    let mut got = Err(std::io::Error::other("not tried"));
    for _ in 0..50 {
        got = tcp_request(
            &lab.host,
            SocketAddr::from((Ipv4Addr::LOCALHOST, 8090)),
            "GET / HTTP/1.0\r\n\r\n",
        );
        if got.as_ref().is_ok_and(|g| g.contains("served via podman")) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let got = got.expect("host → 127.0.0.1:8090");
    assert!(got.contains("served via podman"), "{got}");
    assert_eq!(lab.port_rules().len(), 1);
    pm.ok(&["rm", "-f", &name]);
    assert!(lab.leases().is_empty(), "{:?}", lab.leases());
    assert!(lab.port_rules().is_empty());
    let _ = fs::remove_dir_all(lab.records().join(&bridge_b));
}
