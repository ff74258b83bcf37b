//! fuse-overlayfs(1): the same overlay, served in userspace through FUSE (`/dev/fuse`, fuse(4)),
//! for a user whose kernel overlay cannot be mounted — a kernel before 5.11, or a store on a
//! filesystem overlayfs refuses as an upper directory (overlayfs itself, when ct runs inside
//! another container). It reads the layer store as the kernel does: 0:0 character devices are
//! whiteouts, and `user.overlay.opaque` (as ct-unpack marks a user's opaque directories) hides
//! the lower layers.
//!
//! Steps: run `fuse-overlayfs -o lowerdir=TOP:…:BOTTOM[,upperdir=U,workdir=W] ROOTFS`, which
//! mounts and then leaves a daemon serving the mount (its exit status says whether the mount
//! was made); the mount shows as type `fuse.fuse-overlayfs` in mountinfo ([`is_mounted_at`]).
//! `umount2(2)` of it (ct-mount --unmount) ends the daemon.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::overlay::Overlay;

/// The program, where Debian's fuse-overlayfs package puts it.
pub const PROGRAM: &str = "/usr/bin/fuse-overlayfs";
/// Its mounts' type in mountinfo.
pub const FS_TYPE: &str = "fuse.fuse-overlayfs";

#[derive(Debug, thiserror::Error)]
pub enum FuseError {
    #[error("fuse-overlayfs is not installed ({PROGRAM})")]
    Missing,
    #[error("path {} cannot be passed to fuse-overlayfs (not UTF-8, or it holds ',' or ':')", ct_layout::pipe::quote_path(.0))]
    BadPath(PathBuf),
    #[error("cannot run {PROGRAM}")]
    Run(#[source] io::Error),
    #[error("fuse-overlayfs failed: {0}")]
    Failed(String),
}

pub fn available() -> bool {
    Path::new(PROGRAM).is_file()
}

/// fuse-overlayfs' `-o` list: the same directories as the kernel's, by path.
pub fn options(ov: &Overlay) -> Result<String, FuseError> {
    let text = |p: &PathBuf| match p.to_str() {
        Some(s) if !s.contains(',') && !s.contains(':') => Ok(s.to_string()),
        _ => Err(FuseError::BadPath(p.clone())),
    };
    let lower: Vec<String> = ov.lower.iter().map(text).collect::<Result<_, _>>()?;
    let mut o = format!("lowerdir={}", lower.join(":"));
    if let Some((u, w)) = &ov.upper {
        o.push_str(&format!(",upperdir={},workdir={}", text(u)?, text(w)?));
    }
    Ok(o)
}

/// Mount `ov` at `target` with fuse-overlayfs.
pub fn mount(target: &Path, ov: &Overlay) -> Result<(), FuseError> {
    if !available() {
        return Err(FuseError::Missing);
    }
    let out = Command::new(PROGRAM)
        .arg("-o")
        .arg(options(ov)?)
        .arg(target)
        .stdin(Stdio::null())
        .output()
        .map_err(FuseError::Run)?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        let why = why.lines().last().unwrap_or("").trim();
        return Err(FuseError::Failed(ct_layout::pipe::quote(why.as_bytes())));
    }
    Ok(())
}

/// Is a fuse-overlayfs mounted on `path` (in this mount namespace)?
pub fn is_mounted_at(path: &Path) -> bool {
    ct_layout::mountinfo::read_self().is_ok_and(|all| {
        all.iter()
            .any(|m| m.mount_point == path && m.fs_type == FS_TYPE)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_name_the_same_directories() {
        let ov = Overlay {
            lower: vec!["/s/l2".into(), "/s/l1".into()],
            upper: Some(("/b/upper".into(), "/b/work".into())),
            userxattr: true,
        };
        assert_eq!(
            options(&ov).unwrap(),
            "lowerdir=/s/l2:/s/l1,upperdir=/b/upper,workdir=/b/work"
        );
        let bad = Overlay {
            lower: vec!["/s/a,b".into()],
            upper: None,
            userxattr: true,
        };
        assert!(matches!(options(&bad), Err(FuseError::BadPath(_))));
    }
}
