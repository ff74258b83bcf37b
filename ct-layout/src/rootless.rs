//! Running without root: one user namespace per user, kept alive by a pause process, that
//! every ct tool of that user joins (user_namespaces(7), setns(2), newuidmap(1)) — the design
//! of rootless podman.
//!
//! Inside a user namespace, a process is root (uid 0, every capability) over what that
//! namespace owns: it may `chown` to any id the namespace maps, mount an overlay or a tmpfs in
//! a mount namespace the user namespace owns, and create network namespaces, bridges and veths
//! — none of which touches the host. Which ids exist inside is the namespace's map, written
//! once, from outside:
//! - with a range in `/etc/subuid` and `/etc/subgid` (subuid(5)), the setuid helpers
//!   `newuidmap`/`newgidmap` (Debian's uidmap) map the user to 0 and the range to 1…N, so an
//!   image's files keep their owners;
//! - without one, the user may map only themselves, to 0 (after denying `setgroups(2)`, which
//!   could otherwise drop a group that denies access): every other owner in an image becomes
//!   root, and ct says so once.
//!
//! The stages of a pipeline are separate processes, so the namespace must outlive each of
//! them: the first tool to need it starts a pause process (`sleep infinity`, after
//! `unshare(CLONE_NEWUSER | CLONE_NEWNS)`, in a session of its own) and records it in
//! `$CT_RUN/pause.pid` with its namespace's inode; every tool then `setns(2)`s into its user
//! and mount namespaces as its first step, so layers unpacked by ct-unpack, the overlay
//! ct-mount stacks and the network namespaces ct-net makes are all in one place. setns into a
//! user namespace needs a single-threaded caller: [`enter`] is the first thing a tool does.

use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::lock::Lock;
use crate::paths::Store;

/// Set (to the pause process's pid) in a tool that has entered its user's namespaces, and in
/// everything it starts.
pub const ACTIVE_ENV: &str = "CT_ROOTLESS";

/// How a tool runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// As root on the host: nothing to enter.
    Root,
    /// As a user, inside the user and mount namespaces of that user's pause process.
    Rootless { pause: u32 },
}

#[derive(Debug, thiserror::Error)]
#[error("cannot {step}")]
pub struct RootlessError {
    step: String,
    #[source]
    source: io::Error,
}

fn err(step: impl Into<String>) -> impl FnOnce(io::Error) -> RootlessError {
    let step = step.into();
    move |source| RootlessError { step, source }
}

/// Is this process (or the one that started it) inside its user's namespaces?
pub fn active() -> bool {
    std::env::var_os(ACTIVE_ENV).is_some_and(|v| !v.is_empty())
}

