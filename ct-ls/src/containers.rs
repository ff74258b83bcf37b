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
use serde_json::{json, Value};

use crate::{Format, LsError};

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

/// `64M`, `1.5G` (binary units, like docker's `--memory`).
fn bytes(n: i64) -> String {
    const UNITS: [&str; 4] = ["", "K", "M", "G"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < 3 {
        v /= 1024.0;
        u += 1;
    }
    if v.fract() == 0.0 {
        format!("{v:.0}{}", UNITS[u])
    } else {
        format!("{v:.1}{}", UNITS[u])
    }
}

impl Limits {
    /// `mem 64M cpu 0.50 pids 100`, or `-`.
    pub fn human(&self) -> String {
        let mut parts = Vec::new();
        if let Some(m) = self.memory {
            parts.push(format!("mem {}", bytes(m)));
        }
        if let Some(q) = self.cpu_quota {
            let period = self.cpu_period.unwrap_or(100_000) as f64;
            parts.push(format!("cpu {:.2}", q as f64 / period));
        }
        if let Some(p) = self.pids {
            parts.push(format!("pids {p}"));
        }
        if parts.is_empty() {
            "-".into()
        } else {
            parts.join(" ")
        }
    }
}

impl Port {
    /// `127.0.0.1:8080->80/tcp`.
    pub fn human(&self) -> String {
        let ip = self
            .host_ip
            .as_deref()
            .map_or(String::new(), |i| format!("{i}:"));
        format!(
            "{ip}{}->{}/{}",
            self.host_port, self.container_port, self.protocol
        )
    }
}

fn dash(s: &[String]) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.join(",")
    }
}

/// The listing as text.
pub fn render(rows: &[ContainerRow], format: &Format) -> String {
    if format.json {
        let v: Vec<Value> = rows
            .iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "name": r.name,
                    "image": r.image,
                    "command": r.command,
                    "status": r.status.to_string(),
                    "pid": r.pid,
                    "exitCode": r.exit_code,
                    "created": r.created,
                    "bundle": r.bundle,
                    "addresses": r.addresses,
                    "ports": r.ports.iter().map(|p| json!({
                        "hostIP": p.host_ip, "hostPort": p.host_port,
                        "containerPort": p.container_port, "protocol": p.protocol,
                    })).collect::<Vec<_>>(),
                    "limits": {
                        "memory": r.limits.memory, "cpuQuota": r.limits.cpu_quota,
                        "cpuPeriod": r.limits.cpu_period, "pids": r.limits.pids,
                    },
                    "usage": r.usage.as_ref().map(|u| &u.stats),
                })
            })
            .collect();
        let mut s = serde_json::to_string_pretty(&v).unwrap_or_else(|_| "[]".into());
        s.push('\n');
        return s;
    }
    if format.quiet {
        return rows.iter().map(|r| format!("{}\n", r.id)).collect();
    }
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let status = match (r.status, r.exit_code) {
                (Status::Stopped, Some(c)) => format!("exited ({c})"),
                (Status::Stopped, None) => "exited".into(),
                (s, _) => s.to_string(),
            };
            let mut command = r.command.clone().unwrap_or_else(|| "-".into());
            if command.chars().count() > 30 {
                command = command.chars().take(29).collect::<String>() + "…";
            }
            vec![
                r.id.clone(),
                r.name.clone().unwrap_or_else(|| "-".into()),
                r.image.clone().unwrap_or_else(|| "-".into()),
                command,
                status,
                r.pid.map_or("-".into(), |p| p.to_string()),
                r.created.as_deref().map_or("-".into(), |t| {
                    t.get(..19).unwrap_or(t).replacen('T', " ", 1)
                }),
                dash(&r.addresses),
                dash(&r.ports.iter().map(Port::human).collect::<Vec<_>>()),
                r.limits.human(),
                r.usage.as_ref().map_or("-".into(), |u| u.brief.clone()),
            ]
        })
        .collect();
    crate::table(
        &[
            "ID", "NAME", "IMAGE", "COMMAND", "STATUS", "PID", "CREATED", "ADDRESS", "PORTS",
            "LIMITS", "USAGE",
        ],
        &table_rows,
    )
}

