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
    /// A mutation with a token that is not the admin token.
    #[error("the admin token is not valid")]
    WrongToken,
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
            ApiError::MissingToken => StatusCode::UNAUTHORIZED,
            ApiError::WrongToken | ApiError::MutationsDisabled => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Upstream(_) => StatusCode::BAD_GATEWAY,
            ApiError::Store(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
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
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
