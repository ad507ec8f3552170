//! Errors a caller can act on: each variant says whether trying again later can help.

/// A GitHub request that did not produce a usable answer, after the retries the policy allows.
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    #[error("{path}: not found")]
    NotFound { path: String },
    #[error("{path}: gone (410)")]
    Gone { path: String },
    #[error("{path}: unauthorized (401): check the token")]
    Unauthorized { path: String },
    #[error("{path}: forbidden (403): {message}")]
    Forbidden { path: String, message: String },
    #[error("{path}: status {status}: {message}")]
    Status {
        path: String,
        status: u16,
        message: String,
    },
    #[error("{path}: still failing after {attempts} attempts: {last_error}")]
    RetriesExhausted {
        path: String,
        attempts: u32,
        last_error: String,
    },
    #[error("{path}: response is not the expected JSON: {detail}")]
    Malformed { path: String, detail: String },
    #[error("{url}: refusing to follow a link to another host than the configured API")]
    ForeignLink { url: String },
    /// A credential that cannot be used: an App's key GitHub refuses, a suspended or removed
    /// installation, a token that cannot be sent. Names the credential, never its secret.
    #[error("{credential}: {detail}")]
    Credential { credential: String, detail: String },
    #[error("invalid request {path}: {detail}")]
    InvalidRequest { path: String, detail: String },
}

/// What a caller can do about a [`GithubError`]. Rate limits never surface as errors: the client
/// waits them out (bounded) before answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The resource does not exist (any more): 404 or 410. Concerns this one entity.
    NotFound,
    /// Failed after every retry (5xx, timeouts, garbled bodies); may pass later without anyone
    /// changing anything. Concerns this one request.
    Transient,
    /// This request is refused as asked (422 and other 4xx): retrying it unchanged cannot help.
    Rejected,
    /// The credential or the configuration is wrong (401, 403, a foreign link, a bad path): no
    /// request of this kind will work until someone changes something. Concerns everything.
    Fatal,
}

impl GithubError {
    pub fn class(&self) -> ErrorClass {
        match self {
            GithubError::NotFound { .. } | GithubError::Gone { .. } => ErrorClass::NotFound,
            GithubError::RetriesExhausted { .. } | GithubError::Malformed { .. } => {
                ErrorClass::Transient
            }
            GithubError::Status { .. } => ErrorClass::Rejected,
            GithubError::Unauthorized { .. }
            | GithubError::Forbidden { .. }
            | GithubError::ForeignLink { .. }
            | GithubError::Credential { .. }
            | GithubError::InvalidRequest { .. } => ErrorClass::Fatal,
        }
    }

    /// Whether the failure belongs to the one entity asked for (a run, its jobs, a commit) rather
    /// than to the credential or the whole API: such a failure must not stop anything else.
    pub fn concerns_one_entity(&self) -> bool {
        self.class() != ErrorClass::Fatal
    }

    /// A short, stable word for events and metrics: `not_found`, `gone`, `server_error`,
    /// `malformed`, `rejected`, `forbidden`, `unauthorized`, `invalid`.
    pub fn reason(&self) -> &'static str {
        match self {
            GithubError::NotFound { .. } => "not_found",
            GithubError::Gone { .. } => "gone",
            GithubError::RetriesExhausted { .. } => "server_error",
            GithubError::Malformed { .. } => "malformed",
            GithubError::Status { .. } => "rejected",
            GithubError::Forbidden { .. } => "forbidden",
            GithubError::Unauthorized { .. } | GithubError::Credential { .. } => "unauthorized",
            GithubError::ForeignLink { .. } | GithubError::InvalidRequest { .. } => "invalid",
        }
    }
}
