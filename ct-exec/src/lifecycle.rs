//! The runtime spec's lifecycle operations on an existing container (`runtime.md`:
//! "Operations"), through its runtime state (`$CT_RUN/containers/ID/state.json`, the spec's
//! "State"), as runc's verbs:
//!
//! * start: a `created` container's process waits on its exec fifo ([`crate::exec_fifo`]):
//!   one byte lets it `execve` the command; the state becomes `running`.
//! * state: the spec's State as JSON (`paused` while its cgroup is frozen by `pause`).
//! * kill: load the state, check that its pid is still the container's (the recorded start
//!   time guards against a recycled pid), `kill(2)` it — or, `--all`, every process of its
//!   cgroup; `--timeout`: if it is still there after that long, SIGKILL.
//! * delete: a stopped container's state directory and its cgroup are removed; a `created`
//!   one is killed first (as runc); a running one is refused, or with `--force` killed
//!   (SIGKILL) first, waiting (bounded) until it is gone and the process that watched it has
//!   recorded the end. With `--force` an id that is unknown, or whose state was never written
//!   (a run that died while creating it), is already deleted: the leftover directory, if any,
//!   is removed and the call succeeds, as `runc delete --force`.
//! * pause/resume: the cgroup freezer (v1 `freezer.state`, v2 `cgroup.freeze`, ct-cgroup's
//!   code); a `paused` file in the state directory records it.
//! * ps: the pids in the container's cgroup.

use std::thread::sleep;
use std::time::{Duration, Instant};

use ct_layout::paths::valid_id;
use ct_layout::pipe::quote;
use std::path::PathBuf;

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

/// `kill [--all] [--timeout SECS] ID SIGNAL`.
pub fn kill(
    store: &Store,
    id: &str,
    sig: Signal,
    all: bool,
    timeout: Option<Duration>,
) -> Result<(), ExecError> {
    check_id(id)?;
    let st = State::load(store, id)?.refreshed();
    let pid = match (st.status, st.pid) {
        (Status::Running | Status::Created, Some(pid)) => pid,
        _ => return Err(ExecError::NotRunning(id.into())),
    };
    let signal = |sig: Signal| -> Result<(), ExecError> {
        let err = |e: nix::Error| ExecError::Kill {
            id: id.into(),
            source: e.into(),
        };
        if all {
            for p in cgroup_pids(store, id)? {
                match nix::sys::signal::kill(Pid::from_raw(p), sig) {
                    Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                    Err(e) => return Err(err(e)),
                }
            }
            // The first process too: without a cgroup there is no other way to find it.
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), sig);
            Ok(())
        } else {
            nix::sys::signal::kill(Pid::from_raw(pid), sig).map_err(err)
        }
    };
    signal(sig)?;
    let Some(limit) = timeout else {
        return Ok(());
    };
    if wait_gone(&st, limit) {
        return Ok(());
    }
    signal(Signal::SIGKILL)?;
    wait_gone(&st, Duration::from_secs(10));
    Ok(())
}

/// Poll (bounded by `limit`) until the container's process has exited.
fn wait_gone(st: &State, limit: Duration) -> bool {
    let start = Instant::now();
    loop {
        if !st.process_alive() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        sleep(Duration::from_millis(5));
    }
}

/// The state of an id, with a missing one reported as runc's callers expect it
/// ("does not exist": podman and containerd look for those words).
fn load(store: &Store, id: &str) -> Result<State, ExecError> {
    check_id(id)?;
    match State::load(store, id) {
        Ok(st) => Ok(st.refreshed()),
        Err(StateError::NotFound(_)) => Err(ExecError::DoesNotExist(id.into())),
        Err(e) => Err(e.into()),
    }
}

fn state_dir(store: &Store, id: &str) -> PathBuf {
    store.run_containers().join(id)
}

/// The cgroup the container was placed in (recorded by `create` or a run).
pub fn cgroup_path(store: &Store, id: &str) -> Option<String> {
    std::fs::read_to_string(state_dir(store, id).join(crate::run::CGROUP_FILE)).ok()
}

pub(crate) fn cgroup_of(
    store: &Store,
    id: &str,
    what: &'static str,
) -> Result<ct_cgroup::Cgroup, ExecError> {
    let err = |source| ExecError::CgroupOf {
        what,
        id: id.into(),
        source,
    };
    let path = cgroup_path(store, id).ok_or_else(|| {
        err(ct_cgroup::CgroupError::NotFound {
            path: "(none recorded)".into(),
        })
    })?;
    ct_cgroup::open(&path).map_err(err)
}

