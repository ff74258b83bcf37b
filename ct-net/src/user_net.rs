//! A user-mode network for a rootless container: its network namespace is connected to the
//! outside not by a veth on a bridge (which needs root on the host: routes, NAT, nftables)
//! but by a helper process of the user's that copies packets between a tap device inside
//! the namespace and ordinary sockets on the host — `pasta` (the passt package; preferred)
//! or `slirp4netns`, whichever is in PATH, as rootless podman does. Outbound connections
//! become the user's own connections; a published port is a socket the helper listens on
//! (`-p HOSTPORT:PORT`), forwarding to the namespace.
//!
//! Steps ([`start`]): find the helper; start it on the namespace's bind-mounted path, with
//! its stderr in an anonymous file (both helpers log there); wait until it is ready (pasta
//! forks into the background once the tap device, its addresses and the listening sockets
//! exist; slirp4netns writes to its `--ready-fd` pipe, then takes the ports on its API
//! socket); record its pid and start time (proc_pid_stat(5) field 22) in `net.json` so that
//! [`stop`] kills that process and never a later one that got the same pid.
//!
//! The helper outlives ct-net, so it gets stdin, stdout and stderr and no other descriptor
//! of ct-net's caller: an inherited one (a lock `ct start` holds while it wires the
//! container) would otherwise stay open, held, for the container's whole life.
//!
//! Neither helper lets the container reach the host's loopback services through the
//! gateway address (`--no-map-gw`, `--disable-host-loopback`), and pasta forwards only the
//! ports asked for (`-t none -u none -T none -U none` otherwise: its default would follow
//! every port the container binds).

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ct_layout::net_record::{PortMapping, Protocol, UserNet};
use ct_layout::pipe::quote;

use crate::{Error, IFNAME};

/// The helpers, in order of preference.
pub const HELPERS: [&str; 2] = ["pasta", "slirp4netns"];

/// `program` (or else the first helper) in `PATH`.
pub fn find(program: Option<&'static str>) -> Result<(&'static str, PathBuf), Error> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let wanted: &[&'static str] = match &program {
        Some(p) => std::slice::from_ref(p),
        None => &HELPERS,
    };
    wanted
        .iter()
        .find_map(|h| {
            std::env::split_paths(&path)
                .map(|d| d.join(h))
                .find(|p| p.is_file())
                .map(|p| (*h, p))
        })
        .ok_or(Error::NoUserNetHelper(program))
}

fn user_err(program: &str, what: impl Into<String>) -> impl FnOnce(io::Error) -> Error + '_ {
    let what = what.into();
    move |source| Error::UserNet {
        program: program.to_string(),
        what,
        source,
    }
}

/// A process's start time in clock ticks since boot, if it runs (a zombie has ended: its
/// parent, perhaps a subreaper that never waits for it, only has not collected it yet).
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: count after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    if matches!(fields.next(), Some("Z" | "X")) {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// Start the helper `program` (or else the first installed) for the namespace at `netns`,
/// publishing `ports`.
pub fn start(
    program: Option<&'static str>,
    netns: &Path,
    ports: &[PortMapping],
) -> Result<UserNet, Error> {
    let (program, exe) = find(program)?;
    let log = anonymous_file().map_err(user_err(program, "create a log file"))?;
    let pid = match program {
        "pasta" => pasta(&exe, netns, ports, &log)?,
        _ => slirp4netns(&exe, netns, ports, &log)?,
    };
    let start = start_time(pid).ok_or_else(|| {
        user_err(program, "find the helper process after it started")(io::Error::other(last_words(
            &log,
        )))
    })?;
    Ok(UserNet {
        program: program.into(),
        pid,
        start,
    })
}

/// An unlinked file in /tmp for a helper's stderr (it may outlive ct-net: no pipe).
fn anonymous_file() -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(std::env::temp_dir())
}

/// What the helper wrote, one line, quoted.
fn last_words(log: &File) -> String {
    let mut text = String::new();
    let mut f = log;
    let _ = f.rewind();
    let _ = f.read_to_string(&mut text);
    let text: Vec<&str> = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("Failed to send"))
        .collect();
    quote(text.join("; "))
}