/// A tool's first step: as root, nothing; as anyone else, join this user's namespaces (made
/// on first use) and keep the user's store roots in `CT_ROOT`/`CT_RUN` (inside, the tool is
/// uid 0 and would otherwise take root's). Must run while the process is single-threaded.
pub fn enter(tool: &str) -> Result<Mode, RootlessError> {
    if let Some(pid) = std::env::var(ACTIVE_ENV).ok().and_then(|v| v.parse().ok()) {
        if same_user_ns(pid) {
            return Ok(Mode::Rootless { pause: pid });
        }
    }
    if rustix::process::geteuid().is_root() {
        return Ok(Mode::Root);
    }
    let store = Store::from_env();
    store
        .ensure_run(tool)
        .map_err(|(p, e)| err(format!("create '{}'", p.display()))(e))?;
    let pause = {
        let lock_path = store.run.join("pause.lock");
        let _lock =
            Lock::exclusive(&lock_path).map_err(err(format!("lock '{}'", lock_path.display())))?;
        match recorded(&store.run) {
            Some(pid) => pid,
            None => start_pause(&store.run, tool)?,
        }
    };
    join(pause)?;
    std::env::set_var("CT_ROOT", absolute(&store.root));
    std::env::set_var("CT_RUN", absolute(&store.run));
    std::env::set_var(ACTIVE_ENV, pause.to_string());
    Ok(Mode::Rootless { pause })
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn user_ns_ino(pid: &str) -> Option<u64> {
    fs::metadata(format!("/proc/{pid}/ns/user"))
        .ok()
        .map(|m| m.ino())
}

fn same_user_ns(pause: u32) -> bool {
    user_ns_ino("self").is_some() && user_ns_ino("self") == user_ns_ino(&pause.to_string())
}

/// The pause process of `$CT_RUN/pause.pid` (`PID USERNS-INODE`), if it still runs in the
/// namespace recorded (a recycled pid is not it).
fn recorded(run: &Path) -> Option<u32> {
    let text = fs::read_to_string(run.join("pause.pid")).ok()?;
    let mut f = text.split_whitespace();
    let pid: u32 = f.next()?.parse().ok()?;
    let ino: u64 = f.next()?.parse().ok()?;
    (user_ns_ino(&pid.to_string()) == Some(ino)).then_some(pid)
}

/// For a child between fork and exec (`pre_exec`) that outlives its parent — the pause, a
/// network helper: mark every descriptor above 2 close-on-exec, so that the program it runs
/// holds none of its parent's files (a lock its caller holds would otherwise be held forever).
/// One system call (close_range(2), Linux 5.11), safe between fork and exec.
pub fn keep_only_stdio() -> io::Result<()> {
    // By number: musl's libc (the static ct-exec) has no close_range wrapper.
    let (first, last) = (3 as libc::c_uint, libc::c_uint::MAX);
    // SAFETY: close_range(2) takes integers only and touches no memory of ours.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            last,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    match r {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// This user's first subordinate id and count in `/etc/subuid` or `/etc/subgid` (by name or
/// by number).
fn sub_range(file: &str, name: Option<&str>, id: u32) -> Option<(u32, u32)> {
    let text = fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let mut f = l.trim().split(':');
        let who = f.next()?;
        (Some(who) == name || who == id.to_string()).then_some(())?;
        let (start, count) = (f.next()?.parse().ok()?, f.next()?.parse().ok()?);
        (count > 0).then_some((start, count))
    })
}

/// The login name of `uid`, from `/etc/passwd`.
fn user_name(uid: u32) -> Option<String> {
    let text = fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
    })
}

