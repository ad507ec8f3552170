//! `Secret`: a string that never prints itself.
//!
//! Tokens end up inside `Settings`, and `Settings` gets logged, serialized by `check-config` and
//! shown in panics. Wrapping them in a type whose `Debug`, `Display` and `Serialize` all write
//! `[redacted]` makes leaking one a deliberate act (`expose_secret`) rather than an accident.
//! There is deliberately no `Deserialize`: secrets are read from an environment variable or a
//! file named in the configuration, never written inline.

use std::fmt;

use serde::{Serialize, Serializer};

/// What a secret prints as, wherever it is printed.
pub const REDACTED: &str = "[redacted]";

/// A secret value (a token) that prints as `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that has to send it (an `Authorization` header).
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

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
