//! A real `docker-registry` (Debian's build of distribution 2.8) on a free 127.0.0.1 port,
//! started per test and stopped when the [`Registry`] is dropped — also when the test panics,
//! since `Drop` runs while unwinding.
//!
//! Steps, in order:
//! 1. pick a free loopback port (bind port 0, read it back, close);
//! 2. write `config.yml` with filesystem storage in a temp dir, and the auth section:
//!    none, `htpasswd` (bcrypt file made with `htpasswd -Bbn`), or `token` (an RSA key and a
//!    self-signed certificate made with `openssl req -x509`; the registry trusts the certificate
//!    as `rootcertbundle`, and a tiny token issuer started here signs RS256 JWTs with the key
//!    and puts the certificate in the JWT header's `x5c`);
//! 3. `docker-registry serve config.yml`, then poll `GET /v2/` until it answers (bounded);
//! 4. on drop: SIGTERM the registry by its pid, wait for it, stop the issuer, remove the dir.
//!
//! API: [`Registry::start`]`(Auth::None | Auth::basic(u, p) | Auth::token(u, p, anonymous_pull))`,
//! [`Registry::start_tls`] (HTTPS, CA in [`Registry::ca_file`]); [`Registry::host`]
//! (`127.0.0.1:PORT`), [`Registry::reference`]`("repo:tag")`, [`Registry::url`];
//! [`Registry::push_layout`]`(layout_dir, ref_name_in_layout, "repo:tag")` (skopeo copy, digests
//! preserved, all platforms); [`Registry::requests`] (`"GET /v2/…"` from the access log),
//! [`Registry::token_requests`], [`Registry::log`], [`Registry::storage`].
//!
//! ```no_run
//! use ct_tests::registry::{Auth, Registry};
//! let reg = Registry::start(Auth::None);
//! // an image written into an OCI layout (see ct_tests::image) ...
//! let r = reg.push_layout(std::path::Path::new("/tmp/layout"), "busybox:1", "test/busybox:1");
//! assert_eq!(r, format!("{}/test/busybox:1", reg.host()));
//! ```

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

mod certs;
mod token_issuer;
use certs::run;
use token_issuer::TokenIssuer;

/// How the registry asks clients to authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Open registry.
    None,
    /// HTTP Basic against an htpasswd file holding one user.
    Basic { user: String, pass: String },
    /// distribution's `auth: token`: the registry answers 401 with
    /// `WWW-Authenticate: Bearer realm=…,service=…,scope=…` and the client fetches a JWT from
    /// the issuer started beside it. With `anonymous_pull`, the issuer hands out pull-only
    /// tokens to clients without credentials; with credentials it grants every asked action.
    Token {
        user: String,
        pass: String,
        anonymous_pull: bool,
    },
}

impl Auth {
    pub fn basic(user: &str, pass: &str) -> Auth {
        Auth::Basic {
            user: user.into(),
            pass: pass.into(),
        }
    }
    pub fn token(user: &str, pass: &str, anonymous_pull: bool) -> Auth {
        Auth::Token {
            user: user.into(),
            pass: pass.into(),
            anonymous_pull,
        }
    }
    /// `user:pass` for skopeo's `--creds`, if the registry needs any.
    pub fn creds(&self) -> Option<String> {
        match self {
            Auth::None => None,
            Auth::Basic { user, pass } | Auth::Token { user, pass, .. } => {
                Some(format!("{user}:{pass}"))
            }
        }
    }
}

/// The `service` the token registry expects in tokens (`aud`).
pub const TOKEN_SERVICE: &str = "ct-test-registry";
/// The `iss` the token registry expects in tokens.
pub const TOKEN_ISSUER: &str = "ct-test-issuer";

/// A running registry. Dropping it stops it and deletes its storage.
pub struct Registry {
    port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
    auth: Auth,
    issuer: Option<TokenIssuer>,
    tls: bool,
}

/// A free port on 127.0.0.1 (the kernel picks it; there is a small race until it is used).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

impl Registry {
    /// Start a registry with `auth` (panics with the registry's log if it does not come up in
    /// 20 s). Retries with another port if the chosen one was taken meanwhile.
    pub fn start(auth: Auth) -> Registry {
        Registry::start_with(auth, false)
    }

    /// Like [`Registry::start`], but serving HTTPS only, with a certificate for `127.0.0.1`
    /// and `localhost` signed by a CA made with `openssl` ([`Registry::ca_file`]).
    pub fn start_tls(auth: Auth) -> Registry {
        Registry::start_with(auth, true)
    }

    fn start_with(auth: Auth, tls: bool) -> Registry {
        let mut last = String::new();
        for _ in 0..3 {
            match Registry::try_start(auth.clone(), tls) {
                Ok(r) => return r,
                Err(log) => last = log,
            }
        }
        panic!("docker-registry did not start:\n{last}");
    }

