//! ct-pull against broken and hostile registries (a small test server, `common::fake_registry`,
//! serving fixture images and misbehaving on demand): corrupt blobs, 5xx, resets, hangs,
//! redirects, oversized or malformed manifests, expired tokens — and a pull killed halfway.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fake_registry::{Config, FakeRegistry, Reply, Req};
use common::*;
use ct_layout::image_layout::ImageLayout;
use ct_layout::Digest;
use ct_tests::image::{busybox_layer, Compression, Image};
use ct_tests::power_cut::{delays_allocation, written_back};

/// A layout with `one:1` (busybox) and `big:1` (busybox + a 6 MiB incompressible layer).
struct Fx {
    _t: Sandbox,
    dir: std::path::PathBuf,
    one: Digest,
    one_layer: Digest,
    big: Digest,
    big_layer: Digest,
    big_layer_size: u64,
}

fn layers_of(dir: &std::path::Path, m: &Digest) -> Vec<(Digest, u64)> {
    let v: serde_json::Value = ImageLayout::at(dir).read_json(m).unwrap();
    v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["digest"].as_str().unwrap().parse().unwrap(),
                l["size"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn fx() -> Fx {
    let t = Sandbox::new();
    let dir = t.dir.path().join("fx");
    let layout = ImageLayout::at(&dir);
    let one = Image::new()
        .layer(busybox_layer(), Compression::Gzip)
        .write(&layout, "one:1");
    let big = Image::new()
        .layer(busybox_layer(), Compression::Gzip)
        .layer(data_layer("big", 6, 1 << 20), Compression::None)
        .write(&layout, "big:1");
    let one_layer = layers_of(&dir, &one)[0].0.clone();
    let (big_layer, big_layer_size) = layers_of(&dir, &big)[1].clone();
    Fx {
        _t: t,
        dir,
        one,
        one_layer,
        big,
        big_layer,
        big_layer_size,
    }
}

fn serve(
    fx: &Fx,
    cfg: Config,
    hook: impl Fn(&Req) -> Reply + Send + Sync + 'static,
) -> FakeRegistry {
    FakeRegistry::serve(&fx.dir, cfg, Arc::new(hook))
}

/// `fx` served with every request for blob `digest` answered by `reply`.
fn serve_blob_as(fx: &Fx, digest: &Digest, reply: Reply) -> FakeRegistry {
    let blob = digest.to_string();
    serve(fx, Config::default(), move |r| {
        if r.is_blob(&blob) {
            reply.clone()
        } else {
            Reply::Normal
        }
    })
}

/// `ct-pull` of `t/big:1` started, once its partial download of the big layer holds at least
/// `bytes`: the child and that file.
fn pull_big_until_partial(
    env: &Env,
    reg: &FakeRegistry,
    fx: &Fx,
    bytes: u64,
) -> (std::process::Child, std::path::PathBuf) {
    let r = format!("{}/t/big:1", reg.host());
    let child = env
        .cmd(&[&r])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let partial = env
        .root()
        .join(format!("tmp/{}.partial", fx.big_layer.hex()));
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0) < bytes {
        assert!(Instant::now() < deadline, "no partial download appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, partial)
}

fn assert_store_empty(env: &Env) {
    assert!(ref_names(env).is_empty(), "{:?}", ref_names(env));
    check_store(env);
}

#[test]
fn corrupted_blob_is_rejected_and_nothing_lands() {
    let fx = fx();
    let reg = serve_blob_as(&fx, &fx.one_layer, Reply::Corrupt);
    let env = Env::new();
    let e = failure(&env.run(&[&format!("{}/t/one:1", reg.host())]), 1);
    assert!(
        e.starts_with(&format!(
            "ct-pull: blob {}: digest mismatch: got sha256:",
            fx.one_layer
        )),
        "{e}"
    );
    assert!(!env.layout().has_blob(&fx.one_layer, None));
    assert!(
        !env.layout().has_blob(&fx.one, None),
        "manifest stored without its layers"
    );
    assert_store_empty(&env);
    // Nothing left in tmp either, not even an empty partial.
    let left: Vec<_> = std::fs::read_dir(env.root().join("tmp")).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn server_errors_are_retried_with_backoff_then_given_up() {
    let fx = fx();
    let layer = fx.one_layer.to_string();
    let n = Arc::new(AtomicUsize::new(0));
    let always = Arc::new(AtomicBool::new(false));
    let (n2, always2) = (n.clone(), always.clone());
    let reg = serve(&fx, Config::default(), move |r| {
        if r.is_blob(&layer)
            && (always2.load(Ordering::SeqCst) || n2.fetch_add(1, Ordering::SeqCst) < 2)
        {
            Reply::Status(503, "{}".into())
        } else {
            Reply::Normal
        }
    });
    let env = Env::new();
    let r = format!("{}/t/one:1", reg.host());
    assert_eq!(env.pull(&[&r]), format!("{r}@{}", fx.one));
    let gets = reg
        .requests()
        .iter()
        .filter(|q| q.is_blob(&fx.one_layer.to_string()))
        .count();
    assert_eq!(gets, 3, "two 503s, then success");
    always.store(true, Ordering::SeqCst);
    let env = Env::new();
    let e = failure(&env.run(&["--retries", "2", &r]), 1);
    assert!(
        e.ends_with("gave up after 3 attempts: registry answered 503"),
        "{e}"
    );
    assert_store_empty(&env);
}

#[test]
fn reset_connection_resumes_with_range() {
    let fx = fx();
    let layer = fx.big_layer.to_string();
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let reg = serve(&fx, Config::default(), move |r| {
        if r.is_blob(&layer) && n2.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::Reset
        } else {
            Reply::Normal
        }
    });
    let env = Env::new();
    let r = format!("{}/t/big:1", reg.host());
    assert_eq!(env.pull(&[&r]), format!("{r}@{}", fx.big));
    let gets: Vec<Req> = reg
        .requests()
        .into_iter()
        .filter(|q| q.is_blob(&fx.big_layer.to_string()))
        .collect();
    assert_eq!(gets.len(), 2);
    assert_eq!(gets[0].header("range"), None);
    let range = gets[1].header("range").expect("second GET resumes");
    let from: u64 = range
        .trim_start_matches("bytes=")
        .trim_end_matches('-')
        .parse()
        .unwrap();
    assert!(from > 0 && from < fx.big_layer_size, "{range}");
    check_store(&env);
}

#[test]
fn blob_redirects_are_followed() {
    let fx = fx();
    let reg = serve(&fx, Config::default(), |r| {
        if r.path.contains("/blobs/") {
            Reply::Redirect
        } else {
            Reply::Normal
        }
    });
    let env = Env::new();
    let r = format!("{}/t/one:1", reg.host());
    assert_eq!(env.pull(&[&r]), format!("{r}@{}", fx.one));
    // config + layer, each asked twice: the original URL and the redirect target.
    let blob_reqs = reg
        .requests()
        .iter()
        .filter(|q| q.path.contains("/blobs/"))
        .count();
    assert_eq!(blob_reqs, 4);
    check_store(&env);
}

#[test]
fn a_silent_registry_times_out() {
    let fx = fx();
    let reg = serve(&fx, Config::default(), |r| {
        if r.path.contains("/manifests/") {
            Reply::Silent
        } else {
            Reply::Normal
        }
    });
    let env = Env::new();
    let start = Instant::now();
    let out = env.run(&[
        "--timeout",
        "1",
        "--retries",
        "1",
        &format!("{}/t/one:1", reg.host()),
    ]);
    let e = failure(&out, 1);
    assert!(e.contains("cannot reach") && e.contains("timed out"), "{e}");
    // Bounded: two attempts of 1 s plus backoff, not the 30 s default.
    assert!(start.elapsed() < Duration::from_secs(20));
    assert_store_empty(&env);
}

const NOT_JSON: &[u8] = b"this config is not JSON";

fn manifest_with_config(config: &Digest, size: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.to_string(), "size": size},
        "layers": [],
    }))
    .unwrap()
}