/// `NETNS.SUFFIX` (not `with_extension`: an id may contain dots, `a.b` and `a.c` must differ).
fn beside(netns: &Path, suffix: &str) -> PathBuf {
    let mut p = netns.as_os_str().to_owned();
    p.push(".");
    p.push(suffix);
    PathBuf::from(p)
}

/// A command for a helper that keeps none of ct-net's descriptors but 0, 1 and 2 — and, with
/// `ready`, that descriptor as its fd 3 (slirp4netns's `--ready-fd=3`).
fn helper_command(exe: &Path, ready: Option<RawFd>) -> Command {
    let mut cmd = Command::new(exe);
    // SAFETY: close_range(2), dup2(2) and fcntl(2) are system calls on integers, fine between
    // fork and exec; they run after std set up stdio. Every descriptor above 2 becomes
    // close-on-exec (std's own error pipe already is), then `ready` is put at 3 without it
    // (dup2 onto itself would keep the flag: cleared by hand then).
    unsafe {
        cmd.pre_exec(move || {
            ct_layout::rootless::keep_only_stdio()?;
            let Some(fd) = ready else { return Ok(()) };
            let r = if fd == READY_FD {
                libc::fcntl(fd, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, READY_FD)
            };
            if r < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

/// The helper's end of the readiness pipe.
const READY_FD: RawFd = 3;

/// Wait (at most 10 s) until the helper writes to its readiness pipe: true when it did,
/// false when it closed it (exited) or the time ran out.
fn wait_ready(ready: &OwnedFd) -> bool {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut byte = [0u8; 1];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let t = Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: left.subsec_nanos() as i64,
        };
        let mut fds = [PollFd::new(ready, PollFlags::IN)];
        match poll(&mut fds, Some(&t)) {
            Ok(0) => return false,
            Ok(_) => return matches!(rustix::io::read(ready, &mut byte), Ok(1)),
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return false,
        }
    }
}

fn pasta(exe: &Path, netns: &Path, ports: &[PortMapping], log: &File) -> Result<u32, Error> {
    let pidfile = beside(netns, "pasta.pid");
    let mut cmd = helper_command(exe, None);
    cmd.args(["--config-net", "--quiet", "--runas", "0", "--no-map-gw"])
        .args(["--ns-ifname", IFNAME, "-T", "none", "-U", "none"])
        .arg("--pid")
        .arg(&pidfile);
    for (flag, proto) in [("-t", Protocol::Tcp), ("-u", Protocol::Udp)] {
        let mine: Vec<&PortMapping> = ports.iter().filter(|p| p.protocol == proto).collect();
        if mine.is_empty() {
            cmd.args([flag, "none"]);
        }
        for p in mine {
            let spec = match p.host_ip {
                None => format!("{}:{}", p.host_port, p.container_port),
                Some(ip) => format!("{ip}/{}:{}", p.host_port, p.container_port),
            };
            cmd.args([flag, &spec]);
        }
    }
    cmd.arg("--netns").arg(netns);
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log.try_clone().map_err(user_err("pasta", "log"))?)
        .status()
        .map_err(user_err("pasta", format!("run '{}'", exe.display())))?;
    let pid = std::fs::read_to_string(&pidfile)
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let _ = std::fs::remove_file(&pidfile);
    match (status.success(), pid) {
        (true, Some(pid)) => Ok(pid),
        _ => Err(user_err("pasta", "connect the network namespace")(
            io::Error::other(format!("{status}: {}", last_words(log))),
        )),
    }
}

fn slirp4netns(exe: &Path, netns: &Path, ports: &[PortMapping], log: &File) -> Result<u32, Error> {
    let sock = beside(netns, "slirp.sock");
    let _ = std::fs::remove_file(&sock);
    // Ready when it writes to --ready-fd: the tap device configured and the API socket
    // listening; no polling.
    let (ready, ready_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| user_err("slirp4netns", "make a pipe")(e.into()))?;
    let mut cmd = helper_command(exe, Some(ready_w.as_raw_fd()));
    cmd.args(["--configure", "--mtu=65520", "--disable-host-loopback"])
        .arg(format!("--ready-fd={READY_FD}"))
        .args(["--netns-type=path", "--api-socket"])
        .arg(&sock)
        .arg(netns)
        .arg(IFNAME)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log.try_clone().map_err(user_err("slirp4netns", "log"))?)
        .process_group(0);
    let child = cmd
        .spawn()
        .map_err(user_err("slirp4netns", format!("run '{}'", exe.display())))?;
    drop(ready_w);
    let pid = child.id();
    let fail = |what: String, e: io::Error| {
        kill(pid);
        user_err("slirp4netns", what)(io::Error::other(format!("{e}: {}", last_words(log))))
    };
    if !wait_ready(&ready) {
        return Err(fail(
            "connect the network namespace".into(),
            io::Error::other("not ready within 10 s"),
        ));
    }
    for p in ports {
        let req = serde_json::json!({"execute": "add_hostfwd", "arguments": {
            "proto": p.protocol.as_str(),
            "host_addr": p.host_ip.map_or("0.0.0.0".into(), |ip| ip.to_string()),
            "host_port": p.host_port, "guest_port": p.container_port}});
        api(&sock, &req).map_err(|e| fail(format!("publish port {}", p.host_port), e))?;
    }
    Ok(pid)
}

