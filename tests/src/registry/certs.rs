//! The certificates a test registry needs, made with `openssl req -x509` (openssl-req(1)): a
//! self-signed RSA key pair the token issuer signs JWTs with (the registry trusts its
//! certificate as `rootcertbundle`), and for HTTPS a CA plus a server certificate it signs for
//! `127.0.0.1` and `localhost` (rustls, like browsers, refuses a CA certificate presented as
//! the server's own, so the two are distinct).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;

/// Run `cmd`, panic with its stderr if it fails, return its stdout.
pub(super) fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `DIR/token.key` and `DIR/token.crt`, and the certificate in base64 DER (a JWT's `x5c`).
pub(super) fn token_signing_pair(dir: &Path) -> (PathBuf, PathBuf, String) {
    let key = dir.join("token.key");
    let cert = dir.join("token.crt");
    run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=ct-test-token-issuer", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::piped()));
    let der = run(Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(&cert));
    let der = base64::engine::general_purpose::STANDARD.encode(der);
    (key, cert, der)
}

/// `DIR/ca.crt` (what clients trust) and a server certificate `DIR/tls.crt` with its key
/// `DIR/tls.key`, which are returned.
pub(super) fn server_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let p = |n: &str| dir.join(n);
    run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=ct-test-ca", "-keyout"])
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.crt"))
        .stderr(Stdio::piped()));
    run(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .arg("-keyout")
        .arg(p("tls.key"))
        .arg("-out")
        .arg(p("tls.csr"))
        .stderr(Stdio::piped()));
    std::fs::write(
        p("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write ext.cnf");
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-CAcreateserial", "-in"])
        .arg(p("tls.csr"))
        .arg("-CA")
        .arg(p("ca.crt"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-extfile")
        .arg(p("ext.cnf"))
        .arg("-out")
        .arg(p("tls.crt"))
        .stderr(Stdio::piped()));
    (p("tls.crt"), p("tls.key"))
}
