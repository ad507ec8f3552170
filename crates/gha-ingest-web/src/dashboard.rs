//! The dashboard: one self-contained page compiled into the binary — HTML, a stylesheet and a
//! vanilla script, no external resource, no CDN, no build step. Script and style are served
//! from this server (`/assets/…`) rather than inline, so the Content-Security-Policy allows
//! `'self'` only, never `'unsafe-inline'`: markup injected into the page could not run.
//! The page also pins both assets with Subresource Integrity hashes computed at start from the
//! very bytes served, so the two cannot drift apart.
//!
//! The page polls the JSON API with the token the user typed (kept in `sessionStorage` only).

use std::sync::LazyLock;

use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};

const PAGE_TEMPLATE: &str = include_str!("../assets/dashboard.html");
const SCRIPT: &str = include_str!("../assets/dashboard.js");
const STYLESHEET: &str = include_str!("../assets/dashboard.css");

/// Only this server's own script, style and API; no inline code, frame or form target.
pub(crate) const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The page with the integrity hashes of the bytes served at `/assets/…`.
static PAGE: LazyLock<String> = LazyLock::new(|| {
    PAGE_TEMPLATE
        .replace("{{script_integrity}}", &integrity(SCRIPT))
        .replace("{{style_integrity}}", &integrity(STYLESHEET))
});

/// A Subresource Integrity value: `sha256-<base64 of the digest>`.
fn integrity(content: &str) -> String {
    let digest = Sha256::digest(content.as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

fn headers(content_type: &'static str) -> [(axum::http::HeaderName, HeaderValue); 3] {
    [
        (CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY)),
        (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ]
}

pub(crate) async fn page() -> Response {
    (headers("text/html; charset=utf-8"), Html(PAGE.as_str())).into_response()
}

pub(crate) async fn script() -> Response {
    (headers("text/javascript; charset=utf-8"), SCRIPT).into_response()
}

pub(crate) async fn stylesheet() -> Response {
    (headers("text/css; charset=utf-8"), STYLESHEET).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_pins_the_assets_it_is_served_with() {
        assert!(PAGE.contains(&format!("integrity=\"{}\"", integrity(SCRIPT))));
        assert!(PAGE.contains(&format!("integrity=\"{}\"", integrity(STYLESHEET))));
        assert!(!PAGE.contains("{{"), "every placeholder is filled");
        assert!(!PAGE.contains("<script>") && !PAGE.contains("<style>"));
        assert!(!POLICY.contains("unsafe-inline"));
    }
}
