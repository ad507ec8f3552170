//! The dashboard: one self-contained HTML page (inline CSS and vanilla JavaScript, no external
//! resources, no build step) compiled into the binary. It polls `/api/status`, `/api/runs` and
//! `/api/repositories` and drives the mutations with the admin token the user typed, kept in
//! `sessionStorage` only.

use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY};
use axum::http::HeaderValue;
use axum::response::{Html, IntoResponse, Response};

const PAGE: &str = include_str!("../assets/dashboard.html");

/// Only the page itself: no third-party script, frame or connection can be injected.
const POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub(crate) async fn page() -> Response {
    let headers = [
        (CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY)),
        (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    (headers, Html(PAGE)).into_response()
}
