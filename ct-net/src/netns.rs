//! Named network namespaces, the way `ip netns add` makes them (network_namespaces(7),
//! unshare(2), setns(2), mount(2)):
//!
//! 1. `/run/netns` is made a shared mount point (bind-mounted on itself if needed), so the
//!    names also appear in mount namespaces created later, e.g. a container's.
//! 2. An empty file `/run/netns/NAME` is created (O_EXCL: a name is never taken over).
//! 3. The thread keeps a descriptor of its current namespace and calls
//!    `unshare(CLONE_NEWNET)`: it alone moves to a new, empty namespace (network namespaces
//!    are per thread).
//! 4. It bind-mounts its `/proc/thread-self/ns/net` onto the file. The mount keeps the
//!    namespace alive when nothing runs in it; anyone can now `setns(2)` into it by path
//!    (`ip netns exec NAME`, an OCI runtime's `linux.namespaces[].path`).
//! 5. Still inside, it opens a NETLINK_ROUTE socket and sets `lo` up, then `setns(2)`s back
//!    home. The socket stays bound to the new namespace for its whole life, so ct-net
//!    configures the container's side through it from outside.
//!
//! Removal is the reverse: `umount2(MNT_DETACH)` and unlink. The namespace itself dies when the
//! last process in it and the last reference to it are gone.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use crate::rtnetlink::Rtnl;
use crate::Error;

/// Where `ip netns` looks for names.
pub const NETNS_DIR: &str = "/run/netns";

/// Where ct-net names its namespaces: [`NETNS_DIR`], or, for a user (inside the user's
/// namespaces, which cannot write root's `/run`), `$CT_RUN/netns`, bind mounts that exist in
/// the mount namespace all the user's tools share (`ct-exec unshare ip netns` does not list
/// them; `nsenter --net=PATH` enters one).
pub fn dir() -> PathBuf {
    match std::env::var_os("CT_RUN") {
        Some(run) if ct_layout::rootless::active() => Path::new(&run).join("netns"),
        _ => PathBuf::from(NETNS_DIR),
    }
}

pub fn path_of(name: &str) -> PathBuf {
    dir().join(name)
}

/// The namespace name of container `id` of the store tagged `store` (`lease::store_tag`):
/// `ID-TAG`. `/run/netns` is host-global and two stores may both have a `web`; the suffix
/// has a fixed length, so two different (store, id) pairs never give the same name.
pub fn name_for(store: &str, id: &str) -> String {
    format!("{id}-{store}")
}

fn netns_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Netns {
        what,
        path: path.to_path_buf(),
        source,
    }
}