#[test]
fn broken_manifests_get_one_line_errors() {
    let fx = fx();
    ImageLayout::at(&fx.dir).write_blob(NOT_JSON).unwrap();
    let which = Arc::new(AtomicUsize::new(0));
    let w = which.clone();
    let reg = serve(&fx, Config::default(), move |r| {
        if !r.path.contains("/manifests/") {
            return Reply::Normal;
        }
        match w.load(Ordering::SeqCst) {
            0 => Reply::Body(
                "application/vnd.oci.image.manifest.v1+json".into(),
                b"{\"schemaVersion\": 2, \"config\": ".to_vec(),
            ),
            1 => Reply::Body(
                "application/vnd.docker.distribution.manifest.v1+prettyjws".into(),
                br#"{"schemaVersion":1,"name":"t/one"}"#.to_vec(),
            ),
            2 => Reply::Body(
                "application/vnd.oci.image.manifest.v1+json".into(),
                vec![b' '; 5 << 20],
            ),
            3 => Reply::Body(
                "application/vnd.oci.image.manifest.v1+json".into(),
                manifest_with_config(&Digest::of(b"x"), 9 << 20),
            ),
            4 => Reply::Body(
                "application/vnd.oci.image.manifest.v1+json".into(),
                manifest_with_config(&Digest::of(NOT_JSON), NOT_JSON.len() as u64),
            ),
            _ => Reply::Status(
                404,
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#.into(),
            ),
        }
    });
    let env = Env::new();
    let r = format!("{}/t/one:1", reg.host());
    let e = failure(&env.run(&[&r]), 1);
    assert!(
        e.starts_with("ct-pull: malformed JSON in manifest sha256:")
            && e.contains(&format!(" of {r}: EOF while parsing")),
        "{e}"
    );
    which.store(1, Ordering::SeqCst);
    let e = failure(&env.run(&[&r]), 1);
    assert!(
        e.contains("unsupported media type 'schemaVersion 1'"),
        "{e}"
    );
    which.store(2, Ordering::SeqCst);
    let e = failure(&env.run(&[&r]), 1);
    assert!(e.contains("is larger than the 4194304-byte limit"), "{e}");
    which.store(3, Ordering::SeqCst);
    let e = failure(&env.run(&[&r]), 1);
    assert!(e.contains(" is larger than the 8388608-byte limit"), "{e}");
    assert!(e.starts_with("ct-pull: config sha256:"), "{e}");
    which.store(4, Ordering::SeqCst);
    let e = failure(&env.run(&[&r]), 1);
    assert!(
        e.starts_with(&format!(
            "ct-pull: malformed JSON in config {}",
            Digest::of(NOT_JSON)
        )),
        "{e}"
    );
    which.store(5, Ordering::SeqCst);
    let e = failure(&env.run(&[&r]), 1);
    assert!(
        e.starts_with(&format!("ct-pull: manifest {r} not found: ")),
        "{e}"
    );
    assert_store_empty(&env);
}

