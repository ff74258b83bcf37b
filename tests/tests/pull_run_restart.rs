//! minict's user story through `ct`: pull an image from a (loopback) registry, list it, run a
//! container with a name, start it again after it exited (on the same filesystem), remove it.
//! And `ct --dry-run` prints the pipeline without running anything.

use ct_tests::registry::{Auth, Registry};
use ct_tests::sandbox::{stderr, stdout, Sandbox};

#[test]
fn pull_run_named_start_again_rm() {
    let reg = Registry::start(Auth::None);
    let ct = Sandbox::new();
    let r = ct.push_busybox(&reg, "minict/busybox:1");

    let pulled = ct.ok(&["pull", &r]);
    assert!(pulled.starts_with(&format!("{r}@sha256:")), "{pulled}");
    assert_eq!(pulled.lines().count(), 1);
    let images = ct.ok(&["images", "-q"]);
    assert_eq!(images, format!("{r}\n"));

    // First run: no /note yet, so it writes one; the exit status is the container's.
    let script = "cat /note 2>/dev/null || echo first run > /note; exit 7";
    let o = ct.out(&[
        "run",
        "--name",
        "box",
        "--network",
        "none",
        &r,
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    assert_eq!(ct.containers(), vec!["box"]);

    // A second run with the same name is refused; the first container is untouched.
    let o = ct.out(&["run", "--name", "box", &r, "true"]);
    assert_eq!(
        o.status.code(),
        Some(125),
        "a conflict is run's own failure"
    );
    assert_eq!(
        stderr(&o),
        "ct: a container 'box' exists; remove it with: ct rm box\n"
    );

    // Start it again, attached: same command, same filesystem (its upper dir), by id prefix
    // — even after its rootfs was unmounted (start mounts it again).
    let o = std::process::Command::new(ct_tests::bins::bin("ct-mount"))
        .args(["--unmount", "box"])
        .env("CT_ROOT", &ct.root)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(ct_tests::mounts::mounts_under(&ct.root).is_empty());
    let o = ct.out(&["start", "-a", "bo"]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert_eq!(stdout(&o), "first run\n");

    assert_eq!(ct.ok(&["rm", "box"]), "box\n");
    assert!(ct.containers().is_empty());
    assert!(!ct.run.join("containers/box").exists());
    let o = ct.out(&["rm", "box"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "ct: no container 'box'\n");
}

#[test]
fn ps_lists_running_and_exited_containers() {
    let reg = Registry::start(Auth::None);
    let ct = Sandbox::new();
    let r = ct.push_busybox(&reg, "minict/busybox:2");
    ct.ok(&["pull", &r]);
    let o = ct.out(&["run", "--name", "done", "--network", "none", &r, "true"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    ct.ok(&[
        "run",
        "-d",
        "--name",
        "up",
        "--network",
        "none",
        &r,
        "sleep",
        "60",
    ]);
    assert_eq!(ct.ok(&["ps", "-q"]), "up\n");
    let mut all: Vec<String> = ct
        .ok(&["ps", "-a", "-q"])
        .lines()
        .map(String::from)
        .collect();
    all.sort();
    assert_eq!(all, vec!["done", "up"]);
    let table = ct.ok(&["ps", "-a"]);
    let done = table.lines().find(|l| l.starts_with("done")).unwrap_or("");
    assert!(
        done.contains("stopped (0)") || done.contains("exited (0)"),
        "{table}"
    );
    assert!(done.contains(&r) && done.contains(" true "), "{table}");
    // start without -a: detached, its output in the log, after the first run's.
    ct.ok(&["stop", "-t", "1", "up"]);
    assert_eq!(ct.ok(&["ps", "-q"]), "");
    let o = ct.out(&[
        "run",
        "--name",
        "talk",
        "--network",
        "none",
        &r,
        "sh",
        "-c",
        "echo said",
    ]);
    assert_eq!(stdout(&o), "said\n");
    assert_eq!(ct.ok(&["start", "talk"]), "talk\n");
    let said = ct_tests::sandbox::wait_for(10, || {
        let l = ct.ok(&["logs", "talk"]);
        (l == "said\nsaid\n").then_some(l)
    });
    assert!(said.is_some(), "ct logs talk");
    // logs -f follows a running container until it exits.
    ct.ok(&[
        "run",
        "-d",
        "--name",
        "tick",
        "--network",
        "none",
        &r,
        "sh",
        "-c",
        "echo one; sleep 1; echo two",
    ]);
    assert_eq!(ct.ok(&["logs", "-f", "tick"]), "one\ntwo\n");
    ct.ok(&["rm", "tick"]);
    ct.ok(&["rm", "-f", "up", "done", "talk"]);
    assert_eq!(ct.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn dry_run_prints_the_pipeline_and_runs_nothing() {
    let ct = Sandbox::new();
    let out = ct.ok(&[
        "--dry-run",
        "run",
        "--name",
        "web",
        "-e",
        "A=1",
        "-v",
        "/srv:/data:ro",
        "-p",
        "8080:80",
        "--memory",
        "64m",
        "--cpus",
        "0.5",
        "example.com/app:1",
        "echo",
        "hi there",
    ]);
    assert_eq!(
        out,
        "bundle=$(ct-pull example.com/app:1 | ct-unpack --name web -e A=1 -- echo hi\\ there | \
         ct-mount -v /srv:/data:ro | ct-net --network bridge -p 8080:80 | \
         ct-cgroup --memory 64m --cpus 0.5)\nct-exec --log-path \"$bundle\"/container.log \
         \"$bundle\" </dev/null\nct-net --release web >/dev/null\n"
    );
    assert!(!ct.root.join("containers").exists());
    assert!(!ct.root.join("images").exists());
    // docker's --flag=value spelling.
    let out = ct.ok(&[
        "--dry-run",
        "run",
        "--name=w",
        "--network=none",
        "--memory=1g",
        "img",
        "true",
    ]);
    assert!(
        out.starts_with("bundle=$(ct-pull img | ct-unpack --name w -- true | ct-mount | ct-net --network none | ct-cgroup --memory 1g)\n"),
        "{out}"
    );
    let out = ct.ok(&["--dry-run", "rm", "--all"]);
    assert_eq!(out, "");
}
