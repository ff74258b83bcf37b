//! ct-net as a CNI plugin, driven by a real CNI client: `cniclient/main.go`, built here from
//! Debian's libcni sources (the library podman's CNI backend and containerd's go-cni use), and
//! the same cases against Debian's reference `bridge` + `host-local` + `portmap` plugins as the
//! baseline. Debian's libcni (1.1.2) speaks the spec up to 1.0.0; what only 1.1 has (STATUS,
//! GC) and what libcni refuses before calling a plugin (CHECK below 0.4.0) is driven with the
//! exact environment and stdin the CNI spec defines.

mod lab;

use std::fs;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use lab::*;
use serde_json::{json, Value};

/// Build the libcni client once per test binary.
fn client() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cniclient");
            fs::create_dir_all(&dir).unwrap();
            let out = dir.join("cniclient");
            let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cniclient");
            let o = Command::new("go")
                .args(["build", "-o"])
                .arg(&out)
                .arg(".")
                .current_dir(&src)
                .env("GO111MODULE", "off")
                .env("GOPATH", "/usr/share/gocode")
                .env("GOCACHE", dir.join("gocache"))
                .output()
                .expect("go (golang-go) is installed");
            assert!(
                o.status.success(),
                "go build: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            out
        })
        .clone()
}

/// A CNI_PATH with ct-net (as plugin type `ct-net`) and Debian's reference plugins.
fn cni_path(lab: &Lab) -> String {
    let dir = lab.root.path().join("cni-bin");
    if !dir.exists() {
        fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(BIN, dir.join("ct-net")).unwrap();
    }
    format!("{}:/usr/lib/cni", dir.display())
}

/// A runtime-made namespace, deleted when the lab's sandbox drops.
struct Ns(String);
impl Ns {
    fn new(lab: &Lab, name: String) -> Ns {
        lab.sb.add_netns(&name);
        Ns(name)
    }
    fn path(&self) -> String {
        format!("/run/netns/{}", self.0)
    }
}

/// `cniclient CMD CONFLIST ID NETNS IFNAME CAPS CNI_ARGS` in the lab host.
fn libcni(
    lab: &Lab,
    cmd: &str,
    list: &Value,
    id: &str,
    ns: &Ns,
    ifname: &str,
    caps: &Value,
) -> Output {
    let f = lab
        .root
        .path()
        .join(format!("{}.conflist", list["name"].as_str().unwrap()));
    fs::write(&f, list.to_string()).unwrap();
    Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", lab.host))
        .arg(client())
        .args([
            cmd,
            f.to_str().unwrap(),
            id,
            &ns.path(),
            ifname,
            &caps.to_string(),
        ])
        .env("CNI_PATH", cni_path(lab))
        .env("CNICLIENT_CACHE", lab.root.path().join("cni-cache"))
        .env("CT_ROOT", lab.store())
        .env("CT_RUN", lab.root.path().join("run"))
        .output()
        .unwrap()
}

fn ok(o: Output) -> Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    if o.stdout.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&o.stdout).unwrap()
    }
}

fn ctnet_conf(lab: &Lab, bridge: &str, subnet: &str, table: &str) -> Value {
    json!({"type": "ct-net", "bridge": bridge, "subnet": subnet, "nftTable": table,
           "dataDir": lab.store(), "capabilities": {"portMappings": true, "ips": true}})
}

fn reference_confs(lab: &Lab, bridge: &str, subnet: &str) -> Vec<Value> {
    vec![
        json!({"type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": true,
               "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]],
                        "dataDir": lab.root.path().join("host-local"),
                        "routes": [{"dst": "0.0.0.0/0"}]},
               "capabilities": {"ips": true}}),
        json!({"type": "portmap", "capabilities": {"portMappings": true}}),
    ]
}