#[test]
fn bearer_token_is_refreshed_on_401_and_token_server_errors_retried() {
    let fx = fx();
    let layer = fx.one_layer.to_string();
    let once = Arc::new(AtomicBool::new(true));
    let token_503 = Arc::new(AtomicBool::new(true));
    let (o, t503) = (once.clone(), token_503.clone());
    let reg = serve(
        &fx,
        Config {
            ranges: true,
            bearer: true,
        },
        move |r| {
            if r.path == "/token" && t503.swap(false, Ordering::SeqCst) {
                // The token server hiccups once: retried like any request.
                Reply::Status(503, "{}".into())
            } else if r.is_blob(&layer) && o.swap(false, Ordering::SeqCst) {
                Reply::Unauthorized
            } else {
                Reply::Normal
            }
        },
    );
    let env = Env::new();
    let r = format!("{}/t/one:1", reg.host());
    assert_eq!(env.pull(&[&r]), format!("{r}@{}", fx.one));
    assert_eq!(
        reg.tokens.load(Ordering::SeqCst),
        2,
        "one token, one refresh"
    );
    let auths: Vec<String> = reg
        .requests()
        .iter()
        .filter(|q| q.is_blob(&fx.one_layer.to_string()))
        .map(|q| q.header("authorization").unwrap_or("").to_string())
        .collect();
    assert_eq!(auths, ["Bearer tok-1", "Bearer tok-2"]);
}

