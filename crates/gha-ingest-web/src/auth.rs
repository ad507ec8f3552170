//! The token guards: every read route takes [`Reader`] and every route that changes state takes
//! [`Admin`] as an extractor, so a handler cannot forget the check. Tokens are held as
//! `secrecy::SecretString` and compared in constant time (`subtle`); they are never echoed or
//! logged.
//!
//! Failed attempts are throttled per client address: past [`MAX_FAILURES_PER_WINDOW`] wrong
//! tokens in a window, every token-bearing request from that address is refused with 429 until
//! the window ends — the right token included, or the throttle would still answer "right" or
//! "wrong" to a guesser. Behind a reverse proxy all clients share the proxy's address; the
//! throttle then protects the token at the price of locking everyone out for a minute.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::SharedState;

/// Wrong tokens one client may send per window before it is throttled.
pub(crate) const MAX_FAILURES_PER_WINDOW: u32 = 5;
/// The throttle's window.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Clients tracked at most; the oldest windows are forgotten first.
const MAX_TRACKED_CLIENTS: usize = 10_000;

/// Proof that the request may read. `trusted` says whether it may also see raw upstream error
/// text: it presented a token, or reads are open and it came from this machine.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader {
    pub trusted: bool,
}

/// Proof that the request carried the configured admin token.
#[derive(Debug)]
pub(crate) struct Admin;

/// What a request proved about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credential {
    None,
    Read,
    Admin,
}

/// The client's address, from the connection (not from any header a client can forge).
pub(crate) fn client_ip(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip())
}

/// The client's address as an extractor; `None` only when served without connection info.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<SharedState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts)))
    }
}

impl FromRequestParts<SharedState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        match check(parts, state)? {
            Credential::Read | Credential::Admin => Ok(Reader { trusted: true }),
            Credential::None if state.access.read_token.is_none() => Ok(Reader {
                trusted: client_ip(parts).is_some_and(|ip| ip.is_loopback()),
            }),
            Credential::None => Err(ApiError::MissingReadToken),
        }
    }
}

impl FromRequestParts<SharedState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        if state.access.admin_token.is_none() {
            return Err(ApiError::MutationsDisabled);
        }
        match check(parts, state)? {
            Credential::Admin => Ok(Admin),
            Credential::Read => Err(ApiError::WrongToken),
            Credential::None => Err(ApiError::MissingToken),
        }
    }
}

/// The credential the request carries. A token that matches nothing counts as a failure of its
/// client and is refused (403, or 429 once throttled).
fn check(parts: &Parts, state: &SharedState) -> Result<Credential, ApiError> {
    let Some(header) = parts.headers.get(AUTHORIZATION) else {
        return Ok(Credential::None);
    };
    let client = client_ip(parts);
    if let Some(retry_after) = client.and_then(|ip| state.auth_failures.blocked_for(ip)) {
        return Err(ApiError::TooManyRequests {
            message: "too many wrong tokens from this address".to_string(),
            retry_after,
        });
    }
    let presented = header
        .to_str()
        .ok()
        .and_then(bearer_token)
        .ok_or(ApiError::MissingToken)?;
    if matches(presented, state.access.admin_token.as_ref()) {
        return Ok(Credential::Admin);
    }
    if matches(presented, state.access.read_token.as_ref()) {
        return Ok(Credential::Read);
    }
    if let Some(ip) = client {
        state.auth_failures.record(ip);
    }
    tracing::warn!(client = ?client, path = parts.uri.path(), "http request refused: wrong token");
    Err(ApiError::WrongToken)
}

fn matches(presented: &str, expected: Option<&SecretString>) -> bool {
    expected.is_some_and(|expected| {
        bool::from(
            presented
                .as_bytes()
                .ct_eq(expected.expose_secret().as_bytes()),
        )
    })
}

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive).
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Wrong-token counts per client address, in fixed windows.
#[derive(Debug, Default)]
pub(crate) struct FailureThrottle {
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl FailureThrottle {
    fn windows(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, (Instant, u32)>> {
        self.windows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How long `ip` must still wait, if it used up its failures.
    fn blocked_for(&self, ip: IpAddr) -> Option<Duration> {
        let windows = self.windows();
        let (started, failures) = windows.get(&ip)?;
        let left = FAILURE_WINDOW.checked_sub(started.elapsed())?;
        (*failures >= MAX_FAILURES_PER_WINDOW).then_some(left)
    }

    fn record(&self, ip: IpAddr) {
        let mut windows = self.windows();
        if windows.len() >= MAX_TRACKED_CLIENTS {
            windows.retain(|_, (started, _)| started.elapsed() < FAILURE_WINDOW);
        }
        let entry = windows.entry(ip).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= FAILURE_WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_extracted() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
    }

    #[test]
    fn tokens_match_only_themselves() {
        let expected = SecretString::from("secret".to_string());
        assert!(matches("secret", Some(&expected)));
        assert!(!matches("secreT", Some(&expected)));
        assert!(!matches("secret2", Some(&expected)));
        assert!(!matches("secret", None));
    }

    #[test]
    fn a_client_is_throttled_after_its_failures() {
        let throttle = FailureThrottle::default();
        let guesser: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..MAX_FAILURES_PER_WINDOW {
            assert_eq!(throttle.blocked_for(guesser), None);
            throttle.record(guesser);
        }
        assert!(throttle.blocked_for(guesser).unwrap() <= FAILURE_WINDOW);
        assert_eq!(throttle.blocked_for(other), None);
    }
}