fn cgroup_pids(store: &Store, id: &str) -> Result<Vec<i32>, ExecError> {
    let cg = cgroup_of(store, id, "list")?;
    if !cg.exists() {
        return Ok(Vec::new());
    }
    cg.pids().map_err(|source| ExecError::CgroupOf {
        what: "list",
        id: id.into(),
        source,
    })
}

const PAUSED: &str = "paused";

/// The status as the runtime spec's State shows it: `paused` when frozen by `pause`.
fn status_of(store: &Store, st: &State) -> String {
    let paused = state_dir(store, &st.id).join(PAUSED).exists();
    match st.status {
        Status::Running if paused => "paused".into(),
        s => s.to_string(),
    }
}

/// `start ID`.
pub fn start(store: &Store, id: &str) -> Result<(), ExecError> {
    let mut st = load(store, id)?;
    if st.status != Status::Created {
        return Err(ExecError::WrongState {
            verb: "start",
            id: id.into(),
            status: st.status.to_string(),
        });
    }
    crate::exec_fifo::start(&state_dir(store, id)).map_err(|source| ExecError::Start {
        id: id.into(),
        source,
    })?;
    st.status = Status::Running;
    st.update(store)?;
    if let Some(hooks) = crate::hooks::of_bundle(&st.bundle) {
        let state = crate::hooks::state(&st, "running", st.pid);
        crate::hooks::run_warn(Some(&hooks), crate::hooks::When::Poststart, &state);
    }
    Ok(())
}

/// `state ID`: the runtime spec's State, as runc prints it.
pub fn state(store: &Store, id: &str) -> Result<serde_json::Value, ExecError> {
    let st = load(store, id)?;
    Ok(state_json(store, &st))
}

pub fn state_json(store: &Store, st: &State) -> serde_json::Value {
    let pid = match st.status {
        Status::Running | Status::Created => st.pid.unwrap_or(0),
        _ => 0,
    };
    let rootfs = std::fs::read(st.bundle.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["root"]["path"].as_str().map(|p| st.bundle.join(p)));
    serde_json::json!({
        "ociVersion": st.oci_version,
        "id": st.id,
        "pid": pid,
        "status": status_of(store, st),
        "bundle": st.bundle,
        "rootfs": rootfs.unwrap_or_default(),
        "created": st.created.clone().unwrap_or_default(),
        "owner": "",
        "annotations": st.annotations,
    })
}

/// `list`: every container's State.
pub fn list(store: &Store) -> Result<Vec<serde_json::Value>, ExecError> {
    Ok(State::list(store)?
        .into_iter()
        .map(|st| state_json(store, &st.refreshed()))
        .collect())
}

/// `pause ID` (`frozen`) and `resume ID`.
pub fn freeze(store: &Store, id: &str, frozen: bool) -> Result<(), ExecError> {
    let st = load(store, id)?;
    let verb = if frozen { "pause" } else { "resume" };
    let paused = state_dir(store, id).join(PAUSED);
    let want = if frozen { "running" } else { "paused" };
    let now = status_of(store, &st);
    if now != want {
        return Err(ExecError::WrongState {
            verb,
            id: id.into(),
            status: now,
        });
    }
    cgroup_of(store, id, verb)?
        .freeze(frozen)
        .map_err(|source| ExecError::CgroupOf {
            what: verb,
            id: id.into(),
            source,
        })?;
    let r = if frozen {
        std::fs::write(&paused, b"")
    } else {
        std::fs::remove_file(&paused)
    };
    r.map_err(|source| ExecError::Write {
        path: paused,
        source,
    })
}

