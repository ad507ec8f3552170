//! Who a request is: its `Authorization` header resolved to one credential, the unit GitHub
//! keeps its budgets by (primary and secondary), and which routes that credential may use.
//!
//! GitHub tells credentials apart by shape: a JWT (three base64url parts) is the App itself,
//! `ghs_…` an installation token, anything else a user token. The simulator does the same, so a
//! client that sends the wrong credential to a route gets GitHub's refusal, not a silent answer.

use std::fmt;

use axum::http::{header, HeaderMap, StatusCode};

use crate::apps::{AppRegistry, TokenState};
use crate::clock::Millis;
use crate::config::SimConfig;
use crate::routes::ApiRoute;

/// The credential a request was made with: each has its own primary budget and its own
/// secondary limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Credential {
    /// The configured personal access token (or, with `accept_any_token`, any user token).
    Pat,
    /// No `Authorization` header and no token configured.
    Anonymous,
    /// A GitHub App's JWT.
    App(u64),
    /// An installation token; every token of one installation is one credential.
    Installation(u64),
}

impl fmt::Display for Credential {
    /// The key of `SimStats::credentials` and of the request log.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Pat => formatter.write_str("pat"),
            Credential::Anonymous => formatter.write_str("anonymous"),
            Credential::App(app_id) => write!(formatter, "app:{app_id}"),
            Credential::Installation(installation_id) => {
                write!(formatter, "installation:{installation_id}")
            }
        }
    }
}

/// A request GitHub refuses before looking at the route's data, with its status and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

impl Refusal {
    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            message: message.into(),
        }
    }

    fn forbidden(message: &str) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            message: message.to_string(),
        }
    }
}

pub(crate) const BAD_CREDENTIALS: &str = "Bad credentials";
pub(crate) const REQUIRES_AUTHENTICATION: &str = "Requires authentication";
pub(crate) const JWT_NOT_DECODED: &str = "A JSON web token could not be decoded";

/// The token of an `Authorization: Bearer …` or `Authorization: token …` header; `Err` for a
/// header of another scheme or that is not text.
fn presented_token(headers: &HeaderMap) -> Option<Result<&str, ()>> {
    let authorization = headers.get(header::AUTHORIZATION)?;
    let token = authorization
        .to_str()
        .ok()
        .and_then(|value| value.trim().split_once(' '))
        .filter(|(scheme, _)| {
            scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")
        })
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty());
    Some(token.ok_or(()))
}

/// A JWT is three non-empty base64url parts; GitHub's own tokens never contain a dot.
fn looks_like_jwt(token: &str) -> bool {
    let mut parts = token.split('.');
    let is_part = |part: Option<&str>| part.is_some_and(|part| !part.is_empty());
    is_part(parts.next())
        && is_part(parts.next())
        && is_part(parts.next())
        && parts.next().is_none()
}

/// Resolves a request's credential: `Err` is the 401 GitHub answers (a missing credential where
/// one is required, or one it does not know, has expired or was revoked).
pub(crate) fn resolve(
    config: &SimConfig,
    apps: &AppRegistry,
    headers: &HeaderMap,
    now_ms: Millis,
) -> Result<Credential, Refusal> {
    let token = match presented_token(headers) {
        None if config.token.is_none() => return Ok(Credential::Anonymous),
        None => return Err(Refusal::unauthorized(REQUIRES_AUTHENTICATION)),
        Some(Err(())) => return Err(Refusal::unauthorized(BAD_CREDENTIALS)),
        Some(Ok(token)) => token,
    };
    if config.token.as_deref() == Some(token) {
        return Ok(Credential::Pat);
    }
    if looks_like_jwt(token) {
        return apps
            .verify_jwt(token, now_ms)
            .map(Credential::App)
            .map_err(|error| Refusal::unauthorized(error.message()));
    }
    match apps.token_state(token, now_ms) {
        TokenState::Valid { installation_id } => Ok(Credential::Installation(installation_id)),
        TokenState::Expired | TokenState::Revoked => Err(Refusal::unauthorized(BAD_CREDENTIALS)),
        TokenState::Unknown if config.token.is_none() && config.accept_any_token => {
            Ok(Credential::Pat)
        }
        TokenState::Unknown => Err(Refusal::unauthorized(BAD_CREDENTIALS)),
    }
}

/// Whether `credential` may use `route` at all: the App's JWT only on `/app…` routes, an
/// installation token everywhere else, `GET /installation/repositories` only with an
/// installation token. Which repositories an installation token sees is checked per route.
pub(crate) fn admit_route(credential: Credential, route: &ApiRoute) -> Result<(), Refusal> {
    let is_app_route = matches!(
        route,
        ApiRoute::App
            | ApiRoute::AppInstallations
            | ApiRoute::CreateInstallationToken(_)
            | ApiRoute::AppHookDeliveries
            | ApiRoute::AppHookDelivery(_)
            | ApiRoute::RedeliverAppHookDelivery(_)
    );
    match (credential, route) {
        (Credential::App(_), _) if is_app_route => Ok(()),
        // GitHub answers every other credential on an App route as an undecodable JWT.
        (_, _) if is_app_route => Err(Refusal::unauthorized(JWT_NOT_DECODED)),
        (Credential::Installation(_), _) => Ok(()),
        (Credential::Anonymous, ApiRoute::InstallationRepositories) => {
            Err(Refusal::unauthorized(REQUIRES_AUTHENTICATION))
        }
        (_, ApiRoute::InstallationRepositories) => Err(Refusal::forbidden(
            "You must authenticate with an installation access token in order to list repositories for an installation.",
        )),
        // `/rate_limit` answers any credential, the App's included.
        (Credential::App(_), ApiRoute::RateLimit) => Ok(()),
        (Credential::App(_), _) => Err(Refusal::forbidden("Resource not accessible by integration")),
        (Credential::Pat | Credential::Anonymous, _) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwts_are_told_apart_by_shape() {
        assert!(looks_like_jwt("eyJh.eyJp.c2ln"));
        assert!(!looks_like_jwt("ghs_16C7e42F292c6912E7710c838347Ae178B4a"));
        assert!(!looks_like_jwt("a.b"));
        assert!(!looks_like_jwt("a..c"));
        assert!(!looks_like_jwt("a.b.c.d"));
    }

    #[test]
    fn each_credential_is_admitted_where_github_admits_it() {
        let app = Credential::App(1);
        let installation = Credential::Installation(2);
        assert!(admit_route(app, &ApiRoute::AppInstallations).is_ok());
        assert!(admit_route(app, &ApiRoute::RateLimit).is_ok());
        assert_eq!(
            admit_route(app, &ApiRoute::InstallationRepositories).map_err(|r| r.status),
            Err(StatusCode::FORBIDDEN)
        );
        assert_eq!(
            admit_route(installation, &ApiRoute::App).map_err(|r| r.message),
            Err(JWT_NOT_DECODED.to_string())
        );
        assert!(admit_route(installation, &ApiRoute::InstallationRepositories).is_ok());
        assert_eq!(
            admit_route(Credential::Pat, &ApiRoute::InstallationRepositories).map_err(|r| r.status),
            Err(StatusCode::FORBIDDEN)
        );
        assert!(admit_route(Credential::Pat, &ApiRoute::Unknown).is_ok());
        assert_eq!(Credential::Installation(7).to_string(), "installation:7");
    }
}
