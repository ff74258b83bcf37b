//! ct-ls as users run it: the real binary over a store written by the fixture builder, with
//! a container state pointing at a live process of the test's own. (Its presence also makes
//! `cargo test --workspace` build `target/debug/ct-ls`, which the cross-tool tests call.)

use std::process::{Child, Command, Output};

use ct_layout::bundle::{Bundle, Note, RootfsMode};
use ct_layout::image_layout::ImageLayout;
use ct_layout::state::{State, Status};
use ct_layout::Store;
use ct_tests::image::{busybox_image, host_arch};
use ct_tests::sandbox::Sandbox;

fn ct_ls(store: &Store, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ct-ls"))
        .args(args)
        .env("CT_ROOT", &store.root)
        .env("CT_RUN", &store.run)
        .output()
        .expect("run ct-ls")
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "ct-ls failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).expect("utf-8 output")
}

/// A child process that is killed and reaped when the test ends, even by a panic.
struct Sleeper(Child);

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn world() -> (Sandbox, Store) {
    let sb = Sandbox::with_prefix("ct-ls-test-");
    let store = sb.store();
    (sb, store)
}

#[test]
fn images_table_json_and_quiet() {
    let (_t, store) = world();
    let layout = ImageLayout::of_store(&store);
    let digest = busybox_image(&layout, "localhost/ls/busybox:1");

    let q = stdout(&ct_ls(&store, &["images", "-q"]));
    assert_eq!(q, "localhost/ls/busybox:1\n");

    let table = stdout(&ct_ls(&store, &["images"]));
    let mut lines = table.lines();
    let header = lines.next().expect("header line");
    assert!(header.starts_with("REFERENCE"), "{table}");
    let row = lines.next().expect("one row");
    assert!(row.contains("localhost/ls/busybox:1"), "{table}");
    assert!(row.contains(&format!("linux/{}", host_arch())), "{table}");
    assert!(lines.next().is_none(), "{table}");

    let json: serde_json::Value =
        serde_json::from_str(&stdout(&ct_ls(&store, &["images", "--json"]))).expect("json");
    let rows = json.as_array().expect("array");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["digest"], digest.to_string());
}

#[test]
fn an_empty_store_lists_nothing() {
    let (_t, store) = world();
    assert_eq!(stdout(&ct_ls(&store, &["images", "-q"])), "");
    assert_eq!(stdout(&ct_ls(&store, &["layers", "-q"])), "");
    assert_eq!(stdout(&ct_ls(&store, &["containers", "-q"])), "");
    let json = stdout(&ct_ls(&store, &["containers", "-a", "--json"]));
    assert_eq!(json.trim(), "[]");
}

fn bundle_with_state(store: &Store, id: &str, pid: Option<i32>, status: Status) -> Bundle {
    let bundle = bundle_only(store, id);
    let mut state = State::new(id, bundle.dir.clone());
    state.status = status;
    state.pid = pid;
    state.pid_start = pid.and_then(ct_layout::state::pid_start_time);
    if status == Status::Stopped {
        state.exit_code = Some(3);
    }
    std::fs::create_dir_all(store.run_containers().join(id)).expect("state dir");
    state.save(store).expect("state.json");
    bundle
}

/// A bundle as ct-unpack leaves it: no runtime state yet.
fn bundle_only(store: &Store, id: &str) -> Bundle {
    let dir = store.bundle(id);
    std::fs::create_dir_all(dir.join("rootfs")).expect("bundle dir");
    let bundle = Bundle::new(&dir);
    std::fs::write(
        bundle.config_path(),
        r#"{"ociVersion":"1.2.0","process":{"args":["sleep","60"],"cwd":"/","user":{"uid":0,"gid":0}},"root":{"path":"rootfs"},
            "linux":{"resources":{"memory":{"limit":67108864},"pids":{"limit":100}}}}"#,
    )
    .expect("config.json");
    std::fs::write(
        bundle.net_result(),
        r#"{"cniVersion":"1.0.0","ips":[{"address":"10.77.0.9/24"}],
            "portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}"#,
    )
    .expect("net.json");
    bundle
        .save_note(&Note {
            id: id.to_string(),
            image: "localhost/ls/busybox:1".into(),
            manifest: ct_layout::Digest::of(b"m"),
            layers: vec![],
            rootfs: RootfsMode::Flat,
            created: "2026-01-01T00:00:00Z".into(),
            name: None,
        })
        .expect("ct.json");
    bundle
}

