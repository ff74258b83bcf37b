//! `config.json` of an OCI runtime bundle (runtime-spec `config.md`, `config-linux.md`), made
//! from the image config the way the image spec's `conversion.md` says, plus the defaults a
//! runtime expects (the ones docker and `runc spec` use):
//!
//! 1. `process.args` = `Entrypoint` + `Cmd` (`-- CMD ARGS` replaces `Cmd`, like `docker run`).
//! 2. `process.env` = `Env`, then `-e` overrides; `PATH` and `HOME` only added when absent.
//! 3. `process.cwd` = `-w`, else `WorkingDir`, else `/`.
//! 4. `process.user` = `-u`, else `User`, resolved through the image's `/etc/passwd` and
//!    `/etc/group` (`passwd.rs`).
//! 5. Annotations: `os`, `architecture`, `variant`, `author`, `created`, `StopSignal`,
//!    `ExposedPorts` as `org.opencontainers.image.*`, then `Labels`, which win on conflict.
//! 6. `Volumes` → bind mounts of per-bundle directories, so their data stays out of the rootfs.
//! 7. Defaults (`runtime_defaults.rs`): mounts (`/proc`, `/dev` tmpfs, `/dev/pts`, `/dev/shm`, `/dev/mqueue`, `/sys`
//!    read-only, cgroup), docker's 14 default capabilities, masked and read-only paths, the
//!    `noNewPrivileges` bit, namespaces pid/ipc/uts/mount/cgroup (ct-net adds network),
//!    hostname, and docker's default seccomp profile.
//! 8. For a user (ct_layout::rootless, `runtime_defaults::to_rootless`), what `runc spec --rootless` changes, but one: the
//!    container gets NO `user` namespace of its own, because ct's tools already run in the
//!    user's (the pause process's, with its map), and ct-exec runs the container there. The
//!    rest as runc: `/sys` is a read-only recursive bind of the host's (a user namespace may
//!    not mount sysfs unless it owns the network namespace), no `uid=`/`gid=` mount options
//!    (`gid=5` on devpts names a group that may not be mapped), and no `linux.resources`:
//!    device cgroup rules need a cgroup the user cannot write (ct-cgroup warns instead).

use std::collections::BTreeMap;

use oci_spec::runtime::Spec;
use serde_json::{json, Value};

use crate::image_config_check;
use crate::passwd::ResolvedUser;
use crate::runtime_defaults::{self, DEFAULT_CAPS};

pub use ct_layout::bundle::DEFAULT_PATH;