/// `ps ID`: the pids of the container's processes.
pub fn ps(store: &Store, id: &str) -> Result<Vec<i32>, ExecError> {
    let st = load(store, id)?;
    if !matches!(st.status, Status::Running | Status::Created) {
        return Err(ExecError::NotRunning(id.into()));
    }
    let mut pids = cgroup_pids(store, id)?;
    if pids.is_empty() {
        pids.extend(st.pid);
    }
    Ok(pids)
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
    let cgroup = cgroup_path(store, id);
    if st.status != Status::Stopped {
        // A created container has not run anything yet: runc deletes it without --force.
        if !force && st.status != Status::Created {
            return Err(ExecError::StillRunning(id.into()));
        }
        if let Some(pid) = st.pid {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    // The ct-exec that runs or watches the container (the foreground run, or the monitor of a
    // detached one) holds an flock(2) on the state directory for as long as it lives (see
    // `state_dir::claim`), and may still be writing `stopped` into it (a temp file and a rename).
    // Wait, bounded, until it is gone, so that it neither re-creates the directory after we
    // removed it nor makes removing it fail with ENOTEMPTY; then remove it holding that lock.
    let dir = store.run_containers().join(id);
    let lock = match crate::state_dir::open_dir(&dir) {
        Ok(fd) => fd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(ExecError::StateDir { path: dir, source }),
    };
    let start = Instant::now();
    while !crate::state_dir::try_lock(&lock).unwrap_or(true) {
        if start.elapsed() > Duration::from_secs(10) {
            break;
        }
        sleep(Duration::from_millis(5));
    }
    // What is left in its cgroup (a `create`d container has no watcher to remove it).
    if let Some(path) = cgroup {
        crate::cgroup::remove(&path);
    }
    // A foreground run has run them itself, and left no state to delete.
    if let Some(hooks) = crate::hooks::of_bundle(&recorded.bundle) {
        let state = crate::hooks::state(&recorded, "stopped", None);
        crate::hooks::run_warn(Some(&hooks), crate::hooks::When::Poststop, &state);
    }
    State::remove(store, id)?;
    Ok(())
}

/// The lifecycle verbs of the command line: each prints what runc prints and returns the
/// exit code.
pub struct Verbs<'a> {
    pub store: &'a Store,
}

impl Verbs<'_> {
    pub fn start(&self, id: &str) -> Result<i32, ExecError> {
        start(self.store, id)?;
        Ok(0)
    }

    pub fn state(&self, id: &str) -> Result<i32, ExecError> {
        let v = state(self.store, id)?;
        ct_layout::pipe::print_out(&format!("{}\n", pretty(&v)));
        Ok(0)
    }

    pub fn kill(
        &self,
        id: &str,
        signal: &str,
        all: bool,
        timeout: Option<f64>,
    ) -> Result<i32, ExecError> {
        let sig = crate::signals::parse(signal).ok_or(ExecError::Signal(signal.into()))?;
        let timeout = match timeout {
            Some(t) if t.is_finite() && t >= 0.0 => Some(Duration::from_secs_f64(t.min(1e6))),
            Some(t) => return Err(ExecError::Usage(format!("invalid --timeout {t}"))),
            None => None,
        };
        kill(self.store, id, sig, all, timeout)?;
        Ok(0)
    }

    pub fn delete(&self, id: &str, force: bool) -> Result<i32, ExecError> {
        delete(self.store, id, force)?;
        Ok(0)
    }

    pub fn freeze(&self, id: &str, frozen: bool) -> Result<i32, ExecError> {
        freeze(self.store, id, frozen)?;
        Ok(0)
    }

    pub fn ps(&self, id: &str, format: &str) -> Result<i32, ExecError> {
        let pids = ps(self.store, id)?;
        let out = match format {
            "json" => format!("{}\n", serde_json::json!(pids)),
            "table" => {
                let mut t = String::from("PID\tCMD\n");
                for p in pids {
                    let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
                    let cmd: Vec<String> = cmd
                        .split(|&b| b == 0)
                        .filter(|a| !a.is_empty())
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect();
                    t.push_str(&format!("{p}\t{}\n", cmd.join(" ")));
                }
                t
            }
            f => return Err(ExecError::Usage(format!("invalid --format {}", quote(f)))),
        };
        ct_layout::pipe::print_out(&out);
        Ok(0)
    }

    pub fn list(&self, format: &str, quiet: bool) -> Result<i32, ExecError> {
        let all = list(self.store)?;
        let field = |v: &serde_json::Value, k: &str| match &v[k] {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let out = match (format, quiet) {
            (_, true) => all.iter().map(|v| field(v, "id") + "\n").collect(),
            ("json", _) => format!("{}\n", serde_json::Value::Array(all)),
            ("table", _) => {
                let mut t = String::from("ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n");
                for v in &all {
                    let row: Vec<String> = ["id", "pid", "status", "bundle", "created", "owner"]
                        .iter()
                        .map(|k| field(v, k))
                        .collect();
                    t.push_str(&(row.join("\t") + "\n"));
                }
                t
            }
            (f, _) => return Err(ExecError::Usage(format!("invalid --format {}", quote(f)))),
        };
        ct_layout::pipe::print_out(&out);
        Ok(0)
    }
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}
