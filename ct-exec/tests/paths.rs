//! Paths inside the container's root, attacked the way a hostile image or a process of the
//! container would: symlinks out of the root, a component swapped for a symlink to a host
//! directory while ct-exec sets the root up, a fake `/proc`, host sysctls, a working directory
//! through `/proc/self/fd/N`. Each test asserts the host did not change, and where runc is
//! installed runs the same bundle under runc to show both agree.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// A directory on the host, outside every bundle, that no container may touch.
struct HostDir(PathBuf);

impl HostDir {
    fn new() -> HostDir {
        let d = PathBuf::from(format!("/tmp/{}", unique("ct-test-host-")));
        fs::create_dir_all(&d).unwrap();
        HostDir(d)
    }
    fn listing(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for HostDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `runc run` of a bundle, with its own state root; `None` when runc is not installed.
fn runc(f: &Fixture, bundle: &Path) -> Option<Output> {
    if Command::new("runc").arg("--version").output().is_err() {
        return None;
    }
    let child = Command::new("runc")
        .arg("--root")
        .arg(f.tmp.path().join("runc-state"))
        .args(["run", "--bundle"])
        .arg(bundle)
        .arg(unique("ct-paths-"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Some(wait_output(child, Duration::from_secs(30)))
}

fn mounts(v: &mut Value) -> &mut Vec<Value> {
    v["mounts"].as_array_mut().unwrap()
}

fn ns_list(v: &mut Value) -> &mut Vec<Value> {
    v["linux"]["namespaces"].as_array_mut().unwrap()
}

/// The last line of stderr that is not a warning: ct-exec's one-line error.
fn error_line(o: &Output) -> String {
    let e = stderr(o);
    let lines: Vec<&str> = e.lines().filter(|l| !l.contains("warning:")).collect();
    assert_eq!(lines.len(), 1, "one error line expected: {e}");
    lines[0].to_string()
}

#[test]
fn a_symlinked_passwd_in_the_image_is_not_read_from_the_host() {
    let f = Fixture::new();
    let host = HostDir::new();
    let secret = host.0.join("passwd");
    fs::write(&secret, "hostonly:x:4242:4242::/:/bin/sh\n").unwrap();
    let b = f.bundle("b", |_| {});
    let etc = b.join("rootfs/etc");
    fs::remove_file(etc.join("passwd")).unwrap();
    symlink(&secret, etc.join("passwd")).unwrap();
    // And a group file that points at itself: on the host, before pivot_root, that is the
    // host's /etc/group.
    fs::remove_file(etc.join("group")).unwrap();
    symlink("/etc/group", etc.join("group")).unwrap();

    let out = f.run(&[b.to_str().unwrap(), "-u", "hostonly", "--", "id", "-u"]);
    assert_eq!(out.status.code(), Some(125), "stderr: {}", stderr(&out));
    assert!(!stdout(&out).contains("4242"), "ran as the host's user");
    assert_eq!(
        error_line(&out),
        "ct-exec: -u hostonly: no such user or group in the rootfs's /etc/passwd or /etc/group"
    );
    let out = f.run(&[b.to_str().unwrap(), "-u", "0:root", "--", "id", "-g"]);
    assert_eq!(out.status.code(), Some(125), "host /etc/group was read");
}

#[test]
fn a_mount_through_symlinks_to_host_paths_stays_in_the_root() {
    let f = Fixture::new();
    let host = HostDir::new();
    fs::write(host.0.join("keep"), "precious").unwrap();
    let rel = format!("../../../../../../../..{}", host.0.display());
    let b = f.bundle("b", |v| {
        for (dest, typ) in [
            ("/abs/m", "tmpfs"),
            ("/rel/m", "tmpfs"),
            ("/absfile", "bind"),
        ] {
            let mut m = json!({"destination": dest, "type": typ, "source": typ});
            if typ == "bind" {
                m["source"] = json!("/etc/hostname");
                m["options"] = json!(["bind", "ro"]);
            }
            mounts(v).push(m);
        }
        v["process"]["args"] = json!([
            "sh",
            "-c",
            "echo x > /abs/m/f && echo y > /rel/m/f && cat /absfile"
        ]);
    });
    let rootfs = b.join("rootfs");
    symlink(&host.0, rootfs.join("abs")).unwrap();
    symlink(&rel, rootfs.join("rel")).unwrap();
    symlink(host.0.join("keep"), rootfs.join("absfile")).unwrap();
    let out = f.run(&[b.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_eq!(host.listing(), vec!["keep"]);
    assert_eq!(fs::read_to_string(host.0.join("keep")).unwrap(), "precious");
    // The mount points were made inside the rootfs, where the links lead in the container.
    let inside = rootfs.join(host.0.strip_prefix("/").unwrap());
    assert!(inside.join("m").is_dir() && inside.join("keep").is_file());

    if let Some(r) = runc(&f, &b) {
        assert_eq!(r.status.code(), Some(0), "runc: {}", stderr(&r));
        assert_eq!(host.listing(), vec!["keep"]);
        assert_eq!(fs::read_to_string(host.0.join("keep")).unwrap(), "precious");
    }
}

/// Runs `step` in a loop until dropped: a process of the container changing a path under
/// ct-exec's feet.
struct Flipper {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
}

impl Flipper {
    fn start(mut step: impl FnMut() + Send + 'static) -> Flipper {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut n = 0u64;
            // Bounded by the caller's time limit, and by a count in case it never stops.
            while !s.load(Ordering::Relaxed) && n < 2_000_000_000 {
                step();
                n += 1;
            }
            n
        });
        Flipper {
            stop,
            thread: Some(thread),
        }
    }

    /// Swap each pair of names (renameat2 RENAME_EXCHANGE): a directory and a symlink to
    /// the host trade places.
    fn exchange(pairs: Vec<(PathBuf, PathBuf)>) -> Flipper {
        Flipper::start(move || {
            for (a, b) in &pairs {
                let _ = nix::fcntl::renameat2(
                    None,
                    a.as_path(),
                    None,
                    b.as_path(),
                    nix::fcntl::RenameFlags::RENAME_EXCHANGE,
                );
            }
        })
    }
}

impl Drop for Flipper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn a_path_component_swapped_for_a_host_symlink_never_leads_ct_exec_onto_the_host() {
    let f = Fixture::new();
    let host = HostDir::new();
    let b = f.bundle("b", |v| {
        // The image's own /dev (no tmpfs on it), so its directories can be swapped too.
        mounts(v).retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev"));
        mounts(v).push(json!({"destination": "/race/m", "type": "tmpfs", "source": "tmpfs"}));
        mounts(v).push(json!({"destination": "/race/keep", "type": "bind",
            "source": "/etc/hostname", "options": ["bind", "ro"]}));
        v["linux"]["devices"] =
            json!([{"path": "/dev/race/null", "type": "c", "major": 1, "minor": 3}]);
        v["process"]["args"] = json!(["true"]);
    });
    let rootfs = b.join("rootfs");
    fs::create_dir_all(rootfs.join("race")).unwrap();
    fs::create_dir_all(rootfs.join("dev/race")).unwrap();
    symlink(&host.0, rootfs.join("race-link")).unwrap();
    symlink(&host.0, rootfs.join("dev/race-link")).unwrap();
    // What ct-exec would truncate, replace or create there.
    let fill = || {
        fs::write(host.0.join("keep"), "precious").unwrap();
        fs::write(host.0.join("null"), "precious").unwrap();
    };
    fill();
    let expected = vec!["keep".to_string(), "null".to_string()];
    let intact = || {
        host.listing() == expected
            && fs::read_to_string(host.0.join("keep")).ok().as_deref() == Some("precious")
            && fs::read_to_string(host.0.join("null")).ok().as_deref() == Some("precious")
    };

    let flipper = Flipper::exchange(vec![
        (rootfs.join("race"), rootfs.join("race-link")),
        (rootfs.join("dev/race"), rootfs.join("dev/race-link")),
    ]);
    let (mut runs, mut ran, mut hits) = (0, 0, Vec::new());
    let start = Instant::now();
    while runs < 3000 && start.elapsed() < Duration::from_secs(10) {
        let out = f.run(&[b.to_str().unwrap()]);
        runs += 1;
        if out.status.code() == Some(0) {
            ran += 1;
        }
        if !intact() {
            hits.push(host.listing());
            // Undo (the mount points and nodes ct-exec made on the host) and go on counting.
            for e in fs::read_dir(&host.0).unwrap() {
                let p = e.unwrap().path();
                let _ = fs::remove_dir(&p).or_else(|_| fs::remove_file(&p));
            }
            fill();
        }
    }
    drop(flipper);
    eprintln!(
        "{runs} starts, {ran} ran, {} reached the host: {hits:?}",
        hits.len()
    );
    assert!(runs > 0 && ran > 0, "no container ran at all");
    assert!(
        hits.is_empty(),
        "{} of {runs} starts created, truncated or replaced files in the host directory",
        hits.len()
    );
}

#[test]
fn a_proc_that_is_not_procfs_gets_no_writes() {
    let f = Fixture::new();
    // No proc mount; the image brings a /proc/sys of plain files.
    let b = f.bundle("fake", |v| {
        mounts(v).retain(|m| m["type"] != "proc");
        v["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
        v["linux"]["maskedPaths"] = json!([]);
        v["linux"]["readonlyPaths"] = json!([]);
        v["process"]["args"] = json!(["true"]);
    });
    let fake = b.join("rootfs/proc/sys/net/ipv4/ip_forward");
    fs::create_dir_all(fake.parent().unwrap()).unwrap();
    fs::write(&fake, "0\n").unwrap();
    let out = f.run(&[b.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125), "stderr: {}", stderr(&out));
    assert_eq!(fs::read_to_string(&fake).unwrap(), "0\n");
    let e = error_line(&out);
    assert!(
        e.starts_with("ct-exec: cannot set sysctl 'net.ipv4.ip_forward'='1'")
            && e.contains("is not on procfs"),
        "{e}"
    );

    // A /proc that is a symlink elsewhere in the image: proc is never mounted through it.
    let b = f.bundle("link", |v| v["process"]["args"] = json!(["true"]));
    let rootfs = b.join("rootfs");
    fs::remove_dir(rootfs.join("proc")).unwrap();
    fs::create_dir_all(rootfs.join("tmp/fakeproc")).unwrap();
    symlink("/tmp/fakeproc", rootfs.join("proc")).unwrap();
    let out = f.run(&[b.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125), "stderr: {}", stderr(&out));
    assert_eq!(
        error_line(&out),
        "ct-exec: mount '/proc': proc must be mounted on an ordinary directory, not through a symlink"
    );
    if let Some(r) = runc(&f, &b) {
        assert_ne!(r.status.code(), Some(0), "runc accepted a symlinked /proc");
    }
}

#[test]
fn a_container_cannot_set_host_sysctls() {
    let f = Fixture::new();
    let before = fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let b = f.bundle("core", |v| {
        v["linux"]["sysctl"] = json!({"kernel.core_pattern": "|/tmp/x"});
        v["process"]["args"] = json!(["true"]);
    });
    let out = f.run(&[b.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125), "stderr: {}", stderr(&out));
    assert_eq!(
        error_line(&out),
        "ct-exec: sysctl 'kernel.core_pattern': not allowed: it is not namespaced, so it would change the host"
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(),
        before
    );
    if let Some(r) = runc(&f, &b) {
        assert_ne!(r.status.code(), Some(0), "runc accepted core_pattern");
    }
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(),
        before
    );

    // net.* in the host's network namespace: refused, by ct-exec and runc alike.
    let forward = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let want = if forward.trim() == "1" { "0" } else { "1" };
    let hostnet = f.bundle("hostnet", |v| {
        ns_list(v).retain(|n| n["type"] != "network");
        v["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": want});
        v["process"]["args"] = json!(["true"]);
    });
    let out = f.run(&[hostnet.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125), "stderr: {}", stderr(&out));
    assert_eq!(
        error_line(&out),
        "ct-exec: sysctl 'net.ipv4.ip_forward': not allowed without the container's own net namespace (it would change the host's)"
    );
    if let Some(r) = runc(&f, &hostnet) {
        assert_ne!(
            r.status.code(),
            Some(0),
            "runc accepted net.* in the host netns"
        );
    }
    assert_eq!(
        fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        forward
    );

    // With its own network namespace: set, and seen inside only.
    let own = f.bundle("ownnet", |v| {
        v["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": want});
        v["process"]["args"] = json!(["cat", "/proc/sys/net/ipv4/ip_forward"]);
    });
    let out = f.run(&[own.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out).trim(), want);
    if let Some(r) = runc(&f, &own) {
        assert_eq!(r.status.code(), Some(0), "runc: {}", stderr(&r));
        assert_eq!(String::from_utf8_lossy(&r.stdout).trim(), want);
    }
    assert_eq!(
        fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        forward
    );
}

#[test]
fn a_working_directory_through_an_fd_link_is_not_a_host_directory() {
    let f = Fixture::new();
    let host = HostDir::new();
    fs::write(host.0.join("host-marker"), "").unwrap();
    let b = f.bundle("b", |v| v["root"]["readonly"] = json!(false));
    // An fd on the host directory, inherited by ct-exec (no close-on-exec).
    let c = std::ffi::CString::new(host.0.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: open(2) of a NUL-terminated path; the fd is closed below.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
    assert!(fd >= 0);
    let w = format!("/proc/self/fd/{fd}");
    let out = f.run(&[b.to_str().unwrap(), "-w", &w, "--", "ls"]);
    // SAFETY: closing the fd opened above.
    unsafe { libc::close(fd) };
    assert!(
        !stdout(&out).contains("host-marker"),
        "the host directory was the cwd"
    );
    assert_eq!(out.status.code(), Some(125), "stderr: {}", stderr(&out));
    assert!(
        error_line(&out).starts_with(&format!(
            "ct-exec: cannot change to working directory '{w}': "
        )),
        "{}",
        stderr(&out)
    );
    // A missing one is still created, inside the root.
    let out = f.run(&[b.to_str().unwrap(), "-w", "/new/dir", "--", "pwd"]);
    assert_eq!(stdout(&out), "/new/dir\n", "stderr: {}", stderr(&out));
}

#[test]
fn a_dev_null_swapped_for_a_symlink_never_unmasks_a_kernel_setting() {
    let f = Fixture::new();
    let core_pattern = fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let b = f.bundle("b", |v| {
        // The image's own /dev, so a process sharing the rootfs can swap its /dev/null.
        mounts(v).retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev"));
        v["process"]["args"] = json!(["cat", "/proc/timer_list"]);
    });
    let dev = b.join("rootfs/dev");
    fs::write(dev.join("null"), "").unwrap();
    // Masking binds /dev/null over /proc/timer_list: through this link it would bind the
    // container's (writable) view of the host-wide core_pattern there instead.
    // A real null device and that link, each put in place by an atomic rename, in turn.
    let flipper = Flipper::start(move || {
        let (tmp, null) = (dev.join(".swap"), dev.join("null"));
        let _ = fs::remove_file(&tmp);
        let _ = symlink("/proc/sys/kernel/core_pattern", &tmp);
        let _ = fs::rename(&tmp, &null);
        let _ = nix::sys::stat::mknod(
            &tmp,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o666),
            nix::sys::stat::makedev(1, 3),
        );
        let _ = fs::rename(&tmp, &null);
    });
    let (mut runs, mut ran, mut hits) = (0, 0, 0);
    let start = Instant::now();
    while runs < 3000 && start.elapsed() < Duration::from_secs(6) {
        let out = f.run(&[b.to_str().unwrap()]);
        runs += 1;
        if out.status.code() == Some(0) {
            ran += 1;
            if !out.stdout.is_empty() {
                hits += 1;
            }
        } else if runs < 5 {
            eprintln!("{}", stderr(&out));
        }
    }
    drop(flipper);
    eprintln!("{runs} starts, {ran} ran, {hits} saw a kernel setting at /proc/timer_list");
    assert!(ran > 0, "no container ran at all");
    assert_eq!(
        hits, 0,
        "{hits} of {runs} starts masked /proc/timer_list with another file"
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(),
        core_pattern
    );
}
