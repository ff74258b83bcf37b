//! Owners in a user namespace: which ids exist (`/proc/self/uid_map` and `gid_map`,
//! user_namespaces(7)), and what happens to a layer's owners that do not.
//!
//! As root on the host both maps are `0 0 4294967295`: every id exists and every owner lands
//! as the image says. As a user (ct_layout::rootless) ct-unpack runs as uid 0 of the user's
//! own namespace, where only the ids of the map exist: with subordinate ids, `0` (the user)
//! and `1…N` (the range), so image uid `N` lands on the host as `subuid_start + N - 1`;
//! without, `0` alone. `chown(2)` to an id outside the map fails with `EINVAL`, so an owner
//! that is not mapped is replaced by `0` (the user) and kept in the xattr
//! `user.rootlesscontainers`, as `umoci unpack --rootless` does: the protobuf message
//! `Resource { uint32 uid = 1; uint32 gid = 2; }` (github.com/rootless-containers/proto; a
//! field that is 0 is left out). ct-unpack says once how many files it recorded.
//!
//! A user namespace cannot create device nodes either (`mknod(2)` needs `CAP_MKNOD` in the
//! initial namespace; only the 0:0 whiteout is allowed, since Linux 5.8): they are skipped,
//! and ct-unpack says so once. Both notes are counted process-wide because layers are
//! extracted on several threads, and printed by [`warnings`] once the bundle is written.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// The xattr that keeps an owner the namespace does not map (umoci's name).
pub const OWNER_XATTR: &str = "user.rootlesscontainers";

/// One `/proc/self/{uid,gid}_map`: (first id inside, count) ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMap(Vec<(u32, u32)>);

impl IdMap {
    /// Parse a map file's text (`INSIDE OUTSIDE COUNT` per line); unreadable lines are skipped.
    pub fn parse(text: &str) -> IdMap {
        IdMap(
            text.lines()
                .filter_map(|l| {
                    let f: Vec<u32> = l
                        .split_whitespace()
                        .filter_map(|w| w.parse().ok())
                        .collect();
                    (f.len() == 3).then(|| (f[0], f[2]))
                })
                .collect(),
        )
    }

    /// Everything: the initial namespace (or no map to read).
    pub fn identity() -> IdMap {
        IdMap(vec![(0, u32::MAX)])
    }

    pub fn maps(&self, id: u32) -> bool {
        self.0.iter().any(|&(first, count)| {
            id >= first && u64::from(id) < u64::from(first) + u64::from(count)
        })
    }
}

/// This process's maps, read once.
struct Maps {
    uids: IdMap,
    gids: IdMap,
}

fn maps() -> &'static Maps {
    static MAPS: OnceLock<Maps> = OnceLock::new();
    MAPS.get_or_init(|| {
        let read = |f: &str| {
            std::fs::read_to_string(f)
                .map(|t| IdMap::parse(&t))
                .unwrap_or_else(|_| IdMap::identity())
        };
        Maps {
            uids: read("/proc/self/uid_map"),
            gids: read("/proc/self/gid_map"),
        }
    })
}

/// What to `chown` a node to for an image owner `uid:gid`, and the `user.rootlesscontainers`
/// value to keep when either is not mapped here.
pub fn owner(uid: u32, gid: u32) -> (u32, u32, Option<Vec<u8>>) {
    owner_in(maps_pair(), uid, gid)
}

fn maps_pair() -> (&'static IdMap, &'static IdMap) {
    let m = maps();
    (&m.uids, &m.gids)
}

fn owner_in((uids, gids): (&IdMap, &IdMap), uid: u32, gid: u32) -> (u32, u32, Option<Vec<u8>>) {
    // 2^32-1 is chown(2)'s "unchanged": passed on as it always was.
    let ok_u = uid == u32::MAX || uids.maps(uid);
    let ok_g = gid == u32::MAX || gids.maps(gid);
    if ok_u && ok_g {
        return (uid, gid, None);
    }
    (
        if ok_u { uid } else { 0 },
        if ok_g { gid } else { 0 },
        Some(encode_resource(uid, gid)),
    )
}

