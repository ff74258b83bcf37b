//! Resolving an image's `User` (`user`, `uid`, `user:group`, `uid:gid`, …) through the image's
//! own `/etc/passwd` and `/etc/group` (`passwd(5)`, `group(5)`), the way the OCI image spec's
//! conversion document asks:
//!
//! 1. A numeric user or group is copied verbatim; a name must exist in the image, else error.
//! 2. Without a group, the gid is the user's primary group from `/etc/passwd` (0 if the uid has
//!    no entry).
//! 3. `additionalGids` are the groups listing the user as a member, only when the user was a
//!    name and no group was given.
//! 4. The home directory (for `HOME`) comes from the passwd entry, else `/`.

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    #[error("user {} not found in the image's /etc/passwd", ct_layout::pipe::quote(.0))]
    NoUser(String),
    #[error("group {} not found in the image's /etc/group", ct_layout::pipe::quote(.0))]
    NoGroup(String),
    #[error("invalid user {} (expected user, uid, user:group or uid:gid)", ct_layout::pipe::quote(.0))]
    Invalid(String),
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 7 || l.starts_with('#') {
            return None;
        }
        Some(PasswdEntry {
            name: f[0],
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5],
        })
    })
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 4 || l.starts_with('#') {
            return None;
        }
        Some(GroupEntry {
            name: f[0],
            gid: f[2].parse().ok()?,
            members: f[3].split(',').filter(|m| !m.is_empty()).collect(),
        })
    })
}

/// Resolve `spec` (empty means root) against the image's passwd and group files (absent files
/// are empty).
pub fn resolve(
    spec: &str,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ResolvedUser, UserError> {
    let passwd = passwd.unwrap_or("");
    let group = group.unwrap_or("");
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if grp.is_some_and(str::is_empty) || (user.is_empty() && grp.is_some()) {
        return Err(UserError::Invalid(spec.to_string()));
    }
    let user = if user.is_empty() { "0" } else { user };
    let mut out = ResolvedUser {
        home: "/".into(),
        ..Default::default()
    };
    let mut by_name = None;
    match user.parse::<u32>() {
        Ok(uid) => {
            out.uid = uid;
            if let Some(e) = passwd_entries(passwd).find(|e| e.uid == uid) {
                out.gid = e.gid;
                out.home = e.home.to_string();
            }
        }
        Err(_) => {
            let e = passwd_entries(passwd)
                .find(|e| e.name == user)
                .ok_or_else(|| UserError::NoUser(user.to_string()))?;
            out.uid = e.uid;
            out.gid = e.gid;
            out.home = e.home.to_string();
            by_name = Some(e.name.to_string());
        }
    }
    match grp {
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => out.gid = gid,
            Err(_) => {
                out.gid = group_entries(group)
                    .find(|e| e.name == g)
                    .map(|e| e.gid)
                    .ok_or_else(|| UserError::NoGroup(g.to_string()))?;
            }
        },
        None => {
            if let Some(name) = by_name {
                let mut gids: Vec<u32> = group_entries(group)
                    .filter(|e| e.members.contains(&name.as_str()) && e.gid != out.gid)
                    .map(|e| e.gid)
                    .collect();
                gids.sort_unstable();
                gids.dedup();
                out.additional_gids = gids;
            }
        }
    }
    if out.home.is_empty() {
        out.home = "/".into();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        www:x:33:33:www:/var/www:/bin/false\n\
        app:x:1000:1000::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\napp:x:1000:\nstaff:x:50:app,www\nvideo:x:44:app\n";

    fn r(s: &str) -> Result<ResolvedUser, UserError> {
        resolve(s, Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn names_resolve_through_the_image() {
        let u = r("app").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        assert_eq!(u.additional_gids, vec![44, 50]);
        assert_eq!(u.home, "/home/app");
        let u = r("app:www").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 33));
        assert!(
            u.additional_gids.is_empty(),
            "a given group means no supplementary groups"
        );
        let u = r("www:50").unwrap();
        assert_eq!((u.uid, u.gid), (33, 50));
    }

    #[test]
    fn numbers_are_verbatim() {
        let u = r("1000").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        assert!(u.additional_gids.is_empty());
        let u = r("4242").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 0, "/"));
        let u = r("4242:4343").unwrap();
        assert_eq!((u.uid, u.gid), (4242, 4343));
        let u = r("").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/root"));
        let u = resolve("", None, None).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/"));
    }

    #[test]
    fn unknown_names_are_errors() {
        assert_eq!(r("nobody"), Err(UserError::NoUser("nobody".into())));
        assert_eq!(r("app:wheel"), Err(UserError::NoGroup("wheel".into())));
        assert!(matches!(r("app:"), Err(UserError::Invalid(_))));
        assert!(matches!(r(":0"), Err(UserError::Invalid(_))));
    }
}