/// What the user asked to change on the command line.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `-e KEY=VALUE` (or `-e KEY`: take it from our own environment, like docker).
    pub env: Vec<String>,
    /// `-w DIR`.
    pub workdir: Option<String>,
    /// `-u USER[:GROUP]`.
    pub user: Option<String>,
    /// `--hostname NAME`.
    pub hostname: Option<String>,
    /// `-- CMD ARGS`: replaces the image's Cmd.
    pub cmd: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the image has no command (no Entrypoint or Cmd): give one after --")]
    NoCommand,
    #[error("working directory {} is not absolute", ct_layout::pipe::quote(.0))]
    RelativeCwd(String),
    #[error("invalid environment entry {} (expected KEY=VALUE)", ct_layout::pipe::quote(.0))]
    BadEnv(String),
    #[error("working directory {}: {why}", ct_layout::pipe::quote(.dir))]
    BadCwd { dir: String, why: &'static str },
    #[error(transparent)]
    Refused(#[from] image_config_check::Refused),
    #[error("the generated runtime config is invalid")]
    Invalid(#[source] serde_json::Error),
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The user string to resolve: `-u`, else the image's `User`.
pub fn user_spec(image_config: &Value, o: &Overrides) -> String {
    o.user.clone().unwrap_or_else(|| {
        image_config["config"]["User"]
            .as_str()
            .unwrap_or("")
            .to_string()
    })
}

/// Merge `KEY=VALUE` entries: later ones replace earlier ones of the same key, in place.
fn set_env(env: &mut Vec<String>, entry: String) {
    let key = entry.split('=').next().unwrap_or("").to_string();
    if let Some(slot) = env
        .iter_mut()
        .find(|e| e.split('=').next() == Some(key.as_str()))
    {
        *slot = entry;
    } else {
        env.push(entry);
    }
}

fn has_env(env: &[String], key: &str) -> bool {
    env.iter().any(|e| e.split('=').next() == Some(key))
}

/// The directory (below the bundle) that backs the image volume at the cleaned path `dest`:
/// `volumes/NAME`, NAME one path component (`image_config_check::volume_name`).
pub fn volume_dir(dest: &str) -> String {
    format!("volumes/{}", image_config_check::volume_name(dest))
}

/// The image's volumes, cleaned (`image_config_check::volume_path`), sorted, without
/// duplicates.
pub fn volumes(image_config: &Value) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    if let Some(m) = image_config["config"]["Volumes"].as_object() {
        for k in m.keys() {
            out.push(image_config_check::volume_path(k)?);
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Build the runtime config. `bundle_dir` anchors volume sources; `seccomp` is the profile to
/// install, if any; `rootless` for a user's container (step 8).
pub fn build(
    image_config: &Value,
    o: &Overrides,
    user: &ResolvedUser,
    hostname: &str,
    bundle_dir: &std::path::Path,
    seccomp: Option<Value>,
    rootless: bool,
) -> Result<Spec, ConfigError> {
    let c = &image_config["config"];

    // 1. args
    let mut args = strings(&c["Entrypoint"]);
    if o.cmd.is_empty() {
        args.extend(strings(&c["Cmd"]));
    } else {
        args.extend(o.cmd.iter().cloned());
    }
    if args.is_empty() {
        return Err(ConfigError::NoCommand);
    }

    // 2. env
    let mut env = Vec::new();
    for e in strings(&c["Env"]) {
        set_env(&mut env, e);
    }
    for e in &o.env {
        if e.starts_with('=') || e.is_empty() {
            return Err(ConfigError::BadEnv(e.clone()));
        }
        if e.contains('=') {
            set_env(&mut env, e.clone());
        } else if let Ok(v) = std::env::var(e) {
            set_env(&mut env, format!("{e}={v}"));
        }
    }
    if !has_env(&env, "PATH") {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    if !has_env(&env, "HOME") {
        env.push(format!("HOME={}", user.home));
    }

    // 3. cwd
    let cwd = match &o.workdir {
        Some(w) if !w.starts_with('/') => return Err(ConfigError::RelativeCwd(w.clone())),
        Some(w) => {
            image_config_check::clean_container_path(w).map_err(|why| ConfigError::BadCwd {
                dir: w.clone(),
                why,
            })?
        }
        None => image_config_check::working_dir(c)?.unwrap_or_else(|| "/".to_string()),
    };

    // 5. annotations
    let mut ann: BTreeMap<String, String> = BTreeMap::new();
    let top = |k: &str| image_config[k].as_str().map(String::from);
    for (field, key) in [
        ("os", "org.opencontainers.image.os"),
        ("architecture", "org.opencontainers.image.architecture"),
        ("variant", "org.opencontainers.image.variant"),
        ("os.version", "org.opencontainers.image.os.version"),
        ("author", "org.opencontainers.image.author"),
        ("created", "org.opencontainers.image.created"),
    ] {
        if let Some(v) = top(field) {
            ann.insert(key.into(), v);
        }
    }
    if let Some(f) = image_config["os.features"].as_array() {
        let f: Vec<&str> = f.iter().filter_map(Value::as_str).collect();
        ann.insert("org.opencontainers.image.os.features".into(), f.join(","));
    }
    if let Some(s) = c["StopSignal"].as_str() {
        ann.insert("org.opencontainers.image.stopSignal".into(), s.into());
    }
    if let Some(p) = c["ExposedPorts"].as_object() {
        let ports: Vec<&str> = p.keys().map(String::as_str).collect();
        ann.insert(
            "org.opencontainers.image.exposedPorts".into(),
            ports.join(","),
        );
    }
    if let Some(l) = c["Labels"].as_object() {
        for (k, v) in l {
            if let Some(v) = v.as_str() {
                ann.insert(k.clone(), v.into());
            }
        }
    }

    // 6 + 7. mounts
    let mut mounts = runtime_defaults::mounts();
    for v in volumes(image_config)? {
        mounts.push(json!({
            "destination": v,
            "type": "bind",
            "source": bundle_dir.join(volume_dir(&v)),
            "options": ["rbind", "rw"],
        }));
    }

    let caps = DEFAULT_CAPS.to_vec();
    let linux = runtime_defaults::linux(seccomp);
    let mut user_json = json!({"uid": user.uid, "gid": user.gid});
    if !user.additional_gids.is_empty() {
        user_json["additionalGids"] = json!(user.additional_gids);
    }
    let mut spec = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": user_json,
            "args": args,
            "env": env,
            "cwd": cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true,
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": hostname,
        "mounts": mounts,
        "annotations": ann,
        "linux": linux,
    });
    if rootless {
        runtime_defaults::to_rootless(&mut spec);
    }
    serde_json::from_value(spec).map_err(ConfigError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn image() -> Value {
        json!({
            "os": "linux", "architecture": "amd64", "created": "2026-01-01T00:00:00Z",
            "config": {
                "Entrypoint": ["/entry"], "Cmd": ["serve", "--port", "80"],
                "Env": ["PATH=/opt/bin:/bin", "LANG=C.UTF-8", "LANG=de_DE"],
                "WorkingDir": "/srv", "User": "app",
                "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
                "Volumes": {"/data": {}},
                "StopSignal": "SIGQUIT",
                "Labels": {"org.opencontainers.image.os": "from-label", "team": "x"}
            },
            "rootfs": {"type": "layers", "diff_ids": []}
        })
    }

    fn user() -> ResolvedUser {
        ResolvedUser {
            uid: 1000,
            gid: 1000,
            additional_gids: vec![44],
            home: "/home/app".into(),
        }
    }

    fn build_v(o: &Overrides) -> Value {
        let s = build(&image(), o, &user(), "c1", Path::new("/b"), None, false).unwrap();
        serde_json::to_value(s).unwrap()
    }

    #[test]
    fn image_config_converts() {
        let v = build_v(&Overrides::default());
        let p = &v["process"];
        assert_eq!(p["args"], json!(["/entry", "serve", "--port", "80"]));
        assert_eq!(
            p["env"],
            json!(["PATH=/opt/bin:/bin", "LANG=de_DE", "HOME=/home/app"])
        );
        assert_eq!(p["cwd"], "/srv");
        assert_eq!(
            p["user"],
            json!({"uid": 1000, "gid": 1000, "additionalGids": [44]})
        );
        assert_eq!(p["noNewPrivileges"], true);
        assert_eq!(p["capabilities"]["bounding"].as_array().unwrap().len(), 14);
        let a = &v["annotations"];
        assert_eq!(a["org.opencontainers.image.os"], "from-label", "labels win");
        assert_eq!(a["org.opencontainers.image.architecture"], "amd64");
        assert_eq!(a["org.opencontainers.image.stopSignal"], "SIGQUIT");
        assert_eq!(a["org.opencontainers.image.exposedPorts"], "53/udp,80/tcp");
        assert_eq!(
            a["org.opencontainers.image.created"],
            "2026-01-01T00:00:00Z"
        );
        assert_eq!(a["team"], "x");
        assert_eq!(v["hostname"], "c1");
        let mounts = v["mounts"].as_array().unwrap();
        let dests: Vec<&str> = mounts
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(
            dests,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/dev/shm",
                "/dev/mqueue",
                "/sys",
                "/sys/fs/cgroup",
                "/data"
            ]
        );
        assert_eq!(mounts[7]["source"], "/b/volumes/data");
        let ns: Vec<&str> = v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, ["pid", "ipc", "uts", "mount", "cgroup"]);
        assert_eq!(v["linux"]["maskedPaths"].as_array().unwrap().len(), 11);
        assert_eq!(v["linux"]["readonlyPaths"].as_array().unwrap().len(), 5);
        assert_eq!(v["root"]["path"], "rootfs");
    }

    #[test]
    fn overrides_win() {
        let o = Overrides {
            env: vec!["LANG=C".into(), "NEW=1".into()],
            workdir: Some("/tmp".into()),
            user: None,
            hostname: None,
            cmd: vec!["sh".into(), "-c".into(), "true".into()],
        };
        let v = build_v(&o);
        assert_eq!(v["process"]["args"], json!(["/entry", "sh", "-c", "true"]));
        assert_eq!(
            v["process"]["env"],
            json!(["PATH=/opt/bin:/bin", "LANG=C", "NEW=1", "HOME=/home/app"])
        );
        assert_eq!(v["process"]["cwd"], "/tmp");
    }

    #[test]
    fn defaults_and_errors() {
        let bare = json!({"config": {"Cmd": ["/bin/sh"]}});
        let s = build(
            &bare,
            &Overrides::default(),
            &ResolvedUser {
                home: "/".into(),
                ..Default::default()
            },
            "h",
            Path::new("/b"),
            Some(json!({"defaultAction": "SCMP_ACT_ERRNO"})),
            false,
        )
        .unwrap();
        let v = serde_json::to_value(s).unwrap();
        assert_eq!(
            v["process"]["env"],
            json!([format!("PATH={DEFAULT_PATH}"), "HOME=/"])
        );
        assert_eq!(v["process"]["cwd"], "/");
        assert_eq!(v["process"]["user"], json!({"uid": 0, "gid": 0}));
        assert_eq!(v["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
        let none = json!({"config": {}});
        assert!(matches!(
            build(
                &none,
                &Overrides::default(),
                &user(),
                "h",
                Path::new("/b"),
                None,
                false
            ),
            Err(ConfigError::NoCommand)
        ));
        let o = Overrides {
            workdir: Some("rel".into()),
            ..Default::default()
        };
        assert!(matches!(
            build(&image(), &o, &user(), "h", Path::new("/b"), None, false),
            Err(ConfigError::RelativeCwd(_))
        ));
        assert_eq!(volume_dir("/var/lib/my sql"), "volumes/var+lib+my%20sql");
    }

    /// What `runc spec --rootless` prints here (runc 1.1), for the parts ct follows.
    const RUNC_ROOTLESS_MOUNTS: &str = r#"[
        {"destination":"/proc","type":"proc","source":"proc"},
        {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]},
        {"destination":"/dev/pts","type":"devpts","source":"devpts","options":["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620"]},
        {"destination":"/dev/shm","type":"tmpfs","source":"shm","options":["nosuid","noexec","nodev","mode=1777","size=65536k"]},
        {"destination":"/dev/mqueue","type":"mqueue","source":"mqueue","options":["nosuid","noexec","nodev"]},
        {"destination":"/sys","type":"none","source":"/sys","options":["rbind","nosuid","noexec","nodev","ro"]},
        {"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup","options":["nosuid","noexec","nodev","relatime","ro"]}
    ]"#;

    #[test]
    fn a_users_config_is_runc_rootless_without_a_user_namespace() {
        let bare = json!({"config": {"Cmd": ["/bin/sh"]}});
        let root = ResolvedUser {
            home: "/".into(),
            ..Default::default()
        };
        let s = build(
            &bare,
            &Overrides::default(),
            &root,
            "h",
            Path::new("/b"),
            None,
            true,
        );
        let v = serde_json::to_value(s.unwrap()).unwrap();
        let mut mounts = v["mounts"].clone();
        // ct's /proc is nosuid,noexec,nodev where runc's has no options: the rest is runc's.
        mounts[0].as_object_mut().unwrap().remove("options");
        let runc: Value = serde_json::from_str(RUNC_ROOTLESS_MOUNTS).unwrap();
        assert_eq!(mounts, runc);
        assert!(v["linux"]["resources"].is_null(), "no device cgroup rules");
        let ns: Vec<&str> = v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            ns,
            ["pid", "ipc", "uts", "mount", "cgroup"],
            "no user namespace"
        );
        assert!(v["linux"]["uidMappings"].is_null());
        // As root, the device rules and sysfs stay.
        let v = build_v(&Overrides::default());
        assert_eq!(v["mounts"][5]["type"], "sysfs");
        assert!(v["linux"]["resources"]["devices"].is_array());
    }
}
