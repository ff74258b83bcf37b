//! `ct rename OLD NEW` (issue 18) and `ct run --rm` without a `ct-exec delete` after it,
//! through the real `ct` script and stages.
//!
//! A container's id never changes — the bundle `$CT_ROOT/containers/ID`, the runtime state,
//! the cgroups, the netns and the address lease are named by it — so a rename is one record,
//! `$CT_ROOT/names/NEW` holding the id, and every `ct` command resolves a name through it
//! first. The old name is free at once, even for a container whose id it still is.

use ct_layout::image_layout::ImageLayout;
use ct_tests::image::{busybox_layer, Compression, Image};
use ct_tests::sandbox::{http_get, stderr, stdout, wait_for, Sandbox};
use serde_json::json;

fn busybox(ct: &Sandbox) -> String {
    let dir = ct.dir.path().join("layout-rename");
    Image::new()
        .layer(busybox_layer(), Compression::Gzip)
        .config(json!({"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["/bin/sh"]}))
        .write(&ImageLayout::at(&dir), "fixture");
    ct.ok(&[
        "pull",
        "--tag",
        "localhost/rename:1",
        &format!("oci:{}:fixture", dir.display()),
    ]);
    "localhost/rename:1".into()
}

/// The NAME column of `ct ps -a` for each container.
fn names(ct: &Sandbox) -> Vec<String> {
    ct.ok(&["ps", "-a"])
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect()
}

/// A web server whose page says `page`, published on `port`.
fn web(ct: &Sandbox, img: &str, name: &str, port: u16, page: &str) {
    let script =
        format!("mkdir -p /www && echo {page} >/www/index.html && exec httpd -f -p 80 -h /www");
    let p = format!("127.0.0.1:{port}:80");
    ct.ok(&[
        "run", "-d", "--name", name, "-p", &p, img, "sh", "-c", &script,
    ]);
    assert!(
        wait_for(20, || http_get(port).filter(|b| b.contains(page))).is_some(),
        "{name} does not serve on {port}"
    );
}

#[test]
fn a_renamed_web_server_answers_to_its_new_name_while_its_old_name_runs_another() {
    let ct = Sandbox::new();
    let img = busybox(&ct);
    let port = 20000 + (std::process::id() % 20000) as u16;
    web(&ct, &img, "web", port, "first");

    ct.ok(&["rename", "web", "front"]);
    assert_eq!(names(&ct), ["front"], "ps shows the new name");
    assert!(
        http_get(port).unwrap_or_default().contains("first"),
        "it still serves"
    );
    assert_eq!(
        ct.ok(&["exec", "front", "cat", "/www/index.html"]),
        "first\n"
    );
    ct.ok(&["logs", "front"]);
    let inspect: serde_json::Value = serde_json::from_str(&ct.ok(&["inspect", "front"])).unwrap();
    assert_eq!(
        (inspect["Id"].as_str(), inspect["Name"].as_str()),
        (Some("web"), Some("front"))
    );
    // (`web` is still this container's id, as `ct ps` shows: ids resolve while no container
    // is named so; a name always wins.)

    // The old name is free while the renamed container still runs.
    web(&ct, &img, "web", port + 1, "second");
    let mut ps = names(&ct);
    ps.sort();
    assert_eq!(ps, ["front", "web"]);
    assert_eq!(
        ct.ok(&["exec", "web", "cat", "/www/index.html"]),
        "second\n"
    );
    assert_eq!(
        ct.ok(&["exec", "front", "cat", "/www/index.html"]),
        "first\n"
    );

    // A name in use, an invalid name, an unknown container.
    let o = ct.out(&["rename", "front", "web"]);
    assert_eq!(
        (o.status.code(), stderr(&o)),
        (Some(1), "ct: container name web is already in use\n".into())
    );
    assert_eq!(
        ct.out(&["rename", "front", "no/such"]).status.code(),
        Some(2)
    );
    assert_eq!(ct.out(&["rename", "nosuch", "x"]).status.code(), Some(1));
    assert_eq!(
        ct.ok(&["exec", "front", "cat", "/www/index.html"]),
        "first\n"
    );

    // stop, start, rm by the new name; the second container by the old one.
    ct.ok(&["stop", "-t", "1", "front"]);
    // Events name it by its name, as docker's do; the id stays.
    let stop = ct
        .ok(&["events", "--no-stream", "--format", "json"])
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .rfind(|e| e["Status"] == "stop")
        .unwrap();
    assert_eq!(
        (stop["ID"].as_str(), stop["Name"].as_str()),
        (Some("web"), Some("front"))
    );
    assert!(ct
        .ok(&["ps", "-a"])
        .lines()
        .any(|l| l.contains(" front ") && l.contains("exited")));
    ct.ok(&["start", "front"]);
    assert!(wait_for(20, || http_get(port).filter(|b| b.contains("first"))).is_some());
    ct.ok(&["rm", "-f", "front"]);
    assert_eq!(names(&ct), ["web"]);
    assert!(http_get(port + 1).unwrap_or_default().contains("second"));
    ct.ok(&["rm", "-f", "web"]);

    assert_eq!(ct.containers(), Vec::<String>::new());
    assert_eq!(ct.runtime_states(), Vec::<String>::new());
    assert_eq!(ct.cgroups_left(), Vec::<std::path::PathBuf>::new());
    assert_eq!(ct.netns(), Vec::<String>::new());
    let left: Vec<_> = std::fs::read_dir(ct.root.join("names"))
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "name records left: {left:?}");
}

#[test]
fn dry_run_rename_prints_the_record_and_changes_nothing() {
    let ct = Sandbox::new();
    let img = busybox(&ct);
    ct.ok(&["create", "--name", "a", "--network", "none", &img, "true"]);
    let o = ct.ok(&["--dry-run", "rename", "a", "b"]);
    let rec = ct.root.join("names/b");
    assert!(
        o.contains("ln ") && o.contains(&rec.display().to_string()),
        "{o}"
    );
    assert!(!rec.exists());
    assert_eq!(names(&ct), ["a"]);
    ct.ok(&["rename", "a", "b"]);
    assert_eq!(names(&ct), ["b"]);
    // Back to its id: no record is needed.
    ct.ok(&["rename", "b", "a"]);
    assert_eq!(names(&ct), ["a"]);
    assert!(!rec.exists());
    ct.ok(&["rm", "a"]);
}

#[test]
fn run_rm_removes_the_state_without_a_delete_and_a_pipeline_keeps_its_exit() {
    let ct = Sandbox::new();
    let img = busybox(&ct);
    let dry = ct.ok(&["--dry-run", "run", "--rm", &img, "true"]);
    assert!(!dry.contains("ct-exec delete"), "{dry}");
    assert!(dry.contains("ct-exec --rm "), "{dry}");

    let o = ct.out(&[
        "run",
        "--rm",
        "--name",
        "r",
        "--network",
        "none",
        &img,
        "sh",
        "-c",
        "exit 4",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(!ct.root.join("containers/r").exists());
    assert!(!ct.run.join("containers/r").exists());

    // ct-exec --rm of a store bundle: the bundle stays, the state goes with the process.
    let pipeline = format!(
        "ct-unpack --name p {img} -- sh -c 'exit 3' | ct-mount | ct-net --network none | ct-exec --rm"
    );
    let o = ct
        .program("sh", 60)
        .args(["-c", &pipeline])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    assert!(ct.root.join("containers/p/config.json").exists());
    assert!(!ct.run.join("containers/p").exists());
    // Without --rm the pipeline's container shows its exit.
    let o = ct.program("ct-exec", 60).arg("p").output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(ct
        .ok(&["ps", "-a"])
        .lines()
        .any(|l| l.starts_with("p ") && l.contains("exited (3)")));
    ct.ok(&["rm", "p"]);
}
