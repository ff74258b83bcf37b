//! The container's root filesystem as a handle, for every path ct-exec touches in it.
//!
//! A mount destination like `/var/run/x` is a path in the container, but ct-exec mounts it
//! before `pivot_root(2)`, while `/` is still the host's; and the tree is not ct-exec's alone
//! (a container sharing the rootfs, a process in a joined mount namespace): any component can
//! become a symlink to a host directory at any moment. So nothing is looked up by name twice:
//!
//! 1. The root is held as an `O_PATH` fd ([`ct_layout::in_root::Root`]) and each path opened
//!    with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`, creating what is missing with
//!    `mkdirat`/`openat(O_CREAT|O_EXCL|O_NOFOLLOW)` relative to verified directory fds.
//! 2. The mount goes onto that fd, named `/proc/self/fd/N` (the kernel follows that link to
//!    exactly the file the fd holds), never onto a path re-resolved later.
//! 3. After a mount the fd still holds the directory *under* it, so flags or propagation
//!    changes need the new mount: [`Rootfs::reopen`] reads the fd's path back and opens it
//!    in the root again (runc's `reopenAfterMount`): a swap in between lands inside the root.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use ct_layout::in_root::{fd_path, Root};
use rustix::fs::OFlags;

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("cannot open the root filesystem '{path}'")]
    Root {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot open '{path}' inside the root filesystem")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The root, as a handle and as the host path it was opened by.
#[derive(Debug)]
pub struct Rootfs {
    pub path: PathBuf,
    pub root: Root,
}

impl Rootfs {
    /// Step 1. `path` is trusted (the bundle's resolved rootfs, or `/` after `pivot_root`).
    pub fn open(path: &Path) -> Result<Rootfs, ResolveError> {
        let root = Root::open(path).map_err(|source| ResolveError::Root {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Rootfs {
            path: path.to_path_buf(),
            root,
        })
    }

    /// Step 3: the same path in the root again, now showing what was mounted on `fd`.
    pub fn reopen(&self, fd: BorrowedFd) -> io::Result<OwnedFd> {
        let now = std::fs::read_link(fd_path(fd))?;
        let rel = now.strip_prefix(&self.path).map_err(|_| {
            io::Error::other(format!(
                "'{}' is not below the root any more",
                now.display()
            ))
        })?;
        self.root.open_in(rel, OFlags::PATH)
    }

    /// Open `container_path` inside the root as an `O_PATH` fd.
    pub fn open_in(&self, container_path: &Path, flags: OFlags) -> Result<OwnedFd, ResolveError> {
        self.root
            .open_in(container_path, flags)
            .map_err(|source| ResolveError::Open {
                path: container_path.to_path_buf(),
                source,
            })
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }
}

/// Where a mount goes for an fd (step 2). The name is only good while `fd` is open: keep the
/// fd in a variable, never a temporary.
pub fn target(fd: &impl AsFd) -> PathBuf {
    fd_path(fd.as_fd())
}
