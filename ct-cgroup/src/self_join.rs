//! A new process that moves *itself* into its cgroup, without the cost of `cgroup.procs`
//! (cgroups(7) "tasks", clone3(2) `CLONE_INTO_CGROUP`).
//!
//! Writing a pid to `cgroup.procs` moves a whole thread group, so the kernel takes the global
//! `cgroup_threadgroup_rwsem` for writing. That lock is a per-cpu rwsem: its writer waits for
//! an RCU grace period, several milliseconds on an idle host — the largest single cost of
//! starting a container (runc and crun pay it on every start). Two ways in take no such lock:
//!
//! - **cgroup v1**: a single-threaded process writes `0` ("this thread") to each hierarchy's
//!   `tasks` file. Moving one thread that is the writer itself cannot race with its `fork` or
//!   `execve`, so the kernel skips the global lock; and with one thread, the thread is the
//!   process.
//! - **cgroup v2** has no per-thread move outside threaded cgroups, but `clone3(2)` with
//!   `CLONE_INTO_CGROUP` (Linux 5.7) creates the process inside the cgroup, under the cheap
//!   read side of the same lock. Where clone3 is refused (an older kernel, or a seccomp
//!   profile around us that answers ENOSYS), the process writes `0` to `cgroup.procs` instead:
//!   the slow way, still correct.
//!
//! Every file is opened by the runtime before the clone, so the kernel checks the opener's
//! credentials (root's), not those of the new process, which may already be in a user
//! namespace. The new process writes them as its first step, before it runs anything else.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::CgroupError;

/// A cgroup's entry files, open; see the module note. Closing it (drop) closes them.
#[derive(Debug)]
pub struct SelfJoin {
    /// Each v1 hierarchy's `tasks` file.
    tasks: Vec<(PathBuf, OwnedFd)>,
    v2: Option<V2>,
}

#[derive(Debug)]
struct V2 {
    /// The cgroup's directory, for `CLONE_INTO_CGROUP`.
    dir: OwnedFd,
    procs_path: PathBuf,
    procs: OwnedFd,
}

/// `path` opened for writing, or (`dir`) as a directory; close-on-exec either way.
fn open(path: &Path, dir: bool) -> Result<OwnedFd, CgroupError> {
    let mut o = OpenOptions::new();
    match dir {
        true => o.read(true).custom_flags(libc::O_DIRECTORY),
        false => o.write(true),
    };
    o.open(path)
        .map(OwnedFd::from)
        .map_err(|source| CgroupError::Open {
            path: path.to_path_buf(),
            source,
        })
}

impl SelfJoin {
    /// Open the entry files of the cgroup directories `v1` (one per v1 hierarchy) and `v2`.
    pub(crate) fn open(v1: &[PathBuf], v2: Option<&Path>) -> Result<SelfJoin, CgroupError> {
        let tasks = v1
            .iter()
            .map(|d| {
                let p = d.join("tasks");
                open(&p, false).map(|fd| (p, fd))
            })
            .collect::<Result<_, _>>()?;
        let v2 = match v2 {
            None => None,
            Some(d) => {
                let procs_path = d.join("cgroup.procs");
                Some(V2 {
                    dir: open(d, true)?,
                    procs: open(&procs_path, false)?,
                    procs_path,
                })
            }
        };
        Ok(SelfJoin { tasks, v2 })
    }

    /// The v2 cgroup's directory, for `clone3(2)`'s `CLONE_INTO_CGROUP`, if there is one.
    pub fn clone_into(&self) -> Option<BorrowedFd<'_>> {
        self.v2.as_ref().map(|v| v.dir.as_fd())
    }

    /// Move the calling process in, on every hierarchy. It must be single-threaded (a new
    /// process before it starts threads). `in_v2`: clone3 already created it in the v2 cgroup.
    pub fn enter(&self, in_v2: bool) -> Result<(), CgroupError> {
        let v2 = self.v2.as_ref().filter(|_| !in_v2);
        let files = self.tasks.iter().map(|(p, fd)| (p, fd));
        for (path, fd) in files.chain(v2.map(|v| (&v.procs_path, &v.procs))) {
            write_zero(fd).map_err(|source| CgroupError::Enter {
                path: path.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

/// `0`, one write(2): "the caller".
fn write_zero(fd: &OwnedFd) -> io::Result<()> {
    match rustix::io::write(fd, b"0")? {
        1 => Ok(()),
        _ => Err(io::Error::from(io::ErrorKind::WriteZero)),
    }
}
