//! ct-net with its defaults, as a new user runs it: in the machine's own network namespace,
//! no `--bridge`/`--subnet`/`--nft-table` and no CT_NET_* variables, so the bridge `ct0`, the
//! subnet 10.66.0.0/16 and the table `ctnet` are the host's real ones. Those are host-global:
//! tests that use them take the file lock [`LOCK`] first, and a guard removes, even when the
//! test fails, the container's network and whatever of bridge, table and records the test
//! made (what existed before is left alone).

mod lab;

use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ct_layout::lock::Lock;
use lab::{netns_exists, tcp_server, DirRef, Sandbox};

/// Held by every test that uses the host's default network.
const LOCK: &str = "/run/ct-net-default-network.test.lock";

const BIN: &str = env!("CARGO_BIN_EXE_ct-net");

fn ct_net(root: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("CT_ROOT", root.join("root"))
        .env("CT_RUN", root.join("run"))
        .env_remove("CT_NET_BRIDGE")
        .env_remove("CT_NET_SUBNET")
        .env_remove("CT_NET_TABLE")
        .env_remove("CNI_COMMAND")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn nft(args: &[&str]) -> Output {
    Command::new("nft").args(args).output().unwrap()
}

fn bridge_exists() -> bool {
    Path::new("/sys/class/net/ct0").exists()
}

fn table_exists() -> bool {
    nft(&["list", "table", "ip", "ctnet"]).status.success()
}

/// Undoes the test's container and, if they were new, the bridge, table and records.
struct Defaults {
    /// The sandbox's temp dir; the sandbox removes it after `Defaults::drop`.
    root: DirRef,
    _sb: Sandbox,
    bundle: PathBuf,
    had_bridge: bool,
    had_table: bool,
    had_records: bool,
    had_dir: bool,
    _lock: Lock,
}

impl Defaults {
    fn new() -> Defaults {
        let lock = Lock::exclusive(LOCK).expect("test lock");
        let sb = Sandbox::with_prefix("ct-net-defaults-");
        let root = sb.dir_ref();
        let bundle = root.path().join("root/containers/webdefault");
        fs::create_dir_all(&bundle).unwrap();
        let config = serde_json::json!({
            "ociVersion": "1.0.2",
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "root": {"path": "rootfs"},
            "hostname": "webdefault",
            "linux": {"namespaces": [{"type": "network"}]}
        });
        fs::write(bundle.join("config.json"), config.to_string()).unwrap();
        Defaults {
            had_bridge: bridge_exists(),
            had_table: table_exists(),
            had_records: ct_net::lease::host_dir().join("ct0").exists(),
            had_dir: ct_net::lease::host_dir().exists(),
            root,
            _sb: sb,
            bundle,
            _lock: lock,
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        ct_net(self.root.path(), args)
    }

    fn netns(&self) -> String {
        let tag = ct_net::lease::store_tag(&self.root.path().join("root"));
        ct_net::netns::name_for(&tag, "webdefault")
    }
}

impl Drop for Defaults {
    fn drop(&mut self) {
        let _ = self.run(&["--down", self.bundle.to_str().unwrap()]);
        if netns_exists(&self.netns()) {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.netns()])
                .output();
        }
        if !self.had_table {
            let _ = nft(&["delete", "table", "ip", "ctnet"]);
        }
        if !self.had_bridge {
            let _ = Command::new("ip").args(["link", "del", "ct0"]).output();
        }
        if !self.had_records {
            let _ = fs::remove_dir_all(ct_net::lease::host_dir().join("ct0"));
        }
        let dir = ct_net::lease::host_dir();
        if !self.had_dir && dir != Path::new(ct_net::lease::HOST_DIR) {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// A TCP port nothing on the host listens on.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn the_default_network_publishes_a_port_and_tears_down_leaving_nothing() {
    let d = Defaults::new();
    let port = free_port();
    let mapping = format!("{port}:80");
    let out = d.run(&["-p", &mapping, d.bundle.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let net: serde_json::Value =
        serde_json::from_slice(&fs::read(d.bundle.join("net.json")).unwrap()).unwrap();
    let addr = net["ips"][0]["address"].as_str().unwrap().to_string();
    let host_veth = net["interfaces"][1]["name"].as_str().unwrap().to_string();
    let on_ct0 = || {
        let o = Command::new("ip")
            .args(["-o", "link", "show", "master", "ct0"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).contains(&format!(" {host_veth}@"))
    };
    assert!(on_ct0(), "the host end {host_veth} is a port of ct0");
    assert!(
        addr.starts_with("10.66.") && addr.ends_with("/16"),
        "{addr}"
    );
    assert!(bridge_exists());
    // The README's command works on the default table, and shows the port's DNAT rule.
    let listed = nft(&["list", "table", "ip", "ctnet"]);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let rules = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(rules.contains(&format!("tcp dport {port} dnat")), "{rules}");
    // The server in the container answers on the published port from the host itself,
    // through 127.0.0.1 (DNAT in output, route_localnet, masquerade).
    let ns = d.netns();
    let server = tcp_server(
        &ns,
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, 80)),
        "default network\n",
        1,
    );
    let got = std::thread::spawn(move || {
        use std::io::Read;
        let mut s = std::net::TcpStream::connect_timeout(
            &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            std::time::Duration::from_secs(5),
        )?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok::<_, std::io::Error>(out)
    })
    .join()
    .unwrap()
    .expect("host → 127.0.0.1:PORT");
    assert_eq!(got, "default network\n");
    server.join().unwrap();

    // --down removes exactly what --up made: the rule, the lease, the namespace.
    let out = d.run(&["--down", d.bundle.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rules =
        String::from_utf8_lossy(&nft(&["list", "table", "ip", "ctnet"]).stdout).into_owned();
    assert!(!rules.contains(&format!("dport {port} ")), "{rules}");
    assert!(!netns_exists(&ns));
    let leases = fs::read_to_string(ct_net::lease::host_dir().join("ct0/leases.json"))
        .expect("the default network's leases");
    assert!(!leases.contains("webdefault"), "{leases}");
    // The host end goes with the namespace, in the kernel's own cleanup a few ms after
    // --down (ct-net's background reaper deletes it after 500 ms otherwise).
    let gone = (0..40).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        !on_ct0()
    });
    assert!(gone, "{host_veth} is still on ct0");
    // Nothing answers on the port any more.
    assert!(std::net::TcpStream::connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        std::time::Duration::from_secs(2)
    )
    .is_err());
}
