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
    #[error("invalid request {path}: {detail}")]
    InvalidRequest { path: String, detail: String },
}

impl GithubError {
    /// Whether the same request may succeed later without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            GithubError::RetriesExhausted { .. } | GithubError::Malformed { .. }
        )
    }
}
