//! `ct-exec kill ID [SIGNAL]` and `ct-exec delete [--force] ID`: acting on a container through
//! its runtime state (`$CT_RUN/containers/ID/state.json`, the runtime spec's "State").
//!
//! * kill: load the state, check that its pid is still the container's (the recorded start
//!   time guards against a recycled pid), `kill(2)` it.
//! * delete: a stopped container's state directory is removed; a running one is refused, or
//!   with `--force` killed (SIGKILL) first, waiting (bounded) until it is gone and the process
//!   that watched it has recorded the end. With `--force` an id that is unknown, or whose
//!   state was never written (a run that died while creating it), is already deleted: the
//!   leftover directory, if any, is removed and the call succeeds, as `runc delete --force`.

use std::thread::sleep;
use std::time::{Duration, Instant};

use ct_layout::paths::valid_id;
use ct_layout::pipe::quote;
use ct_layout::state::{State, StateError, Status};
use ct_layout::Store;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::ExecError;

/// A container id names a directory under `$CT_RUN`: it must be a plain name.
fn check_id(id: &str) -> Result<(), ExecError> {
    if valid_id(id) {
        Ok(())
    } else {
        Err(ExecError::Usage(format!(
            "invalid container id {} (1-64 of A-Z a-z 0-9 _ . -, not starting with . or -)",
            quote(id)
        )))
    }
}

pub fn kill(store: &Store, id: &str, sig: Signal) -> Result<(), ExecError> {
    check_id(id)?;
    let st = State::load(store, id)?.refreshed();
    let pid = match (st.status, st.pid) {
        (Status::Running | Status::Created, Some(pid)) => pid,
        _ => return Err(ExecError::NotRunning(id.into())),
    };
    nix::sys::signal::kill(Pid::from_raw(pid), sig).map_err(|e| ExecError::Kill {
        id: id.into(),
        source: e.into(),
    })
}

pub fn delete(store: &Store, id: &str, force: bool) -> Result<(), ExecError> {
    check_id(id)?;
    let recorded = match State::load(store, id) {
        Ok(st) => st,
        Err(StateError::NotFound(_) | StateError::Json { .. }) if force => {
            State::remove(store, id)?;
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let st = recorded.clone().refreshed();
    if st.status != Status::Stopped {
        if !force {
            return Err(ExecError::StillRunning(id.into()));
        }
        if let Some(pid) = st.pid {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    // The ct-exec that runs or watches the container (the foreground run, or the monitor of a
    // detached one) holds an flock(2) on the state directory for as long as it lives (see
    // `run::claim`), and may still be writing `stopped` into it (a temp file and a rename).
    // Wait, bounded, until it is gone, so that it neither re-creates the directory after we
    // removed it nor makes removing it fail with ENOTEMPTY; then remove it holding that lock.
    let dir = store.run_containers().join(id);
    let lock = match crate::run::open_dir(&dir) {
        Ok(fd) => fd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(ExecError::StateDir { path: dir, source }),
    };
    let start = Instant::now();
    while !crate::run::try_lock(&lock).unwrap_or(true) {
        if start.elapsed() > Duration::from_secs(10) {
            break;
        }
        sleep(Duration::from_millis(5));
    }
    State::remove(store, id)?;
    Ok(())
}
