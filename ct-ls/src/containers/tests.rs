//! The container listing end to end: state files, bundles and the rows and text made of them.

use super::*;
use ct_layout::bundle::{Note, RootfsMode};
use ct_layout::Digest;
use serde_json::json;

#[test]
fn running_and_stopped_containers_with_network_and_limits() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::new(t.path().join("root"), t.path().join("run"));
    assert!(rows(&store, true).unwrap().is_empty());

    // A running container: this test process stands in for its pid.
    let b = Bundle::new(store.bundle("web"));
    fs::create_dir_all(&b.dir).unwrap();
    fs::write(
        b.config_path(),
        serde_json::to_vec(&json!({
            "ociVersion": "1.0.2",
            "process": {"args": ["nginx", "-g", "daemon off;"], "cwd": "/"},
            "linux": {"resources": {"memory": {"limit": 67108864},
                "cpu": {"quota": 50000, "period": 100000}, "pids": {"limit": 100}}}
        }))
        .unwrap(),
    )
    .unwrap();
    b.save_note(&Note {
        id: "web".into(),
        image: "docker.io/library/nginx:1".into(),
        manifest: Digest::of(b"m"),
        layers: vec![],
        rootfs: RootfsMode::Flat,
        created: "2026-01-01T00:00:00Z".into(),
        name: Some("web".into()),
    })
    .unwrap();
    fs::write(
        b.net_result(),
        serde_json::to_vec(&json!({
            "cniVersion": "1.0.0",
            "ips": [{"address": "10.88.0.5/16", "gateway": "10.88.0.1"}],
            "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": "127.0.0.1"}]
        }))
        .unwrap(),
    )
    .unwrap();
    let me = std::process::id() as i32;
    let mut st = State::new("web", b.dir.clone());
    st.status = Status::Running;
    st.pid = Some(me);
    st.pid_start = ct_layout::state::pid_start_time(me);
    st.created = Some("2026-01-02T03:04:05Z".into());
    st.save(&store).unwrap();

    // A stopped one from a foreign bundle (no note, no net.json), and one whose pid is
    // gone (recorded running, shown stopped).
    let other = t.path().join("runc-bundle");
    fs::create_dir_all(&other).unwrap();
    fs::write(
        other.join("config.json"),
        r#"{"ociVersion":"1.0.2","process":{"args":["sh"],"cwd":"/"}}"#,
    )
    .unwrap();
    let mut s2 = State::new("old", other.clone());
    s2.status = Status::Stopped;
    s2.exit_code = Some(3);
    s2.save(&store).unwrap();
    let mut s3 = State::new("ghost", other);
    s3.status = Status::Running;
    s3.pid = Some(me);
    s3.pid_start = Some(1);
    s3.save(&store).unwrap();

    let running = rows(&store, false).unwrap();
    assert_eq!(running.len(), 1);
    let r = &running[0];
    assert_eq!(r.id, "web");
    assert_eq!(r.name.as_deref(), Some("web"));
    assert_eq!(r.image.as_deref(), Some("docker.io/library/nginx:1"));
    assert_eq!(r.pid, Some(me));
    // The live command line wins over the config's args.
    assert_eq!(r.command, cmdline(me));
    assert_eq!(r.addresses, vec!["10.88.0.5/16".to_string()]);
    assert_eq!(r.ports[0].human(), "127.0.0.1:8080->80/tcp");
    assert_eq!(r.limits.human(), "mem 64M cpu 0.50 pids 100");

    let all = rows(&store, true).unwrap();
    let ids: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["ghost", "old", "web"]);
    assert_eq!(all[0].status, Status::Stopped);
    assert_eq!(all[0].pid, None);
    assert_eq!(all[1].command.as_deref(), Some("sh"));
    assert_eq!(all[1].image, None);

    let q = render(
        &all,
        &Format {
            json: false,
            quiet: true,
        },
    );
    assert_eq!(q, "ghost\nold\nweb\n");
    let table = render(&all, &Format::default());
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("ID "));
    assert!(lines[2].contains("exited (3)"), "{table}");
    assert!(lines[3].contains("10.88.0.5/16") && lines[3].contains("mem 64M cpu 0.50 pids 100"));
    let j: Value = serde_json::from_str(&render(
        &all,
        &Format {
            json: true,
            quiet: false,
        },
    ))
    .unwrap();
    assert_eq!(j[2]["ports"][0]["hostPort"], 8080);
    assert_eq!(j[2]["limits"]["memory"], 67108864);
    assert_eq!(j[2]["status"], "running");
    assert_eq!(j[1]["exitCode"], 3);
}
