//! Registry credentials where docker and podman/skopeo keep them. Both use the same JSON:
//!
//! ```json
//! {"auths": {"registry.example:5000": {"auth": "base64(user:password)"}}}
//! ```
//!
//! Looked up in this order (the first file that names the registry wins):
//! 1. `--creds USER:PASSWORD` on the command line;
//! 2. `$REGISTRY_AUTH_FILE` (containers-auth.json(5)), else `$XDG_RUNTIME_DIR/containers/auth.json`;
//! 3. `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json` (docker's config.json).
//!
//! Keys may be a bare host (`host:port`), or a URL (`https://index.docker.io/v1/`, docker's
//! historical key for Docker Hub). Credential helpers (`credsStore`) are not run.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use crate::error::PullError;

/// A user name and password (or identity token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub pass: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ***)", self.user)
    }
}

impl std::str::FromStr for Credentials {
    type Err = PullError;
    /// `USER:PASSWORD` as given to `--creds`.
    fn from_str(s: &str) -> Result<Credentials, PullError> {
        match s.split_once(':') {
            Some((u, p)) if !u.is_empty() => Ok(Credentials {
                user: u.to_string(),
                pass: p.to_string(),
            }),
            _ => Err(PullError::CredsSyntax),
        }
    }
}

#[derive(Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: std::collections::HashMap<String, AuthEntry>,
}

#[derive(Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// The files to look in, in order, from the environment.
pub fn auth_files() -> Vec<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let mut files = Vec::new();
    if let Some(f) = env("REGISTRY_AUTH_FILE") {
        files.push(f);
    } else if let Some(d) = env("XDG_RUNTIME_DIR") {
        files.push(d.join("containers/auth.json"));
    }
    if let Some(d) = env("DOCKER_CONFIG") {
        files.push(d.join("config.json"));
    } else if let Some(h) = env("HOME") {
        files.push(h.join(".docker/config.json"));
    }
    files
}

/// The host part of an `auths` key: `https://host:port/v1/` → `host:port`.
fn key_host(key: &str) -> &str {
    let k = key.split_once("://").map_or(key, |x| x.1);
    k.split('/').next().unwrap_or(k)
}

/// The names a registry may be stored under.
fn aliases(domain: &str) -> Vec<&str> {
    if domain == "docker.io" {
        vec!["docker.io", "index.docker.io", "registry-1.docker.io"]
    } else {
        vec![domain]
    }
}

/// Credentials for `domain` from one auth file (None if the file or the entry is missing).
pub fn from_file(path: &Path, domain: &str) -> Result<Option<Credentials>, PullError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(PullError::CredsFile {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let file: AuthFile = serde_json::from_slice(&bytes).map_err(|source| PullError::CredsJson {
        path: path.to_path_buf(),
        source,
    })?;
    let names = aliases(domain);
    let Some(entry) = file
        .auths
        .iter()
        .find(|(k, _)| names.contains(&key_host(k)))
        .map(|(_, v)| v)
    else {
        return Ok(None);
    };
    let bad = || PullError::CredsEncoding {
        registry: domain.to_string(),
        path: path.to_path_buf(),
    };
    if let Some(a) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(a.trim())
            .map_err(|_| bad())?;
        let s = String::from_utf8(raw).map_err(|_| bad())?;
        let (u, p) = s.split_once(':').ok_or_else(bad)?;
        return Ok(Some(Credentials {
            user: u.to_string(),
            pass: p.to_string(),
        }));
    }
    match (&entry.username, &entry.password) {
        (Some(u), Some(p)) => Ok(Some(Credentials {
            user: u.clone(),
            pass: p.clone(),
        })),
        _ => Ok(None),
    }
}

/// Credentials for `domain`: `--creds` first, then the auth files in order.
pub fn lookup(cli: Option<&Credentials>, domain: &str) -> Result<Option<Credentials>, PullError> {
    if let Some(c) = cli {
        return Ok(Some(c.clone()));
    }
    for f in auth_files() {
        if let Some(c) = from_file(&f, domain)? {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_and_podman_files() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("config.json");
        std::fs::write(
            &f,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"},"127.0.0.1:5000":{"auth":"YWxpY2U6czNjcjp0"}}}"#,
        )
        .unwrap();
        let hub = from_file(&f, "docker.io").unwrap().unwrap();
        assert_eq!((hub.user.as_str(), hub.pass.as_str()), ("u", "p"));
        let local = from_file(&f, "127.0.0.1:5000").unwrap().unwrap();
        assert_eq!(
            (local.user.as_str(), local.pass.as_str()),
            ("alice", "s3cr:t")
        );
        assert!(from_file(&f, "quay.io").unwrap().is_none());
        assert!(from_file(&t.path().join("none.json"), "x")
            .unwrap()
            .is_none());
        std::fs::write(&f, "{").unwrap();
        assert!(matches!(
            from_file(&f, "x"),
            Err(PullError::CredsJson { .. })
        ));
        std::fs::write(&f, r#"{"auths":{"x":{"auth":"!!"}}}"#).unwrap();
        assert!(matches!(
            from_file(&f, "x"),
            Err(PullError::CredsEncoding { .. })
        ));
    }

    #[test]
    fn creds_flag() {
        let c: Credentials = "a:b:c".parse().unwrap();
        assert_eq!((c.user.as_str(), c.pass.as_str()), ("a", "b:c"));
        assert!("nocolon".parse::<Credentials>().is_err());
        assert!(!format!("{c:?}").contains("b:c"));
    }
}
