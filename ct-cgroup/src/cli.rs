//! The `ct-cgroup` command line: parse (clap), then call the library and map its error to an
//! exit code. Three shapes:
//!
//! * `ct-cgroup [BUNDLE] --memory 64m …` — pipe stage: create `/PARENT/ID`, write the limits,
//!   record `linux.cgroupsPath` and `linux.resources` in `BUNDLE/config.json`, print BUNDLE;
//! * `ct-cgroup --pid PID [--name NAME] --memory 64m …` — put a running process under limits,
//!   print the cgroups path (`/ct/pid-1234`);
//! * `ct-cgroup stats|rm|layout …` — read, remove, show the host's hierarchies.
//!
//! As an ordinary user, the limits go below the user's delegated cgroup v2 subtree, or are not
//! applied, with one warning ([`crate::delegation`]).

use clap::{Args, Parser, Subcommand};
use oci_spec::runtime::{LinuxCpu, LinuxPids, LinuxResources};

use ct_layout::bundle::Bundle;
use ct_layout::pipe;
use ct_layout::Store;

use crate::cgroup::Cgroup;
use crate::docker_units;
use crate::error::CgroupError;
use crate::mountinfo::{Hierarchy, Place};
use crate::oci_config;

const TOOL: &str = "ct-cgroup";

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

/// What `stats`/`rm` were pointed at: a bundle (its cgroupsPath), an absolute cgroups path, or
/// a name under the parent.
fn target(h: &Hierarchy, parent: &str, t: &str) -> Result<Cgroup, CgroupError> {
    match bundle_target(h, parent, t)? {
        Some(Target::Cgroup(cg)) => Ok(cg),
        Some(Target::NoCgroup(dir)) => Err(CgroupError::NoCgroupsPath { dir }),
        None => Cgroup::new(h, t, parent),
    }
}

/// A target that names a bundle.
enum Target {
    /// The cgroup its config.json records.
    Cgroup(Cgroup),
    /// It records none (a bundle given as a directory, so it cannot be a cgroup name).
    NoCgroup(std::path::PathBuf),
}

fn bundle_target(h: &Hierarchy, parent: &str, t: &str) -> Result<Option<Target>, CgroupError> {
    let Ok(b) = Bundle::find(&Store::from_env(), t) else {
        return Ok(None);
    };
    match oci_config::cgroups_path(&b)? {
        Some(path) => Ok(Some(Target::Cgroup(Cgroup::new(h, &path, parent)?))),
        // A container id without a recorded cgroup may still be a cgroup name (--name).
        None if !t.contains('/') => Ok(None),
        None => Ok(Some(Target::NoCgroup(b.dir.clone()))),
    }
}

/// `rm`: teardown is idempotent. A bundle whose cgroup is already gone (ct-exec removes it
/// when the container ends) or that never had one is a notice, not an error; a name or path
/// that names nothing at all is still an error (a typo must not pass silently).
fn remove(h: &Hierarchy, parent: &str, t: &str) -> Result<(), CgroupError> {
    let (cg, of_bundle) = match bundle_target(h, parent, t)? {
        Some(Target::Cgroup(cg)) => (cg, true),
        Some(Target::NoCgroup(dir)) => {
            eprintln!(
                "{TOOL}: bundle '{}' has no linux.cgroupsPath: nothing to remove",
                dir.display()
            );
            return Ok(());
        }
        None => (Cgroup::new(h, t, parent)?, false),
    };
    if cg.remove()? {
        eprintln!("{TOOL}: removed {}", cg.path());
    } else if of_bundle {
        eprintln!("{TOOL}: cgroup '{}' is already gone", cg.path());
    } else {
        return Err(CgroupError::NotFound {
            path: cg.path().to_string(),
        });
    }
    Ok(())
}

