//! A throw-away network lab for ct-net's integration tests (root only).
//!
//! Each lab is a fresh "host" network namespace in which ct-net runs (via `nsenter --net`),
//! so its bridge, nftables table, sysctls and published ports never touch the machine's own
//! namespace, plus optionally an "outside host" namespace joined to the lab host by a veth
//! pair on its own subnet, standing in for the internet. Names (namespaces, bridge, table,
//! container ids) carry a per-lab tag; every lab is built on the workspace's one `Sandbox`
//! (its CT_ROOT, its temp dir, its namespace guard). Drop tears everything down even when the
//! test failed: ct-net --down for each container, then the sandbox deletes the namespaces
//! (deleting the host namespace takes its bridge, veths and nftables table with it).

#![allow(dead_code)]

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub use ct_tests::sandbox::{DirRef, Sandbox};

pub const BIN: &str = env!("CARGO_BIN_EXE_ct-net");

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub struct Lab {
    pub tag: String,
    pub host: String,
    pub outside: Option<String>,
    pub bridge: String,
    pub table: String,
    pub subnet: String,
    /// The sandbox's temp dir (`root.path()`): the store is `root/root`, CT_RUN `root/run`.
    pub root: DirRef,
    ids: std::sync::Mutex<Vec<String>>,
    /// Owns the temp dir and the namespaces; drops after `Lab::drop` has run.
    pub sb: Sandbox,
}