/// Start a pull that stalls halfway through the big layer, wait for bytes in the partial
/// file, SIGKILL it, then run again.
fn killed_halfway_then_completed(ranges: bool) {
    let fx = fx();
    let layer = fx.big_layer.to_string();
    let hang = Arc::new(AtomicBool::new(true));
    let h = hang.clone();
    let reg = serve(
        &fx,
        Config {
            ranges,
            bearer: false,
        },
        move |r| {
            if r.is_blob(&layer) && h.load(Ordering::SeqCst) {
                Reply::Hang
            } else {
                Reply::Normal
            }
        },
    );
    let env = Env::new();
    let (mut child, partial) = pull_big_until_partial(&env, &reg, &fx, 1);
    child.kill().unwrap();
    child.wait().unwrap();
    let had = std::fs::metadata(&partial).unwrap().len();
    assert!(had > 0 && had < fx.big_layer_size);
    assert!(
        !env.layout().has_blob(&fx.big_layer, None),
        "unverified blob in blobs/"
    );
    assert!(ref_names(&env).is_empty());

    hang.store(false, Ordering::SeqCst);
    let r = format!("{}/t/big:1", reg.host());
    assert_eq!(env.pull(&[&r]), format!("{r}@{}", fx.big));
    let gets: Vec<Req> = reg
        .requests()
        .into_iter()
        .filter(|q| q.is_blob(&fx.big_layer.to_string()))
        .collect();
    assert_eq!(gets.len(), 2);
    assert_eq!(
        gets[1].header("range"),
        Some(format!("bytes={had}-").as_str())
    );
    assert!(!partial.exists());
    check_store(&env);
}

/// While a download stalls halfway, what arrived is already on the disk (a background syncfs,
/// `ct_layout::writeback`), not left to one flush at the end of the pull.
#[test]
fn a_stalled_download_is_already_on_the_disk() {
    let fx = fx();
    let reg = serve_blob_as(&fx, &fx.big_layer, Reply::Hang);
    let env = Env::new();
    if !delays_allocation(&env.root().join("tmp")) {
        eprintln!("skipped: the test store's file system does not delay allocation (filefrag)");
        return;
    }
    let (mut child, partial) = pull_big_until_partial(&env, &reg, &fx, 1 << 20);
    // The kernel's own flusher would wait 30 s (vm.dirty_expire_centisecs).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut on_disk = false;
    while !on_disk && Instant::now() < deadline {
        on_disk = written_back(&partial) == Some(true);
        std::thread::sleep(Duration::from_millis(20));
    }
    let running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(running, "the download was still stalled");
    assert!(on_disk, "the bytes downloaded so far are on the disk");
}

#[test]
fn pull_killed_halfway_resumes_with_range() {
    killed_halfway_then_completed(true);
}

#[test]
fn pull_killed_halfway_restarts_cleanly_without_range_support() {
    killed_halfway_then_completed(false);
}

#[test]
fn manifest_requests_accept_oci_and_docker_types() {
    let fx = fx();
    let reg = serve(&fx, Config::default(), |_| Reply::Normal);
    let env = Env::new();
    env.pull(&[&format!("{}/t/one:1", reg.host())]);
    let m = reg
        .requests()
        .into_iter()
        .find(|q| q.path.contains("/manifests/"))
        .unwrap();
    let accept = m.header("accept").unwrap().to_string();
    for t in [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ] {
        assert!(accept.contains(t), "{accept}");
    }
}

#[test]
fn jobs_flag_bounds_parallel_downloads() {
    let fx = fx();
    let inflight = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let (i, m) = (inflight.clone(), max.clone());
    let reg = serve(&fx, Config::default(), move |r| {
        if r.path.contains("/blobs/") {
            // Hold each blob request a moment so that parallel ones overlap here.
            let now = i.fetch_add(1, Ordering::SeqCst) + 1;
            m.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(300));
            i.fetch_sub(1, Ordering::SeqCst);
        }
        Reply::Normal
    });
    let r = format!("{}/t/big:1", reg.host());
    Env::new().pull(&["-j", "1", &r]);
    assert_eq!(max.load(Ordering::SeqCst), 1);
    max.store(0, Ordering::SeqCst);
    Env::new().pull(&["-j", "4", &r]);
    // big:1 has two layers: both at once.
    assert_eq!(max.load(Ordering::SeqCst), 2);
    let e = failure(&Env::new().run(&["-j", "0", &r]), 2);
    assert!(e.contains("-j"), "{e}");
}

