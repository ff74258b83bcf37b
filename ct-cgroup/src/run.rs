//! What `ct-cgroup` does with its parsed command line (`cli.rs`), in three shapes:
//!
//! * a pipe stage: find the bundle, read the resources its `config.json` already has (its
//!   device rules too), lay the flags over them, create `/PARENT/ID` (or the bundle's own
//!   `linux.cgroupsPath`), write the limits, record both in `config.json`, print the bundle —
//!   and remove the cgroup again when a step fails;
//! * `--pid PID`: create the cgroup, write the limits, move the process in;
//! * `stats`, `rm` (idempotent for a bundle: its cgroup may be gone already), `layout`.
//!
//! As an ordinary user, the limits go below the user's delegated cgroup v2 subtree, or are not
//! applied, with one warning ([`crate::delegation`]).

use oci_spec::runtime::LinuxResources;

use ct_layout::bundle::Bundle;
use ct_layout::pipe;
use ct_layout::Store;

use crate::cgroup::Cgroup;
use crate::cli::{Cli, Cmd};
use crate::error::CgroupError;
use crate::mountinfo::{Hierarchy, Place};
use crate::oci_config;

const TOOL: &str = "ct-cgroup";

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

/// The bundle a pipe stage was given (a directory or a container id).
fn find_bundle(input: &str) -> Result<Bundle, CgroupError> {
    Bundle::find(&Store::from_env(), input).map_err(|source| CgroupError::Bundle {
        input: input.to_string(),
        source,
    })
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
                            let b = find_bundle(&input)?;
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
                let b = find_bundle(&input)?;
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
