//! ct-pull against a real `docker-registry` on 127.0.0.1, fed with fixture images built from
//! busybox-static: one layer, several layers, a two-platform index.

mod common;

use common::*;
use ct_tests::image::host_arch;
use ct_tests::registry::{Auth, Registry};

fn registry_with_fixtures(auth: Auth) -> (Sandbox, Fixtures, Registry) {
    let t = Sandbox::new();
    let fx = fixtures(&t.dir.path().join("fx"));
    let reg = Registry::start(auth);
    for (name, repo) in [
        ("one:1", "test/one:1"),
        ("multi:1", "test/multi:1"),
        ("multi:2", "test/multi:2"),
        ("index:1", "test/index:1"),
    ] {
        reg.push_layout(&fx.dir, name, repo);
    }
    (t, fx, reg)
}

#[test]
fn pulls_one_layer_image_and_prints_canonical_reference() {
    let (_t, fx, reg) = registry_with_fixtures(Auth::None);
    let env = Env::new();
    let r = reg.reference("test/one:1");
    let out = env.pull(&[&r]);
    assert_eq!(out, format!("{r}@{}", fx.one));
    assert_eq!(check_store(&env), vec![r.clone()]);
    // The pinned reference pulls by digest; the name without a tag is REPO@DIGEST.
    let by_digest = format!("{}/test/one@{}", reg.host(), fx.one);
    assert_eq!(env.pull(&[&by_digest]), by_digest);
    // By digest into an empty store: the manifest is asked for by digest.
    let fresh = Env::new();
    assert_eq!(fresh.pull(&[&by_digest]), by_digest);
    assert!(reg
        .requests()
        .contains(&format!("GET /v2/test/one/manifests/{}", fx.one)));
    assert_eq!(ref_names(&fresh), vec![by_digest.clone()]);
    // And the input may come on stdin.
    let mut c = env.cmd(&[]);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "{r}").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8(o.stdout).unwrap().trim(), out);
}

#[test]
fn pulls_several_layers_and_skips_shared_ones() {
    let (_t, fx, reg) = registry_with_fixtures(Auth::None);
    let env = Env::new();
    let before = blob_gets(&reg.requests());
    let out = env.pull(&["-j", "2", &reg.reference("test/multi:1")]);
    assert!(out.ends_with(&fx.multi.to_string()), "{out}");
    // config + 3 layers
    assert_eq!(blob_gets(&reg.requests()) - before, 4);
    // multi:2 shares the busybox layer: only its config and its own layer are fetched.
    let before = blob_gets(&reg.requests());
    env.pull(&[&reg.reference("test/multi:2")]);
    assert_eq!(blob_gets(&reg.requests()) - before, 2);
    assert_eq!(check_store(&env).len(), 2);
}

#[test]
fn repull_of_present_image_makes_no_blob_requests() {
    let (_t, fx, reg) = registry_with_fixtures(Auth::None);
    let env = Env::new();
    let r = reg.reference("test/multi:1");
    env.pull(&[&r]);
    let before = reg.requests();
    assert_eq!(env.pull(&[&r]), format!("{r}@{}", fx.multi));
    let after = reg.requests();
    let new = &after[before.len()..];
    assert_eq!(blob_gets(new), 0, "re-pull asked for blobs: {new:?}");
    assert!(new.iter().any(|r| r.contains("/manifests/1")), "{new:?}");
    // Pinned to a present digest: no request at all.
    let pinned = format!("{r}@{}", fx.multi);
    let n = reg.requests().len();
    env.pull(&[&pinned]);
    assert_eq!(reg.requests().len(), n);
}

#[test]
fn index_picks_host_platform_or_the_one_asked_for() {
    let (_t, fx, reg) = registry_with_fixtures(Auth::None);
    let env = Env::new();
    let r = reg.reference("test/index:1");
    let host = index_entry(&fx.dir, &fx.index, host_arch());
    assert_eq!(env.pull(&[&r]), format!("{r}@{host}"));
    let other = index_entry(&fx.dir, &fx.index, other_arch());
    let env2 = Env::new();
    let p = format!("linux/{}", other_arch());
    assert_eq!(env2.pull(&["--platform", &p, &r]), format!("{r}@{other}"));
    let entry = &env2.layout().refs().unwrap()[0].1;
    assert_eq!(
        entry
            .platform()
            .as_ref()
            .unwrap()
            .architecture()
            .to_string(),
        other_arch()
    );
    check_store(&env2);
    let out = env.run(&["--platform", "linux/s390x", &r]);
    let err = failure(&out, 1);
    const HINT: &str = "; hint: choose one with --platform os/arch[/variant]";
    assert_eq!(
        err,
        format!(
            "ct-pull: {r} has no image for linux/s390x; it offers: linux/{}, linux/{}{HINT}",
            host_arch(),
            other_arch()
        )
    );
    // A single-platform image is checked too.
    let one = reg.reference("test/one:1");
    let err = failure(&env.run(&["--platform", "linux/s390x", &one]), 1);
    assert_eq!(
        err,
        format!(
            "ct-pull: {one} has no image for linux/s390x; it offers: linux/{}{HINT}",
            host_arch()
        )
    );
    let bad = env.run(&["--platform", "linux", &r]);
    assert!(failure(&bad, 2).contains("invalid --platform 'linux'"));
}

