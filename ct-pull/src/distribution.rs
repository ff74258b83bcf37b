//! The registry HTTP API (OCI distribution-spec `spec.md`, docker's "Registry HTTP API V2"):
//!
//! ```text
//! GET /v2/                               ping: 200, or 401 + WWW-Authenticate (auth needed)
//! GET /v2/NAME/manifests/TAG|DIGEST      Accept: index, manifest list, OCI + schema 2 manifest
//! GET /v2/NAME/blobs/DIGEST              config and layers; often a 307 to storage (followed);
//!                                        `Range: bytes=N-` resumes (206)
//! ```
//!
//! Scheme: HTTPS with the system roots (plus `--ca-file`); plain HTTP only with `--insecure`,
//! or for loopback hosts, where HTTPS is tried first and plain HTTP is the fallback — what
//! docker does for its default insecure range 127.0.0.0/8.
//!
//! Every request goes through [`RegistryClient::get`]: it adds the credential (see
//! `token_auth.rs`), refreshes a bearer token once on 401, and retries connection failures,
//! resets, timeouts, 429 and 5xx a bounded number of times with exponential backoff.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::blocking::{Client, Response};
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RANGE, WWW_AUTHENTICATE};

use ct_layout::digest::Digest;
use ct_layout::pipe::quote;
use ct_layout::reference::Reference;

use crate::credentials::Credentials;
use crate::error::PullError;
use crate::http_retry::{read_capped, send_retrying};
use crate::manifest;
use crate::token_auth::{self, Challenge};

/// How to reach a registry.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Plain HTTP to any host.
    pub insecure: bool,
    /// An extra PEM CA bundle to trust besides the system roots.
    pub ca_file: Option<PathBuf>,
    /// Connect timeout, and the longest wait for any single read.
    pub timeout: Duration,
    /// Extra attempts after a retryable failure.
    pub retries: u32,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            insecure: false,
            ca_file: None,
            timeout: Duration::from_secs(30),
            retries: 3,
        }
    }
}

enum AuthState {
    Anonymous,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: String,
        token: Option<String>,
    },
}

/// A connection to one repository of one registry.
pub struct RegistryClient {
    http: Client,
    base: String,
    repo: String,
    creds: Option<Credentials>,
    auth: Mutex<AuthState>,
    retries: u32,
}

/// A manifest or index as fetched.
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
}

/// What a registry's error answer says, for a message: the first `code message` of a
/// distribution error body `{"errors":[{"code":…,"message":…}]}`, else the start of the body
/// itself (a proxy's error page). Quoted — at most 200 bytes, control characters escaped —
/// because it is the registry's text: it must not paint the terminal or flood a log.
fn error_detail(resp: Response) -> String {
    // Only the start can be shown; a huge body is not read to its end.
    let mut body = Vec::new();
    let _ = resp.take(64 << 10).read_to_end(&mut body);
    #[derive(serde::Deserialize)]
    struct E {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<E>,
    }
    let text = match serde_json::from_slice::<Errors>(&body) {
        Ok(e) => e
            .errors
            .first()
            .map(|e| format!("{} {}", e.code, e.message).trim().to_string())
            .unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(body.trim_ascii()).into_owned(),
    };
    if text.is_empty() {
        String::new()
    } else {
        quote(text)
    }
}