#[test]
fn a_blob_larger_than_its_descriptor_is_cut_off() {
    let fx = fx();
    let body = vec![0u8; 64 << 20];
    let reg = serve_blob_as(
        &fx,
        &fx.one_layer,
        Reply::Body("application/octet-stream".into(), body),
    );
    let env = Env::new();
    let e = failure(&env.run(&[&format!("{}/t/one:1", reg.host())]), 1);
    assert!(
        e.starts_with(&format!(
            "ct-pull: blob {}: size mismatch: expected ",
            fx.one_layer
        )) && e.ends_with(&format!("got {}", 64 << 20)),
        "{e}"
    );
    assert_store_empty(&env);
    let left: Vec<_> = std::fs::read_dir(env.root().join("tmp")).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn loopback_tries_https_first_and_insecure_goes_straight_to_http() {
    let fx = fx();
    let reg = serve(&fx, Config::default(), |_| Reply::Normal);
    let r = format!("{}/t/one:1", reg.host());
    let tls = |reg: &FakeRegistry| reg.requests().iter().filter(|q| q.method == "TLS").count();
    Env::new().pull(&[&r]);
    assert_eq!(tls(&reg), 1, "one HTTPS probe, then plain HTTP");
    Env::new().pull(&["--insecure", &r]);
    assert_eq!(tls(&reg), 1, "--insecure never tries HTTPS");
}

#[test]
fn a_blob_stalled_midway_times_out_and_resumes() {
    let fx = fx();
    let layer = fx.big_layer.to_string();
    let first = Arc::new(AtomicBool::new(true));
    let f = first.clone();
    let reg = serve(&fx, Config::default(), move |r| {
        if r.is_blob(&layer) && f.swap(false, Ordering::SeqCst) {
            Reply::Hang
        } else {
            Reply::Normal
        }
    });
    let env = Env::new();
    let r = format!("{}/t/big:1", reg.host());
    assert_eq!(env.pull(&["--timeout", "1", &r]), format!("{r}@{}", fx.big));
    let gets: Vec<Req> = reg
        .requests()
        .into_iter()
        .filter(|q| q.is_blob(&fx.big_layer.to_string()))
        .collect();
    assert_eq!(gets.len(), 2);
    assert!(gets[1].header("range").is_some_and(|r| r != "bytes=0-"));
    check_store(&env);
}

/// A registry that answers a manifest request with a megabyte of terminal escapes (clear
/// screen, set the window title), NULs, CRs and newlines — raw, or as the message of a
/// distribution error body — cannot paint the user's terminal or flood a log: ct-pull prints
/// exactly one short line, with no control byte in it, naming the status.
#[test]
fn a_hostile_registry_error_body_is_one_short_inert_line() {
    let fx = fx();
    let junk = "\x1b[2J\x1b]0;pwned\x07\0\r\nline\n";
    let mega = junk.repeat((1 << 20) / junk.len());
    let message = junk.repeat((20 << 10) / junk.len());
    let json = serde_json::json!({"errors": [{"code": "DENIED", "message": message}]}).to_string();
    let cases = [
        (400, mega.clone(), "answered 400"),
        (
            400,
            json.clone(),
            "answered 400: 'DENIED \\u{1b}[2J\\u{1b}]0;pwned",
        ),
        (403, json.clone(), "unauthorized: "),
        (401, mega.clone(), "unauthorized: "),
        (500, mega.clone(), "answered 500"),
    ];
    for (status, body, names) in cases {
        let reg = serve(&fx, Config::default(), move |r: &Req| {
            if r.path.contains("/manifests/") {
                Reply::Status(status, body.clone())
            } else {
                Reply::Normal
            }
        });
        let env = Env::new();
        let out = env.run(&["--retries", "0", &format!("{}/x/one:1", reg.host())]);
        assert_eq!(out.status.code(), Some(1), "{status}");
        let err = &out.stderr;
        let text = String::from_utf8_lossy(err);
        assert!(
            err.len() < 600,
            "{status}: {} bytes: {:?}",
            err.len(),
            &text[..text.len().min(2000)]
        );
        assert_eq!(err.last(), Some(&b'\n'), "{status}: {text:?}");
        let line = &err[..err.len() - 1];
        assert!(
            !line.iter().any(|&b| b < 0x20 || b == 0x7f),
            "{status}: a control byte in {text:?}"
        );
        assert!(text.starts_with("ct-pull: "), "{status}: {text}");
        assert!(text.contains(names), "{status}: {text}");
        assert_store_empty(&env);
    }
}
