//! Container state as the OCI runtime spec defines it (`runtime.md`, "State"): `ociVersion`,
//! `id`, `status` (creating, created, running, stopped), `pid`, `bundle`, `annotations`.
//! ct-exec writes it to `$CT_RUN/containers/ID/state.json` (atomically, as runtime state:
//! not synced, see [`crate::atomic`]) at every transition;
//! ct-ls and ct read it. ct adds three fields of its own: when the container was created, its
//! exit code once stopped, and the start time of its pid (field 22 of `/proc/PID/stat`), so a
//! recycled pid is never mistaken for the container.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::atomic;
use crate::io_error::IoAt;
use crate::paths::Store;

pub const OCI_VERSION: &str = "1.2.0";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    pub bundle: PathBuf,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Start time of `pid` in clock ticks since boot (from `/proc/PID/stat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_start: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("no container '{0}'")]
    NotFound(String),
    #[error(transparent)]
    Io(#[from] IoAt),
    #[error("malformed state '{path}'")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl State {
    pub fn new(id: &str, bundle: PathBuf) -> State {
        State {
            oci_version: OCI_VERSION.to_string(),
            id: id.to_string(),
            status: Status::Creating,
            pid: None,
            bundle,
            annotations: BTreeMap::new(),
            created: None,
            exit_code: None,
            pid_start: None,
        }
    }

    pub fn save(&self, store: &Store) -> Result<(), StateError> {
        let path = store.state_file(&self.id);
        atomic::write_runtime_json(&path, self).map_err(|source| {
            StateError::Io(IoAt {
                action: "write",
                path,
                source,
            })
        })
    }

    /// [`State::save`] into the state directory the runtime claimed for the id, never
    /// re-creating it: a watcher that records `stopped` after a `delete` (or after the whole
    /// run directory was removed) leaves nothing behind. `NotFound` when it is gone.
    pub fn update(&self, store: &Store) -> Result<(), StateError> {
        let path = store.state_file(&self.id);
        if !path.parent().is_some_and(Path::is_dir) {
            return Err(StateError::NotFound(self.id.clone()));
        }
        self.save(store)
    }

    pub fn load(store: &Store, id: &str) -> Result<State, StateError> {
        let path = store.state_file(id);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StateError::NotFound(id.to_string()))
            }
            Err(source) => {
                return Err(StateError::Io(IoAt {
                    action: "read",
                    path,
                    source,
                }))
            }
        };
        serde_json::from_slice(&bytes).map_err(|source| StateError::Json { path, source })
    }

    /// Every container with a state directory, sorted by id.
    pub fn list(store: &Store) -> Result<Vec<State>, StateError> {
        let dir = store.run_containers();
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(StateError::Io(IoAt {
                    action: "list",
                    path: dir,
                    source,
                }))
            }
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            match State::load(store, &id) {
                Ok(s) => out.push(s),
                Err(StateError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Remove `$CT_RUN/containers/ID` entirely.
    pub fn remove(store: &Store, id: &str) -> Result<(), StateError> {
        let dir = store.run_containers().join(id);
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateError::Io(IoAt {
                action: "remove",
                path: dir,
                source,
            })),
        }
    }

    /// Is the recorded process still the container's (alive, and not a recycled pid).
    pub fn process_alive(&self) -> bool {
        match (self.pid, self.pid_start) {
            (Some(pid), Some(start)) => pid_start_time(pid) == Some(start),
            (Some(pid), None) => pid_start_time(pid).is_some(),
            _ => false,
        }
    }

    /// The status as of now: a `running`/`created` container whose process is gone is `stopped`.
    pub fn refreshed(mut self) -> State {
        if matches!(self.status, Status::Running | Status::Created) && !self.process_alive() {
            self.status = Status::Stopped;
        }
        self
    }
}

/// Start time of `pid` (clock ticks since boot), or None if there is no such live process.
/// Zombies count as gone.
pub fn pid_start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parens; fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // rest starts at field 3 (state); starttime is field 22.
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refresh() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::new(t.path().join("root"), t.path().join("run"));
        let mut s = State::new("c1", "/b".into());
        s.status = Status::Running;
        s.pid = Some(std::process::id() as i32);
        s.pid_start = pid_start_time(s.pid.unwrap());
        assert!(s.pid_start.is_some());
        s.save(&store).unwrap();
        let l = State::load(&store, "c1").unwrap();
        assert_eq!(l, s);
        assert_eq!(l.clone().refreshed().status, Status::Running);
        let mut gone = l;
        gone.pid_start = Some(1);
        assert_eq!(gone.refreshed().status, Status::Stopped);
        let json: serde_json::Value =
            serde_json::from_slice(&fs::read(store.state_file("c1")).unwrap()).unwrap();
        assert_eq!(json["ociVersion"], OCI_VERSION);
        assert_eq!(json["status"], "running");
        assert_eq!(State::list(&store).unwrap().len(), 1);
        State::remove(&store, "c1").unwrap();
        assert!(matches!(
            State::load(&store, "c1"),
            Err(StateError::NotFound(_))
        ));
    }
}