    fn try_start(auth: Auth, tls: bool) -> Result<Registry, String> {
        let dir = tempfile::Builder::new()
            .prefix("ct-registry-")
            .tempdir()
            .expect("temp dir");
        let port = free_port();
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).expect("storage dir");
        let mut issuer = None;
        let auth_yaml = match &auth {
            Auth::None => String::new(),
            Auth::Basic { user, pass } => {
                let line = run(Command::new("htpasswd").args(["-Bbn", user, pass]));
                let path = dir.path().join("htpasswd");
                std::fs::write(&path, line).expect("write htpasswd");
                format!(
                    "auth:\n  htpasswd:\n    realm: ct-test\n    path: {}\n",
                    path.display()
                )
            }
            Auth::Token {
                user,
                pass,
                anonymous_pull,
            } => {
                let (key, cert, der) = certs::token_signing_pair(dir.path());
                let t = TokenIssuer::start(key, der, user.clone(), pass.clone(), *anonymous_pull);
                let yaml = format!(
                    "auth:\n  token:\n    realm: {}\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
                    t.realm(),
                    cert.display()
                );
                issuer = Some(t);
                yaml
            }
        };
        let tls_yaml = if tls {
            let (crt, key) = certs::server_certificate(dir.path());
            format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                crt.display(),
                key.display()
            )
        } else {
            String::new()
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: ct-test-secret\n{tls_yaml}{auth_yaml}",
            storage.display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("write registry config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("registry log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("docker-registry is installed (apt-get install docker-registry)");
        let mut reg = Registry {
            port,
            child: Some(child),
            dir,
            auth,
            issuer,
            tls,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = reg.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                reg.child = None;
                return Err(format!("exited with {status}:\n{}", reg.log()));
            }
            if let Some(code) = http_status(reg.addr(), "/v2/") {
                // A TLS registry answers a plain-HTTP probe with 400: it is up.
                if code == 200 || code == 401 || (tls && code == 400) {
                    return Ok(reg);
                }
            }
            if Instant::now() > deadline {
                return Err(format!("no answer on /v2/ after 20 s:\n{}", reg.log()));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:PORT` — the registry part of a reference.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `http://127.0.0.1:PORT` (`https://` for [`Registry::start_tls`]).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.host())
    }

    /// The PEM certificate of the CA that signed a TLS registry's certificate (None for
    /// plain HTTP): what a client passes as its extra CA.
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.tls.then(|| self.dir.path().join("ca.crt"))
    }

    /// `127.0.0.1:PORT/REPO[:TAG]`.
    pub fn reference(&self, repo_tag: &str) -> String {
        format!("{}/{repo_tag}", self.host())
    }

    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// The registry's storage root (to corrupt or inspect blobs behind its back).
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The registry's log so far (access log included), for assertion messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Every request the registry served so far, as `METHOD PATH` (from its access log).
    /// E.g. count blob fetches: `reg.requests().iter().filter(|r| r.contains("/blobs/")).count()`.
    pub fn requests(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(|l| {
                let q = l.find("\"")?;
                let rest = &l[q + 1..];
                let end = rest.find("\"")?;
                let mut parts = rest[..end].split(' ');
                let (m, p) = (parts.next()?, parts.next()?);
                matches!(m, "GET" | "HEAD" | "PUT" | "POST" | "PATCH" | "DELETE")
                    .then(|| format!("{m} {p}"))
            })
            .collect()
    }

    /// How many token requests the issuer has answered (0 without token auth).
    pub fn token_requests(&self) -> usize {
        self.issuer
            .as_ref()
            .map_or(0, |i| i.requests.load(Ordering::SeqCst))
    }

    /// The token endpoint (`http://127.0.0.1:PORT/token`), if token auth is on.
    pub fn token_realm(&self) -> Option<String> {
        self.issuer.as_ref().map(TokenIssuer::realm)
    }

    /// Copy the image `name` of the OCI layout `layout` into this registry as `repo_tag` with
    /// `skopeo copy --all --preserve-digests --dest-tls-verify=false` (an index keeps all its
    /// platforms, and the manifest digest stays the one in the layout). Uses the registry's
    /// credentials. Returns the reference `127.0.0.1:PORT/repo_tag`.
    pub fn push_layout(&self, layout: &Path, name: &str, repo_tag: &str) -> String {
        let reference = self.reference(repo_tag);
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "-q", "--all", "--preserve-digests"])
            .args(["--dest-tls-verify=false"]);
        if let Some(c) = self.auth.creds() {
            cmd.arg("--dest-creds").arg(c);
        }
        cmd.arg(format!("oci:{}:{name}", layout.display()))
            .arg(format!("docker://{reference}"))
            .env("REGISTRY_AUTH_FILE", self.dir.path().join("no-auth.json"));
        run(&mut cmd);
        reference
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on the pid of our own child, which has not been reaped yet
            // (so the pid cannot have been recycled). SIGTERM lets it shut down cleanly.
            unsafe {
                libc::kill(c.id() as libc::pid_t, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match c.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() > deadline => {
                        let _ = c.kill();
                        let _ = c.wait();
                        break;
                    }
                    Ok(None) => thread::sleep(Duration::from_millis(20)),
                }
            }
        }
    }
}

/// `GET path` over plain HTTP/1.0; the status code, or None if nothing answered.
pub fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}