/// Protobuf encoding of `Resource { uid = 1; gid = 2 }` (varint fields, zeros left out).
pub fn encode_resource(uid: u32, gid: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, v) in [(0x08u8, uid), (0x10, gid)] {
        if v == 0 {
            continue;
        }
        out.push(key);
        let mut v = v;
        while v >= 0x80 {
            out.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    out
}

static RECORDED: AtomicU64 = AtomicU64::new(0);
static DEVICES: AtomicU64 = AtomicU64::new(0);
static FIRST_DEVICE: Mutex<Option<PathBuf>> = Mutex::new(None);

/// A node got its owner recorded in [`OWNER_XATTR`] instead.
pub fn note_recorded() {
    RECORDED.fetch_add(1, Ordering::Relaxed);
}

/// A device node at `p` (relative to the root) was skipped.
pub fn note_device(p: &Path) {
    DEVICES.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut first) = FIRST_DEVICE.lock() {
        first.get_or_insert_with(|| Path::new("/").join(p));
    }
}

/// The warnings for what was noted so far (each once), and forget it.
pub fn warnings() -> Vec<String> {
    let mut w = Vec::new();
    let recorded = RECORDED.swap(0, Ordering::Relaxed);
    if recorded > 0 {
        w.push(format!(
            "{recorded} files have owners this user namespace does not map: they belong to \
             you, their owners are in the xattr {OWNER_XATTR} (subordinate ids in /etc/subuid \
             and /etc/subgid keep them)"
        ));
    }
    let devices = DEVICES.swap(0, Ordering::Relaxed);
    if devices > 0 {
        let first = FIRST_DEVICE.lock().ok().and_then(|mut f| f.take());
        w.push(format!(
            "device nodes cannot be created without root: skipped {devices}{}",
            first
                .map(|p| format!(" (first: {})", ct_layout::pipe::quote_path(&p)))
                .unwrap_or_default()
        ));
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_with_and_without_subordinate_ids() {
        let sub =
            IdMap::parse("         0       1001          1\n         1     100000      65536\n");
        assert!(sub.maps(0) && sub.maps(1) && sub.maps(65536));
        assert!(!sub.maps(65537));
        let alone = IdMap::parse("         0       1001          1\n");
        assert!(alone.maps(0) && !alone.maps(1));
        assert!(IdMap::identity().maps(u32::MAX - 1));
        let root = IdMap::parse("         0          0 4294967295\n");
        assert!(root.maps(4_000_000_000));
    }

    #[test]
    fn unmapped_owners_become_the_user_and_are_recorded() {
        let alone = IdMap::parse("0 1001 1\n");
        assert_eq!(owner_in((&alone, &alone), 0, 0), (0, 0, None));
        let (u, g, rec) = owner_in((&alone, &alone), 1234, 5678);
        assert_eq!((u, g), (0, 0));
        assert_eq!(rec.unwrap(), [0x08, 0xd2, 0x09, 0x10, 0xae, 0x2c]);
        // A mapped uid is kept; only the gid is recorded (uid 0 is left out).
        assert_eq!(
            owner_in((&alone, &alone), 0, 50),
            (0, 0, Some(vec![0x10, 50]))
        );
        let all = IdMap::identity();
        assert_eq!(owner_in((&all, &all), 1234, 5678), (1234, 5678, None));
    }

    #[test]
    fn resource_encoding_is_umocis() {
        assert_eq!(encode_resource(0, 0), Vec::<u8>::new());
        assert_eq!(
            encode_resource(1000, 1000),
            [0x08, 0xe8, 0x07, 0x10, 0xe8, 0x07]
        );
        assert_eq!(
            encode_resource(u32::MAX, 1),
            [0x08, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x10, 0x01]
        );
    }
}
