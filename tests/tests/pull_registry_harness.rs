//! The loopback registry harness itself: each auth mode starts, accepts a push from an OCI
//! layout, serves it back to skopeo, and refuses clients without credentials.

use std::process::Command;

use ct_layout::image_layout::ImageLayout;
use ct_tests::image::busybox_image;
use ct_tests::registry::{http_status, Auth, Registry};
use ct_tests::sandbox::Sandbox;

fn inspect(reg: &Registry, reference: &str, creds: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--raw", "--tls-verify=false"]);
    if let Some(c) = creds {
        cmd.arg("--creds").arg(c);
    } else {
        cmd.arg("--no-creds");
    }
    cmd.arg(format!("docker://{reference}"))
        .env("REGISTRY_AUTH_FILE", "/nonexistent/auth.json")
        .output()
        .unwrap_or_else(|e| panic!("skopeo: {e}; registry log:\n{}", reg.log()))
}

fn push_and_check(auth: Auth) {
    let sb = Sandbox::new();
    let layout = ImageLayout::at(sb.dir.path().join("img"));
    let digest = busybox_image(&layout, "busybox:1");
    let reg = Registry::start(auth.clone());
    let r = reg.push_layout(&layout.dir, "busybox:1", "test/busybox:1");
    assert_eq!(r, format!("127.0.0.1:{}/test/busybox:1", reg.port()));
    let out = inspect(&reg, &r, auth.creds().as_deref());
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        reg.log()
    );
    assert_eq!(ct_layout::Digest::of(&out.stdout), digest);
    if auth != Auth::None {
        let anon = inspect(&reg, &r, None);
        let anonymous_ok = matches!(
            auth,
            Auth::Token {
                anonymous_pull: true,
                ..
            }
        );
        assert_eq!(anon.status.success(), anonymous_ok);
        assert_eq!(http_status(reg.addr(), "/v2/"), Some(401));
    }
    if matches!(auth, Auth::Token { .. }) {
        assert!(reg.token_requests() > 0, "skopeo never asked the issuer");
    }
}

#[test]
fn open_registry_round_trips_an_image() {
    push_and_check(Auth::None);
}

#[test]
fn basic_auth_registry_needs_credentials() {
    push_and_check(Auth::basic("ct", "s3cret"));
}

#[test]
fn token_auth_registry_issues_tokens() {
    push_and_check(Auth::token("ct", "s3cret", false));
}

#[test]
fn token_auth_allows_anonymous_pull_when_asked() {
    push_and_check(Auth::token("ct", "s3cret", true));
}

#[test]
fn registry_stops_on_drop_even_after_a_panic() {
    let port = std::sync::Arc::new(std::sync::Mutex::new(0u16));
    let p = port.clone();
    let r = std::panic::catch_unwind(move || {
        let reg = Registry::start(Auth::None);
        *p.lock().unwrap() = reg.port();
        panic!("test failure while the registry runs");
    });
    assert!(r.is_err());
    let port = *port.lock().unwrap();
    assert_ne!(port, 0);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    assert_eq!(http_status(addr, "/v2/"), None, "registry still answers");
}