/// ADD with a static address and a published port, CHECK, the port answers from the lab host,
/// DEL leaves nothing: the same for ct-net and for the reference plugins.
#[test]
fn libcni_add_check_del_with_ips_and_ports_like_the_reference_plugins() {
    let lab = Lab::new("10.231.31.0/24", false);
    let cases = [
        (
            "ctnet",
            vec![ctnet_conf(&lab, &lab.bridge, "10.231.31.0/24", &lab.table)],
            "10.231.31.9",
            8201u16,
        ),
        (
            "reference",
            reference_confs(&lab, &format!("cnr{}", lab.tag), "10.231.32.0/24"),
            "10.231.32.9",
            8202,
        ),
    ];
    for (name, plugins, want, port) in cases {
        let list = json!({"cniVersion": "1.0.0", "name": format!("{name}{}", lab.tag), "plugins": plugins});
        let ns = Ns::new(&lab, format!("cni{}{name}", lab.tag));
        let id = format!("ctr{}{name}", lab.tag);
        let caps = json!({"portMappings": [{"hostPort": port, "containerPort": 80, "protocol": "tcp"}],
                          "ips": [format!("{want}/24")]});
        let r = ok(libcni(&lab, "add", &list, &id, &ns, "eth0", &caps));
        let addr = r["ips"][0]["address"].as_str().unwrap_or_default();
        assert_eq!(addr, format!("{want}/24"), "{name}: {r}");
        assert!(
            r.get("portMappings").is_none(),
            "{name}: portMappings in the CNI result: {r}"
        );
        let inside = sh(
            "ip",
            &["-n", &ns.0, "-4", "-o", "addr", "show", "dev", "eth0"],
        );
        assert!(inside.contains(&format!("{want}/24")), "{name}: {inside}");
        let check = libcni(&lab, "check", &list, &id, &ns, "eth0", &caps);
        if name == "ctnet" {
            ok(check);
        } else {
            // Debian's portmap 1.1.1 CHECKs ip6tables chains it never made here (no IPv6
            // address): its CHECK fails in this lab, so the baseline has no CHECK to match.
            assert!(
                check.status.success() || String::from_utf8_lossy(&check.stderr).contains("ipv6"),
                "{}",
                String::from_utf8_lossy(&check.stderr)
            );
        }
        let server = tcp_server(
            &ns.0,
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, 80)),
            "cni\n",
            1,
        );
        // The published port answers from the host itself, on 127.0.0.1.
        let got = tcp_get(&lab.host, SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
        assert_eq!(
            got.expect("host → 127.0.0.1:PORT").as_str(),
            "cni\n",
            "{name}"
        );
        server.join().unwrap();
        ok(libcni(&lab, "del", &list, &id, &ns, "eth0", &caps));
        let links = sh("ip", &["-n", &ns.0, "-o", "link", "show"]);
        assert!(!links.contains("eth0"), "{name}: {links}");
        // DEL again is fine.
        ok(libcni(&lab, "del", &list, &id, &ns, "eth0", &caps));
    }
    assert!(lab.leases().is_empty());
    assert!(lab.port_rules().is_empty());
}

