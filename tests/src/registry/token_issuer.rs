//! The token issuer a registry with `auth: token` sends clients to (distribution's token
//! authentication: the registry answers 401 with `WWW-Authenticate: Bearer realm=…`, the client
//! asks the realm for a token and retries with it). A thread serves plain HTTP on a free
//! loopback port; each request's `scope`s are granted (all actions with the right Basic
//! credentials, only `pull` anonymously when allowed) in an RS256 JWT signed by `openssl dgst`,
//! whose `x5c` header carries the certificate the registry trusts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

use super::{TOKEN_ISSUER, TOKEN_SERVICE};

/// The token issuer: `GET /token?service=…&scope=repository:NAME:ACTIONS…` with optional HTTP
/// Basic credentials answers `{"token": JWT, "access_token": JWT, "expires_in": 300}`.
/// The JWT is RS256, signed with `openssl dgst -sha256 -sign`, its header carrying the
/// certificate in `x5c` so the registry can check it against its `rootcertbundle`.
pub(super) struct TokenIssuer {
    port: u16,
    pub(super) requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

struct IssuerConfig {
    key: PathBuf,
    x5c: String,
    user: String,
    pass: String,
    anonymous_pull: bool,
}

impl TokenIssuer {
    pub(super) fn start(
        key: PathBuf,
        x5c: String,
        user: String,
        pass: String,
        anonymous_pull: bool,
    ) -> TokenIssuer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind token issuer");
        let port = listener.local_addr().expect("issuer addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let cfg = Arc::new(IssuerConfig {
            key,
            x5c,
            user,
            pass,
            anonymous_pull,
        });
        let (r, s) = (requests.clone(), stop.clone());
        let thread = thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (cfg, r) = (cfg.clone(), r.clone());
                        thread::spawn(move || {
                            let _ = serve_token(conn, &cfg, &r);
                        });
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        TokenIssuer {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    pub(super) fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }
}

impl Drop for TokenIssuer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match h {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn serve_token(conn: TcpStream, cfg: &IssuerConfig, requests: &AtomicUsize) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut authorization = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("authorization") {
                authorization = Some(v.trim().to_string());
            }
        }
    }
    requests.fetch_add(1, Ordering::SeqCst);
    let target = request_line.split_whitespace().nth(1).unwrap_or("/");
    let query = target.split_once('?').map(|x| x.1).unwrap_or("");
    let mut scopes = Vec::new();
    let mut service = String::new();
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "scope" => scopes.push(percent_decode(v)),
            "service" => service = percent_decode(v),
            _ => {}
        }
    }
    let authed = authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let who = match authed {
        Some(up) if up == format!("{}:{}", cfg.user, cfg.pass) => Some(cfg.user.clone()),
        Some(_) => return respond(conn, 401, "{\"details\":\"bad credentials\"}"),
        None if cfg.anonymous_pull => None,
        None => return respond(conn, 401, "{\"details\":\"credentials required\"}"),
    };
    let mut access = Vec::new();
    for scope in scopes.iter().flat_map(|s| s.split(' ')) {
        // repository:NAME:ACTIONS — NAME may contain ':' only as host:port, which repository
        // names in these tests never carry; split from the right.
        let mut parts = scope.rsplitn(2, ':');
        let (Some(actions), Some(rest)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Some((typ, name)) = rest.split_once(':') else {
            continue;
        };
        let granted: Vec<&str> = actions
            .split(',')
            .filter(|a| who.is_some() || *a == "pull")
            .collect();
        access.push(serde_json::json!({"type": typ, "name": name, "actions": granted}));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let claims = serde_json::json!({
        "iss": TOKEN_ISSUER,
        "sub": who.clone().unwrap_or_default(),
        "aud": if service.is_empty() { TOKEN_SERVICE.to_string() } else { service },
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": format!("{now}-{}", requests.load(Ordering::SeqCst)),
        "access": access,
    });
    let b64 = &base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [cfg.x5c]});
    let signing_input = format!(
        "{}.{}",
        b64.encode(header.to_string()),
        b64.encode(claims.to_string())
    );
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(&cfg.key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(signing_input.as_bytes())?;
    }
    let mut sig = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_end(&mut sig)?;
    }
    child.wait()?;
    let jwt = format!("{signing_input}.{}", b64.encode(sig));
    let body = serde_json::json!({"token": jwt, "access_token": jwt, "expires_in": 300, "issued_at": "2026-01-01T00:00:00Z"});
    respond(conn, 200, &body.to_string())
}

fn respond(mut conn: TcpStream, code: u16, body: &str) -> std::io::Result<()> {
    let reason = if code == 200 { "OK" } else { "Unauthorized" };
    write!(
        conn,
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("repository%3Aa%2Fb%3Apull%2Cpush"),
            "repository:a/b:pull,push"
        );
        assert_eq!(percent_decode("a+b%2"), "a b%2");
    }
}
