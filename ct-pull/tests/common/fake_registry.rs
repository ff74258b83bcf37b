//! A small HTTP server on 127.0.0.1 that speaks just enough of the distribution API to serve
//! the images of an OCI layout — and misbehaves on demand: corrupt blobs, 5xx, reset or hung
//! connections, redirects, oversized or malformed manifests, a bearer-token realm that a
//! registry refuses once. This is the "broken registry" a real docker-registry cannot be made
//! to be; everything that works correctly is tested against the real one.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use ct_layout::image_layout::{ref_name, ImageLayout};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
}

impl Req {
    pub fn header(&self, k: &str) -> Option<&str> {
        self.headers
            .get(&k.to_ascii_lowercase())
            .map(String::as_str)
    }
    pub fn is_blob(&self, digest: &str) -> bool {
        self.path.ends_with(&format!("/blobs/{digest}"))
    }
}

/// What to do with a request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Serve it correctly.
    Normal,
    /// Answer this status with this body (and a JSON content type).
    Status(u16, String),
    /// Serve a manifest body with this content type instead of the real one.
    Body(String, Vec<u8>),
    /// Serve the blob with one byte flipped (same size).
    Corrupt,
    /// Send headers and half the body, then close the connection.
    Reset,
    /// Send headers and half the body, then stall until the server stops.
    Hang,
    /// Answer nothing at all, keep the connection open.
    Silent,
    /// 307 to the same path with `?redirected=1`.
    Redirect,
    /// 401 with a bearer challenge (even though the token was fine).
    Unauthorized,
}

pub type Hook = Arc<dyn Fn(&Req) -> Reply + Send + Sync>;

struct Content {
    /// ref name (`one:1`) → manifest digest
    tags: HashMap<String, String>,
    /// digest → bytes (manifests and blobs alike)
    blobs: HashMap<String, Vec<u8>>,
    media_types: HashMap<String, String>,
}

pub struct FakeRegistry {
    pub port: u16,
    pub log: Arc<Mutex<Vec<Req>>>,
    pub tokens: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

pub struct Config {
    /// Honour `Range` requests (206) — else always send everything (200).
    pub ranges: bool,
    /// Require bearer tokens from the built-in realm `/token`.
    pub bearer: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ranges: true,
            bearer: false,
        }
    }
}