/// podman `--network a,b`: two networks in one namespace, the second without the default
/// route; and ct-net second in a chain, after the reference `loopback` plugin (prevResult).
#[test]
fn libcni_two_networks_in_one_namespace_and_ct_net_second_in_a_chain() {
    let lab = Lab::new("10.231.33.0/24", false);
    let ns = Ns::new(&lab, format!("cni{}two", lab.tag));
    let id = format!("ctr{}two", lab.tag);
    let a = json!({"cniVersion": "1.0.0", "name": format!("a{}", lab.tag),
        "plugins": [ctnet_conf(&lab, &lab.bridge, "10.231.33.0/24", &lab.table)]});
    let mut second = ctnet_conf(
        &lab,
        &format!("ctc{}", lab.tag),
        "10.231.34.0/24",
        &lab.table,
    );
    second["isDefaultGateway"] = false.into();
    let b = json!({"cniVersion": "1.0.0", "name": format!("b{}", lab.tag),
        "plugins": [{"type": "loopback"}, second]});
    ok(libcni(&lab, "add", &a, &id, &ns, "eth0", &json!({})));
    let rb = ok(libcni(&lab, "add", &b, &id, &ns, "eth1", &json!({})));
    // The chained result: loopback's interface first, ct-net's after it, indexes shifted.
    assert_eq!(rb["interfaces"][0]["name"], "lo", "{rb}");
    let mine = rb["ips"]
        .as_array()
        .unwrap()
        .iter()
        .find(|ip| ip["address"] == "10.231.34.2/24")
        .expect("ct-net's address in the chained result");
    let i = mine["interface"].as_u64().unwrap() as usize;
    assert_eq!(rb["interfaces"][i]["name"], "eth1", "{rb}");
    assert_eq!(rb["ips"][0]["address"], "127.0.0.1/8", "{rb}");
    assert!(rb["routes"].as_array().is_none_or(|r| r.is_empty()), "{rb}");
    let addrs = sh("ip", &["-n", &ns.0, "-4", "-o", "addr", "show"]);
    assert!(
        addrs.contains("10.231.33.2/24") && addrs.contains("10.231.34.2/24"),
        "{addrs}"
    );
    let routes = sh("ip", &["-n", &ns.0, "-4", "route", "show"]);
    assert_eq!(
        routes.lines().filter(|l| l.starts_with("default")).count(),
        1,
        "{routes}"
    );
    assert!(routes.contains("default via 10.231.33.1"), "{routes}");
    assert!(routes.contains("10.231.34.0/24 dev eth1"), "{routes}");
    ok(libcni(&lab, "check", &b, &id, &ns, "eth1", &json!({})));
    ok(libcni(&lab, "del", &b, &id, &ns, "eth1", &json!({})));
    ok(libcni(&lab, "del", &a, &id, &ns, "eth0", &json!({})));
    assert!(lab.leases().is_empty());
    let _ = fs::remove_dir_all(lab.records().join(format!("ctc{}", lab.tag)));
}

/// One CNI call with the spec's environment and stdin, in the lab host.
fn raw(lab: &Lab, cmd: &str, conf: &Value, id: &str, ns: Option<&Ns>, args: &str) -> Output {
    let mut c = lab.cmd();
    c.env("CNI_COMMAND", cmd)
        .env("CNI_CONTAINERID", id)
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", cni_path(lab))
        .env("CNI_ARGS", args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(n) = ns {
        c.env("CNI_NETNS", n.path());
    }
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(conf.to_string().as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn code(o: &Output) -> u64 {
    assert!(!o.status.success(), "expected a CNI error");
    let e: Value = serde_json::from_slice(&o.stdout).unwrap();
    e["code"].as_u64().unwrap()
}

#[test]
fn cni_spec_points_check_version_ipam_static_ip_sctp_status_and_gc() {
    let lab = Lab::new("10.231.35.0/24", false);
    let mut conf = ctnet_conf(&lab, &lab.bridge, "10.231.35.0/24", &lab.table);
    conf["cniVersion"] = "1.1.0".into();
    conf["name"] = "spec".into();
    let ns1 = Ns::new(&lab, format!("cni{}s1", lab.tag));
    let ns2 = Ns::new(&lab, format!("cni{}s2", lab.tag));
    let (id1, id2) = (format!("s1{}", lab.tag), format!("s2{}", lab.tag));

    // STATUS (1.1.0): ready.
    let st = raw(&lab, "STATUS", &conf, "", None, "");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stdout)
    );
    // An ipam type that is not in CNI_PATH is refused, not ignored; nothing is left.
    let mut ipam = conf.clone();
    ipam["ipam"] = json!({"type": "no-such-ipam", "subnet": "10.231.35.0/24"});
    assert_eq!(code(&raw(&lab, "ADD", &ipam, &id1, Some(&ns1), "")), 7);
    // sctp and IPv6 hostIP mappings: ADD refuses them (7), DEL of that config succeeds.
    for pm in [
        json!({"hostPort": 9000, "containerPort": 90, "protocol": "sctp"}),
        json!({"hostPort": 9000, "containerPort": 90, "protocol": "tcp", "hostIP": "::1"}),
    ] {
        let mut c = conf.clone();
        c["runtimeConfig"] = json!({"portMappings": [pm]});
        assert_eq!(code(&raw(&lab, "ADD", &c, &id1, Some(&ns1), "")), 7);
        let del = raw(&lab, "DEL", &c, &id1, Some(&ns1), "");
        assert!(
            del.status.success(),
            "{}",
            String::from_utf8_lossy(&del.stdout)
        );
    }
    assert!(lab.leases().is_empty());
    // A static address from CNI_ARGS.
    let add = raw(
        &lab,
        "ADD",
        &conf,
        &id1,
        Some(&ns1),
        "IgnoreUnknown=1;IP=10.231.35.77",
    );
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stdout)
    );
    let r: Value = serde_json::from_slice(&add.stdout).unwrap();
    assert_eq!(r["ips"][0]["address"], "10.231.35.77/24");
    let mut c2 = conf.clone();
    c2["runtimeConfig"] =
        json!({"portMappings": [{"hostPort": 8203, "containerPort": 80, "protocol": "tcp"}]});
    let add2 = raw(&lab, "ADD", &c2, &id2, Some(&ns2), "");
    assert!(
        add2.status.success(),
        "{}",
        String::from_utf8_lossy(&add2.stdout)
    );
    // ct-net's own `portMappings` key stays out of the CNI result.
    let r2: Value = serde_json::from_slice(&add2.stdout).unwrap();
    assert!(r2.get("portMappings").is_none(), "{r2}");
    assert_eq!(lab.leases().len(), 2);
    assert_eq!(lab.port_rules().len(), 1);
    // CHECK below 0.4.0 is refused (1); at 1.1.0 it passes.
    let mut old = conf.clone();
    old["cniVersion"] = "0.3.1".into();
    assert_eq!(code(&raw(&lab, "CHECK", &old, &id1, Some(&ns1), "")), 1);
    assert!(raw(&lab, "CHECK", &conf, &id1, Some(&ns1), "")
        .status
        .success());
    // GC: only id1 is still valid; id2's lease, veth and port rule go.
    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": id1, "ifname": "eth0"}]);
    let out = raw(&lab, "GC", &gc, "", None, "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let left = lab.leases();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left.contains_key("10.231.35.77"));
    assert!(lab.port_rules().is_empty());
    let links = sh("ip", &["-n", &ns2.0, "-o", "link", "show"]);
    assert!(!links.contains("eth0"), "{links}");
    assert!(raw(&lab, "DEL", &conf, &id1, Some(&ns1), "")
        .status
        .success());
    assert!(lab.leases().is_empty());
}

