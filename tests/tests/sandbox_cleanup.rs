//! The one test harness keeps its promise: whatever a test's `Sandbox` hands out is gone after
//! the test panics. A test that fails halfway leaves the worst state there is — a process
//! inside a nested cgroup below the sandbox's parent, a container process a runtime recorded in
//! `CT_RUN/containers/ID/state.json`, a network namespace, the bridge, a mount below its temp
//! dir — and the panic unwinds through `Sandbox::drop`, which must remove all of it: cgroups
//! are only removable once empty and childless (rmdir(2) on cgroupfs says EBUSY), so the
//! processes have to die first and the tree goes deepest first.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ct_tests::cgroups::dirs_named;
use ct_tests::netns;
use ct_tests::sandbox::Sandbox;

fn sleeper() -> Child {
    Command::new("sleep")
        .arg("600")
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

/// Wait (bounded) for `c` to end; true if it died of SIGKILL.
fn killed(mut c: Child) -> bool {
    use std::os::unix::process::ExitStatusExt;
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if let Some(st) = c.try_wait().unwrap() {
            return st.signal() == Some(libc::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = c.kill();
    let _ = c.wait();
    false
}

fn ip(args: &[&str]) {
    let o = Command::new("ip").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

struct Left {
    cgparent: String,
    bridge: String,
    netns: String,
    dir: PathBuf,
    mount: PathBuf,
}

#[test]
fn a_panicking_test_leaves_no_cgroup_process_namespace_bridge_or_mount() {
    let in_cgroup = sleeper();
    let container = sleeper();
    let mut left = None;
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let sb = Sandbox::new();
        // A process two levels below the parent, on the pids and memory hierarchies.
        for ctrl in ["pids", "memory"] {
            let d = PathBuf::from("/sys/fs/cgroup")
                .join(ctrl)
                .join(sb.cgroup_parent())
                .join("box/inner");
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("cgroup.procs"), in_cgroup.id().to_string()).unwrap();
        }
        // A container process as ct-exec records it.
        let pid = container.id() as i32;
        let state = sb.run.join("containers/c1");
        fs::create_dir_all(&state).unwrap();
        let start = ct_layout::state::pid_start_time(pid).unwrap();
        fs::write(
            state.join("state.json"),
            serde_json::json!({"id": "c1", "pid": pid, "pidStart": start}).to_string(),
        )
        .unwrap();
        let ns = sb.add_netns(&sb.unique("ctsbx"));
        ip(&["link", "add", &sb.bridge, "type", "bridge"]);
        let mount = sb.dir.path().join("mnt");
        fs::create_dir_all(&mount).unwrap();
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "tmpfs"])
            .arg(&mount)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        left = Some(Left {
            cgparent: sb.cgroup_parent().to_string(),
            bridge: sb.bridge.clone(),
            netns: ns,
            dir: sb.dir.path().to_path_buf(),
            mount,
        });
        panic!("the test fails here");
    }));
    assert!(r.is_err(), "the closure panicked");
    let left = left.unwrap();
    assert!(killed(in_cgroup), "the process in the cgroup was killed");
    assert!(killed(container), "the recorded container was killed");
    assert_eq!(dirs_named(&left.cgparent), Vec::<PathBuf>::new());
    assert!(!netns::exists(&left.netns), "netns {}", left.netns);
    assert!(
        !PathBuf::from("/sys/class/net").join(&left.bridge).exists(),
        "bridge {}",
        left.bridge
    );
    assert!(ct_tests::mounts::mounts_under(&left.mount).is_empty());
    assert!(!left.dir.exists(), "{}", left.dir.display());
}
