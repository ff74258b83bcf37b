//! Registry authentication (distribution `docs/spec/auth/token.md`, RFC 6750, RFC 7617).
//!
//! 1. The registry answers a request without (or with a stale) credential with `401` and
//!    `WWW-Authenticate: Bearer realm="https://auth.example/token",service="reg",scope="repository:ns/x:pull"`
//!    — or `Basic realm="…"` for a plain htpasswd registry.
//! 2. For Bearer, the client asks the realm: `GET realm?service=reg&scope=repository:ns/x:pull`,
//!    with HTTP Basic credentials if it has any (anonymous otherwise), and gets
//!    `{"token": "…"}` (or `access_token`).
//! 3. It sends `Authorization: Bearer TOKEN` on every following request — one token serves the
//!    whole pull — and asks for a fresh one only when a request comes back 401 again.

use base64::Engine as _;

use crate::credentials::Credentials;
use crate::error::PullError;
use crate::http_retry::{read_capped, send_retrying};

/// What a `WWW-Authenticate` header asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parse `Scheme k="v",k2="v, with comma"` (auth-params per RFC 7235; values quoted or bare).
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = Vec::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let Some(eq) = s.find('=') else { break };
        let key = s[..eq]
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        s = &s[eq + 1..];
        let value;
        if let Some(q) = s.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            out.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => out.push(c),
                }
            }
            value = out;
            s = &q[end.min(q.len())..];
        } else {
            let end = s.find(',').unwrap_or(s.len());
            value = s[..end].trim().to_string();
            s = &s[end..];
        }
        s = s.trim_start().trim_start_matches(',').trim_start();
        params.push((key, value));
    }
    let get = |k: &str| {
        params
            .iter()
            .find(|(pk, _)| pk == k)
            .map(|(_, v)| v.clone())
    };
    if scheme.eq_ignore_ascii_case("basic") {
        Some(Challenge::Basic)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
        })
    } else {
        None
    }
}

/// `Authorization: Basic base64(user:pass)`.
pub fn basic_header(c: &Credentials) -> String {
    let raw = format!("{}:{}", c.user, c.pass);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

/// Largest token response we read (JWTs are a few KiB).
const MAX_TOKEN_RESPONSE: u64 = 1 << 20;

/// Step 2: ask the realm for a token for `scope` (resets, timeouts and 5xx retried).
pub fn fetch_token(
    http: &reqwest::blocking::Client,
    realm: &str,
    service: Option<&str>,
    scope: &str,
    creds: Option<&Credentials>,
    retries: u32,
) -> Result<String, PullError> {
    let mut query: Vec<(&str, &str)> = vec![("scope", scope)];
    if let Some(s) = service {
        query.push(("service", s));
    }
    if let Some(c) = creds {
        query.push(("account", c.user.as_str()));
    }
    let resp = send_retrying(realm, retries, || {
        let req = http.get(realm).query(&query);
        match creds {
            Some(c) => req.header(reqwest::header::AUTHORIZATION, basic_header(c)),
            None => req,
        }
    })?;
    let status = resp.status().as_u16();
    if status == 401 || status == 403 {
        return Err(PullError::Unauthorized {
            url: realm.to_string(),
            detail: if creds.is_some() {
                "the token server refused these credentials".into()
            } else {
                "the token server wants credentials".into()
            },
        });
    }
    if !resp.status().is_success() {
        return Err(PullError::TokenStatus {
            realm: realm.to_string(),
            status,
        });
    }
    let body = read_capped(resp, MAX_TOKEN_RESPONSE, "token response", realm)?;
    let t: TokenResponse = serde_json::from_slice(&body).map_err(|source| PullError::Json {
        what: format!("token response from {realm}"),
        source,
    })?;
    t.token
        .or(t.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| PullError::TokenMissing {
            realm: realm.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/alpine:pull,push".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="x""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge("bearer realm=http://h/t, error=\"invalid_token\""),
            Some(Challenge::Bearer {
                realm: "http://h/t".into(),
                service: None,
                scope: None
            })
        );
        assert_eq!(parse_challenge("Bearer service=x"), None);
        assert_eq!(parse_challenge("Negotiate abc"), None);
    }

    #[test]
    fn basic_header_is_base64() {
        let c = Credentials {
            user: "Aladdin".into(),
            pass: "open sesame".into(),
        };
        assert_eq!(basic_header(&c), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    }
}