/// One request to slirp4netns's API socket; an `error` in the answer is a failure.
fn api(sock: &Path, req: &serde_json::Value) -> io::Result<()> {
    let mut s = std::os::unix::net::UnixStream::connect(sock)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(req.to_string().as_bytes())?;
    s.shutdown(std::net::Shutdown::Write)?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    let v: serde_json::Value = serde_json::from_str(&answer).map_err(io::Error::other)?;
    match v.get("error") {
        Some(e) => Err(io::Error::other(quote(e.to_string()))),
        None => Ok(()),
    }
}

fn kill(pid: u32) {
    if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
    }
}

/// Stop the helper recorded in `net.json`, only if the pid still is that process (same start
/// time); gone already is fine. SIGKILL at once: the helper keeps nothing that needs a clean
/// shutdown (its sockets and tap go with it). With `ports` (it published some) this waits
/// until it has exited, so they are free on return; without, it does not: a killed process
/// runs no code of its own again, and its exit takes some 30 ms (the tap device's
/// unregistering waits for RCU grace periods), a third of a `ct run --rm`.
/// The process is held by a pidfd (pidfd_open(2)) taken before the start time is checked, so
/// the signal reaches that process even if it ends and its pid is reused meanwhile, and
/// poll(2) on the pidfd wakes the moment it exits: no polling with sleeps.
pub fn stop(helper: &UserNet, netns: &Path, ports: bool) {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    use rustix::process::{pidfd_open, pidfd_send_signal, Pid, PidfdFlags, Signal};

    let _ = std::fs::remove_file(beside(netns, "slirp.sock"));
    let Some(pid) = Pid::from_raw(helper.pid as i32) else {
        return;
    };
    let Ok(fd) = pidfd_open(pid, PidfdFlags::empty()) else {
        return;
    };
    if start_time(helper.pid) != Some(helper.start) {
        return;
    }
    let exited_within = |secs: i64| {
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        let t = Timespec {
            tv_sec: secs,
            tv_nsec: 0,
        };
        loop {
            match poll(&mut fds, Some(&t)) {
                Ok(n) => return n > 0,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return false,
            }
        }
    };
    if pidfd_send_signal(&fd, Signal::KILL).is_ok() && ports {
        exited_within(2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_time_of_this_process_is_found_and_stays_the_same() {
        let me = std::process::id();
        let t = start_time(me);
        assert!(t.is_some());
        assert_eq!(t, start_time(me));
    }

    /// A helper that ended but was not collected (reparented to a subreaper that does not
    /// wait) has ended: `--down` does not wait for it.
    #[test]
    fn a_zombie_has_no_start_time() {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        }) && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(start_time(pid), None);
        child.wait().unwrap();
    }
}
