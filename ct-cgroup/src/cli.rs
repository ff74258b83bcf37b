//! The `ct-cgroup` command line (clap), and the OCI `linux.resources` its docker-style limit
//! flags mean; `run.rs` does what it asks. Three shapes:
//!
//! * `ct-cgroup [BUNDLE] --memory 64m …` — pipe stage: create `/PARENT/ID`, write the limits,
//!   record `linux.cgroupsPath` and `linux.resources` in `BUNDLE/config.json`, print BUNDLE;
//! * `ct-cgroup --pid PID [--name NAME] --memory 64m …` — put a running process under limits,
//!   print the cgroups path (`/ct/pid-1234`);
//! * `ct-cgroup stats|rm|layout …` — read, remove, show the host's hierarchies.

use clap::{Args, Parser, Subcommand};
use oci_spec::runtime::{LinuxCpu, LinuxPids, LinuxResources};

use crate::docker_units;
use crate::error::CgroupError;
use crate::oci_config;

/// cgroup limits (memory, cpu, pids, devices) on cgroup v1, v2 and hybrid hosts.
///
/// Gives a container (BUNDLE: a bundle directory or a container id; default: one line of
/// stdin) its own cgroup /PARENT/ID with docker-style limits and its config's device rules
/// (linux.resources.devices, then the devices every runtime allows), records linux.cgroupsPath and
/// linux.resources in its config.json so the OCI runtime places the container there, and
/// prints the bundle. With --pid, puts a running process under limits instead and prints the
/// cgroups path.
#[derive(Parser, Debug)]
#[command(
    name = "ct-cgroup",
    version,
    args_conflicts_with_subcommands = true,
    after_help = "Exit codes: 0 ok, 1 failure (the kernel refused a value, no such cgroup, ...), 2 usage.\n\
Environment: CT_CGROUP_PARENT (parent cgroup, default ct), CT_CGROUP_MODE (auto, v1: ignore the\n\
cgroup2 mount, v2: use only the cgroup2 mount), CT_ROOT (finds bundles by container id).\n\
Examples:\n  ct-unpack alpine | ct-cgroup --memory 64m --cpus 0.5 --pids-limit 100 | ct-exec -- sh\n  \
ct-cgroup --pid 1234 --name job --memory 1g\n  ct-cgroup stats job --json\n  ct-cgroup rm job"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Option<Cmd>,

    /// Bundle directory or container id (default: one line from stdin).
    #[arg(conflicts_with = "pid")]
    pub bundle: Option<String>,

    /// Move this running process into a new cgroup instead of preparing a bundle.
    #[arg(long, value_name = "PID", value_parser = clap::value_parser!(i32).range(1..))]
    pub pid: Option<i32>,

    /// Name of the cgroup made for --pid (default pid-PID), under the parent.
    #[arg(long, requires = "pid", value_parser = parse_name)]
    pub name: Option<String>,

    #[command(flatten)]
    pub limits: Limits,

    /// Parent cgroup of ct's cgroups (relative names go below it).
    #[arg(long, global = true, env = "CT_CGROUP_PARENT", default_value = crate::DEFAULT_PARENT, value_parser = parse_parent)]
    pub parent: String,
}

/// Limits, as docker run takes them.
#[derive(Args, Debug, Default, Clone)]
pub struct Limits {
    /// Memory limit: 64m, 1g, 512k, bytes (memory.limit_in_bytes / memory.max).
    #[arg(long, short = 'm', value_name = "SIZE", value_parser = size_parser("--memory"))]
    pub memory: Option<i64>,
    /// Memory PLUS swap (as docker): -1 unlimited; needs --memory. v1 needs swap accounting.
    #[arg(long, value_name = "SIZE", requires = "memory", allow_hyphen_values = true, value_parser = size_parser("--memory-swap"))]
    pub memory_swap: Option<i64>,
    /// CPUs' worth of time per 100 ms period, e.g. 0.5 (cfs quota/period, cpu.max).
    #[arg(long, value_name = "N", value_parser = cpus_parser)]
    pub cpus: Option<(i64, u64)>,
    /// Relative CPU weight, 2..262144 (default 1024; cpu.weight on v2).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(2..=262_144))]
    pub cpu_shares: Option<u64>,
    /// Maximum number of tasks (processes and threads); 0 or -1 unlimited.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// CPUs the processes may run on: 0-1, 0,2.
    #[arg(long, value_name = "LIST", value_parser = parse_cpu_list)]
    pub cpuset_cpus: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Print usage and limits of NAME (under the parent), BUNDLE, or an absolute /cgroups/path.
    Stats {
        target: String,
        /// One JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Kill what is left inside and remove the cgroup on every hierarchy.
    Rm {
        #[arg(required = true)]
        targets: Vec<String>,
    },
    /// Show the host's cgroup layout and where each controller is.
    Layout,
}

fn size_parser(what: &'static str) -> impl Fn(&str) -> Result<i64, String> + Clone {
    move |s| docker_units::parse_size(what, s).map_err(|e| e.to_string())
}

fn cpus_parser(s: &str) -> Result<(i64, u64), String> {
    docker_units::parse_cpus(s).map_err(|e| e.to_string())
}

fn parse_name(s: &str) -> Result<String, String> {
    if ct_layout::paths::valid_id(s) {
        Ok(s.to_string())
    } else {
        Err("use 1-64 characters of A-Z a-z 0-9 _ . - (not starting with . or -)".into())
    }
}

fn parse_parent(s: &str) -> Result<String, String> {
    let t = s.trim_matches('/');
    if t.is_empty() || t.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err("a cgroup path below the root, like ct or ct/tests".into());
    }
    Ok(t.to_string())
}