/// A dual-stack network through libcni: both addresses in the result and in the namespace,
/// an IPv6 port mapping accepted, DEL leaves nothing.
#[test]
fn libcni_dual_stack_add_and_del() {
    let lab = Lab::new("10.231.36.0/24", false);
    let mut conf = ctnet_conf(&lab, &lab.bridge, "10.231.36.0/24", &lab.table);
    conf["subnet6"] = "fd66:36::/64".into();
    let list = json!({"cniVersion": "1.0.0", "name": format!("ds{}", lab.tag), "plugins": [conf]});
    let ns = Ns::new(&lab, format!("cni{}ds", lab.tag));
    let id = format!("ctr{}ds", lab.tag);
    let caps = json!({"portMappings": [
        {"hostPort": 8204, "containerPort": 80, "protocol": "tcp", "hostIP": "fd66:36::1"}]});
    let r = ok(libcni(&lab, "add", &list, &id, &ns, "eth0", &caps));
    assert_eq!(r["ips"][0]["address"], "10.231.36.2/24", "{r}");
    assert_eq!(r["ips"][1]["address"], "fd66:36::2/64", "{r}");
    assert_eq!(r["ips"][1]["gateway"], "fd66:36::1", "{r}");
    let inside = sh(
        "ip",
        &["-n", &ns.0, "-6", "-o", "addr", "show", "dev", "eth0"],
    );
    assert!(inside.contains("fd66:36::2/64"), "{inside}");
    ok(libcni(&lab, "check", &list, &id, &ns, "eth0", &caps));
    ok(libcni(&lab, "del", &list, &id, &ns, "eth0", &caps));
    assert!(lab.leases().is_empty());
    let left = sh("ip", &["-n", &ns.0, "-o", "link", "show"]);
    assert!(!left.contains("eth0"), "{left}");
}