/// Run a command, panicking with its stderr if it fails (lab plumbing only).
pub fn sh(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn netns_exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

impl Lab {
    /// A lab whose ct network uses `subnet`; `outside` adds the outside host.
    pub fn new(subnet: &str, outside: bool) -> Lab {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{:04x}{n:02}", std::process::id() & 0xffff);
        let sb = Sandbox::with_prefix("ct-net-lab-");
        let host = sb.add_netns(&format!("cth{tag}"));
        let outside = outside.then(|| sb.add_netns(&format!("cto{tag}")));
        let lab = Lab {
            outside,
            bridge: format!("ctb{tag}"),
            table: format!("ctt{tag}"),
            subnet: subnet.to_string(),
            root: sb.dir_ref(),
            ids: Default::default(),
            host,
            tag,
            sb,
        };
        sh("ip", &["-n", &lab.host, "link", "set", "lo", "up"]);
        if let Some(o) = &lab.outside {
            sh("ip", &["-n", o, "link", "set", "lo", "up"]);
            sh(
                "ip",
                &[
                    "-n", &lab.host, "link", "add", "uplink", "type", "veth", "peer", "name",
                    "eth0", "netns", o,
                ],
            );
            sh(
                "ip",
                &[
                    "-n",
                    &lab.host,
                    "addr",
                    "add",
                    "192.0.2.1/24",
                    "dev",
                    "uplink",
                ],
            );
            sh("ip", &["-n", &lab.host, "link", "set", "uplink", "up"]);
            sh(
                "ip",
                &["-n", o, "addr", "add", "192.0.2.2/24", "dev", "eth0"],
            );
            sh("ip", &["-n", o, "link", "set", "eth0", "up"]);
        }
        lab
    }

    /// The lab host's address on the outside link, and the outside host's.
    pub const HOST_UPLINK: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    pub const OUTSIDE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    pub fn store(&self) -> PathBuf {
        self.root.path().join("root")
    }

    /// A container id unique to this lab.
    pub fn id(&self, name: &str) -> String {
        format!("c{}-{name}", self.tag)
    }

    /// The network namespace name ct-net gives the lab's container `name`.
    pub fn ns(&self, name: &str) -> String {
        self.nsof(&self.id(name))
    }

    /// The network namespace name ct-net gives the lab's container id `id`.
    pub fn nsof(&self, id: &str) -> String {
        ct_net::netns::name_for(&ct_net::lease::store_tag(&self.store()), id)
    }

    /// The lab host's record directory: `/run/ct/net/netns-INODE` (see `lease::host_dir`).
    pub fn records(&self) -> PathBuf {
        use std::os::unix::fs::MetadataExt;
        let ino = fs::metadata(format!("/run/netns/{}", self.host)).map_or(0, |m| m.ino());
        Path::new(ct_net::lease::HOST_DIR).join(format!("netns-{ino}"))
    }

    /// The lab network's record directory.
    pub fn net_dir(&self) -> PathBuf {
        self.records().join(&self.bridge)
    }

    /// A minimal bundle: config.json only (no rootfs needed for networking).
    pub fn bundle(&self, name: &str) -> PathBuf {
        let id = self.id(name);
        let dir = self.store().join("containers").join(&id);
        fs::create_dir_all(&dir).expect("bundle dir");
        let config = serde_json::json!({
            "ociVersion": "1.0.2",
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "root": {"path": "rootfs"},
            "hostname": name,
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "network"}]}
        });
        fs::write(dir.join("config.json"), config.to_string()).expect("config");
        self.sb.own_netns(&self.nsof(&id));
        self.ids.lock().expect("ids").push(id);
        dir
    }

    /// A ct-net command running in the lab host's namespace with the lab's store and names.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.host))
            .arg(BIN)
            .env("CT_ROOT", self.store())
            .env("CT_RUN", self.root.path().join("run"))
            .env("CT_NET_BRIDGE", &self.bridge)
            .env("CT_NET_SUBNET", &self.subnet)
            .env("CT_NET_TABLE", &self.table)
            .env_remove("CNI_COMMAND")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run ct-net")
    }

    /// Run ct-net and insist it succeeds; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "ct-net {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `ct-net BUNDLE` and the address it got.
    pub fn up(&self, bundle: &Path, extra: &[&str]) -> Ipv4Addr {
        let b = bundle.to_str().expect("utf-8");
        let mut args = extra.to_vec();
        args.push(b);
        let out = self.ok(&args);
        assert_eq!(out.trim(), b);
        address(bundle).expect("net.json has an address")
    }

    pub fn down(&self, bundle: &Path) {
        self.ok(&["--down", bundle.to_str().expect("utf-8")]);
    }

    /// Something in the lab host: `ip -n HOST ARGS`.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut a = vec!["-n", self.host.as_str()];
        a.extend_from_slice(args);
        sh("ip", &a)
    }

    /// Names of the links in the lab host namespace.
    pub fn links(&self) -> Vec<String> {
        let out = self.ip(&["-o", "link", "show"]);
        let mut v: Vec<String> = out
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n).to_string())
            .collect();
        v.sort();
        v
    }

    /// [`Lab::links`] once `settled` holds of them, or after 2 s. The kernel takes a host veth
    /// away in its own cleanup of the container's namespace, a few ms after `--down` returns
    /// (ct-net deletes it itself when that takes longer than 500 ms).
    pub fn links_until(&self, settled: impl Fn(&[String]) -> bool) -> Vec<String> {
        for _ in 0..40 {
            let l = self.links();
            if settled(&l) {
                return l;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        self.links()
    }

    /// [`Lab::links_until`] no host veth is left.
    pub fn links_without_veths(&self) -> Vec<String> {
        self.links_until(|l| !l.iter().any(|n| n.starts_with("veth")))
    }

    /// `nft list chain ip TABLE ports` inside the lab host, rules only.
    pub fn port_rules(&self) -> Vec<String> {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.host,
                "nft",
                "list",
                "chain",
                "ip",
                &self.table,
                "ports",
            ])
            .output()
            .expect("nft");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|l| l.contains("dnat"))
            .map(String::from)
            .collect()
    }

    pub fn leases(&self) -> serde_json::Map<String, serde_json::Value> {
        let p = self.net_dir().join("leases.json");
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).expect("leases.json"),
            Err(_) => Default::default(),
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let ids = self.ids.lock().map(|v| v.clone()).unwrap_or_default();
        for id in &ids {
            let _ = self.cmd().args(["--down", id]).output();
        }
        // The sandbox then deletes the namespaces: the containers', the outside host and the
        // lab host (taking its bridge, veths and nftables table with it).
        let _ = fs::remove_dir_all(self.records());
    }
}

/// The address in `BUNDLE/net.json`.
pub fn address(bundle: &Path) -> Option<Ipv4Addr> {
    let j: serde_json::Value =
        serde_json::from_slice(&fs::read(bundle.join("net.json")).ok()?).ok()?;
    j["ips"][0]["address"]
        .as_str()?
        .split('/')
        .next()?
        .parse()
        .ok()
}