fn parse_cpu_list(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.split(',').all(|part| {
            let mut it = part.splitn(2, '-');
            let a = it.next().map(|a| a.parse::<u32>().is_ok()).unwrap_or(false);
            let b = it.next().map(|b| b.parse::<u32>().is_ok()).unwrap_or(true);
            a && b
        });
    if ok {
        Ok(s.to_string())
    } else {
        Err("expected a CPU list like 0-1 or 0,2".into())
    }
}

impl Limits {
    /// The OCI resources these flags mean (only the sections that were given).
    pub fn resources(&self) -> Result<LinuxResources, CgroupError> {
        let mut r = LinuxResources::default();
        if let (Some(m), Some(s)) = (self.memory, self.memory_swap) {
            if s != -1 && s < m {
                return Err(CgroupError::InvalidValue {
                    what: "--memory-swap",
                    value: s.to_string(),
                    reason: format!(
                        "it is memory plus swap, so it must be at least --memory ({m})"
                    ),
                });
            }
        }
        if self.memory.is_some() {
            r.set_memory(Some(oci_config::memory_with(
                None,
                self.memory,
                self.memory_swap,
                None,
            )));
        }
        if self.cpus.is_some() || self.cpu_shares.is_some() || self.cpuset_cpus.is_some() {
            let mut c = LinuxCpu::default();
            if let Some((q, p)) = self.cpus {
                c.set_quota(Some(q));
                c.set_period(Some(p));
            }
            c.set_shares(self.cpu_shares);
            c.set_cpus(self.cpuset_cpus.clone());
            r.set_cpu(Some(c));
        }
        if let Some(n) = self.pids_limit {
            let mut p = LinuxPids::default();
            p.set_limit(if n > 0 { n } else { -1 });
            r.set_pids(Some(p));
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_become_oci_resources() {
        let cli = Cli::try_parse_from([
            "ct-cgroup",
            "b",
            "--memory",
            "64m",
            "--memory-swap",
            "128m",
            "--cpus",
            "0.5",
            "--cpu-shares",
            "512",
            "--pids-limit",
            "20",
            "--cpuset-cpus",
            "0",
        ])
        .unwrap();
        let r = cli.limits.resources().unwrap();
        let m = r.memory().unwrap();
        assert_eq!((m.limit(), m.swap()), (Some(64 << 20), Some(128 << 20)));
        let c = r.cpu().as_ref().unwrap();
        assert_eq!(
            (c.quota(), c.period(), c.shares()),
            (Some(50_000), Some(100_000), Some(512))
        );
        assert_eq!(c.cpus().as_deref(), Some("0"));
        assert_eq!(r.pids().unwrap().limit(), 20);
        let none = Cli::try_parse_from(["ct-cgroup", "b"]).unwrap();
        let r = none.limits.resources().unwrap();
        assert!(r.memory().is_none() && r.cpu().is_none() && r.pids().is_none());
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        for args in [
            vec!["ct-cgroup", "--memory", "64x"],
            vec!["ct-cgroup", "--memory-swap", "1g"],
            vec!["ct-cgroup", "--cpus", "0"],
            vec!["ct-cgroup", "--cpu-shares", "1"],
            vec!["ct-cgroup", "--cpuset-cpus", "a-b"],
            vec!["ct-cgroup", "--pid", "0"],
            vec!["ct-cgroup", "--name", "x"],
            vec!["ct-cgroup", "b", "--pid", "12"],
            vec!["ct-cgroup", "--parent", "../x", "b"],
        ] {
            let e = Cli::try_parse_from(&args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
        }
        let cli =
            Cli::try_parse_from(["ct-cgroup", "b", "--memory", "64m", "--memory-swap", "32m"])
                .unwrap();
        assert!(matches!(
            cli.limits.resources(),
            Err(CgroupError::InvalidValue {
                what: "--memory-swap",
                ..
            })
        ));
    }
}