#[test]
fn errors_are_one_line_with_documented_exit_codes() {
    let (_t, _fx, reg) = registry_with_fixtures(Auth::None);
    let env = Env::new();
    let missing = reg.reference("test/nope:1");
    let e = failure(&env.run(&[&missing]), 1);
    assert!(
        e.starts_with("ct-pull: manifest ") && e.contains(" not found: http://"),
        "{e}"
    );
    let e = failure(&env.run(&["Bad:Ref"]), 2);
    assert!(e.contains("invalid reference 'Bad:Ref'"), "{e}");
    let e = failure(&env.run(&["--creds", "nocolon", &missing]), 2);
    assert!(e.contains("--creds"), "{e}");
    let help = env.run(&["--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("Exit codes:") && help.contains("2  usage error"),
        "{help}"
    );
    // Nothing was named by the failures.
    assert!(ref_names(&env).is_empty());
}

#[test]
fn basic_auth_registry_with_creds_flag_and_auth_files() {
    let (_t, fx, reg) = registry_with_fixtures(Auth::basic("ct", "s3cret"));
    let r = reg.reference("test/one:1");
    let env = Env::new();
    let e = failure(&env.run(&[&r]), 1);
    assert!(
        e.starts_with(&format!("ct-pull: unauthorized: http://{}/v2/", reg.host())),
        "{e}"
    );
    let e = failure(&env.run(&["--creds", "ct:wrong", &r]), 1);
    assert!(e.contains("unauthorized"), "{e}");
    assert_eq!(
        env.pull(&["--creds", "ct:s3cret", &r]),
        format!("{r}@{}", fx.one)
    );

    // docker's config.json in $DOCKER_CONFIG
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode("ct:s3cret");
    let cfg = format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, reg.host());
    let env = Env::new();
    let dc = env.sb.dir.path().join("docker");
    std::fs::create_dir_all(&dc).unwrap();
    std::fs::write(dc.join("config.json"), &cfg).unwrap();
    let out = env.cmd(&[&r]).env("DOCKER_CONFIG", &dc).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ~/.docker/config.json
    let env = Env::new();
    std::fs::create_dir_all(env.sb.dir.path().join(".docker")).unwrap();
    std::fs::write(env.sb.dir.path().join(".docker/config.json"), &cfg).unwrap();
    env.pull(&[&r]);
    // containers' auth.json via REGISTRY_AUTH_FILE
    let env = Env::new();
    let af = env.sb.dir.path().join("auth.json");
    std::fs::write(&af, &cfg).unwrap();
    let out = env
        .cmd(&[&r])
        .env("REGISTRY_AUTH_FILE", &af)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn token_auth_registry_with_credentials_reuses_one_token() {
    let (_t, fx, reg) = registry_with_fixtures(Auth::token("ct", "s3cret", false));
    let r = reg.reference("test/multi:1");
    let env = Env::new();
    let e = failure(&env.run(&[&r]), 1);
    assert!(e.contains("unauthorized") && e.contains("/token"), "{e}");
    let before = reg.token_requests();
    let out = env.pull(&["--creds", "ct:s3cret", &r]);
    assert_eq!(out, format!("{r}@{}", fx.multi));
    // Manifest, config and three layers, all with one token.
    assert_eq!(reg.token_requests() - before, 1);
    check_store(&env);
}

#[test]
fn token_auth_registry_anonymous_pull() {
    let (_t, fx, reg) = registry_with_fixtures(Auth::token("ct", "s3cret", true));
    let r = reg.reference("test/one:1");
    let env = Env::new();
    assert_eq!(env.pull(&[&r]), format!("{r}@{}", fx.one));
    assert!(reg.token_requests() >= 1);
}

#[test]
fn tls_registry_needs_its_ca() {
    let t = Sandbox::new();
    let fx = fixtures(&t.dir.path().join("fx"));
    let reg = Registry::start_tls(Auth::None);
    let r = reg.push_layout(&fx.dir, "one:1", "test/one:1");
    let env = Env::new();
    // Without the CA the HTTPS handshake fails, and the plain-HTTP fallback for loopback
    // hosts meets a TLS server: no pull.
    let out = env.run(&["--retries", "0", &r]);
    let e = failure(&out, 1);
    assert!(
        e.starts_with(&format!(
            "ct-pull: cannot reach https://{}/v2/: ",
            reg.host()
        )) && e.contains("certificate"),
        "{e}"
    );
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("hint: for a registry with a private CA pass --ca-file"));
    let ca = reg.ca_file().unwrap();
    let out = env.pull(&["--ca-file", ca.to_str().unwrap(), &r]);
    assert_eq!(out, format!("{r}@{}", fx.one));
    let e = failure(&env.run(&["--ca-file", "/nonexistent.pem", &r]), 1);
    assert!(e.contains("cannot read CA file '/nonexistent.pem'"), "{e}");
}

