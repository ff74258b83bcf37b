//! `ct-ls containers`: the containers ct-exec runs, from their runtime state
//! (`$CT_RUN/containers/ID/state.json`, the OCI runtime spec's state) and their bundles.
//!
//! For each container: id and name (a record `$CT_ROOT/names/NAME` holding the id, from
//! `ct rename`, else ct-unpack's `--name`), the image (ct-unpack's note `ct.json`, absent for bundles
//! made by other tools), the command (the live process's `/proc/PID/cmdline`, else the
//! config's `process.args`), the status (a `running` state whose pid is gone — or was
//! recycled, checked by its start time — is `stopped`), pid, created, the address and
//! published ports (ct-net's CNI result `net.json`: `ips[].address`, `portMappings`) and the
//! limits in the config's `linux.resources` (memory, cpu quota/period, pids), and for a live
//! container the usage its cgroup reports (ct-cgroup's stats: memory, CPU time, pids, OOM kills).
//!
//! Status as docker shows it: `running`, `exited (CODE)` (the spec's `stopped`), and `created`
//! for a bundle in `$CT_ROOT/containers` that no runtime state names (made, never started, or
//! its state deleted).
//!
//! Steps: list the state directories; refresh each status; with `-a` add the bundles without
//! state; read the bundle's files, each optional (a missing or unreadable one leaves its
//! columns `-`); skip stopped and created ones unless `-a`.

use std::fs;
use std::path::Path;

use ct_layout::bundle::Bundle;
use ct_layout::net_record::NetRecord;
use ct_layout::state::{State, Status};
use ct_layout::Store;
use serde_json::Value;

use crate::{Format, LsError};

mod render;
pub use render::render;

/// A published port from `net.json`'s `portMappings`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub host_ip: Option<String>,
    pub host_port: u64,
    pub container_port: u64,
    pub protocol: String,
}

/// The limits a config asks for (`linux.resources`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    pub memory: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub pids: Option<i64>,
}

/// One row of the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRow {
    pub id: String,
    pub name: Option<String>,
    pub image: Option<String>,
    pub command: Option<String>,
    pub status: Status,
    pub pid: Option<i32>,
    pub exit_code: Option<i32>,
    pub created: Option<String>,
    pub bundle: String,
    pub addresses: Vec<String>,
    pub ports: Vec<Port>,
    pub limits: Limits,
    /// Current usage from the container's cgroup (ct-cgroup's stats), while it runs.
    pub usage: Option<Usage>,
}

/// What a running container's cgroup reports: one cell for the table, the whole for `--json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub brief: String,
    pub stats: Value,
}

/// Usage of a live container's cgroup; `None` when it has none or it is gone.
fn usage(bundle: &Bundle) -> Option<Usage> {
    let stats = ct_cgroup::stats_of_bundle(bundle).ok().flatten()?;
    Some(Usage {
        brief: stats.brief(),
        stats: serde_json::to_value(&stats).ok()?,
    })
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

/// The live command line of `pid`, NUL-separated arguments joined by spaces.
fn cmdline(pid: i32) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    (!args.is_empty()).then(|| args.join(" "))
}

/// Addresses and ports from a container's network record.
pub fn network(net: &NetRecord) -> (Vec<String>, Vec<Port>) {
    let addrs = net.ips.iter().map(|ip| ip.address.clone()).collect();
    let ports = net
        .port_mappings
        .iter()
        .map(|p| Port {
            host_ip: p.host_ip.map(|a| a.to_string()),
            host_port: u64::from(p.host_port),
            container_port: u64::from(p.container_port),
            protocol: p.protocol.as_str().to_string(),
        })
        .collect();
    (addrs, ports)
}

/// Limits from a runtime config.
pub fn limits(config: &Value) -> Limits {
    let r = &config["linux"]["resources"];
    Limits {
        memory: r["memory"]["limit"].as_i64().filter(|m| *m > 0),
        cpu_quota: r["cpu"]["quota"].as_i64().filter(|q| *q > 0),
        cpu_period: r["cpu"]["period"].as_u64().filter(|p| *p > 0),
        pids: r["pids"]["limit"].as_i64().filter(|p| *p > 0),
    }
}

fn row(st: State) -> ContainerRow {
    let bundle = Bundle::new(&st.bundle);
    let note = bundle.load_note().ok().flatten();
    let config = read_json(&bundle.config_path()).unwrap_or(Value::Null);
    let live = matches!(st.status, Status::Running | Status::Created);
    let command = st.pid.filter(|_| live).and_then(cmdline).or_else(|| {
        let args: Vec<&str> = config["process"]["args"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        (!args.is_empty()).then(|| args.join(" "))
    });
    let (addresses, ports) = NetRecord::load(&bundle.net_result())
        .ok()
        .flatten()
        .map(|n| network(&n))
        .unwrap_or_default();
    let usage = if live { usage(&bundle) } else { None };
    ContainerRow {
        usage,
        name: note.as_ref().and_then(|n| n.name.clone()),
        image: note.map(|n| n.image),
        command,
        pid: st.pid.filter(|_| live),
        exit_code: st.exit_code,
        created: st.created.clone(),
        bundle: st.bundle.display().to_string(),
        addresses,
        ports,
        limits: limits(&config),
        status: st.status,
        id: st.id,
    }
}

/// Containers sorted by id; stopped and created ones only with `all`.
pub fn rows(store: &Store, all: bool) -> Result<Vec<ContainerRow>, LsError> {
    let mut states: Vec<State> = State::list(store)?
        .into_iter()
        .map(State::refreshed)
        .collect();
    if all {
        states.extend(created(store, &states));
        states.sort_by(|a, b| a.id.cmp(&b.id));
    }
    let names = names(store);
    Ok(states
        .into_iter()
        .filter(|s| all || s.status != Status::Stopped)
        .map(row)
        .map(|mut r| {
            if let Some((name, _)) = names.iter().find(|(_, id)| *id == r.id) {
                r.name = Some(name.clone());
            }
            r
        })
        .collect())
}

/// The records of `$CT_ROOT/names` (`ct rename`): (NAME, the id the file holds). A name
/// recorded there wins over ct-unpack's note.
fn names(store: &Store) -> Vec<(String, String)> {
    let Ok(rd) = fs::read_dir(store.names()) else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let id = fs::read_to_string(e.path()).ok()?.trim_end().to_string();
            (!name.starts_with('.') && ct_layout::paths::valid_id(&id)).then_some((name, id))
        })
        .collect()
}

/// Bundles in `$CT_ROOT/containers` that no runtime state names: made (by ct-unpack or by
/// hand) but not running, in the runtime spec's words `created`. Dot-entries are bundles
/// still being built.
fn created(store: &Store, known: &[State]) -> Vec<State> {
    let Ok(rd) = fs::read_dir(store.containers()) else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| {
            let id = e.file_name().to_str()?.to_string();
            let dir = e.path();
            if id.starts_with('.')
                || known.iter().any(|s| s.id == id)
                || !dir.join(ct_layout::bundle::CONFIG).is_file()
            {
                return None;
            }
            let mut st = State::new(&id, dir.clone());
            st.status = Status::Created;
            st.created = Bundle::new(&dir)
                .load_note()
                .ok()
                .flatten()
                .map(|n| n.created);
            Some(st)
        })
        .collect()
}

pub fn list(store: &Store, all: bool, format: &Format) -> Result<(), LsError> {
    let rows = rows(store, all)?;
    ct_layout::pipe::print_out(&render(&rows, format));
    Ok(())
}

#[cfg(test)]
mod tests;
