//! The world one end-to-end test runs in, and how it is torn down: the one sandbox every test
//! of `ct` and its pipeline uses (`ct_tests::sandbox::Sandbox`). Each [`Sandbox`] has its own
//! `CT_ROOT`/`CT_RUN` in a temp dir and its own bridge, subnet, nftables table and cgroup
//! parent (the stages' env overrides), so tests run in parallel without meeting. Dropping it
//! — also when an assertion failed — removes every container with `ct rm -f --all`, then
//! anything a broken run could have left: mounts below the temp dir, the network namespaces
//! named after its containers, the bridge, the table and the cgroup parent on every hierarchy.
//! Every command runs under `timeout(1)`, so no test waits forever.
//!
//! The crate-local suites build on the same parts: [`Sandbox::store`] (the private
//! `CT_ROOT`/`CT_RUN` one tool runs with), [`Sandbox::cgroup_parent`], [`Sandbox::bundle`]
//! (a busybox OCI bundle), [`Sandbox::add_netns`] / [`Sandbox::own_netns`] (host-global
//! network namespace names deleted on drop) and [`Sandbox::unique`] (names shared with the
//! host). Drop also SIGKILLs any container a runtime recorded in `CT_RUN/containers/*/state.json`
//! that is still alive, and kills what is left in the cgroup parent before removing it;
//! `ct rm -f --all` runs only for a sandbox that ran commands through [`Sandbox::program`].

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::bins;
use crate::bundle::{busybox_rootfs, runc_spec};
use crate::image::busybox_image;
use crate::mounts::unmount_all_under;
use crate::registry::Registry;
use crate::{cgroups, netns};
use ct_layout::image_layout::ImageLayout;
use ct_layout::Store;
use serde_json::Value;

static SEQ: AtomicU32 = AtomicU32::new(0);

pub struct Sandbox {
    pub root: PathBuf,
    pub run: PathBuf,
    pub bridge: String,
    pub subnet: String,
    pub table: String,
    pub cgparent: String,
    bindir: PathBuf,
    /// Network namespaces (host-global names) this sandbox deletes on drop.
    netns: Mutex<Vec<String>>,
    /// A command ran through [`Sandbox::program`]: drop runs `ct rm -f --all`.
    ran_ct: AtomicBool,
    pub dir: tempfile::TempDir,
}

/// A sandbox's temp dir under another name, for fixtures whose tests say `x.tmp.path()` or
/// `x.root.path()` (the [`Sandbox`] owns and removes the directory).
pub struct DirRef(PathBuf);

impl DirRef {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

/// The `ct` script at the root of the source tree.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ct")
}

impl Default for Sandbox {
    fn default() -> Sandbox {
        Sandbox::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox::with_prefix("ct-test-")
    }

    /// A sandbox whose temp dir name starts with `prefix` (to tell suites apart in /tmp).
    pub fn with_prefix(prefix: &str) -> Sandbox {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
        let pid = std::process::id();
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        Sandbox {
            root: dir.path().join("root"),
            run: dir.path().join("run"),
            bridge: format!("ctb{}x{n}", pid % 100_000),
            subnet: format!("10.{}.{}.0/24", 200 + pid % 50, (pid / 50 * 16 + n) % 250),
            table: format!("ctt{pid}x{n}"),
            cgparent: format!("cttest-{pid}-{n}"),
            bindir: bins::dir(),
            netns: Mutex::new(Vec::new()),
            ran_ct: AtomicBool::new(false),
            dir,
        }
    }

    /// The temp dir, as a [`DirRef`].
    pub fn dir_ref(&self) -> DirRef {
        DirRef(self.dir.path().to_path_buf())
    }

    /// The private store (`CT_ROOT`, `CT_RUN`) a single tool runs with.
    pub fn store(&self) -> Store {
        Store::new(self.root.clone(), self.run.clone())
    }

    /// This sandbox's cgroup parent (a name below each hierarchy's root), removed on drop
    /// with every cgroup and process below it.
    pub fn cgroup_parent(&self) -> &str {
        &self.cgparent
    }