impl FakeRegistry {
    /// Serve the images of the layout at `dir` (ref name `NAME:TAG` as `…/NAME:TAG` under any
    /// repository path) and let `hook` decide about each request.
    pub fn serve(dir: &Path, cfg: Config, hook: Hook) -> FakeRegistry {
        let layout = ImageLayout::at(dir);
        let mut content = Content {
            tags: HashMap::new(),
            blobs: HashMap::new(),
            media_types: HashMap::new(),
        };
        for d in layout.blobs().unwrap() {
            content
                .blobs
                .insert(d.to_string(), std::fs::read(layout.blob_path(&d)).unwrap());
        }
        for desc in layout.read_index().unwrap().manifests() {
            let digest = desc.digest().to_string();
            content
                .media_types
                .insert(digest.clone(), desc.media_type().to_string());
            if let Some(n) = ref_name(desc) {
                content.tags.insert(n.to_string(), digest);
            }
        }
        // Manifests named by index entries get their media type from their own JSON.
        for (d, b) in &content.blobs {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(b) {
                if let Some(mt) = v["mediaType"].as_str() {
                    content
                        .media_types
                        .entry(d.clone())
                        .or_insert(mt.to_string());
                }
            }
        }
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let tokens = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let content = Arc::new(content);
        let cfg = Arc::new(cfg);
        let (l, t, s) = (log.clone(), tokens.clone(), stop.clone());
        let thread = thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (content, cfg, hook, l, t, s) = (
                            content.clone(),
                            cfg.clone(),
                            hook.clone(),
                            l.clone(),
                            t.clone(),
                            s.clone(),
                        );
                        thread::spawn(move || {
                            let _ = handle(conn, port, &content, &cfg, &hook, &l, &t, &s);
                        });
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FakeRegistry {
            port,
            log,
            tokens,
            stop,
            thread: Some(thread),
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn status_line(code: u16) -> &'static str {
    match code {
        200 => "200 OK",
        206 => "206 Partial Content",
        307 => "307 Temporary Redirect",
        400 => "400 Bad Request",
        401 => "401 Unauthorized",
        403 => "403 Forbidden",
        404 => "404 Not Found",
        500 => "500 Internal Server Error",
        502 => "502 Bad Gateway",
        503 => "503 Service Unavailable",
        _ => "599 Other",
    }
}

fn write_head(
    conn: &mut TcpStream,
    code: u16,
    headers: &[(&str, String)],
    len: usize,
) -> std::io::Result<()> {
    let mut h = format!(
        "HTTP/1.1 {}\r\nContent-Length: {len}\r\nConnection: close\r\n",
        status_line(code)
    );
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    conn.write_all(h.as_bytes())
}

#[allow(clippy::too_many_arguments)]
fn handle(
    mut conn: TcpStream,
    port: u16,
    content: &Content,
    cfg: &Config,
    hook: &Hook,
    log: &Mutex<Vec<Req>>,
    tokens: &AtomicUsize,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    // A TLS ClientHello (record type 0x16): this server speaks plain HTTP only. Log it and hang
    // up, the way a plain-HTTP registry fails an HTTPS probe.
    let mut first = [0u8; 1];
    if conn.peek(&mut first)? == 1 && first[0] == 0x16 {
        log.lock().unwrap().push(Req {
            method: "TLS".into(),
            path: String::new(),
            headers: HashMap::new(),
        });
        return Ok(());
    }
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let path = target.split('?').next().unwrap_or("/").to_string();
    let req = Req {
        method,
        path: path.clone(),
        headers,
    };
    log.lock().unwrap().push(req.clone());
    let json = ("Content-Type", "application/json".to_string());
    let challenge = (
        "WWW-Authenticate",
        format!("Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"fake\""),
    );

    let reply = hook(&req);
    if path == "/token" {
        if let Reply::Status(code, body) = &reply {
            write_head(&mut conn, *code, &[json], body.len())?;
            return conn.write_all(body.as_bytes());
        }
        let n = tokens.fetch_add(1, Ordering::SeqCst) + 1;
        let body = format!("{{\"token\":\"tok-{n}\"}}");
        write_head(&mut conn, 200, &[json], body.len())?;
        return conn.write_all(body.as_bytes());
    }
    if cfg.bearer
        && !req
            .header("authorization")
            .is_some_and(|a| a.starts_with("Bearer tok-"))
    {
        let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
        write_head(&mut conn, 401, &[json, challenge], body.len())?;
        return conn.write_all(body.as_bytes());
    }
    match &reply {
        Reply::Status(code, body) => {
            write_head(&mut conn, *code, &[json], body.len())?;
            return conn.write_all(body.as_bytes());
        }
        Reply::Unauthorized => {
            let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}"#;
            write_head(&mut conn, 401, &[json, challenge], body.len())?;
            return conn.write_all(body.as_bytes());
        }
        Reply::Redirect if !target.contains("redirected=1") => {
            let loc = (
                "Location",
                format!("http://127.0.0.1:{port}{path}?redirected=1"),
            );
            return write_head(&mut conn, 307, &[loc], 0);
        }
        Reply::Silent => {
            while !stop.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(20));
            }
            return Ok(());
        }
        _ => {}
    }
    if path == "/v2/" {
        write_head(&mut conn, 200, &[json], 2)?;
        return conn.write_all(b"{}");
    }
    let (kind, what) = match (path.rfind("/manifests/"), path.rfind("/blobs/")) {
        (Some(i), _) => ("manifest", &path[i + 11..]),
        (_, Some(i)) => ("blob", &path[i + 7..]),
        _ => ("", ""),
    };
    let digest = if kind == "manifest" && !what.starts_with("sha256:") {
        // /v2/any/path/NAME/manifests/TAG serves the layout's image named NAME:TAG.
        let repo = &path[4..path.rfind("/manifests/").unwrap_or(4)];
        let name = repo.rsplit('/').next().unwrap_or(repo);
        content.tags.get(&format!("{name}:{what}")).cloned()
    } else {
        Some(what.to_string())
    };
    let Some(bytes) = digest.as_ref().and_then(|d| content.blobs.get(d)) else {
        let body = r#"{"errors":[{"code":"NOT_FOUND","message":"unknown"}]}"#;
        write_head(&mut conn, 404, &[json], body.len())?;
        return conn.write_all(body.as_bytes());
    };
    let digest = digest.unwrap_or_default();
    let mut body = bytes.clone();
    let mut ctype = if kind == "manifest" {
        content
            .media_types
            .get(&digest)
            .cloned()
            .unwrap_or_default()
    } else {
        "application/octet-stream".to_string()
    };
    if let Reply::Body(ct, b) = &reply {
        ctype = ct.clone();
        body = b.clone();
    }
    if let Reply::Corrupt = reply {
        let mid = body.len() / 2;
        body[mid] ^= 0xff;
    }
    let mut code = 200;
    let mut extra = vec![
        ("Content-Type", ctype),
        ("Docker-Content-Digest", digest.clone()),
    ];
    if cfg.ranges && kind == "blob" {
        if let Some(start) = req
            .header("range")
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.parse::<usize>().ok())
        {
            if start < body.len() {
                extra.push((
                    "Content-Range",
                    format!("bytes {start}-{}/{}", body.len() - 1, body.len()),
                ));
                body = body[start..].to_vec();
                code = 206;
            }
        }
    }
    write_head(&mut conn, code, &extra, body.len())?;
    match reply {
        Reply::Reset => {
            conn.write_all(&body[..body.len() / 2])?;
            conn.flush()?;
            conn.shutdown(std::net::Shutdown::Both)
        }
        Reply::Hang => {
            conn.write_all(&body[..body.len() / 2])?;
            conn.flush()?;
            while !stop.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(20));
            }
            Ok(())
        }
        _ => conn.write_all(&body),
    }
}
