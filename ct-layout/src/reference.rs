//! Image references, read the way docker reads them (distribution's `reference` grammar):
//!
//! ```text
//! [DOMAIN[:PORT]/]PATH[:TAG][@sha256:HEX]
//! alpine                    -> docker.io/library/alpine:latest
//! quay.io/org/app:v1        -> quay.io/org/app:v1
//! localhost:5000/x@sha256:… -> localhost:5000/x@sha256:…
//! ```
//!
//! The first path component is a domain when it contains `.` or `:`, or is `localhost`;
//! otherwise the domain is `docker.io`, and single-component names get `library/`.
//! Without tag or digest the tag is `latest`.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;

pub const DEFAULT_DOMAIN: &str = "docker.io";
/// Where `docker.io` is actually served.
pub const DOCKER_HUB_REGISTRY: &str = "registry-1.docker.io";

/// A normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `docker.io`, `localhost:5000`, `quay.io`…
    pub domain: String,
    /// Repository path below the domain: `library/alpine`.
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("invalid reference '{0}': empty")]
    Empty(String),
    #[error("invalid reference '{0}': repository name must be lowercase")]
    Uppercase(String),
    #[error("invalid reference '{0}': bad path component '{1}' (allowed: a-z 0-9 separated by . _ __ -)")]
    Component(String, String),
    #[error(
        "invalid reference '{0}': bad tag '{1}' (allowed: [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})"
    )]
    Tag(String, String),
    #[error("invalid reference '{0}': bad domain '{1}'")]
    Domain(String, String),
    #[error("invalid reference '{0}': {1}")]
    Digest(String, crate::digest::DigestError),
    #[error("invalid reference '{0}': name longer than 255 characters")]
    TooLong(String),
}

fn valid_component(c: &str) -> bool {
    // [a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*
    let b = c.as_bytes();
    if b.is_empty() {
        return false;
    }
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || x == b'_' || x == b'.' || x == b'-')
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || d.starts_with('[') => (h, Some(p)),
        _ => (d, None),
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    if host.starts_with('[') && host.ends_with(']') {
        return host[1..host.len() - 1]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':');
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Reference, ReferenceError> {
        let err_s = || s.to_string();
        if s.is_empty() {
            return Err(ReferenceError::Empty(err_s()));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (
                r,
                Some(
                    d.parse::<Digest>()
                        .map_err(|e| ReferenceError::Digest(err_s(), e))?,
                ),
            ),
            None => (s, None),
        };
        // The tag is after the last ':' that follows the last '/'.
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(ReferenceError::Tag(err_s(), t.to_string()));
            }
        }
        if name.is_empty() {
            return Err(ReferenceError::Empty(err_s()));
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, remainder))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                if !valid_domain(first) {
                    return Err(ReferenceError::Domain(err_s(), first.to_string()));
                }
                (first.to_string(), remainder.to_string())
            }
            _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
        };
        let domain = if domain == "index.docker.io" {
            DEFAULT_DOMAIN.to_string()
        } else {
            domain
        };
        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase(err_s()));
        }
        for c in path.split('/') {
            if !valid_component(c) {
                return Err(ReferenceError::Component(err_s(), c.to_string()));
            }
        }
        if domain.len() + 1 + path.len() > 255 {
            return Err(ReferenceError::TooLong(err_s()));
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_string()),
        };
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }
}

impl Reference {
    /// `domain/path` without tag or digest.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The host to talk HTTP to (`registry-1.docker.io` for `docker.io`).
    pub fn registry_host(&self) -> &str {
        if self.domain == DEFAULT_DOMAIN {
            DOCKER_HUB_REGISTRY
        } else {
            &self.domain
        }
    }

    /// What to ask the registry's manifest endpoint for: the digest if pinned, else the tag.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }

    /// The name stored as `org.opencontainers.image.ref.name` in `index.json`:
    /// `domain/path:tag`, or `domain/path@digest` when there is no tag.
    pub fn store_name(&self) -> String {
        match (&self.tag, &self.digest) {
            (Some(t), _) => format!("{}:{}", self.repository(), t),
            (None, Some(d)) => format!("{}@{}", self.repository(), d),
            (None, None) => format!("{}:latest", self.repository()),
        }
    }

    /// This reference pinned to `digest` (keeps the tag): what ct-pull prints.
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// Is the registry on this machine (plain HTTP is allowed there, as docker does).
    pub fn is_loopback(&self) -> bool {
        let host = match self.domain.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => &self.domain,
        };
        host == "localhost" || host.starts_with("127.") || host == "[::1]"
    }
}

impl fmt::Display for Reference {
    /// The canonical form: `domain/path[:tag][@digest]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repository())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        s.parse::<Reference>().unwrap().to_string()
    }

    #[test]
    fn normalizes_like_docker() {
        assert_eq!(canon("alpine"), "docker.io/library/alpine:latest");
        assert_eq!(canon("alpine:3.20"), "docker.io/library/alpine:3.20");
        assert_eq!(canon("user/app"), "docker.io/user/app:latest");
        assert_eq!(
            canon("index.docker.io/library/x"),
            "docker.io/library/x:latest"
        );
        assert_eq!(canon("localhost/x"), "localhost/x:latest");
        assert_eq!(
            canon("127.0.0.1:5000/ns/name:v1"),
            "127.0.0.1:5000/ns/name:v1"
        );
        assert_eq!(canon("quay.io/a/b/c:t"), "quay.io/a/b/c:t");
        let d = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(
            canon(&format!("busybox@{d}")),
            format!("docker.io/library/busybox@{d}")
        );
        assert_eq!(
            canon(&format!("busybox:1@{d}")),
            format!("docker.io/library/busybox:1@{d}")
        );
    }

    #[test]
    fn parts() {
        let r: Reference = "localhost:5000/a/b:t".parse().unwrap();
        assert_eq!(r.domain, "localhost:5000");
        assert_eq!(r.path, "a/b");
        assert_eq!(r.registry_host(), "localhost:5000");
        assert!(r.is_loopback());
        assert_eq!(r.manifest_reference(), "t");
        let h: Reference = "alpine".parse().unwrap();
        assert_eq!(h.registry_host(), "registry-1.docker.io");
        assert!(!h.is_loopback());
        let d = Digest::of(b"x");
        assert_eq!(h.with_digest(d.clone()).manifest_reference(), d.to_string());
        assert_eq!(
            h.with_digest(d).store_name(),
            "docker.io/library/alpine:latest"
        );
    }

    #[test]
    fn rejects_malformed() {
        use ReferenceError::*;
        let e = |s: &str| s.parse::<Reference>().unwrap_err();
        assert!(matches!(e(""), Empty(_)));
        assert!(matches!(e("Alpine"), Uppercase(_)));
        assert!(matches!(e("alpine:"), Tag(..)));
        assert!(matches!(e("alpine:bad tag"), Tag(..)));
        assert!(matches!(e("a//b"), Component(..)));
        assert!(matches!(e("a/-b"), Component(..)));
        assert!(matches!(e("alpine@sha256:123"), Digest(..)));
        assert!(matches!(e("bad_host.:5000/x"), Domain(..)));
        assert!(matches!(e(&"a".repeat(300)), TooLong(_)));
    }
}
