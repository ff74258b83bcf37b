//! Teardown is idempotent: undoing what is already undone succeeds, with at most a one-line
//! notice, so scripts that tear a container down stage by stage (README "ct-net", "ct-cgroup",
//! "ct-exec") can run again after a partial failure. The container is made by the real stages
//! (ct-unpack | ct-mount | ct-net | ct-cgroup, then ct-exec, which removes its cgroup when the
//! command ends); then every teardown command runs twice, and (but ct-cgroup, which then has
//! nothing to recognise the bundle by) once more after the bundle directory is gone.

use ct_layout::image_layout::ImageLayout;
use ct_layout::Store;
use ct_tests::bins::bin;
use ct_tests::image::busybox_image;
use ct_tests::sandbox::{stderr, Sandbox};

const IMG: &str = "localhost/busybox:1";

#[test]
fn every_teardown_step_succeeds_when_run_again() {
    let ct = Sandbox::new();
    let store = Store::new(ct.root.clone(), ct.run.clone());
    busybox_image(&ImageLayout::of_store(&store), IMG);
    let tool = |name: &str, args: &[&str]| {
        let mut c = ct.program(&bin(name).to_string_lossy(), 60);
        c.args(args);
        c.output().unwrap()
    };
    let id = "twice";
    let b = ct.root.join("containers").join(id);
    let b = b.to_str().unwrap();
    for (stage, args) in [
        ("ct-unpack", vec!["--name", id, IMG, "--", "true"]),
        ("ct-mount", vec![b]),
        ("ct-net", vec![b]),
        ("ct-cgroup", vec!["--memory", "64m", b]),
    ] {
        let o = tool(stage, &args);
        assert!(o.status.success(), "{stage}: {}", stderr(&o));
    }
    let cgroup = ct.cgroup_file("memory", id, "");
    assert!(cgroup.exists(), "{}", cgroup.display());
    // The container runs and ends; ct-exec removes its cgroup and keeps its stopped state.
    let o = tool("ct-exec", &["-d", b]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        ct_tests::sandbox::wait_for(10, || (!cgroup.exists()).then_some(())).is_some(),
        "ct-exec left {}",
        cgroup.display()
    );

    let teardown: [(&str, Vec<&str>); 4] = [
        ("ct-exec", vec!["delete", "--force", id]),
        ("ct-cgroup", vec!["rm", b]),
        ("ct-net", vec!["--down", b]),
        ("ct-mount", vec!["--unmount", b]),
    ];
    let run_all = |round: &str| {
        for (t, args) in &teardown {
            // Without its bundle, `ct-cgroup rm PATH` cannot tell a bundle that was there from
            // a cgroup path that never was: it names nothing, and that stays an error (exit 1).
            if round == "bundle gone" && *t == "ct-cgroup" {
                continue;
            }
            let o = tool(t, args);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(0), "{round}: {t} {args:?}: {err}");
            assert!(
                err.lines().count() <= 1 && err.lines().all(|l| l.starts_with(&format!("{t}: "))),
                "{round}: {t} {args:?}: at most a one-line notice: {err:?}"
            );
        }
    };
    run_all("first");
    run_all("second");
    assert!(!ct.netns().contains(&id.to_string()), "netns left");
    assert!(ct.bridge_ports().trim().is_empty(), "veth left");
    assert!(ct_tests::mounts::mounts_under(&ct.root).is_empty());
    std::fs::remove_dir_all(b).unwrap();
    run_all("bundle gone");
}