/// Run `f` on a thread that has entered the network namespace `ns`.
pub fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path).expect("open netns");
        // SAFETY: setns on a valid descriptor; it only changes this thread's namespace.
        let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
}

/// A TCP server in namespace `ns` on `addr` that answers `reply` to up to `n` connections
/// and returns the peers it saw. Waits until it listens. Bounded: gives up after 20 s.
pub fn tcp_server(
    ns: &str,
    addr: SocketAddr,
    reply: &'static str,
    n: usize,
) -> std::thread::JoinHandle<Vec<SocketAddr>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = in_netns(ns, move || {
        let l = TcpListener::bind(addr).expect("bind");
        l.set_nonblocking(true).expect("nonblocking");
        tx.send(()).expect("ready");
        let mut peers = Vec::new();
        let end = Instant::now() + Duration::from_secs(20);
        while peers.len() < n && Instant::now() < end {
            match l.accept() {
                Ok((mut s, peer)) => {
                    let _ = s.set_nonblocking(false);
                    let _ = s.write_all(reply.as_bytes());
                    peers.push(peer);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        peers
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("server ready");
    h
}

/// A UDP server in `ns` that answers each datagram with `reply` (up to `n`), returns peers.
pub fn udp_server(
    ns: &str,
    addr: SocketAddr,
    reply: &'static str,
    n: usize,
) -> std::thread::JoinHandle<Vec<SocketAddr>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = in_netns(ns, move || {
        let s = UdpSocket::bind(addr).expect("bind udp");
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        tx.send(()).expect("ready");
        let mut peers = Vec::new();
        let end = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 512];
        while peers.len() < n && Instant::now() < end {
            if let Ok((_, peer)) = s.recv_from(&mut buf) {
                let _ = s.send_to(reply.as_bytes(), peer);
                peers.push(peer);
            }
        }
        peers
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("udp server ready");
    h
}

/// Connect from namespace `ns` to `to` and read the answer (5 s timeouts).
pub fn tcp_get(ns: &str, to: SocketAddr) -> std::io::Result<String> {
    in_netns(ns, move || {
        let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(5))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    })
    .join()
    .expect("client thread")
}

/// Send a datagram from `ns` to `to` and wait for one answer (bounded retries).
pub fn udp_ask(ns: &str, bind: SocketAddr, to: SocketAddr) -> std::io::Result<String> {
    in_netns(ns, move || {
        let s = UdpSocket::bind(bind)?;
        s.set_read_timeout(Some(Duration::from_millis(500)))?;
        let mut buf = [0u8; 512];
        let mut last = std::io::Error::other("no answer");
        for _ in 0..10 {
            s.send_to(b"ping", to)?;
            match s.recv_from(&mut buf) {
                Ok((n, _)) => return Ok(String::from_utf8_lossy(&buf[..n]).into_owned()),
                Err(e) => last = e,
            }
        }
        Err(last)
    })
    .join()
    .expect("udp client thread")
}

/// `busybox ping -c 1` from inside namespace `ns`.
pub fn ping(ns: &str, to: Ipv4Addr) -> bool {
    Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "busybox",
            "ping",
            "-c",
            "1",
            "-W",
            "2",
            &to.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// stderr of a failed run: the first line must be `ct-net: …`, the rest only `hint:` lines.
pub fn one_line_error(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let mut lines = err.lines();
    let first = lines.next().unwrap_or_default().to_string();
    assert!(first.starts_with("ct-net: "), "error line: {err}");
    for l in lines {
        assert!(l.starts_with("hint: "), "extra stderr line {l:?} in {err}");
    }
    assert!(out.stdout.is_empty(), "stdout on failure: {:?}", out.stdout);
    first
}

/// Send `req` over TCP from namespace `ns` to `to` and read the whole answer (5 s timeouts).
pub fn tcp_request(ns: &str, to: SocketAddr, req: &'static str) -> std::io::Result<String> {
    in_netns(ns, move || {
        let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(5))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(req.as_bytes())?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    })
    .join()
    .expect("client thread")
}

/// A process started in a namespace with `ip netns exec`, killed (by its pid) on drop.
pub struct Server(pub std::process::Child);

impl Server {
    pub fn start(ns: &str, args: &[&str]) -> Server {
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::null())
            .spawn()
            .expect("start server");
        Server(child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