#[test]
fn eight_concurrent_pulls_leave_a_valid_layout() {
    let (_t, fx, reg) = registry_with_fixtures(Auth::None);
    let env = Env::new();
    let refs = [reg.reference("test/multi:1"), reg.reference("test/multi:2")];
    let children: Vec<_> = (0..8)
        .map(|i| {
            env.cmd(&["-j", "3", &refs[i % 2]])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(
        check_store(&env),
        refs.iter().map(|r| r.to_string()).collect::<Vec<_>>()
    );
    let names = ref_names(&env);
    assert_eq!(names.len(), 2);
    let _ = fx;
}

#[test]
fn pulls_docker_schema2_manifests_and_lists() {
    let t = Sandbox::new();
    let fx = fixtures(&t.dir.path().join("fx"));
    let reg = Registry::start(Auth::None);
    let mut digests = Vec::new();
    for (name, repo) in [("multi:2", "docker/multi:2"), ("index:1", "docker/index:1")] {
        let dest = reg.reference(repo);
        let out = std::process::Command::new("skopeo")
            .args([
                "copy",
                "-q",
                "--all",
                "--format",
                "v2s2",
                "--dest-tls-verify=false",
            ])
            .arg(format!("oci:{}:{name}", fx.dir.display()))
            .arg(format!("docker://{dest}"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let raw = std::process::Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{dest}"))
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
        digests.push((
            dest,
            v["mediaType"].as_str().unwrap().to_string(),
            raw.stdout,
        ));
    }
    assert_eq!(
        digests[0].1,
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        digests[1].1,
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    let env = Env::new();
    // A schema 2 manifest: stored as served, so the digest is the registry's.
    let (dest, _, raw) = &digests[0];
    assert_eq!(
        env.pull(&[dest]),
        format!("{dest}@{}", ct_layout::Digest::of(raw))
    );
    // A manifest list: the host's entry.
    let (dest, _, raw) = &digests[1];
    let list: serde_json::Value = serde_json::from_slice(raw).unwrap();
    let host = list["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == host_arch())
        .unwrap();
    assert_eq!(
        env.pull(&[dest]),
        format!("{dest}@{}", host["digest"].as_str().unwrap())
    );
    let stored = env.layout().refs().unwrap();
    assert!(stored.iter().all(|(_, d)| d.media_type().to_string()
        == "application/vnd.docker.distribution.manifest.v2+json"));
    check_store(&env);
}

/// A power cut the moment ct-pull returns (`ct_tests::power_cut`: the store on a loop ext4
/// whose journal commits only when asked, the disk copied then and mounted as after a reboot):
/// the image it printed is named in `index.json`, and its manifest, config and every layer are
/// there, whole (their digests verified) — one syncfs for all the blobs, then the manifest and
/// the index, made durable before ct-pull reports success.
#[test]
fn the_image_ct_pull_reported_survives_a_power_cut_right_after() {
    let (_t, fx, reg) = registry_with_fixtures(Auth::None);
    let env = Env::new();
    let disk = ct_tests::power_cut::Disk::mount(&env.root(), &env.sb.dir.path().join("disk"), 64);
    let r = reg.reference("test/multi:1");
    assert_eq!(env.pull(&["-j", "2", &r]), format!("{r}@{}", fx.multi));

    let cut = ct_layout::Store::new(disk.power_cut(1), env.sb.run.clone());
    let layout = ct_layout::image_layout::ImageLayout::of_store(&cut);
    let refs = layout.refs().expect("index.json after the power cut");
    let names: Vec<&str> = refs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, [r.as_str()]);
    let m: ct_layout::Digest = refs[0].1.digest().to_string().parse().unwrap();
    let manifest: serde_json::Value = layout.read_json(&m).unwrap();
    let blobs = std::iter::once(&manifest["config"]).chain(manifest["layers"].as_array().unwrap());
    for b in blobs {
        let d: ct_layout::Digest = b["digest"].as_str().unwrap().parse().unwrap();
        // read_blob checks the bytes against the digest.
        layout
            .read_blob(&d)
            .unwrap_or_else(|e| panic!("{r}: blob {d}: {e}"));
    }
}