    /// A name for something shared with the whole host (netns, interface, container id),
    /// unique to this sandbox: `PREFIX` + pid + a counter (short enough for an interface).
    pub fn unique(&self, prefix: &str) -> String {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        format!("{prefix}{:x}x{n}", std::process::id() % 0x10000)
    }

    /// A busybox bundle `DIR/NAME` (rootfs + `runc spec` config running `/probe`, see
    /// [`crate::bundle`]) whose config `edit` may change.
    pub fn bundle(&self, name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
        let dir = self.dir.path().join(name);
        busybox_rootfs(&dir.join("rootfs"));
        let mut v = runc_spec(&dir);
        edit(&mut v);
        fs::write(
            dir.join("config.json"),
            serde_json::to_vec_pretty(&v).unwrap(),
        )
        .unwrap();
        dir
    }

    /// Create the network namespace `NAME`; it is deleted when the sandbox drops.
    pub fn add_netns(&self, name: &str) -> String {
        self.own_netns(name);
        netns::add(name);
        name.to_string()
    }

    /// Delete the network namespace `NAME` on drop (one a tool under test creates).
    pub fn own_netns(&self, name: &str) {
        self.netns.lock().unwrap().push(name.to_string());
    }

    /// `ct ARGS…` with this world's environment (bounded by `timeout 120`).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.program(&script().to_string_lossy(), 120);
        c.args(args);
        c
    }

    /// Any program under `timeout SECS` with this world's environment; the tools and `ct`
    /// are first in PATH.
    pub fn program(&self, prog: &str, secs: u32) -> Command {
        self.ran_ct.store(true, Ordering::SeqCst);
        let mut c = Command::new("timeout");
        c.args(["-k", "5", &secs.to_string(), prog]);
        let repo = script().parent().unwrap().to_path_buf();
        let path = format!(
            "{}:{}:{}",
            self.bindir.display(),
            repo.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        c.env("PATH", path)
            .env("CT_ROOT", &self.root)
            .env("CT_RUN", &self.run)
            .env("CT_NET_BRIDGE", &self.bridge)
            .env("CT_NET_SUBNET", &self.subnet)
            .env("CT_NET_TABLE", &self.table)
            .env("CT_CGROUP_PARENT", &self.cgparent)
            .env_remove("CT_GC_GRACE")
            .stdin(Stdio::null());
        c
    }

    pub fn out(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Run `ct ARGS…`, assert success, return stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.out(args);
        assert!(
            o.status.success(),
            "ct {args:?} exited {:?}: {}",
            o.status.code(),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// Write a busybox image into a temp layout and push it to `reg` as `repo_tag`.
    pub fn push_busybox(&self, reg: &Registry, repo_tag: &str) -> String {
        let d = self
            .dir
            .path()
            .join(format!("push-{}", repo_tag.replace(['/', ':'], "_")));
        let layout = ImageLayout::at(&d);
        busybox_image(&layout, "busybox:1");
        reg.push_layout(&d, "busybox:1", repo_tag)
    }

    /// A busybox image in this sandbox's store as `tag`, pulled from an OCI layout in its dir
    /// (no registry); returns the tag.
    pub fn local_busybox(&self, tag: &str) -> String {
        let d = self
            .dir
            .path()
            .join(format!("layout-{}", tag.replace(['/', ':'], "_")));
        busybox_image(&ImageLayout::at(&d), "fixture");
        self.ok(&[
            "pull",
            "--tag",
            tag,
            &format!("oci:{}:fixture", d.display()),
        ]);
        tag.to_string()
    }

    pub fn containers(&self) -> Vec<String> {
        names_in(&self.root.join("containers"))
    }

    /// Ids with runtime state (`CT_RUN/containers/ID`, written by ct-exec).
    pub fn runtime_states(&self) -> Vec<String> {
        names_in(&self.run.join("containers"))
    }

    /// SIGKILL every container process a runtime state records that is still the same
    /// process (its start time matches `pidStart`, so a reused pid is left alone) — but never
    /// the test itself, which tests of `ct-gc`/`ct-ls` record as a "running" container.
    pub fn kill_containers(&self) {
        let me = std::process::id() as i64;
        for id in self.runtime_states() {
            let p = self.run.join("containers").join(&id).join("state.json");
            let Ok(Ok(v)) = fs::read(&p).map(|b| serde_json::from_slice::<Value>(&b)) else {
                continue;
            };
            if let Some(pid) = v["pid"].as_i64().filter(|p| *p > 0 && *p != me) {
                let start = v["pidStart"].as_u64();
                if start.is_some() && ct_layout::state::pid_start_time(pid as i32) == start {
                    // SAFETY: kill(2) takes no pointers; the pid is the container's, checked.
                    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                }
            }
        }
    }

    /// `/sys/fs/cgroup/CTRL/PARENT/ID/FILE` (cgroup v1 hierarchy of this host).
    pub fn cgroup_file(&self, ctrl: &str, id: &str, file: &str) -> PathBuf {
        PathBuf::from("/sys/fs/cgroup")
            .join(ctrl)
            .join(&self.cgparent)
            .join(id)
            .join(file)
    }

    /// Cgroup directories left below this world's parent, on every hierarchy.
    pub fn cgroups_left(&self) -> Vec<PathBuf> {
        let mut left = Vec::new();
        for h in fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let p = h.path().join(&self.cgparent);
            for c in fs::read_dir(&p).into_iter().flatten().flatten() {
                if c.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    left.push(c.path());
                }
            }
        }
        left
    }

    /// Interfaces enslaved to this world's bridge (the host ends of veth pairs), once there
    /// are none or after 2 s: the kernel takes a torn-down container's host veth away in its
    /// own cleanup of the namespace, a few ms after `ct-net --down` returns (ct-net deletes it
    /// itself when that takes longer than 500 ms).
    pub fn bridge_ports(&self) -> String {
        let ports = || {
            let o = Command::new("ip")
                .args(["-o", "link", "show", "master", &self.bridge])
                .output()
                .unwrap();
            String::from_utf8_lossy(&o.stdout).into_owned()
        };
        wait_for(2, || Some(ports()).filter(|p| p.trim().is_empty())).unwrap_or_else(ports)
    }

    /// The ids of this store's containers that have a network namespace: ct-net names it
    /// `/run/netns/ID-TAG`, TAG being 8 hex digits of sha256 of the store's root path.
    pub fn netns(&self) -> Vec<String> {
        let suffix = format!("-{}", self.store_tag());
        fs::read_dir("/run/netns")
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        name.strip_suffix(&suffix).map(String::from)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// ct-net's tag of this store.
    pub fn store_tag(&self) -> String {
        ct_net::lease::store_tag(&self.root)
    }

    /// The lease records of this test's bridge (host-global, see ct-net's `lease.rs`).
    pub fn leases_file(&self) -> PathBuf {
        ct_net::lease::host_dir()
            .join(&self.bridge)
            .join("leases.json")
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let ids = self.containers();
        self.kill_containers();
        if self.ran_ct.load(Ordering::SeqCst) {
            let _ = self.cmd(&["rm", "-f", "--all"]).output();
        }
        unmount_all_under(self.dir.path());
        for id in ids {
            if self.netns().contains(&id) {
                let name = format!("{id}-{}", self.store_tag());
                let _ = Command::new("ip").args(["netns", "del", &name]).output();
            }
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
        let _ = fs::remove_dir_all(ct_net::lease::host_dir().join(&self.bridge));
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &self.table])
            .output();
        cgroups::remove_everywhere(&self.cgparent);
        for name in self.netns.get_mut().unwrap().drain(..) {
            netns::del(&name);
        }
    }
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Poll `f` every 50 ms for up to `secs` seconds.
pub fn wait_for<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `GET /` on 127.0.0.1:port; the response body, if anything answered.
pub fn http_get(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
