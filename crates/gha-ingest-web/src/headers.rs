//! Hardening headers on every answer, set once here so no route can forget them: no MIME
//! sniffing (a log served as `text/plain` must never run as HTML), no referrer (run URLs name
//! private repositories), no framing, and nothing cached (every answer is live or private).
//! A route that wants otherwise sets its own value first (the dashboard's CSP and caching).

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::HeaderValue;
use axum::response::Response;

/// For answers that are not the dashboard: nothing in them may load or run anything.
const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

pub(crate) async fn harden(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    headers
        .entry(CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(API_POLICY));
    response
}