fn layout_text(h: &Hierarchy) -> String {
    let mut s = format!("layout: {}\n", h.layout());
    for c in ["memory", "cpu", "cpuacct", "cpuset", "pids", "freezer"] {
        let w = match h.place(c) {
            Place::V1(m) => format!("v1 {}", m.display()),
            Place::V2 => format!(
                "v2 {}",
                h.v2.as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
            Place::Absent => "absent".into(),
        };
        s.push_str(&format!("{c:<8} {w}\n"));
    }
    if let Some(v2) = &h.v2 {
        s.push_str(&format!(
            "cgroup2  {} (controllers: {})\n",
            v2.display(),
            if h.v2_controllers.is_empty() {
                "none".to_string()
            } else {
                h.v2_controllers
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        ));
    }
    s
}

/// As an ordinary user ([`crate::delegation`]): the parent below the user's delegated cgroup
/// v2 subtree, or `None` when the limits cannot be applied — after one warning, unless no
/// limit was asked for.
fn as_user(h: &Hierarchy, res: &LinuxResources) -> Option<String> {
    use crate::delegation::{controllers_for, decide, Decision, Facts};
    match decide(&Facts::read(h), &controllers_for(res)) {
        Decision::Delegated(p) => Some(p.trim_start_matches('/').to_string()),
        Decision::NotDelegated(why) => {
            if res.memory().is_some() || res.cpu().is_some() || res.pids().is_some() {
                eprintln!(
                    "{TOOL}: warning: limits not applied, the container runs without them: {why}; \
                     a user's limits need a cgroup v2 subtree delegated to them (as for rootless \
                     podman)"
                );
            }
            None
        }
    }
}

/// Run the parsed command line (`ct_layout::tool::main` reports an error and exits with its
/// code).
pub fn run(cli: Cli) -> Result<i32, CgroupError> {
    let h = Hierarchy::detect()?;
    match cli.cmd {
        Some(Cmd::Layout) => pipe::print_out(&layout_text(&h)),
        Some(Cmd::Stats { target: t, json }) => {
            let s = target(&h, &cli.parent, &t)?.stats()?;
            if json {
                let line = serde_json::to_string(&s).map_err(|e| CgroupError::InvalidValue {
                    what: "stats",
                    value: s.path.clone(),
                    reason: e.to_string(),
                })?;
                pipe::emit(line);
            } else {
                pipe::print_out(&s.table());
            }
        }
        Some(Cmd::Rm { targets }) => {
            for t in targets {
                remove(&h, &cli.parent, &t)?;
            }
        }
        None => {
            let res = cli.limits.resources()?;
            let mut parent = cli.parent.clone();
            if crate::delegation::rootless() {
                match as_user(&h, &res) {
                    Some(p) => parent = p,
                    None => {
                        // Not applied (said once): a pipe stage still hands its bundle on.
                        if cli.pid.is_none() {
                            let input = pipe::input(cli.bundle, "bundle")?;
                            let b = Bundle::find(&Store::from_env(), &input).map_err(|source| {
                                CgroupError::Bundle {
                                    input: input.clone(),
                                    source,
                                }
                            })?;
                            pipe::emit(b.dir.display());
                        }
                        return Ok(pipe::EXIT_OK);
                    }
                }
            }
            let cli = Cli { parent, ..cli };
            if let Some(pid) = cli.pid {
                let name = cli.name.unwrap_or_else(|| format!("pid-{pid}"));
                let cg = Cgroup::new(&h, &name, &cli.parent)?;
                cg.apply(Some(&res), Some(pid))?;
                pipe::emit(cg.path());
            } else {
                let input = pipe::input(cli.bundle, "bundle")?;
                let b = Bundle::find(&Store::from_env(), &input).map_err(|source| {
                    CgroupError::Bundle {
                        input: input.clone(),
                        source,
                    }
                })?;
                let path = match oci_config::cgroups_path(&b)? {
                    Some(p) => p,
                    None => format!("/{}/{}", cli.parent, b.id()),
                };
                let cg = Cgroup::new(&h, &path, &cli.parent)?;
                // The container's cgroup as the runtime will make it: the bundle's resources
                // (its device rules too) with the flags laid over them.
                let old = oci_config::resources(&b)?;
                for w in old
                    .as_ref()
                    .map(oci_config::resource_warnings_of)
                    .unwrap_or_default()
                {
                    eprintln!("{TOOL}: warning: {w}");
                }
                let merged = oci_config::merge(old, &res);
                let created = cg.create()?;
                let done = cg
                    .set(&crate::for_container(Some(&merged)))
                    .and_then(|_| oci_config::record(&b, cg.path(), &res));
                if let Err(e) = done {
                    if created {
                        let _ = cg.remove();
                    }
                    return Err(e);
                }
                pipe::emit(b.dir.display());
            }
        }
    }
    Ok(pipe::EXIT_OK)
}

impl ct_layout::tool::Failure for CgroupError {
    fn exit_code(&self) -> i32 {
        match self {
            CgroupError::InvalidValue { .. }
            | CgroupError::InvalidPath { .. }
            | CgroupError::Input(ct_layout::pipe::InputError::Missing(_)) => pipe::EXIT_USAGE,
            _ => pipe::EXIT_FAILURE,
        }
    }
    fn hints(&self) -> Vec<String> {
        CgroupError::hints(self)
            .into_iter()
            .map(str::to_string)
            .collect()
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
