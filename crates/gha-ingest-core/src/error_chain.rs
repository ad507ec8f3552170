//! One line for an error and all its causes: `cannot open state.sqlite: unable to open database`.
//!
//! Error types here keep their cause as a `#[source]` and do not repeat it in their own message,
//! so that nothing is printed twice; a log line or an API answer shows the whole chain through
//! this wrapper instead.

use std::fmt;

/// Displays `error` and each of its sources, joined by `": "`.
pub fn error_chain<'a>(error: &'a (dyn std::error::Error + 'static)) -> ErrorChain<'a> {
    ErrorChain(error)
}

#[derive(Debug, Clone, Copy)]
pub struct ErrorChain<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read cursor")]
    struct Outer {
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn every_cause_is_shown_once() {
        let error = Outer {
            source: std::io::Error::other("disk I/O error"),
        };
        assert_eq!(
            error_chain(&error).to_string(),
            "cannot read cursor: disk I/O error"
        );
    }
}