fn nix_io(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Step 1: make `/run/netns` a shared mount point, as iproute2 does.
fn ensure_dir() -> Result<(), Error> {
    let dir = &dir();
    fs::create_dir_all(dir).map_err(netns_err("cannot create", dir))?;
    // Serialize this with other ct-net runs: two racing bind mounts would stack.
    let d = File::open(dir).map_err(netns_err("cannot open", dir))?;
    rustix::fs::flock(&d, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| netns_err("cannot lock", dir)(e.into()))?;
    let shared = || {
        mount(
            None::<&str>,
            dir,
            None::<&str>,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    match shared() {
        Ok(()) => Ok(()),
        // EINVAL: not a mount point yet. Make it one, then share it.
        Err(nix::Error::EINVAL) => {
            mount(
                Some(dir),
                dir,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| netns_err("cannot bind-mount", dir)(nix_io(e)))?;
            shared().map_err(|e| netns_err("cannot make shared", dir)(nix_io(e)))
        }
        Err(e) => Err(netns_err("cannot make shared", dir)(nix_io(e))),
    }
}

/// Steps 2–5: a new named namespace, `lo` up, and a netlink socket inside it.
pub fn create(name: &str) -> Result<(PathBuf, Rtnl), Error> {
    ensure_dir()?;
    let path = path_of(name);
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(&path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(Error::NetnsExists { path });
        }
        Err(e) => return Err(netns_err("cannot create", &path)(e)),
    }
    let made = enter_new(&path);
    match made {
        Ok(rt) => Ok((path, rt)),
        Err(e) => {
            let _ = remove(name);
            Err(e)
        }
    }
}

/// Steps 3–5 on the calling thread, which returns to its own namespace before this returns
/// (even on failure). No helper thread: under load every extra thread start and join is a
/// scheduling round trip, and this is the hot path of `ct-net BUNDLE`.
///
/// A user cannot return: the host's namespace belongs to the host's user namespace, where
/// the user has no CAP_SYS_ADMIN to setns(2) into it. For a user the steps run on a thread
/// of their own that ends inside (the socket outlives it).
fn enter_new(path: &Path) -> Result<Rtnl, Error> {
    if ct_layout::rootless::active() {
        let p = path.to_path_buf();
        return std::thread::spawn(move || {
            unshare(CloneFlags::CLONE_NEWNET)
                .map_err(|e| netns_err("cannot unshare for", &p)(nix_io(e)))?;
            configure_new(&p)
        })
        .join()
        .unwrap_or_else(|_| {
            Err(Error::Netns {
                what: "thread died while creating",
                path: path.to_path_buf(),
                source: io::Error::other("panic"),
            })
        });
    }
    let home = File::open("/proc/thread-self/ns/net").map_err(netns_err(
        "cannot open the current",
        Path::new("/proc/thread-self/ns/net"),
    ))?;
    unshare(CloneFlags::CLONE_NEWNET)
        .map_err(|e| netns_err("cannot unshare for", path)(nix_io(e)))?;
    let inside = configure_new(path);
    // Back home whatever happened; the socket stays bound to the new namespace.
    setns(&home, CloneFlags::CLONE_NEWNET)
        .map_err(|e| netns_err("cannot return from", path)(nix_io(e)))?;
    inside
}

/// Steps 4–5, on a thread inside the new namespace.
fn configure_new(path: &Path) -> Result<Rtnl, Error> {
    mount(
        Some("/proc/thread-self/ns/net"),
        path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| netns_err("cannot bind-mount", path)(nix_io(e)))?;
    let mut rt = Rtnl::open().map_err(netns_err("cannot open netlink in", path))?;
    let lo = rt
        .link_by_name("lo")
        .and_then(|l| l.ok_or_else(|| io::Error::from_raw_os_error(libc::ENODEV)))
        .map_err(netns_err("cannot find lo in", path))?;
    rt.set_up(lo.index)
        .map_err(netns_err("cannot set lo up in", path))?;
    Ok(rt)
}

/// A netlink socket inside the namespace at `path` (any bind-mounted or /proc ns file):
/// a helper thread `setns(2)`s there, opens the socket and exits.
pub fn socket_in(path: &Path) -> Result<Rtnl, Error> {
    let f = File::open(path).map_err(netns_err("cannot open", path))?;
    let p = path.to_path_buf();
    std::thread::spawn(move || -> Result<Rtnl, Error> {
        setns(&f, CloneFlags::CLONE_NEWNET)
            .map_err(|e| netns_err("cannot enter", &p)(nix_io(e)))?;
        Rtnl::open().map_err(netns_err("cannot open netlink in", &p))
    })
    .join()
    .unwrap_or_else(|_| {
        Err(Error::Netns {
            what: "thread died while entering",
            path: path.to_path_buf(),
            source: io::Error::other("panic"),
        })
    })
}

/// Unmount and unlink `/run/netns/NAME`. Missing pieces are fine: removal is idempotent and
/// also finishes a half-made namespace (a file that was never mounted on).
pub fn remove(name: &str) -> Result<bool, Error> {
    remove_path(&path_of(name))
}

/// [`remove`] by path (a namespace recorded in a lease or config.json).
pub fn remove_path(path: &Path) -> Result<bool, Error> {
    let path = path.to_path_buf();
    match umount2(&path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
        Err(e) => return Err(netns_err("cannot unmount", &path)(nix_io(e))),
    }
    match fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(netns_err("cannot remove", &path)(e)),
    }
}
