//! `ct-exec wait [--timeout SECS] ID`: block until a container's process has exited and the
//! ct-exec that watched it has recorded the end — the precise wait behind `ct stop -t N` and
//! `ct wait`, for any script.
//!
//! A pidfd (pidfd_open(2)) is a file descriptor for one process: it becomes readable when that
//! process exits, so poll(2) on it waits with an exact timeout and no polling loop, and unlike
//! a pid it can never come to mean another process. In order:
//! 1. load the state; a container whose recorded process is not running is stopped already;
//! 2. open a pidfd for the recorded pid, then check the process's start time against the
//!    state's (the pid may have been recycled between reading the state and opening the pidfd;
//!    after it, the pidfd pins the process we checked);
//! 3. poll the pidfd until the deadline (timeout: the container is still running, exit 1);
//! 4. wait (bounded) for the state directory's flock(2): the monitor of a detached container
//!    holds it until `stopped` and the exit code are written (see `state_dir::claim`);
//! 5. print the exit code when the state has one.

use std::os::fd::AsFd;
use std::thread::sleep;
use std::time::{Duration, Instant};

use ct_layout::paths::valid_id;
use ct_layout::pipe::quote;
use ct_layout::state::{pid_start_time, State, StateError, Status};
use ct_layout::Store;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use rustix::process::{pidfd_open, Pid, PidfdFlags};

use crate::ExecError;

/// How long a watcher may take to record the end once the process is gone.
const RECORD_GRACE: Duration = Duration::from_secs(5);

/// Steps 1 to 5; `None` waits as long as the container runs. Returns the exit code, if known.
pub fn wait(store: &Store, id: &str, timeout: Option<Duration>) -> Result<Option<i32>, ExecError> {
    if !valid_id(id) {
        return Err(ExecError::Usage(format!(
            "invalid container id {}",
            quote(id)
        )));
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    let st = State::load(store, id)?;
    if let (Status::Running | Status::Created, Some(pid)) = (st.status, st.pid) {
        if let Some(fd) = Pid::from_raw(pid).and_then(|p| pidfd_open(p, PidfdFlags::empty()).ok()) {
            let same = match st.pid_start {
                Some(start) => pid_start_time(pid) == Some(start),
                None => pid_start_time(pid).is_some(),
            };
            if same && !exited(&fd, deadline)? {
                return Err(ExecError::WaitTimeout(id.into()));
            }
        }
    }
    let dir = store.run_containers().join(id);
    if let Ok(lock) = crate::state_dir::open_dir(&dir) {
        let start = Instant::now();
        while !crate::state_dir::try_lock(&lock).unwrap_or(true) && start.elapsed() < RECORD_GRACE {
            sleep(Duration::from_millis(2));
        }
    }
    match State::load(store, id) {
        Ok(st) => Ok(st.exit_code),
        // A foreground run removes its state when it ends.
        Err(StateError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Step 3: true once the process behind `fd` has exited, false at the deadline.
fn exited(fd: &impl AsFd, deadline: Option<Instant>) -> Result<bool, ExecError> {
    loop {
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now()).as_millis();
                PollTimeout::try_from(left.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                return Err(ExecError::Spawn {
                    step: "poll the container's pidfd",
                    source: e.into(),
                })
            }
        }
    }
}