/// `ipam` is honoured: the address comes from Debian's `host-local` (a range start) or
/// `static` IPAM plugin found in CNI_PATH, and DEL gives host-local's reservation back.
#[test]
fn libcni_ipam_plugins_host_local_and_static_assign_the_address() {
    let lab = Lab::new("10.231.37.0/24", false);
    let store = lab.root.path().join("host-local");
    let mut hl = ctnet_conf(&lab, &lab.bridge, "10.231.37.0/24", &lab.table);
    hl["ipam"] = json!({"type": "host-local", "dataDir": store,
        "ranges": [[{"subnet": "10.231.37.0/24", "rangeStart": "10.231.37.50"}]]});
    let list = json!({"cniVersion": "1.0.0", "name": format!("hl{}", lab.tag), "plugins": [hl]});
    let ns = Ns::new(&lab, format!("cni{}hl", lab.tag));
    let id = format!("ctr{}hl", lab.tag);
    let r = ok(libcni(&lab, "add", &list, &id, &ns, "eth0", &json!({})));
    assert_eq!(r["ips"][0]["address"], "10.231.37.50/24", "{r}");
    let reserved = store.join(format!("hl{}", lab.tag)).join("10.231.37.50");
    assert!(reserved.exists(), "host-local did not reserve it");
    let inside = sh(
        "ip",
        &["-n", &ns.0, "-4", "-o", "addr", "show", "dev", "eth0"],
    );
    assert!(inside.contains("10.231.37.50/24"), "{inside}");
    ok(libcni(&lab, "del", &list, &id, &ns, "eth0", &json!({})));
    assert!(!reserved.exists(), "host-local kept the address");
    assert!(lab.leases().is_empty());

    // static: the address written in the configuration.
    let mut st = ctnet_conf(&lab, &lab.bridge, "10.231.37.0/24", &lab.table);
    st["ipam"] = json!({"type": "static", "addresses": [{"address": "10.231.37.7/24"}]});
    let list = json!({"cniVersion": "1.0.0", "name": format!("st{}", lab.tag), "plugins": [st]});
    let r = ok(libcni(&lab, "add", &list, &id, &ns, "eth0", &json!({})));
    assert_eq!(r["ips"][0]["address"], "10.231.37.7/24", "{r}");
    ok(libcni(&lab, "del", &list, &id, &ns, "eth0", &json!({})));
    assert!(lab.leases().is_empty());
}

