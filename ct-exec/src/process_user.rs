//! `process.user` and `-u`: which uid, gid and supplementary groups the container's process
//! gets, resolved and checked in the parent before anything starts.
//!
//! A name (`-u app:staff`) is looked up in the image's `/etc/passwd` and `/etc/group`
//! (passwd(5), group(5): `name:password:id:…`; passwd's fourth field is the primary gid),
//! read through the rootfs handle (openat2 `RESOLVE_IN_ROOT`), never the host's. Numeric ids
//! are then checked: `(uid_t)-1` means "no change" to setresuid(2), and with a user namespace
//! each id must be inside the uid/gid mappings (user_namespaces(7)), or the kernel would refuse
//! it half way through the setup.

use std::path::Path;

use ct_layout::in_root::Root;
use oci_spec::runtime::Spec;

use crate::oci_config::ConfigError;

/// Look up `name` in an /etc/passwd-style file of the image; field 2 is the id, field 3
/// (passwd) the gid. The file is opened inside the rootfs (openat2 `RESOLVE_IN_ROOT`): the
/// image's `/etc/passwd -> /etc/passwd` or `-> /root/secret` must not read the host's.
fn lookup_name(root: &Root, file: &str, name: &str) -> Option<(u32, Option<u32>)> {
    let bytes = root.read(Path::new(file), 16 << 20).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.first() == Some(&name) {
            let id = f.get(2)?.parse().ok()?;
            let gid = f.get(3).and_then(|g| g.parse().ok());
            Some((id, gid))
        } else {
            None
        }
    })
}

/// `-u uid[:gid]` or `name[:group]` → (uid, gid).
pub fn parse_user(s: &str, rootfs: &Path) -> Result<(u32, u32), ConfigError> {
    let (u, g) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    let root = || Root::open(rootfs).map_err(|_| ConfigError::User(s.into()));
    let (uid, primary) = match u.parse::<u32>() {
        Ok(n) => (n, None),
        Err(_) => lookup_name(&root()?, "/etc/passwd", u).ok_or(ConfigError::User(s.into()))?,
    };
    let gid = match g {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                lookup_name(&root()?, "/etc/group", g)
                    .ok_or(ConfigError::User(s.into()))?
                    .0
            }
        },
        None => primary.unwrap_or(uid),
    };
    Ok((uid, gid))
}

/// `(u32)-1` is no id: setresuid(-1, -1, -1) and setresgid leave the id unchanged, so the
/// command would run as ct-exec's own user, root.
const NO_ID: u32 = u32::MAX;

/// Whether `id` falls in one of the mappings' container-side ranges.
fn mapped(id: u32, maps: &[oci_spec::runtime::LinuxIdMapping]) -> bool {
    maps.iter().any(|m| {
        let start = u64::from(m.container_id());
        (start..start + u64::from(m.size())).contains(&u64::from(id))
    })
}

/// Numeric ids, checked before anything starts: none is 4294967295, and with a user
/// namespace each is inside its mappings (the kernel would refuse it later, half way through
/// the container's setup). `user` is the `-u` value when it replaced the config's.
pub(crate) fn check_ids(
    spec: &Spec,
    new_user: bool,
    user: Option<&str>,
    uid: u32,
    gid: u32,
    groups: &[u32],
) -> Result<(), ConfigError> {
    let linux = spec.linux().as_ref();
    let uid_maps = linux
        .and_then(|l| l.uid_mappings().clone())
        .unwrap_or_default();
    let gid_maps = linux
        .and_then(|l| l.gid_mappings().clone())
        .unwrap_or_default();
    let field = |config: &str| match user {
        Some(u) if config != "process.user.additionalGids" => {
            format!("-u {}", ct_layout::pipe::quote(u))
        }
        _ => format!("config.json: {config}"),
    };
    let mut ids = vec![("process.user.uid", "uid", uid, &uid_maps)];
    ids.push(("process.user.gid", "gid", gid, &gid_maps));
    ids.extend(
        groups
            .iter()
            .map(|&g| ("process.user.additionalGids", "gid", g, &gid_maps)),
    );
    for (config, kind, id, maps) in ids {
        let why = if id == NO_ID {
            "is (uid_t)-1, which the kernel takes for \"no id\""
        } else if new_user && !mapped(id, maps) {
            if kind == "uid" {
                "is not mapped in the container's user namespace (linux.uidMappings)"
            } else {
                "is not mapped in the container's user namespace (linux.gidMappings)"
            }
        } else {
            continue;
        };
        return Err(ConfigError::Id {
            field: field(config),
            kind,
            id,
            why,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::fs;

    #[test]
    fn ids_are_checked_against_no_id_and_the_mappings() {
        let spec: Spec = serde_json::from_value(json!({
            "ociVersion": "1.0.2",
            "linux": {
                "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 10}],
                "gidMappings": [{"containerID": 5, "hostID": 2000, "size": 1}]
            }
        }))
        .unwrap();
        assert!(check_ids(&spec, true, None, 9, 5, &[5]).is_ok());
        assert!(check_ids(&spec, false, None, 70000, 70000, &[]).is_ok());
        let e = check_ids(&spec, true, None, 10, 5, &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "config.json: process.user.uid: uid 10 is not mapped in the container's user namespace (linux.uidMappings)"
        );
        let e = check_ids(&spec, true, None, 0, 5, &[5, 6]).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("config.json: process.user.additionalGids: gid 6 "));
        let e = check_ids(&spec, false, Some("0:4294967295"), 0, u32::MAX, &[]).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("-u '0:4294967295': gid 4294967295 is (uid_t)-1"));
    }

    #[test]
    fn users_by_number_or_name() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir(t.path().join("etc")).unwrap();
        fs::write(t.path().join("etc/passwd"), "app:x:1000:1001::/:/bin/sh\n").unwrap();
        fs::write(t.path().join("etc/group"), "staff:x:50:\n").unwrap();
        assert_eq!(parse_user("5:6", t.path()).unwrap(), (5, 6));
        assert_eq!(parse_user("7", t.path()).unwrap(), (7, 7));
        assert_eq!(parse_user("app", t.path()).unwrap(), (1000, 1001));
        assert_eq!(parse_user("app:staff", t.path()).unwrap(), (1000, 50));
        assert!(parse_user("nobody-here", t.path()).is_err());
    }
}
