//! Stale mounts: an overlay (or anything else) still mounted inside a container's bundle
//! after the container is gone. `/proc/self/mountinfo` (proc(5)) lists every mount of our
//! mount namespace (read with `ct_layout::mountinfo`); field 5 is the mount point.
//!
//! A mount below `$CT_ROOT/containers/ID/` is stale when the bundle has no `config.json` any
//! more (deleted under the mount), or when the container's state says `stopped`. A bundle
//! that is mounted but has no state yet is left alone: it is between `ct-mount` and
//! `ct-exec` in a pipeline right now, or a created container waiting to be run.
//!
//! Steps: read mountinfo; keep mount points below the containers directory; decide per
//! container; unmount the deepest first with `umount2(UMOUNT_NOFOLLOW)` (a symlink planted in
//! the bundle never redirects us), falling back to `MNT_DETACH` when the mount is busy.

use std::fs;
use std::path::{Component, Path, PathBuf};

use ct_layout::state::{State, Status};
use ct_layout::Store;

use crate::GcError;

/// Mount points in `mountinfo` text (field 5, escapes decoded: ct_layout::mountinfo).
pub fn mount_points(mountinfo: &str) -> Vec<PathBuf> {
    ct_layout::mountinfo::parse(mountinfo)
        .into_iter()
        .map(|m| m.mount_point)
        .collect()
}

/// Mount points below the containers directory, with the container id each belongs to.
pub fn under_containers(store: &Store, points: &[PathBuf]) -> Vec<(String, PathBuf)> {
    let base = store.containers();
    let base = fs::canonicalize(&base).unwrap_or(base);
    let mut out = Vec::new();
    for p in points {
        let Ok(rest) = p.strip_prefix(&base) else {
            continue;
        };
        if let Some(Component::Normal(id)) = rest.components().next() {
            out.push((id.to_string_lossy().into_owned(), p.clone()));
        }
    }
    out
}

/// Is the container `id` gone or stopped, so its mounts are stale.
pub fn is_stale(store: &Store, id: &str) -> bool {
    if !store.bundle(id).join(ct_layout::bundle::CONFIG).is_file() {
        return true;
    }
    match State::load(store, id) {
        Ok(s) => s.refreshed().status == Status::Stopped,
        Err(_) => false,
    }
}

/// The stale mount points, deepest first (so nested mounts go before their parents).
pub fn find(store: &Store) -> Result<Vec<PathBuf>, GcError> {
    let path = PathBuf::from("/proc/self/mountinfo");
    let text = fs::read_to_string(&path).map_err(|source| GcError::Mountinfo { path, source })?;
    let mut stale: Vec<PathBuf> = under_containers(store, &mount_points(&text))
        .into_iter()
        .filter(|(id, _)| is_stale(store, id))
        .map(|(_, p)| p)
        .collect();
    stale.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    stale.dedup();
    Ok(stale)
}

/// Unmount one mount point without following symlinks; detach it if it is busy.
pub fn unmount(path: &Path) -> Result<(), GcError> {
    use rustix::io::Errno;
    use rustix::mount::{unmount as umount2, UnmountFlags};
    let err = |e: Errno| GcError::Unmount {
        path: path.to_path_buf(),
        source: e.into(),
    };
    match umount2(path, UnmountFlags::NOFOLLOW) {
        Ok(()) => Ok(()),
        // Not (or no longer) a mount point.
        Err(Errno::INVAL | Errno::NOENT) => Ok(()),
        // MNT_DETACH unmounts lazily once the last user goes.
        Err(Errno::BUSY) => {
            umount2(path, UnmountFlags::NOFOLLOW | UnmountFlags::DETACH).map_err(err)
        }
        Err(e) => Err(err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_escaped_mount_points() {
        let mi = "36 35 98:0 / /mnt/a\\040b rw - ext4 /dev/x rw\n\
                  37 35 0:5 / /r/containers/c1/rootfs rw - overlay overlay rw,lowerdir=x\n\
                  38 35 0:6 / /r/containers/c2/rootfs/data rw - tmpfs tmpfs rw\n";
        let points = mount_points(mi);
        assert_eq!(points[0], PathBuf::from("/mnt/a b"));
        let store = Store::new("/r", "/run-x");
        let under = under_containers(&store, &points);
        assert_eq!(
            under,
            vec![
                ("c1".to_string(), PathBuf::from("/r/containers/c1/rootfs")),
                (
                    "c2".to_string(),
                    PathBuf::from("/r/containers/c2/rootfs/data")
                ),
            ]
        );
    }
}