/// Every address a delegated IPAM plugin assigns is used: host-local with two range sets
/// (`ranges: [[v4], [v6]]`) gives one IPv4 and one IPv6 address, and ct-net puts both on the
/// interface, each with its family's gateway and default route — as the reference `bridge`
/// plugin does with the same `ipam`. DEL gives both back to host-local.
#[test]
fn libcni_ipam_with_an_ipv4_and_an_ipv6_range_gives_both_addresses_like_the_reference_bridge() {
    let lab = Lab::new("10.231.38.0/24", false);
    let ipam = |dir: &str, v4: &str, v6: &str| {
        json!({"type": "host-local", "dataDir": lab.root.path().join(dir),
               "ranges": [[{"subnet": v4}], [{"subnet": v6}]]})
    };
    let mut ct = json!({"type": "ct-net", "bridge": lab.bridge, "nftTable": lab.table,
                        "dataDir": lab.store()});
    ct["ipam"] = ipam("hl-ct", "10.231.38.0/24", "fd66:38::/64");
    let reference = json!({"type": "bridge", "bridge": format!("cnr{}", lab.tag),
        "isGateway": true, "isDefaultGateway": true,
        "ipam": ipam("hl-ref", "10.231.39.0/24", "fd66:39::/64")});
    for (name, conf, v4, v6) in [
        ("ctnet", ct, "10.231.38", "fd66:38:"),
        ("reference", reference, "10.231.39", "fd66:39:"),
    ] {
        let list = json!({"cniVersion": "1.0.0", "name": format!("{name}{}", lab.tag),
                          "plugins": [conf]});
        let ns = Ns::new(&lab, format!("cni{}{name}", lab.tag));
        let id = format!("ctr{}{name}", lab.tag);
        let r = ok(libcni(&lab, "add", &list, &id, &ns, "eth0", &json!({})));
        let ips: Vec<&str> = r["ips"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|i| i["address"].as_str())
            .collect();
        assert_eq!(
            ips,
            [format!("{v4}.2/24"), format!("{v6}:2/64")],
            "{name}: {r}"
        );
        let inside = sh(
            "ip",
            &[
                "-n", &ns.0, "-o", "addr", "show", "dev", "eth0", "scope", "global",
            ],
        );
        assert!(inside.contains(&format!("{v4}.2/24")), "{name}: {inside}");
        assert!(inside.contains(&format!("{v6}:2/64")), "{name}: {inside}");
        let r4 = sh("ip", &["-n", &ns.0, "-4", "route", "show", "default"]);
        assert!(r4.contains(&format!("via {v4}.1 dev eth0")), "{name}: {r4}");
        let r6 = sh("ip", &["-n", &ns.0, "-6", "route", "show", "default"]);
        assert!(r6.contains(&format!("via {v6}:1 dev eth0")), "{name}: {r6}");
        let reserved = |a: &str| {
            lab.root
                .path()
                .join(if name == "ctnet" { "hl-ct" } else { "hl-ref" })
                .join(format!("{name}{}", lab.tag))
                .join(a)
                .exists()
        };
        assert!(
            reserved(&format!("{v4}.2")) && reserved(&format!("{v6}:2")),
            "{name}"
        );
        ok(libcni(&lab, "del", &list, &id, &ns, "eth0", &json!({})));
        assert!(
            !reserved(&format!("{v4}.2")) && !reserved(&format!("{v6}:2")),
            "{name}: host-local kept an address"
        );
    }
    assert!(lab.leases().is_empty());
}

