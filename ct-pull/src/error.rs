//! Every way a pull can fail, one variant per step, each carrying what failed (a URL, a blob
//! digest, a path) and its cause, so the tool prints ONE line like
//! `ct-pull: blob sha256:… from http://127.0.0.1:5000/…: digest mismatch: got sha256:…`.
//! The variant decides the exit code: 2 for what the user typed wrong, 1 for everything else.
//! What a registry or an image sent (an error body, a media type, a token realm) is shown
//! through `pipe::quote`: at most 200 bytes, control characters escaped.

use std::io;
use std::path::PathBuf;

use ct_layout::digest::Digest;
use ct_layout::io_error::IoAt;
use ct_layout::pipe::{quote, EXIT_FAILURE, EXIT_USAGE};

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    // --- usage errors (exit 2) ---
    #[error(transparent)]
    Reference(#[from] ct_layout::reference::ReferenceError),
    #[error(transparent)]
    PlatformSyntax(#[from] ct_layout::platform::PlatformSyntax),
    #[error("invalid --creds: expected USER:PASSWORD")]
    CredsSyntax,
    #[error("{0} needs --tag NAME to name the imported image")]
    NeedTag(String),
    #[error("invalid --tag '{tag}'")]
    Tag {
        tag: String,
        #[source]
        source: ct_layout::reference::ReferenceError,
    },
    #[error(transparent)]
    Input(#[from] ct_layout::pipe::InputError),

    // --- setting up ---
    #[error("cannot read CA file '{path}'")]
    CaFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid CA certificate in '{path}'")]
    CaCert {
        path: PathBuf,
        #[source]
        source: reqwest::Error,
    },
    #[error("cannot set up the HTTP client")]
    Client(#[source] reqwest::Error),
    #[error("cannot read credentials from '{path}'")]
    CredsFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("malformed credentials file '{path}'")]
    CredsJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("credentials for {registry} in '{path}' are not base64 of USER:PASSWORD")]
    CredsEncoding { registry: String, path: PathBuf },

    // --- talking to the registry ---
    #[error("cannot reach {url}")]
    Connect {
        url: String,
        #[source]
        source: HttpCause,
    },
    #[error("{url} is not a registry (GET /v2/ answered {status})")]
    NotRegistry { url: String, status: u16 },
    #[error("{what} not found: {url}")]
    NotFound { what: String, url: String },
    #[error("unauthorized: {url}: {detail}")]
    Unauthorized { url: String, detail: String },
    #[error("{url}: registry answered {status}{detail}")]
    Status {
        url: String,
        status: u16,
        detail: String,
    },
    #[error("{url}: gave up after {attempts} attempts: registry answered {status}")]
    RetriesExhausted {
        url: String,
        attempts: u32,
        status: u16,
    },
    #[error("token server {} answered {status}", quote(.realm))]
    TokenStatus { realm: String, status: u16 },
    #[error("token server {} sent no token", quote(.realm))]
    TokenMissing { realm: String },
    #[error("cannot read {what} from {url}")]
    Body {
        what: String,
        url: String,
        #[source]
        source: io::Error,
    },

    // --- what the registry sent ---
    #[error("blob {digest}: digest mismatch: got {got}")]
    DigestMismatch { digest: Digest, got: Digest },
    #[error("blob {digest}: size mismatch: expected {expected} bytes, got {got}")]
    SizeMismatch {
        digest: Digest,
        expected: u64,
        got: u64,
    },
    #[error("{what} is larger than the {limit}-byte limit")]
    TooLarge { what: String, limit: u64 },
    #[error("unsupported media type {} for {what}", quote(.media_type))]
    MediaType { what: String, media_type: String },
    #[error("malformed JSON in {what}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid digest in {what}")]
    BadDigest {
        what: String,
        #[source]
        source: ct_layout::digest::DigestError,
    },
    #[error("{reference} has no image for {wanted}; it offers: {offered}")]
    NoPlatform {
        reference: String,
        wanted: String,
        offered: String,
    },

    // --- the local store and imports ---
    #[error(transparent)]
    Io(#[from] IoAt),
    #[error(transparent)]
    Layout(#[from] ct_layout::image_layout::LayoutError),
    #[error("'{path}': {detail}")]
    Archive { path: PathBuf, detail: String },
}

impl PullError {
    /// 2 for usage errors, 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            PullError::Reference(_)
            | PullError::PlatformSyntax(_)
            | PullError::CredsSyntax
            | PullError::NeedTag(_)
            | PullError::Tag { .. }
            | PullError::Input(_) => EXIT_USAGE,
            _ => EXIT_FAILURE,
        }
    }

    /// A `hint:` line for failures with a known usual cause.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            PullError::Unauthorized { .. } => {
                Some("log in with `skopeo login` / `docker login`, or pass --creds USER:PASSWORD")
            }
            PullError::Connect { source, .. } if source.to_string().contains("certificate") => {
                Some("for a registry with a private CA pass --ca-file FILE.pem")
            }
            PullError::NoPlatform { .. } => Some("choose one with --platform os/arch[/variant]"),
            _ => None,
        }
    }
}

impl ct_layout::tool::Failure for PullError {
    fn exit_code(&self) -> i32 {
        PullError::exit_code(self)
    }
    fn hints(&self) -> Vec<String> {
        self.hint().into_iter().map(str::to_string).collect()
    }
}

/// Why an HTTP request failed, said briefly: reqwest wraps the cause in several layers
/// ("error sending request for url (…): client error (Connect): tcp connect error: …"); the
/// innermost one ("Connection refused", "invalid peer certificate: UnknownIssuer") is what a
/// human needs, and a timeout says so.
#[derive(Debug)]
pub struct HttpCause(pub reqwest::Error);

impl std::fmt::Display for HttpCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_timeout() {
            return f.write_str("timed out");
        }
        let mut inner: &dyn std::error::Error = &self.0;
        while let Some(s) = inner.source() {
            inner = s;
        }
        write!(f, "{inner}")
    }
}

impl std::error::Error for HttpCause {}
