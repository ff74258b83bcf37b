//! `features` and `spec`: what the runtime says about itself. `features` prints the runtime
//! spec's `features.json` (`features.md`: the OCI versions, hooks, mount options, namespaces,
//! capabilities and cgroup/seccomp support this runtime implements), which containerd and
//! CRI-O read to decide what they may ask for. `spec` writes a default `config.json` into a
//! bundle, as `runc spec` does (oci-spec's defaults, which follow runc's; `--rootless` adds a
//! user namespace mapping the caller's ids).

use std::path::Path;

use crate::ExecError;

pub fn features() -> serde_json::Value {
    let namespaces = [
        "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts",
    ];
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": ct_layout::state::OCI_VERSION,
        "hooks": [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ],
        "mountOptions": crate::mounts::option_names(),
        "linux": {
            "namespaces": namespaces,
            "capabilities": crate::capabilities::NAMES,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": false},
            "seccomp": {"enabled": true},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}},
        },
        "annotations": {"org.opencontainers.runtime-spec.features.runtime": "ct-exec"},
    })
}

pub fn print_features() -> Result<(), ExecError> {
    let text = serde_json::to_string_pretty(&features()).unwrap_or_default();
    ct_layout::pipe::print_out(&format!("{text}\n"));
    Ok(())
}

/// `spec [--bundle DIR] [--rootless]`: refuses to overwrite an existing config.json.
pub fn write_spec(bundle: &Path, rootless: bool) -> Result<(), ExecError> {
    let path = bundle.join("config.json");
    let mut spec = oci_spec::runtime::Spec::default();
    if rootless {
        spec = oci_spec::runtime::Spec::rootless(
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        );
    }
    // As runc's: named for the runtime, and every device denied but those a runtime allows.
    let mut v = serde_json::to_value(&spec).unwrap_or_default();
    v["hostname"] = "ct".into();
    v["linux"]["resources"]["devices"] = serde_json::json!([{"allow": false, "access": "rwm"}]);
    let text = serde_json::to_vec_pretty(&v).unwrap_or_default();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path);
    let mut f = f.map_err(|source| ExecError::Write {
        path: path.clone(),
        source,
    })?;
    std::io::Write::write_all(&mut f, &text).map_err(|source| ExecError::Write { path, source })
}