/// A process of the test's, killed and reaped on drop.
struct Daemon(std::process::Child);
impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// dnsmasq as a DHCP server only (`--port=0`: no DNS), bound to `bridge` of the lab host,
/// its lease file in `dir`.
fn dnsmasq(lab: &Lab, bridge: &str, range: &str, dir: &Path) -> Daemon {
    let d = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", lab.host))
        .arg("dnsmasq")
        .args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--port=0",
            "--user=root",
            "--bind-interfaces",
            "--dhcp-authoritative",
        ])
        .arg(format!("--interface={bridge}"))
        .arg(format!("--dhcp-range={range}"))
        .arg(format!("--dhcp-leasefile={}", dir.join("leases").display()))
        .arg(format!("--pid-file={}", dir.join("pid").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dnsmasq (dnsmasq-base) is installed");
    Daemon(d)
}

/// Debian's CNI `dhcp` daemon, listening on `sock` (the plugin's `daemonSocketPath`).
fn dhcp_daemon(sock: &Path) -> Daemon {
    let d = Command::new("/usr/lib/cni/dhcp")
        .args(["daemon", "-socketpath"])
        .arg(sock)
        .args(["-timeout", "5s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let up = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        sock.exists()
    });
    assert!(up, "the dhcp daemon made no socket");
    Daemon(d)
}

/// `ipam: {"type": "dhcp"}` is honoured: the interface is made and up on the bridge first,
/// then the `dhcp` plugin (through its daemon) gets an address from a real DHCP server
/// (dnsmasq on the bridge), which ct-net configures; DEL releases it at the server. The same
/// for the reference `bridge` plugin with `dhcp`, on a bridge of its own (but for the release).
#[test]
fn libcni_ipam_dhcp_takes_the_address_from_a_dhcp_server_on_the_bridge_and_del_releases_it() {
    let lab = Lab::new("10.231.41.0/24", false);
    let dir = lab.root.path();
    // The ct-net network exists before its DHCP server can bind to it: a plain attachment.
    let plain = ctnet_conf(&lab, &lab.bridge, "10.231.41.0/24", &lab.table);
    let list0 =
        json!({"cniVersion": "1.0.0", "name": format!("pl{}", lab.tag), "plugins": [plain]});
    let ns0 = Ns::new(&lab, format!("cni{}pl", lab.tag));
    let id0 = format!("ctr{}pl", lab.tag);
    ok(libcni(&lab, "add", &list0, &id0, &ns0, "eth0", &json!({})));
    // The reference plugin's bridge, made by hand with its address.
    let rbr = format!("cnr{}", lab.tag);
    lab.ip(&["link", "add", &rbr, "type", "bridge"]);
    lab.ip(&["addr", "add", "10.231.42.1/24", "dev", &rbr]);
    lab.ip(&["link", "set", &rbr, "up"]);

    let sock = dir.join("dhcp.sock");
    let _daemon = dhcp_daemon(&sock);
    let ipam = json!({"type": "dhcp", "daemonSocketPath": sock});
    let mut ct = ctnet_conf(&lab, &lab.bridge, "10.231.41.0/24", &lab.table);
    ct["ipam"] = ipam.clone();
    let reference = json!({"type": "bridge", "bridge": rbr, "isDefaultGateway": true,
                           "ipam": ipam});
    for (name, conf, bridge, net) in [
        ("ctnet", ct, lab.bridge.clone(), "10.231.41"),
        ("reference", reference, rbr.clone(), "10.231.42"),
    ] {
        let ddir = dir.join(format!("dnsmasq-{name}"));
        fs::create_dir_all(&ddir).unwrap();
        let range = format!("{net}.100,{net}.150,255.255.255.0,1h");
        let _dnsmasq = dnsmasq(&lab, &bridge, &range, &ddir);
        let list = json!({"cniVersion": "1.0.0", "name": format!("dh{name}{}", lab.tag),
                          "plugins": [conf]});
        let ns = Ns::new(&lab, format!("cni{}{name}", lab.tag));
        let id = format!("ctr{}{name}", lab.tag);
        // dnsmasq binds its socket shortly after it starts: the first ADD may find no server.
        let r = (0..3)
            .find_map(|_| {
                let o = libcni(&lab, "add", &list, &id, &ns, "eth0", &json!({}));
                o.status.success().then(|| ok(o))
            })
            .unwrap_or_else(|| ok(libcni(&lab, "add", &list, &id, &ns, "eth0", &json!({}))));
        let addr = r["ips"][0]["address"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let host: u8 = addr
            .strip_prefix(&format!("{net}."))
            .and_then(|a| a.strip_suffix("/24"))
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("{name}: {r}"));
        assert!((100..=150).contains(&host), "{name}: {r}");
        let inside = sh(
            "ip",
            &["-n", &ns.0, "-4", "-o", "addr", "show", "dev", "eth0"],
        );
        assert!(inside.contains(&addr), "{name}: {inside}");
        let route = sh("ip", &["-n", &ns.0, "-4", "route", "show", "default"]);
        assert!(route.contains(&format!("via {net}.1")), "{name}: {route}");
        let bare = addr.split('/').next().unwrap().to_string();
        let leased = || fs::read_to_string(ddir.join("leases")).unwrap_or_default();
        assert!(
            leased().contains(&bare),
            "{name}: dnsmasq has no lease: {}",
            leased()
        );
        ok(libcni(&lab, "del", &list, &id, &ns, "eth0", &json!({})));
        // Debian's `bridge` 1.1.1 deletes the interface before it calls the IPAM DEL, so the
        // daemon has no link left to send its DHCPRELEASE on: the server keeps that lease
        // until it expires. ct-net calls the IPAM DEL first.
        if name == "ctnet" {
            let released = (0..100).any(|_| {
                std::thread::sleep(std::time::Duration::from_millis(50));
                !leased().contains(&bare)
            });
            assert!(released, "{name}: DEL did not release {bare}: {}", leased());
        }
        let links = sh("ip", &["-n", &ns.0, "-o", "link", "show"]);
        assert!(!links.contains("eth0"), "{name}: {links}");
    }
    ok(libcni(&lab, "del", &list0, &id0, &ns0, "eth0", &json!({})));
    assert!(lab.leases().is_empty());
}
