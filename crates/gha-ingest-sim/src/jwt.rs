//! GitHub App JWT verification as GitHub does it: RS256 only, the signature checked against the
//! App's registered public key, `iss` the App id (a JSON number or string) or its client id,
//! `iat` at most 60 s in the future, `exp` in the future and at most 10 minutes after `iat`.
//!
//! Times are compared on the **simulated** clock, so a test on the manual clock expires a JWT
//! by advancing. `jsonwebtoken` verifies the signature only: its own `exp` check reads the
//! system clock, so it is turned off and the claims are checked here.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use crate::clock::Millis;

/// How far in the future `iat` may be: GitHub's allowance for clock drift.
const IAT_MAX_AHEAD_SECS: i64 = 60;
/// The longest a JWT may live: "no more than 10 minutes into the future".
const MAX_LIFETIME_SECS: i64 = 600;

/// Why a JWT was refused; `message` is GitHub's wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JwtError {
    /// Not a JWT, not RS256, or a signature that does not verify.
    Undecodable,
    /// `iss` names no registered App.
    UnknownIssuer,
    /// `iat` missing, not a number, or more than 60 s ahead.
    IssuedAt,
    /// `exp` missing, not a number, or past.
    Expired,
    /// `exp` more than 10 minutes after `iat`.
    TooLong,
}

impl JwtError {
    pub(crate) fn message(self) -> &'static str {
        match self {
            JwtError::Undecodable => "A JSON web token could not be decoded",
            JwtError::UnknownIssuer => "Integration not found",
            JwtError::IssuedAt => "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
            JwtError::Expired => "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
            JwtError::TooLong => "'Expiration time' claim ('exp') is too far in the future",
        }
    }
}

/// The claims GitHub reads, as loosely typed as clients send them.
#[derive(Debug, Deserialize)]
struct AppClaims {
    #[serde(default)]
    iss: Value,
    #[serde(default)]
    iat: Value,
    #[serde(default)]
    exp: Value,
}

/// `iss` as the text it names an App by: `12345` and `"12345"` are the same App.
fn issuer_text(iss: &Value) -> Option<String> {
    match iss {
        Value::Number(number) => Some(number.to_string()),
        Value::String(text) => Some(text.clone()),
        _ => None,
    }
}

/// Whole epoch seconds of a numeric claim (GitHub accepts integers; a float is truncated).
fn epoch_secs(claim: &Value) -> Option<i64> {
    claim
        .as_i64()
        .or_else(|| claim.as_f64().map(|secs| secs as i64))
}

/// Verifies `token`. `key_of` finds an App by the `iss` text and returns its id and key.
pub(crate) fn verify<'a>(
    token: &str,
    now_ms: Millis,
    key_of: impl FnOnce(&str) -> Option<(u64, &'a DecodingKey)>,
) -> Result<u64, JwtError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Undecodable)?;
    if header.alg != Algorithm::RS256 {
        return Err(JwtError::Undecodable);
    }
    // The issuer picks the key, so it is read before the signature is checked.
    let unverified = jsonwebtoken::dangerous::insecure_decode::<AppClaims>(token)
        .map_err(|_| JwtError::Undecodable)?;
    let issuer = issuer_text(&unverified.claims.iss).ok_or(JwtError::UnknownIssuer)?;
    let (app_id, key) = key_of(&issuer).ok_or(JwtError::UnknownIssuer)?;

    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<AppClaims>(token, key, &validation)
        .map_err(|_| JwtError::Undecodable)?
        .claims;

    let now_secs = now_ms.div_euclid(1_000);
    let issued_at = epoch_secs(&claims.iat).ok_or(JwtError::IssuedAt)?;
    if issued_at > now_secs + IAT_MAX_AHEAD_SECS {
        return Err(JwtError::IssuedAt);
    }
    let expires_at = epoch_secs(&claims.exp).ok_or(JwtError::Expired)?;
    if expires_at <= now_secs {
        return Err(JwtError::Expired);
    }
    if expires_at - issued_at > MAX_LIFETIME_SECS {
        return Err(JwtError::TooLong);
    }
    Ok(app_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_are_numbers_or_text() {
        assert_eq!(issuer_text(&serde_json::json!(42)), Some("42".into()));
        assert_eq!(issuer_text(&serde_json::json!("42")), Some("42".into()));
        assert_eq!(issuer_text(&Value::Null), None);
        assert_eq!(epoch_secs(&serde_json::json!(1.9e9)), Some(1_900_000_000));
        assert_eq!(epoch_secs(&serde_json::json!("1")), None);
    }

    #[test]
    fn garbage_is_undecodable() {
        let never_asked = |_: &str| -> Option<(u64, &DecodingKey)> { None };
        assert_eq!(
            verify("not.a.jwt", 0, never_asked),
            Err(JwtError::Undecodable)
        );
    }
}
