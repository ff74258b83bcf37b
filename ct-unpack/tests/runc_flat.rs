//! Debian's `runc` runs a `ct-unpack --flat` bundle unchanged, with the image's own command,
//! user (a name resolved through the image's /etc/passwd), working directory and environment.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::Env;
use ct_tests::image::{busybox_layer, Compression, Image};
use serde_json::json;

/// `runc delete --force` on drop, so a failing test leaves no container or cgroup behind.
struct RuncGuard {
    root: PathBuf,
    id: String,
}

impl Drop for RuncGuard {
    fn drop(&mut self) {
        let _ = Command::new("runc")
            .arg("--root")
            .arg(&self.root)
            .args(["delete", "--force", &self.id])
            .output();
    }
}

#[test]
fn runc_runs_a_flat_bundle_as_the_image_says() {
    let env = Env::new();
    Image::new()
        .layer(busybox_layer(), Compression::Gzip)
        .config(json!({
            "Entrypoint": ["/bin/sh", "-c"],
            "Cmd": ["echo \"uid=$(id -u) gid=$(id -g) cwd=$(pwd) foo=$FOO home=$HOME host=$(hostname)\""],
            "User": "nobody",
            "WorkingDir": "/tmp",
            "Env": ["PATH=/bin", "FOO=from-image"],
        }))
        .write(&env.layout(), "localhost/probe:1");
    let id = format!("ct-unpack-test-{}", std::process::id());
    let bundle = env.unpack(&["--flat", "--name", &id, "localhost/probe:1"]);
    let guard = RuncGuard {
        root: env.sb.dir.path().join("runc"),
        id: id.clone(),
    };
    let out = Command::new("runc")
        .arg("--root")
        .arg(&guard.root)
        .arg("run")
        .arg("--bundle")
        .arg(&bundle)
        .arg(&id)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "runc run failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.trim(),
        format!("uid=65534 gid=65534 cwd=/tmp foo=from-image home=/nonexistent host={id}")
    );
    drop(guard);
}
