//! `ConfigError`: every problem found in a configuration, reported together.
//!
//! Fixing a config one error per restart is miserable, so loading and validation collect all the
//! problems they can find and return them at once. Each problem is one line that starts with the
//! key path it is about (`pipeline.poll_interval_secs: must be at least 1, got 0`), lowercase,
//! without trailing punctuation, and never contains a secret's value.

/// The configuration could not be loaded or is invalid; `problems` says every reason.
///
/// `Display` joins the problems with `"; "` on one line, so the binary can print
/// `error: invalid configuration: <that>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.join("; "))]
pub struct ConfigError {
    problems: Vec<String>,
}

impl ConfigError {
    /// An error made of the given problems; there must be at least one.
    pub fn new(problems: Vec<String>) -> Self {
        debug_assert!(!problems.is_empty(), "a ConfigError needs a problem");
        Self { problems }
    }

    /// Every problem, one line each, in the order found.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

/// Collects problems while validating, then turns into `Ok` or a `ConfigError`.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    problems: Vec<String>,
}

impl Problems {
    /// Records a problem about `key`, written as `key: message`.
    pub(crate) fn add(&mut self, key: impl AsRef<str>, message: impl AsRef<str>) {
        self.problems
            .push(format!("{}: {}", key.as_ref(), message.as_ref()));
    }

    /// Records a problem whose text already names what it is about.
    pub(crate) fn add_line(&mut self, line: impl Into<String>) {
        self.problems.push(line.into());
    }

    /// `Ok(value)` when nothing was recorded, the collected problems otherwise.
    pub(crate) fn into_result<T>(self, value: T) -> Result<T, ConfigError> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(ConfigError::new(self.problems))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_joins_problems_on_one_line() {
        let error = ConfigError::new(vec!["a: bad".to_owned(), "b: worse".to_owned()]);
        assert_eq!(error.to_string(), "a: bad; b: worse");
        assert_eq!(error.problems().len(), 2);
    }

    #[test]
    fn problems_without_entries_are_ok() {
        let problems = Problems::default();
        assert_eq!(problems.into_result(7), Ok(7));

        let mut problems = Problems::default();
        problems.add("store.path", "must not be empty");
        let error = problems.into_result(7).unwrap_err();
        assert_eq!(error.to_string(), "store.path: must not be empty");
    }
}
