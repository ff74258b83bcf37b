//! The parts of an OCI runtime config (runtime-spec `config.md`, `config-linux.md`) ct-net
//! edits in `BUNDLE/config.json`:
//!
//! * `linux.namespaces[]` entry of type `network`: with `path` set, the runtime `setns(2)`s
//!   into that existing namespace instead of creating an empty one. `--network host` removes
//!   the entry, so the container stays in the host's namespace.
//! * `mounts[]`: bind mounts of `BUNDLE/hosts`, `BUNDLE/hostname`, `BUNDLE/resolv.conf` over
//!   the image's `/etc` files.
//!
//! Teardown removes exactly what was added: the mounts whose source is one of those bundle
//! files, and a namespace path that points at the namespace ct-net made.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use ct_layout::bundle::{Bundle, BundleError};
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType, Mount, Spec};

use crate::etc_files;

/// Replace `config.json` the way `Bundle::save_config` does (temp file, fsync, rename) minus
/// the final fsync of the directory. The file's data is on disk before its new name can be, so
/// a crash never leaves a torn or empty config.json; if power fails before the rename itself
/// reaches the disk, the old config.json comes back, which is right: it names no namespace,
/// and the namespace the new one named does not survive a reboot either. The directory fsync
/// was half of ct-net's wall time on a busy disk.
pub fn save(bundle: &Bundle, spec: &Spec) -> Result<(), BundleError> {
    let path = bundle.config_path();
    let err = |source| BundleError::Write {
        path: path.clone(),
        source,
    };
    let mut bytes = serde_json::to_vec_pretty(spec).map_err(|e| err(io::Error::other(e)))?;
    bytes.push(b'\n');
    let tmp = ct_layout::atomic::temp_path(&path);
    let r = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&tmp)
        .and_then(|mut f| f.write_all(&bytes).and_then(|()| f.sync_all()))
        .and_then(|()| fs::rename(&tmp, &path));
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r.map_err(err)
}

fn namespaces(spec: &mut Spec) -> &mut Vec<LinuxNamespace> {
    let linux = spec.linux_mut().get_or_insert_with(Default::default);
    linux.namespaces_mut().get_or_insert_with(Vec::new)
}

/// Join the namespace at `path` (or, with `None`, share the host's: no network entry).
pub fn set_netns(spec: &mut Spec, path: Option<&Path>) {
    let ns = namespaces(spec);
    ns.retain(|n| n.typ() != LinuxNamespaceType::Network);
    if let Some(p) = path {
        let mut n = LinuxNamespace::default();
        n.set_typ(LinuxNamespaceType::Network);
        n.set_path(Some(p.to_path_buf()));
        ns.push(n);
    }
}

/// Bind-mount the bundle's hosts/hostname/resolv.conf, replacing other mounts of those paths.
pub fn add_mounts(spec: &mut Spec, bundle: &Path) {
    let ours = etc_files::mounts(bundle);
    let mounts = spec.mounts_mut().get_or_insert_with(Vec::new);
    mounts.retain(|m| !ours.iter().any(|(_, dst)| m.destination() == dst));
    for (src, dst) in ours {
        let mut m = Mount::default();
        m.set_destination(dst);
        m.set_typ(Some("bind".into()));
        m.set_source(Some(src));
        m.set_options(Some(vec!["rbind".into(), "rprivate".into()]));
        mounts.push(m);
    }
}

/// Undo [`add_mounts`] and a network path pointing at `netns`. Returns whether anything changed.
pub fn undo(spec: &mut Spec, bundle: &Path, netns: &Path) -> bool {
    let ours = etc_files::mounts(bundle);
    let mut changed = false;
    if let Some(mounts) = spec.mounts_mut() {
        let before = mounts.len();
        mounts.retain(|m| {
            !ours
                .iter()
                .any(|(src, _)| m.source().as_deref() == Some(src.as_path()))
        });
        changed |= mounts.len() != before;
    }
    if let Some(ns) = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.namespaces_mut().as_mut())
    {
        for n in ns.iter_mut() {
            if n.typ() == LinuxNamespaceType::Network && n.path().as_deref() == Some(netns) {
                n.set_path(None);
                changed = true;
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_then_undo() {
        let mut spec = Spec::default();
        let b = Path::new("/b");
        let ns = Path::new("/run/netns/c1");
        set_netns(&mut spec, Some(ns));
        add_mounts(&mut spec, b);
        add_mounts(&mut spec, b);
        let j = serde_json::to_value(&spec).unwrap();
        let nets: Vec<_> = j["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["type"] == "network")
            .collect();
        assert_eq!(nets.len(), 1);
        assert_eq!(nets[0]["path"], "/run/netns/c1");
        let m = j["mounts"].as_array().unwrap();
        assert_eq!(
            m.iter()
                .filter(|m| m["destination"] == "/etc/hosts")
                .count(),
            1
        );
        assert!(m
            .iter()
            .any(|m| m["source"] == "/b/resolv.conf" && m["type"] == "bind"));
        assert!(undo(&mut spec, b, ns));
        let j = serde_json::to_value(&spec).unwrap();
        assert!(!j["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["source"] == "/b/hosts"));
        assert!(j["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["type"] == "network" && n.get("path").is_none()));
        assert!(!undo(&mut spec, b, ns));
        set_netns(&mut spec, None);
        let j = serde_json::to_value(&spec).unwrap();
        assert!(!j["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["type"] == "network"));
    }
}
