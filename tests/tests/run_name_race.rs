//! `ct run --name N` started several times at the same moment: exactly one runs, the others
//! fail with "already exists" (or "exists") — and, above all, none of the losers' clean-up on failure removes
//! the winner's container (which `ct run` used to do: its `ct rm` of a half-made container
//! does not know the container is someone else's).

use std::fs;
use std::os::unix::fs::symlink;
use std::process::Stdio;
use std::time::Duration;

use ct_tests::sandbox::{stderr, Sandbox};

/// A root filesystem with busybox, `sh` and `sleep`.
fn rootfs(ct: &Sandbox) -> std::path::PathBuf {
    let dir = ct.dir.path().join("rootfs");
    for d in ["bin", "proc", "sys", "dev", "tmp"] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    fs::copy("/bin/busybox", dir.join("bin/busybox")).unwrap();
    for a in ["sh", "sleep"] {
        symlink("busybox", dir.join("bin").join(a)).unwrap();
    }
    dir
}

#[test]
fn of_concurrent_ct_runs_with_one_name_exactly_one_runs() {
    let ct = Sandbox::new();
    let root = rootfs(&ct);
    for round in 0..3 {
        let name = format!("race{round}");
        let go = ct.dir.path().join(format!("go{round}"));
        let made = std::process::Command::new("mkfifo")
            .arg(&go)
            .status()
            .unwrap();
        assert!(made.success());
        let mut kids = Vec::new();
        for _ in 0..6 {
            // Each waits on the fifo; opening its writing end lets them all go at once.
            let mut c = ct.program("sh", 120);
            c.args(["-c", ": < \"$0\"; exec \"$@\""])
                .arg(&go)
                .arg(ct_tests::sandbox::script())
                .args(["run", "-d", "--network", "none", "--rootfs"])
                .arg(&root)
                .args(["--name", &name, "sleep", "60"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            kids.push(c.spawn().unwrap());
        }
        std::thread::sleep(Duration::from_millis(300));
        let w = fs::OpenOptions::new().write(true).open(&go).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        drop(w);
        let outs: Vec<_> = kids
            .into_iter()
            .map(|k| k.wait_with_output().unwrap())
            .collect();
        let won = outs.iter().filter(|o| o.status.success()).count();
        let errs: Vec<String> = outs.iter().map(stderr).collect();
        assert_eq!(won, 1, "round {round}: {won} started: {errs:?}");
        // A loser fails on the name's lock while the winner holds it, or, once the winner's
        // -d run has let go of it, on the winner's container.
        for o in outs.iter().filter(|o| !o.status.success()) {
            assert!(
                stderr(o).contains(&format!("'{name}' already exists"))
                    || stderr(o).contains(&format!("a container '{name}' exists")),
                "round {round}: {}",
                stderr(o)
            );
        }
        // The winner's container is still there and running.
        let st: serde_json::Value = serde_json::from_slice(
            &fs::read(ct.run.join("containers").join(&name).join("state.json")).unwrap_or_default(),
        )
        .unwrap_or_default();
        assert_eq!(st["status"], "running", "round {round}: {errs:?}");
        let pid = st["pid"].as_i64().unwrap_or(0) as i32;
        assert!(pid > 0 && std::path::Path::new(&format!("/proc/{pid}")).exists());
        assert!(ct
            .root
            .join("containers")
            .join(&name)
            .join("config.json")
            .exists());
        let o = ct.out(&["rm", "-f", &name]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
}
