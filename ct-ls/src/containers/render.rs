//! The container listing as text: the table (`ID NAME IMAGE COMMAND STATUS …`, `-` for a
//! column with nothing to show) or, with `--json`, one JSON array of objects. Limits read like
//! docker's flags (`mem 64M cpu 0.50 pids 100`, binary units), ports like `docker ps`
//! (`127.0.0.1:8080->80/tcp`).

use ct_layout::state::Status;
use serde_json::{json, Value};

use super::{ContainerRow, Limits, Port};
use crate::Format;

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
