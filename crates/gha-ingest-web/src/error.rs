//! Every failure a handler can report, and the one place where failures become HTTP answers.
//!
//! Bodies are always JSON `{"error": "<message>"}`; messages are lowercase without trailing
//! punctuation, like the rest of the project's errors, and never contain a secret.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gha_ingest_store::StoreError;

/// Why a request failed, classified by what the client can do about it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or names something that is not valid.
    #[error("{0}")]
    BadRequest(String),
    /// A mutation without an `Authorization: Bearer` header.
    #[error("this operation requires an admin token: send Authorization: Bearer <token>")]
    MissingToken,
    /// A read without a token while a read token is configured.
    #[error("reading requires a token: send Authorization: Bearer <read or admin token>")]
    MissingReadToken,
    /// A token that is not the one this route needs.
    #[error("the token is not valid for this route")]
    WrongToken,
    /// A webhook delivery without a valid `X-Hub-Signature-256`.
    #[error("{0}")]
    BadSignature(String),
    /// A body larger than the route accepts.
    #[error("{0}")]
    TooLarge(String),
    /// The client must slow down: too many wrong tokens, downloads or concurrent downloads.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after: std::time::Duration,
    },
    /// The request took longer than its route allows.
    #[error("{0}")]
    TimedOut(String),
    /// Mutations are disabled because no admin token is configured.
    #[error(
        "changes through the http api are disabled: configure http.admin_token_env to enable them"
    )]
    MutationsDisabled,
    #[error("{0}")]
    NotFound(String),
    /// The thing exists but is gone for good (a log past retention).
    #[error("{0}")]
    Gone(String),
    /// A component this request needs is not running in this process.
    #[error("{0}")]
    Unavailable(String),
    /// GitHub failed to answer usefully.
    #[error("{0}")]
    Upstream(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::MissingToken | ApiError::MissingReadToken | ApiError::BadSignature(_) => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::TimedOut(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::WrongToken | ApiError::MutationsDisabled => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Upstream(_) => StatusCode::BAD_GATEWAY,
            ApiError::Store(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl ApiError {
    /// The same failure again, for every waiter of a shared download (store errors as text).
    pub(crate) fn duplicate(&self) -> ApiError {
        match self {
            ApiError::BadRequest(text) => ApiError::BadRequest(text.clone()),
            ApiError::MissingToken => ApiError::MissingToken,
            ApiError::MissingReadToken => ApiError::MissingReadToken,
            ApiError::WrongToken => ApiError::WrongToken,
            ApiError::BadSignature(text) => ApiError::BadSignature(text.clone()),
            ApiError::TooLarge(text) => ApiError::TooLarge(text.clone()),
            ApiError::TooManyRequests {
                message,
                retry_after,
            } => ApiError::TooManyRequests {
                message: message.clone(),
                retry_after: *retry_after,
            },
            ApiError::TimedOut(text) => ApiError::TimedOut(text.clone()),
            ApiError::MutationsDisabled => ApiError::MutationsDisabled,
            ApiError::NotFound(text) => ApiError::NotFound(text.clone()),
            ApiError::Gone(text) => ApiError::Gone(text.clone()),
            ApiError::Unavailable(text) => ApiError::Unavailable(text.clone()),
            ApiError::Upstream(text) => ApiError::Upstream(text.clone()),
            ApiError::Store(_) | ApiError::Internal(_) => ApiError::Internal(self.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(cause = %self, status = status.as_u16(), "http request failed");
        }
        let mut response = (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response();
        if let ApiError::TooManyRequests { retry_after, .. } = &self {
            // At least one second: `retry-after: 0` invites a tight loop.
            let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        if matches!(self, ApiError::MissingToken | ApiError::MissingReadToken) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