fn helper(name: &str) -> Option<PathBuf> {
    ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// Start the pause process, map its user namespace, record it.
fn start_pause(run: &Path, tool: &str) -> Result<u32, RootlessError> {
    let sleep = helper("sleep").ok_or_else(|| {
        err("start the pause process")(io::Error::other("no sleep(1) in /usr/bin or /bin"))
    })?;
    let mut cmd = Command::new(sleep);
    cmd.arg("infinity")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .current_dir("/");
    // SAFETY: between fork and exec the child only makes system calls (no allocation, no
    // locks); with CLONE_NEWUSER the kernel creates the user namespace first, so the new
    // mount namespace belongs to it. The pause lives on: it keeps no descriptor of the tool
    // that started it but stdio (close_range(2) marks the others close-on-exec), or it would
    // hold that tool's caller's locks forever.
    unsafe {
        cmd.pre_exec(|| {
            keep_only_stdio()?;
            rustix::process::setsid()?;
            rustix::thread::unshare_unsafe(
                rustix::thread::UnshareFlags::NEWUSER | rustix::thread::UnshareFlags::NEWNS,
            )?;
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(err("start the pause process"))?;
    let pid = child.id();
    let kill = || {
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(pid as i32).expect("a child's pid"),
            rustix::process::Signal::KILL,
        );
    };
    if let Err(e) = write_maps(pid, tool) {
        kill();
        return Err(e);
    }
    let ino = user_ns_ino(&pid.to_string())
        .ok_or_else(|| err("read the pause process's namespace")(io::ErrorKind::NotFound.into()))?;
    let file = run.join("pause.pid");
    crate::atomic::write(&file, format!("{pid} {ino}\n").as_bytes()).map_err(|e| {
        kill();
        err(format!("write '{}'", file.display()))(e)
    })?;
    Ok(pid)
}

/// The uid and gid maps of `pid`'s user namespace: the user as 0, its subordinate range as
/// 1…N with newuidmap/newgidmap; without a range (or the helpers), the user alone.
fn write_maps(pid: u32, tool: &str) -> Result<(), RootlessError> {
    let uid = rustix::process::geteuid().as_raw();
    let gid = rustix::process::getegid().as_raw();
    let name = user_name(uid);
    let subs = (
        sub_range("/etc/subuid", name.as_deref(), uid),
        sub_range("/etc/subgid", name.as_deref(), uid),
        helper("newuidmap"),
        helper("newgidmap"),
    );
    if let (Some((us, un)), Some((gs, gn)), Some(nu), Some(ng)) = subs {
        for (prog, own, start, n) in [(nu, uid, us, un), (ng, gid, gs, gn)] {
            let args = [pid, 0, own, 1, 1, start, n].map(|v| v.to_string());
            let out = Command::new(&prog)
                .args(&args)
                .output()
                .map_err(err(format!("run {}", prog.display())))?;
            if !out.status.success() {
                let why = String::from_utf8_lossy(&out.stderr);
                return Err(err(format!("map ids with {}", prog.display()))(
                    io::Error::other(crate::pipe::quote(why.trim().as_bytes())),
                ));
            }
        }
        return Ok(());
    }
    let proc_file = |f: &str, v: String| {
        let p = format!("/proc/{pid}/{f}");
        fs::write(&p, v).map_err(err(format!("write '{p}'")))
    };
    proc_file("uid_map", format!("0 {uid} 1\n"))?;
    proc_file("setgroups", "deny".into())?;
    proc_file("gid_map", format!("0 {gid} 1\n"))?;
    eprintln!(
        "{tool}: warning: no subordinate ids for {} in /etc/subuid and /etc/subgid (or no \
         newuidmap): only your own id is mapped, so files of other owners in images become \
         root's; add a range with: usermod --add-subuids 100000-165535 --add-subgids \
         100000-165535 {}",
        name.as_deref().unwrap_or("this user"),
        name.as_deref().unwrap_or("USER")
    );
    Ok(())
}

/// setns(2) into the pause process's user namespace, then its mount namespace.
fn join(pid: u32) -> Result<(), RootlessError> {
    let open = |ns: &str| {
        let p = format!("/proc/{pid}/ns/{ns}");
        fs::File::open(&p).map_err(err(format!("open '{p}'")))
    };
    let (user, mnt) = (open("user")?, open("mnt")?);
    // setns(2) into a mount namespace moves the caller to that namespace's root directory:
    // go back to the same working directory (by path, as podman does: the pause's namespace
    // is a copy of the user's), so that relative paths on a command line mean the same.
    let cwd = std::env::current_dir().ok();
    use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};
    move_into_link_name_space(user.as_fd(), Some(LinkNameSpaceType::User))
        .map_err(|e| err(format!("join the user namespace of pause process {pid}"))(e.into()))?;
    move_into_link_name_space(mnt.as_fd(), Some(LinkNameSpaceType::Mount))
        .map_err(|e| err(format!("join the mount namespace of pause process {pid}"))(e.into()))?;
    if let Some(d) = cwd {
        let _ = std::env::set_current_dir(d);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subordinate_ranges_by_name_or_number() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("subuid");
        fs::write(&f, "alice:100000:65536\n1001:200000:1000\nbob:300000:0\n").unwrap();
        let f = f.to_str().unwrap();
        assert_eq!(sub_range(f, Some("alice"), 1000), Some((100000, 65536)));
        assert_eq!(sub_range(f, Some("carol"), 1001), Some((200000, 1000)));
        assert_eq!(
            sub_range(f, Some("bob"), 1002),
            None,
            "an empty range is none"
        );
        assert_eq!(sub_range(f, None, 4242), None);
    }
}
