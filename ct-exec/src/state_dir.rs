//! Claiming a container's state directory, `$CT_RUN/containers/ID`, so that of any number of
//! ct-exec runs for one id exactly one wins, and what a killed ct-exec left is recognised.
//!
//! Two kernel primitives do it: `renameat2(RENAME_NOREPLACE)` (rename(2)) moves a new
//! directory onto `ID` only if nothing is there — atomic, so one claim wins — and `flock(2)` on
//! the directory itself, held for as long as the ct-exec that owns the container lives (the
//! monitor, for `-d`): the kernel drops it when that process dies, however it dies. So a lock
//! that can be taken means "nobody is running this", and the state in it says whether it is a
//! stopped container waiting for `delete` or debris to reclaim.

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use ct_layout::state::{State, Status};
use ct_layout::Store;
use rustix::fs::{FlockOperation, Mode, OFlags, RenameFlags};

use crate::oci_config::Plan;
use crate::ExecError;

/// Removes the state directory when dropped, unless disarmed. Holds the directory's lock
/// (an flock on the directory itself) for as long as this ct-exec — the monitor, for `-d` —
/// lives: that is how a claim tells a live container from what a killed ct-exec left.
pub(crate) struct StateDir {
    pub(crate) dir: PathBuf,
    pub(crate) armed: bool,
    _lock: OwnedFd,
}

impl Drop for StateDir {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

pub(crate) fn open_dir(p: &Path) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(rustix::fs::open(p, flags, Mode::empty())?)
}

/// An exclusive flock(2), without waiting: false when another process holds it.
pub(crate) fn try_lock(fd: &OwnedFd) -> io::Result<bool> {
    match rustix::fs::flock(fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn same_file(fd: &OwnedFd, p: &Path) -> bool {
    match (rustix::fs::fstat(fd), rustix::fs::lstat(p)) {
        (Ok(a), Ok(b)) => (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino),
        _ => false,
    }
}

/// Step 2 of a run. The claim is one `renameat2(RENAME_NOREPLACE)` of a new, already locked directory
/// (`.ID.RANDOM`) onto `ID`: of any number of claims at the same moment exactly one wins. A
/// loser opens `ID` and tries its lock: held — a live ct-exec has it ("already exists");
/// free — it is a stopped container waiting for `delete` ("already exists"), or what a killed
/// ct-exec left: then, holding that lock (so no other claim can do the same) and having checked
/// that `ID` is still the directory it locked, it moves it aside, removes it and claims again.
pub(crate) fn claim(
    store: &Store,
    id: &str,
    bundle: &Path,
    plan: &Plan,
) -> Result<(State, StateDir), ExecError> {
    store
        .ensure_run("ct-exec")
        .map_err(|(path, source)| ExecError::StateDir { path, source })?;
    let base = store.run_containers();
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source: io::Error| ExecError::StateDir { path, source }
    };
    fs::create_dir_all(&base).map_err(err(&base))?;
    let dir = base.join(id);
    for _ in 0..8 {
        let tmp = base.join(format!(".{id}.{}", ct_layout::paths::new_id()));
        fs::create_dir(&tmp).map_err(err(&tmp))?;
        let lock = open_dir(&tmp);
        let mut guard = StateDir {
            dir: tmp.clone(),
            armed: true,
            _lock: lock.map_err(err(&tmp))?,
        };
        try_lock(&guard._lock).map_err(err(&tmp))?;
        let renamed = rustix::fs::renameat_with(
            rustix::fs::CWD,
            &tmp,
            rustix::fs::CWD,
            &dir,
            RenameFlags::NOREPLACE,
        );
        match renamed {
            Ok(()) => {
                guard.dir = dir;
                let mut st = State::new(id, bundle.to_path_buf());
                st.created = Some(ct_layout::rfc3339::now());
                if let Some(a) = plan.spec.annotations() {
                    st.annotations = a.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                }
                st.update(store)?;
                return Ok((st, guard));
            }
            Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(err(&dir)(e.into())),
        }
        drop(guard);
        let old = match open_dir(&dir) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(err(&dir)(e)),
        };
        if !try_lock(&old).map_err(err(&dir))? {
            return Err(ExecError::InUse(id.into()));
        }
        if !same_file(&old, &dir) {
            continue;
        }
        // Nobody holds the lock, so whatever was "creating" it is gone; a container whose
        // ct-exec was killed may still run, though.
        match State::load(store, id).ok().map(State::refreshed) {
            Some(s) if matches!(s.status, Status::Running | Status::Created) => {
                return Err(ExecError::InUse(id.into()))
            }
            // Stopped, waiting for `delete`: a detached run's monitor recorded the exit code;
            // a `create`d container has its exec fifo.
            // (A foreground run's recorded exit is only for `ps`: taken over.)
            Some(s)
                if s.status != Status::Creating
                    && !dir.join(crate::run::FOREGROUND_EXIT).exists()
                    && (s.exit_code.is_some() || crate::exec_fifo::path(&dir).exists()) =>
            {
                return Err(ExecError::Exists(id.into()))
            }
            _ => {}
        }
        // Left by a ct-exec that was killed: reclaim it.
        let stale = base.join(format!(".{id}.stale.{}", ct_layout::paths::new_id()));
        if fs::rename(&dir, &stale).is_ok() {
            let _ = fs::remove_dir_all(&stale);
        }
    }
    Err(ExecError::InUse(id.into()))
}