pub fn list(store: &Store, all: bool, format: &Format) -> Result<(), LsError> {
    let rows = rows(store, all)?;
    ct_layout::pipe::print_out(&render(&rows, format));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ct_layout::bundle::{Note, RootfsMode};
    use ct_layout::Digest;

    #[test]
    fn running_and_stopped_containers_with_network_and_limits() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::new(t.path().join("root"), t.path().join("run"));
        assert!(rows(&store, true).unwrap().is_empty());

        // A running container: this test process stands in for its pid.
        let b = Bundle::new(store.bundle("web"));
        fs::create_dir_all(&b.dir).unwrap();
        fs::write(
            b.config_path(),
            serde_json::to_vec(&json!({
                "ociVersion": "1.0.2",
                "process": {"args": ["nginx", "-g", "daemon off;"], "cwd": "/"},
                "linux": {"resources": {"memory": {"limit": 67108864},
                    "cpu": {"quota": 50000, "period": 100000}, "pids": {"limit": 100}}}
            }))
            .unwrap(),
        )
        .unwrap();
        b.save_note(&Note {
            id: "web".into(),
            image: "docker.io/library/nginx:1".into(),
            manifest: Digest::of(b"m"),
            layers: vec![],
            rootfs: RootfsMode::Flat,
            created: "2026-01-01T00:00:00Z".into(),
            name: Some("web".into()),
        })
        .unwrap();
        fs::write(
            b.net_result(),
            serde_json::to_vec(&json!({
                "cniVersion": "1.0.0",
                "ips": [{"address": "10.88.0.5/16", "gateway": "10.88.0.1"}],
                "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": "127.0.0.1"}]
            }))
            .unwrap(),
        )
        .unwrap();
        let me = std::process::id() as i32;
        let mut st = State::new("web", b.dir.clone());
        st.status = Status::Running;
        st.pid = Some(me);
        st.pid_start = ct_layout::state::pid_start_time(me);
        st.created = Some("2026-01-02T03:04:05Z".into());
        st.save(&store).unwrap();

        // A stopped one from a foreign bundle (no note, no net.json), and one whose pid is
        // gone (recorded running, shown stopped).
        let other = t.path().join("runc-bundle");
        fs::create_dir_all(&other).unwrap();
        fs::write(
            other.join("config.json"),
            r#"{"ociVersion":"1.0.2","process":{"args":["sh"],"cwd":"/"}}"#,
        )
        .unwrap();
        let mut s2 = State::new("old", other.clone());
        s2.status = Status::Stopped;
        s2.exit_code = Some(3);
        s2.save(&store).unwrap();
        let mut s3 = State::new("ghost", other);
        s3.status = Status::Running;
        s3.pid = Some(me);
        s3.pid_start = Some(1);
        s3.save(&store).unwrap();

        let running = rows(&store, false).unwrap();
        assert_eq!(running.len(), 1);
        let r = &running[0];
        assert_eq!(r.id, "web");
        assert_eq!(r.name.as_deref(), Some("web"));
        assert_eq!(r.image.as_deref(), Some("docker.io/library/nginx:1"));
        assert_eq!(r.pid, Some(me));
        // The live command line wins over the config's args.
        assert_eq!(r.command, cmdline(me));
        assert_eq!(r.addresses, vec!["10.88.0.5/16".to_string()]);
        assert_eq!(r.ports[0].human(), "127.0.0.1:8080->80/tcp");
        assert_eq!(r.limits.human(), "mem 64M cpu 0.50 pids 100");

        let all = rows(&store, true).unwrap();
        let ids: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["ghost", "old", "web"]);
        assert_eq!(all[0].status, Status::Stopped);
        assert_eq!(all[0].pid, None);
        assert_eq!(all[1].command.as_deref(), Some("sh"));
        assert_eq!(all[1].image, None);

        let q = render(
            &all,
            &Format {
                json: false,
                quiet: true,
            },
        );
        assert_eq!(q, "ghost\nold\nweb\n");
        let table = render(&all, &Format::default());
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("ID "));
        assert!(lines[2].contains("exited (3)"), "{table}");
        assert!(
            lines[3].contains("10.88.0.5/16") && lines[3].contains("mem 64M cpu 0.50 pids 100")
        );
        let j: Value = serde_json::from_str(&render(
            &all,
            &Format {
                json: true,
                quiet: false,
            },
        ))
        .unwrap();
        assert_eq!(j[2]["ports"][0]["hostPort"], 8080);
        assert_eq!(j[2]["limits"]["memory"], 67108864);
        assert_eq!(j[2]["status"], "running");
        assert_eq!(j[1]["exitCode"], 3);
    }
}
