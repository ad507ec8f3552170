//! The `Host` check, against DNS rebinding: a page on `evil.example` whose name is made to
//! resolve to this server's address can make a browser send it requests, but the browser still
//! sends `Host: evil.example`. Only loopback names, IP literals (what Kubernetes probes and
//! Prometheus use) and the names in `http.allowed_hosts` are answered; anything else gets
//! 421 Misdirected Request before any route runs.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::header::HOST;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::SharedState;

/// Names that always mean "this machine".
const LOOPBACK_NAMES: [&str; 2] = ["localhost", "localhost."];

pub(crate) async fn require_known_host(
    State(state): State<SharedState>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(HOST)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_owned()));
    match host {
        Some(host) if is_allowed(&host, &state.access.allowed_hosts) => next.run(request).await,
        refused => {
            tracing::warn!(
                host = refused.as_deref().unwrap_or(""),
                path = request.uri().path(),
                "http request refused: unknown host"
            );
            let message =
                "this server does not answer to that host name: add it to http.allowed_hosts";
            (
                StatusCode::MISDIRECTED_REQUEST,
                Json(serde_json::json!({ "error": message })),
            )
                .into_response()
        }
    }
}

/// Whether a `Host` value (`name`, `name:port`, `1.2.3.4:80`, `[::1]:80`) may be answered.
fn is_allowed(host: &str, allowed_hosts: &[String]) -> bool {
    let host = host.trim().to_ascii_lowercase();
    let name = host_name(&host);
    if LOOPBACK_NAMES.contains(&name) || name.trim_matches(['[', ']']).parse::<IpAddr>().is_ok() {
        return true;
    }
    allowed_hosts.iter().any(|allowed| {
        let allowed = allowed.trim().to_ascii_lowercase();
        // An entry with a port must match exactly; one without matches any port.
        allowed == host || (!allowed.contains(':') && allowed == name)
    })
}

/// The name of a `Host` value without its port.
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(name, _)| &host[..name.len() + 1]);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_ip_literals_and_listed_names_are_allowed() {
        let allowed = vec![
            "dash.example.com".to_string(),
            "pinned.example.com:8443".to_string(),
        ];
        for host in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:8080",
            "[::1]:8080",
            "10.1.2.3:8080",
            "DASH.example.com",
            "dash.example.com:8080",
            "pinned.example.com:8443",
        ] {
            assert!(is_allowed(host, &allowed), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "pinned.example.com:80",
            "",
        ] {
            assert!(!is_allowed(host, &allowed), "{host}");
        }
    }
}
