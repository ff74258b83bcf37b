//! Resolving a path *inside* the root filesystem, the way the container will see it.
//!
//! A mount destination like `/var/run/x` is a path in the container, but ct-exec mounts it
//! before `pivot_root(2)`, while `/` is still the host's. If the image has a symlink on the
//! way (`var/run -> /run`), following it naively on the host would mount over the host's
//! `/run`. So the path is walked one component at a time with `lstat(2)`:
//!
//! 1. `.` is skipped; `..` goes up one level but never above the rootfs.
//! 2. A symlink is read (`readlink(2)`) and its target spliced in: an absolute target restarts
//!    at the rootfs (it is absolute *in the container*); a relative one that climbs out of the
//!    rootfs with `..` is refused — a bundle that tries that is hostile.
//! 3. At most 40 links are followed (`ELOOP`, like the kernel's `MAXSYMLINKS`).
//!
//! Nothing else runs in the container yet while this happens, so no one can swap a component
//! between the check and the mount.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

const MAX_LINKS: usize = 40;

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("'{path}' escapes the root filesystem through the symlink '{link}'")]
    Escape { path: PathBuf, link: PathBuf },
    #[error("'{0}': too many levels of symbolic links")]
    Loop(PathBuf),
    #[error("cannot inspect '{path}'")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// `container_path` resolved below `rootfs` (which must itself be a resolved host path).
/// Components that do not exist yet are appended as they are.
pub fn resolve(rootfs: &Path, container_path: &Path) -> Result<PathBuf, ResolveError> {
    // Pending components, processed from the front; symlink targets get pushed in front.
    let mut todo: Vec<Vec<u8>> = components(container_path);
    todo.reverse();
    let mut done: Vec<Vec<u8>> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        match c.as_slice() {
            b"" | b"." => continue,
            b".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        let mut here = rootfs.to_path_buf();
        for d in &done {
            here.push(OsStr::from_bytes(d));
        }
        here.push(OsStr::from_bytes(&c));
        match fs::symlink_metadata(&here) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(ResolveError::Loop(container_path.to_path_buf()));
                }
                let target = fs::read_link(&here).map_err(|source| ResolveError::Io {
                    path: here.clone(),
                    source,
                })?;
                if target.is_absolute() {
                    done.clear();
                } else {
                    // A relative target must stay inside the rootfs on its own terms.
                    let mut depth = done.len() as isize;
                    for t in components(&target) {
                        match t.as_slice() {
                            b"" | b"." => {}
                            b".." => depth -= 1,
                            _ => depth += 1,
                        }
                        if depth < 0 {
                            return Err(ResolveError::Escape {
                                path: container_path.to_path_buf(),
                                link: here,
                            });
                        }
                    }
                }
                let mut t = components(&target);
                t.reverse();
                todo.extend(t);
            }
            Ok(_) => done.push(c),
            Err(e) if e.kind() == io::ErrorKind::NotFound => done.push(c),
            Err(source) => return Err(ResolveError::Io { path: here, source }),
        }
    }
    let mut out = rootfs.to_path_buf();
    for d in &done {
        out.push(OsStr::from_bytes(d));
    }
    Ok(out)
}

fn components(p: &Path) -> Vec<Vec<u8>> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.as_bytes().to_vec()),
            Component::ParentDir => Some(b"..".to_vec()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_stay_inside() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("run")).unwrap();
        fs::create_dir_all(r.join("var")).unwrap();
        symlink("/run", r.join("var/run")).unwrap();
        symlink("../run", r.join("var/rel")).unwrap();
        symlink("../../../../etc", r.join("var/evil")).unwrap();
        symlink("loop", r.join("loop")).unwrap();
        assert_eq!(
            resolve(r, Path::new("/var/run/x")).unwrap(),
            r.join("run/x")
        );
        assert_eq!(
            resolve(r, Path::new("/var/rel/y")).unwrap(),
            r.join("run/y")
        );
        assert_eq!(resolve(r, Path::new("/../../a")).unwrap(), r.join("a"));
        assert!(matches!(
            resolve(r, Path::new("/var/evil/passwd")),
            Err(ResolveError::Escape { .. })
        ));
        assert!(matches!(
            resolve(r, Path::new("/loop")),
            Err(ResolveError::Loop(_))
        ));
    }
}