/// Build the HTTP client: system roots + `--ca-file`, timeouts, redirects followed (at most
/// 10; reqwest drops the Authorization header when a redirect leaves the host).
pub fn http_client(opts: &HttpOptions) -> Result<Client, PullError> {
    let mut b = Client::builder()
        .user_agent(concat!("ct-pull/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(opts.timeout)
        .timeout(opts.timeout)
        .pool_max_idle_per_host(16)
        .tcp_nodelay(true);
    if let Some(path) = &opts.ca_file {
        let pem = std::fs::read(path).map_err(|source| PullError::CaFile {
            path: path.clone(),
            source,
        })?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| PullError::CaCert {
                path: path.clone(),
                source,
            })?;
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build().map_err(PullError::Client)
}

/// The schemes to try for a reference, in order.
pub fn schemes(reference: &Reference, insecure: bool) -> &'static [&'static str] {
    if insecure {
        &["http"]
    } else if reference.is_loopback() {
        &["https", "http"]
    } else {
        &["https"]
    }
}

impl RegistryClient {
    /// Ping `/v2/` to find the scheme and learn how the registry wants to be authenticated.
    pub fn connect(
        reference: &Reference,
        opts: &HttpOptions,
        creds: Option<Credentials>,
    ) -> Result<RegistryClient, PullError> {
        let http = http_client(opts)?;
        let host = reference.registry_host();
        let candidates = schemes(reference, opts.insecure);
        let mut last_err = None;
        for (i, scheme) in candidates.iter().enumerate() {
            let base = format!("{scheme}://{host}");
            let url = format!("{base}/v2/");
            let is_last = i + 1 == candidates.len();
            // A loopback HTTPS probe fails fast when the registry speaks plain HTTP: no retries.
            let tries = if is_last { opts.retries } else { 0 };
            let resp = match send_retrying(&url, tries, || http.get(&url)) {
                Ok(r) => r,
                Err(e) => {
                    last_err = Some(e);
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let auth = match status {
                200..=299 => AuthState::Anonymous,
                401 => match resp
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|h| h.to_str().ok())
                    .and_then(token_auth::parse_challenge)
                {
                    Some(Challenge::Basic) => AuthState::Basic,
                    Some(Challenge::Bearer { realm, service, .. }) => AuthState::Bearer {
                        realm,
                        service,
                        scope: format!("repository:{}:pull", reference.path),
                        token: None,
                    },
                    None => {
                        return Err(PullError::Unauthorized {
                            url,
                            detail: "no usable WWW-Authenticate challenge".into(),
                        })
                    }
                },
                // A 400 to plain HTTP after HTTPS failed: a TLS server we could not verify.
                400 if last_err.is_some() => break,
                _ => return Err(PullError::NotRegistry { url, status }),
            };
            return Ok(RegistryClient {
                http,
                base,
                repo: reference.path.clone(),
                creds,
                auth: Mutex::new(auth),
                retries: opts.retries,
            });
        }
        Err(last_err.unwrap_or(PullError::NotRegistry {
            url: host.to_string(),
            status: 0,
        }))
    }

    /// `scheme://host` this client talks to.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{}", self.base, self.repo, path)
    }

    /// The credential to send now (fetching a bearer token if there is none yet).
    fn authorization(&self) -> Result<Option<String>, PullError> {
        let mut state = self.auth.lock().unwrap_or_else(|p| p.into_inner());
        match &mut *state {
            AuthState::Anonymous => Ok(None),
            AuthState::Basic => Ok(self.creds.as_ref().map(token_auth::basic_header)),
            AuthState::Bearer {
                realm,
                service,
                scope,
                token,
            } => {
                if token.is_none() {
                    *token = Some(token_auth::fetch_token(
                        &self.http,
                        realm,
                        service.as_deref(),
                        scope,
                        self.creds.as_ref(),
                        self.retries,
                    )?);
                }
                Ok(token.as_ref().map(|t| format!("Bearer {t}")))
            }
        }
    }

    /// After a 401: forget the token that was refused and adopt the new challenge.
    fn refused(&self, used: Option<&str>, headers: &HeaderMap) {
        let mut state = self.auth.lock().unwrap_or_else(|p| p.into_inner());
        let challenge = headers
            .get(WWW_AUTHENTICATE)
            .and_then(|h| h.to_str().ok())
            .and_then(token_auth::parse_challenge);
        match challenge {
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => {
                let (old_scope, old_token) = match &*state {
                    AuthState::Bearer { scope, token, .. } => (Some(scope.clone()), token.clone()),
                    _ => (None, None),
                };
                let scope = scope
                    .or(old_scope)
                    .unwrap_or_else(|| format!("repository:{}:pull", self.repo));
                // Another thread may already have fetched a fresh token: keep that one.
                let token = old_token.filter(|t| used != Some(&format!("Bearer {t}")));
                *state = AuthState::Bearer {
                    realm,
                    service,
                    scope,
                    token,
                };
            }
            Some(Challenge::Basic) => *state = AuthState::Basic,
            None => {}
        }
    }

    /// GET `/v2/REPO/path` with auth, one token refresh on 401, and retries.
    pub fn get(&self, path: &str, what: &str, headers: HeaderMap) -> Result<Response, PullError> {
        let url = self.url(path);
        let mut refreshed = false;
        loop {
            let auth = self.authorization()?;
            let resp = send_retrying(&url, self.retries, || {
                let mut r = self.http.get(&url).headers(headers.clone());
                if let Some(a) = &auth {
                    r = r.header(AUTHORIZATION, a);
                }
                r
            })?;
            let status = resp.status().as_u16();
            match status {
                200..=299 => return Ok(resp),
                401 if !refreshed => {
                    refreshed = true;
                    self.refused(auth.as_deref(), resp.headers());
                }
                401 | 403 => {
                    let detail = error_detail(resp);
                    let detail = if detail.is_empty() {
                        if self.creds.is_some() {
                            "the registry refused these credentials".to_string()
                        } else {
                            "the registry wants credentials".to_string()
                        }
                    } else {
                        detail
                    };
                    return Err(PullError::Unauthorized { url, detail });
                }
                404 => {
                    return Err(PullError::NotFound {
                        what: what.to_string(),
                        url,
                    })
                }
                _ => {
                    let detail = error_detail(resp);
                    return Err(PullError::Status {
                        url,
                        status,
                        detail: if detail.is_empty() {
                            String::new()
                        } else {
                            format!(": {detail}")
                        },
                    });
                }
            }
        }
    }

    /// Fetch a manifest or index by tag or digest; its digest is computed (and, when asked
    /// for by digest, checked) here, its size capped.
    pub fn manifest(&self, reference: &str, what: &str) -> Result<Fetched, PullError> {
        let mut h = HeaderMap::new();
        h.insert(
            ACCEPT,
            reqwest::header::HeaderValue::from_static(manifest::ACCEPT),
        );
        let resp = self.get(&format!("manifests/{reference}"), what, h)?;
        let url = resp.url().to_string();
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = read_capped(resp, manifest::MAX_MANIFEST, what, &url)?;
        let digest = Digest::of(&bytes);
        if let Ok(want) = reference.parse::<Digest>() {
            if want != digest {
                return Err(PullError::DigestMismatch {
                    digest: want,
                    got: digest,
                });
            }
        }
        let media_type = manifest::media_type_of(content_type.as_deref(), &bytes, what)?;
        Ok(Fetched {
            bytes,
            media_type,
            digest,
        })
    }

    /// Start downloading a blob, from byte `offset` on (a `Range` request) when > 0.
    /// The answer is 206 when the registry resumed, 200 when it sends the whole blob.
    pub fn blob(&self, digest: &Digest, offset: u64) -> Result<Response, PullError> {
        let mut h = HeaderMap::new();
        if offset > 0 {
            if let Ok(v) = format!("bytes={offset}-").parse() {
                h.insert(RANGE, v);
            }
        }
        self.get(&format!("blobs/{digest}"), &format!("blob {digest}"), h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_or_insecure() {
        let r = |s: &str| s.parse::<Reference>().unwrap();
        assert_eq!(schemes(&r("quay.io/a/b"), false), ["https"]);
        assert_eq!(schemes(&r("alpine"), false), ["https"]);
        assert_eq!(schemes(&r("127.0.0.1:5000/a"), false), ["https", "http"]);
        assert_eq!(schemes(&r("localhost:5000/a"), false), ["https", "http"]);
        assert_eq!(schemes(&r("quay.io/a/b"), true), ["http"]);
    }
}
