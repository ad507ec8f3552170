//! The effective configuration as TOML with secrets shown as `[redacted]`.
//!
//! `gha-ingest check-config` prints this so an operator sees what the daemon would run with,
//! after defaults, file and environment are merged, without a token ever reaching a terminal or a
//! log: `Secret` serializes as `[redacted]`, and validation refuses URLs with credentials.

use crate::schema::Settings;

impl Settings {
    /// The effective configuration as a TOML document, tokens written as `"[redacted]"`.
    pub fn redacted_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|error| {
            // Only a path that is not UTF-8 gets here.
            format!("# the configuration cannot be shown as TOML: {error}\n")
        })
    }
}
