//! `owner/name` repository identifiers, validated once so the rest of the code can trust them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A GitHub repository as `owner/name`, validated against GitHub's naming rules.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RepoName {
    owner: String,
    name: String,
}

/// Why a string is not a repository name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{input:?} is not a GitHub repository (expected owner/name or https://github.com/owner/name)"
)]
pub struct InvalidRepoName {
    pub input: String,
}

impl RepoName {
    pub fn new(owner: &str, name: &str) -> Result<Self, InvalidRepoName> {
        format!("{owner}/{name}").parse()
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Parses `owner/name` or a `https://HOST/owner/name[.git][/]` URL and returns the host, if any,
    /// so that callers can refuse URLs that point somewhere other than their GitHub.
    pub fn parse_with_host(input: &str) -> Result<(Option<String>, Self), InvalidRepoName> {
        let invalid = || InvalidRepoName {
            input: input.to_string(),
        };
        let trimmed = input.trim();
        let (host, path) = match trimmed.split_once("://") {
            Some((scheme, rest)) if scheme == "https" || scheme == "http" => {
                let (host, path) = rest.split_once('/').ok_or_else(invalid)?;
                (Some(host.to_ascii_lowercase()), path)
            }
            Some(_) => return Err(invalid()),
            None => (None, trimmed),
        };
        let path = path.trim_end_matches('/');
        let path = path.strip_suffix(".git").unwrap_or(path);
        let (owner, name) = path.split_once('/').ok_or_else(invalid)?;
        if !is_valid_owner(owner) || !is_valid_repo(name) {
            return Err(invalid());
        }
        Ok((
            host,
            RepoName {
                owner: owner.to_string(),
                name: name.to_string(),
            },
        ))
    }
}

/// GitHub logins: 1–39 alphanumerics or single hyphens, not starting or ending with a hyphen.
fn is_valid_owner(owner: &str) -> bool {
    !owner.is_empty()
        && owner.len() <= 39
        && !owner.starts_with('-')
        && !owner.ends_with('-')
        && owner.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Repository names: 1–100 of `A-Za-z0-9._-`, and not `.` or `..`.
fn is_valid_repo(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl FromStr for RepoName {
    type Err = InvalidRepoName;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse_with_host(input).map(|(_, repo)| repo)
    }
}

impl TryFrom<String> for RepoName {
    type Error = InvalidRepoName;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<RepoName> for String {
    fn from(repo: RepoName) -> Self {
        repo.to_string()
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_and_url_forms() {
        let plain: RepoName = "octo-org/hello.world".parse().unwrap();
        assert_eq!(plain.to_string(), "octo-org/hello.world");
        let (host, url) =
            RepoName::parse_with_host("https://github.com/octo-org/hello.world.git/").unwrap();
        assert_eq!(host.as_deref(), Some("github.com"));
        assert_eq!(url, plain);
    }

    #[test]
    fn refuses_what_github_would_refuse() {
        for bad in [
            "",
            "owner",
            "owner/",
            "/name",
            "-owner/name",
            "own er/name",
            "a/b/c",
            "owner/..",
            "ftp://github.com/a/b",
        ] {
            assert!(bad.parse::<RepoName>().is_err(), "{bad:?} was accepted");
        }
    }
}
