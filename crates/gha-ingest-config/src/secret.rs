//! `Secret`: a token that never prints itself and is wiped from memory when dropped.
//!
//! Tokens end up inside `Settings`, and `Settings` gets logged, serialized by `check-config` and
//! shown in panics. `Secret` holds a [`secrecy::SecretString`], whose `Debug` is redacted and
//! which zeroizes on drop; `Display` and `Serialize` write `[redacted]` here, so leaking one is a
//! deliberate act (`expose_secret`) rather than an accident. Consumers that keep a token (the
//! HTTP server's bearer check) take the `SecretString` itself through [`Secret::to_secret_string`],
//! so the value never passes through a plain `String`. There is deliberately no `Deserialize`:
//! secrets are read from an environment variable or a file named in the configuration, never
//! written inline.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Serialize, Serializer};
use subtle::ConstantTimeEq;

/// What a secret prints as, wherever it is printed.
pub const REDACTED: &str = "[redacted]";

/// A secret value (a token) that prints as `[redacted]`.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The secret itself, for the one place that has to send it (an `Authorization` header).
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }

    /// The secret as a `secrecy` type, for a component that keeps it (zeroized on drop).
    pub fn to_secret_string(&self) -> SecretString {
        self.0.clone()
    }

    /// Length in characters, for minimum-length checks that must not print the value.
    pub fn char_count(&self) -> usize {
        self.0.expose_secret().chars().count()
    }
}

/// Constant time, so comparing configurations never hints at a token's content.
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        bool::from(
            self.0
                .expose_secret()
                .as_bytes()
                .ct_eq(other.0.expose_secret().as_bytes()),
        )
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints_its_value() {
        let secret = Secret::new("ghp_very_secret_value");
        assert_eq!(format!("{secret}"), REDACTED);
        assert_eq!(format!("{secret:?}"), REDACTED);
        assert_eq!(format!("{secret:#?}"), REDACTED);
        assert_eq!(secret.expose_secret(), "ghp_very_secret_value");
    }

    #[test]
    fn secret_serializes_as_redacted() {
        #[derive(Serialize)]
        struct Holder {
            token: Secret,
        }
        let text = toml::to_string(&Holder {
            token: Secret::new("ghp_very_secret_value"),
        })
        .expect("serializes");
        assert_eq!(text.trim(), r#"token = "[redacted]""#);
    }
}