#[test]
fn containers_show_status_address_ports_and_limits() {
    let (_t, store) = world();
    let sleeper = Sleeper(
        Command::new("sleep")
            .arg("60")
            .spawn()
            .expect("spawn sleep"),
    );
    let pid = sleeper.0.id() as i32;
    bundle_with_state(&store, "web", Some(pid), Status::Running);
    bundle_with_state(&store, "old", None, Status::Stopped);
    bundle_only(&store, "made");
    // A bundle still being built (ct-unpack's hidden temp dir) is never listed.
    std::fs::create_dir_all(store.containers().join(".tmp-x-1")).expect("temp bundle");
    std::fs::write(store.containers().join(".tmp-x-1/config.json"), "{}").expect("temp config");

    // Without -a only the running one; with -a the exited one and the never-started one too.
    assert_eq!(stdout(&ct_ls(&store, &["containers", "-q"])), "web\n");
    let all = stdout(&ct_ls(&store, &["containers", "-a", "-q"]));
    assert_eq!(all.lines().collect::<Vec<_>>(), ["made", "old", "web"]);
    let table = stdout(&ct_ls(&store, &["containers", "-a"]));
    let status_of = |id: &str| {
        table
            .lines()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("no row for {id} in:\n{table}"))
            .to_string()
    };
    assert!(status_of("old").contains("exited (3)"), "{table}");
    assert!(status_of("made").contains("created"), "{table}");
    assert!(status_of("made").contains("2026-01-01 00:00:00"), "{table}");

    let table = stdout(&ct_ls(&store, &["containers"]));
    let row = table
        .lines()
        .find(|l| l.starts_with("web"))
        .unwrap_or_else(|| panic!("no row for web in:\n{table}"));
    assert!(row.contains("running"), "{table}");
    assert!(row.contains(&pid.to_string()), "{table}");
    assert!(row.contains("10.77.0.9"), "{table}");
    assert!(row.contains("8080"), "{table}");
    assert!(row.contains("localhost/ls/busybox:1"), "{table}");

    let json: serde_json::Value =
        serde_json::from_str(&stdout(&ct_ls(&store, &["containers", "--json"]))).expect("json");
    let web = &json.as_array().expect("array")[0];
    assert_eq!(web["id"], "web");
    assert_eq!(web["pid"], pid);
    let text = web.to_string();
    assert!(text.contains("67108864"), "memory limit missing: {text}");

    // The process ends: the container is reported stopped, not running.
    drop(sleeper);
    assert_eq!(stdout(&ct_ls(&store, &["containers", "-q"])), "");
}

#[test]
fn usage_errors_exit_2_and_man_page_renders() {
    let (_t, store) = world();
    let o = ct_ls(&store, &["nonsense"]);
    assert_eq!(o.status.code(), Some(2));
    let man = Command::new(env!("CARGO_BIN_EXE_ct-ls"))
        .env("CT_GENERATE", "man")
        .output()
        .expect("ct-ls man");
    assert!(man.status.success());
    assert!(String::from_utf8_lossy(&man.stdout).contains(".TH ct-ls"));
}

/// The container's cgroup, removed (with what is left inside) when the test ends.
struct CgroupGuard(String);

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        let _ = ct_cgroup::remove(&self.0);
        if let Some(parent) = std::path::Path::new(&self.0).parent() {
            let _ = ct_cgroup::remove(&parent.to_string_lossy());
        }
    }
}

#[test]
fn a_running_container_shows_its_cgroup_usage() {
    let (_t, store) = world();
    let sleeper = Sleeper(
        Command::new("sleep")
            .arg("60")
            .spawn()
            .expect("spawn sleep"),
    );
    let pid = sleeper.0.id() as i32;
    let path = format!("/ct-ls-test-{}/web", std::process::id());
    let guard = CgroupGuard(path.clone());
    ct_cgroup::apply(&path, None, pid).expect("place the sleeper in a cgroup");
    let bundle = bundle_with_state(&store, "web", Some(pid), Status::Running);
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.config_path()).expect("read config"))
            .expect("config json");
    config["linux"]["cgroupsPath"] = serde_json::Value::String(path.clone());
    std::fs::write(bundle.config_path(), config.to_string()).expect("write config");

    let table = stdout(&ct_ls(&store, &["containers"]));
    assert!(
        table.lines().next().unwrap_or("").contains("USAGE"),
        "{table}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&ct_ls(&store, &["containers", "--json"]))).expect("json");
    let usage = &json[0]["usage"];
    assert_eq!(usage["path"], path.as_str(), "{json}");
    let procs: Vec<i64> = usage["processes"]
        .as_array()
        .unwrap_or_else(|| panic!("no processes in {usage}"))
        .iter()
        .filter_map(|p| p.as_i64())
        .collect();
    assert_eq!(procs, [i64::from(pid)], "{usage}");

    // Stopped containers report no usage.
    drop(sleeper);
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&ct_ls(&store, &["containers", "-a", "--json"])))
            .expect("json");
    assert!(json[0]["usage"].is_null(), "{json}");
    drop(guard);
}
