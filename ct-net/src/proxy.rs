//! A userland TCP proxy for published ports on `[::1]` (docker's `docker-proxy`). IPv4 serves
//! `127.0.0.1:PORT` in the kernel: DNAT in the `output` chain, then `route_localnet` lets the
//! rewritten packet leave on the bridge with its loopback source (`nft.rs`). IPv6 has no
//! `route_localnet`: a packet from `::1` never leaves the loopback device (RFC 4291 2.5.3), so
//! a connection to `[::1]:PORT` cannot be forwarded by rules at all. Instead a small process
//! listens on `[::1]:PORT` (a real socket, so the port shows as taken) and, for each
//! connection it accepts, opens one to `[CONTAINER-IP6]:CPORT` over the bridge and copies bytes
//! both ways until each side has closed (shutdown(2) of the write half passes an EOF on). The
//! `ip6` DNAT rules leave `::1` to it (`nft.rs`).
//!
//! ct-net starts one per published TCP port of a dual-stack network whose host address is
//! unspecified or `::1` — itself, as `ct-net proxy --listen [::1]:PORT --to [IP6]:CPORT`, in
//! its own process group, with no descriptor of its caller's but /dev/null and a pipe on which
//! it says `ready` once it listens — and records it in the lease (pid and start time, as
//! proc_pid_stat(5) field 22 has it, so a recycled pid is never killed). Every path that
//! releases the lease (`--down`, `--release`, CNI DEL and GC, `ct-gc`, reclaiming a lease whose
//! namespace is gone) kills it. UDP is not proxied.

use std::io::{self, BufRead, BufReader};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::user_net::start_time;
use crate::Error;
use ct_layout::net_record::{PortMapping, Protocol};

/// A running proxy, as its lease records it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProxyProcess {
    /// `[::1]:PORT`.
    pub listen: SocketAddr,
    pub pid: u32,
    /// Start time in clock ticks since boot (`user_net::start_time`).
    pub start: u64,
}

/// Does a published port get a `[::1]` proxy (on a dual-stack network)? TCP, with the host
/// address unspecified or `::1`.
pub fn serves(p: &PortMapping) -> bool {
    p.protocol == Protocol::Tcp
        && p.host_ip
            .is_none_or(|h| h == std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST))
}

/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 512;

/// How long connecting to the container may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `ct-net proxy`: listen on `listen`, say `ready` on stdout (or, when it cannot, the error,
/// for [`start`] to report), and forward every connection to `to`, until killed.
pub fn serve(listen: SocketAddr, to: SocketAddr) -> Result<(), Error> {
    let listener = TcpListener::bind(listen).map_err(|source| Error::Proxy {
        what: format!("cannot listen on {listen}"),
        source,
    })?;
    ct_layout::pipe::print_out("ready\n");
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        let client = match listener.accept() {
            Ok((c, _)) => c,
            Err(_) => continue,
        };
        if active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            continue; // dropped: closed at once
        }
        active.fetch_add(1, Ordering::SeqCst);
        let active = Arc::clone(&active);
        std::thread::spawn(move || {
            let _ = forward(client, to);
            active.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Copy one connection both ways; each direction's EOF is passed on as a shutdown.
fn forward(client: TcpStream, to: SocketAddr) -> io::Result<()> {
    let server = TcpStream::connect_timeout(&to, CONNECT_TIMEOUT)?;
    let (mut c_in, mut s_out) = (client.try_clone()?, server.try_clone()?);
    let up = std::thread::spawn(move || {
        let _ = io::copy(&mut c_in, &mut s_out);
        let _ = s_out.shutdown(Shutdown::Write);
    });
    let (mut s_in, mut c_out) = (server, client);
    let _ = io::copy(&mut s_in, &mut c_out);
    let _ = c_out.shutdown(Shutdown::Write);
    let _ = up.join();
    Ok(())
}

/// Start `ct-net proxy` for `listen` → `to` and wait until it listens.
pub fn start(listen: SocketAddr, to: SocketAddr) -> Result<ProxyProcess, Error> {
    let err = |what: String| move |source| Error::Proxy { what, source };
    let exe = std::env::current_exe().map_err(err("cannot find ct-net's executable".into()))?;
    let mut cmd = Command::new(exe);
    cmd.args([
        "proxy",
        "--listen",
        &listen.to_string(),
        "--to",
        &to.to_string(),
    ])
    .env_clear()
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .process_group(0);
    // SAFETY: close_range(2) is a system call, fine between fork and exec; it marks every
    // descriptor above 2 close-on-exec (std's own error pipe already is).
    unsafe {
        cmd.pre_exec(ct_layout::rootless::keep_only_stdio);
    }
    let mut child = cmd
        .spawn()
        .map_err(err(format!("cannot start the proxy for {listen}")))?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        // One line: `ready`, or EOF when it could not listen and exited.
        let _ = BufReader::new(out).read_line(&mut line);
    }
    let start = start_time(child.id()).filter(|_| line == "ready\n");
    match start {
        Some(start) => Ok(ProxyProcess {
            listen,
            pid: child.id(),
            start,
        }),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err(Error::ProxyStart {
                listen: listen.to_string(),
                msg: ct_layout::pipe::quote(line.trim_end()),
            })
        }
    }
}

/// Kill the proxy if its pid still is that process (same start time). Gone already is fine.
pub fn stop(p: &ProxyProcess) {
    if start_time(p.pid) != Some(p.start) {
        return;
    }
    if let Some(pid) = rustix::process::Pid::from_raw(p.pid as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
}
