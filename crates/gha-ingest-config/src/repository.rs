//! Turning what an operator writes for a repository into the canonical `owner/name`.
//!
//! People paste browser URLs, clone URLs and `owner/name` alike; everything downstream (cursors,
//! queue attributes, the dashboard) wants one spelling. This is public because the dashboard
//! accepts repositories at runtime and must apply exactly the same rules as the config file.

use url::Url;

/// The web host of github.com, where repository URLs point unless GitHub Enterprise Server is
/// configured.
pub const GITHUB_WEB_HOSTS: [&str; 2] = ["github.com", "www.github.com"];

/// Longest repository name GitHub accepts.
const MAX_REPOSITORY_NAME_CHARS: usize = 100;
/// Longest login accepted. GitHub's own limit is 39, but Enterprise Managed Users append
/// `_shortcode` to logins, so be a little lenient.
const MAX_LOGIN_CHARS: usize = 100;

/// Why a string is not a repository; its `Display` is one lowercase line quoting the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidRepository(String);

/// Normalises `input` to `owner/name`.
///
/// Accepts `owner/name`, `https://github.com/owner/name` (also without the scheme), with an
/// optional trailing `/` or `.git`. A URL must point at github.com or at the host of `api_url`
/// (GitHub Enterprise Server serves its web pages and API from one host). Case is kept: GitHub
/// treats names case-insensitively but shows them as created.
pub fn normalize_repository(input: &str, api_url: &Url) -> Result<String, InvalidRepository> {
    let trimmed = input.trim();
    let not_a_repository = || {
        InvalidRepository(format!(
            "{input:?} is not a GitHub repository (expected owner/name or https://github.com/owner/name)"
        ))
    };

    let path = if let Some(url_text) = as_url_text(trimmed) {
        let url = Url::parse(&url_text).map_err(|_| not_a_repository())?;
        let host = url.host_str().unwrap_or_default();
        let api_host = api_url.host_str().unwrap_or_default();
        let host_accepted = GITHUB_WEB_HOSTS.contains(&host) || host == api_host;
        if !host_accepted {
            return Err(InvalidRepository(format!(
                "{input:?} is on {host}, not on github.com or on {api_host} (the host of github.api_url)"
            )));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(not_a_repository());
        }
        url.path().to_owned()
    } else {
        trimmed.to_owned()
    };

    let without_slashes = path.trim_start_matches('/');
    let without_slashes = without_slashes.strip_suffix('/').unwrap_or(without_slashes);
    let without_git = without_slashes
        .strip_suffix(".git")
        .unwrap_or(without_slashes);
    let Some((owner, name)) = without_git.split_once('/') else {
        return Err(not_a_repository());
    };
    if !is_login(owner) || !is_repository_name(name) {
        return Err(not_a_repository());
    }
    Ok(format!("{owner}/{name}"))
}

/// Whether `login` is a plausible GitHub user or organisation login: letters, digits, `-` and
/// `_`, starting with a letter or digit.
pub fn is_login(login: &str) -> bool {
    let starts_well = login
        .chars()
        .next()
        .is_some_and(|first| first.is_ascii_alphanumeric());
    starts_well
        && login.len() <= MAX_LOGIN_CHARS
        && login
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || matches!(character, '-' | '_'))
}

/// Whether `name` is a valid repository name: letters, digits, `.`, `-` and `_`, not `.` or `..`.
fn is_repository_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name.len() <= MAX_REPOSITORY_NAME_CHARS
        && name.chars().all(|character| {
            character.is_ascii_alphanumeric() || matches!(character, '.' | '-' | '_')
        })
}

/// `Some(url)` when `text` is written as a URL: with an http(s) scheme, or starting with a
/// github.com host (`github.com/owner/name`), which gets `https://` put in front.
fn as_url_text(text: &str) -> Option<String> {
    let lowercase = text.to_ascii_lowercase();
    if lowercase.starts_with("https://") || lowercase.starts_with("http://") {
        return Some(text.to_owned());
    }
    let starts_with_github_host = GITHUB_WEB_HOSTS
        .iter()
        .any(|host| lowercase.starts_with(&format!("{host}/")));
    starts_with_github_host.then(|| format!("https://{text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn github_api() -> Url {
        Url::parse("https://api.github.com/").expect("valid url")
    }

    fn normalize(input: &str) -> Result<String, InvalidRepository> {
        normalize_repository(input, &github_api())
    }

    #[test]
    fn accepts_every_usual_spelling() {
        let spellings = [
            "rust-lang/rust",
            "  rust-lang/rust  ",
            "rust-lang/rust/",
            "rust-lang/rust.git",
            "https://github.com/rust-lang/rust",
            "https://github.com/rust-lang/rust/",
            "https://github.com/rust-lang/rust.git",
            "https://www.github.com/rust-lang/rust",
            "HTTPS://GitHub.com/rust-lang/rust",
            "http://github.com/rust-lang/rust",
            "github.com/rust-lang/rust",
        ];
        for spelling in spellings {
            assert_eq!(
                normalize(spelling).as_deref(),
                Ok("rust-lang/rust"),
                "{spelling}"
            );
        }
    }

    #[test]
    fn keeps_case_and_allowed_characters() {
        assert_eq!(
            normalize("Octo_Org/My.Repo-2").as_deref(),
            Ok("Octo_Org/My.Repo-2")
        );
        assert_eq!(normalize("a/.github").as_deref(), Ok("a/.github"));
    }

    #[test]
    fn refuses_what_is_not_a_repository() {
        let refused = [
            "",
            "foo",
            "/foo",
            "foo/",
            "a/b/c",
            "https://github.com/rust-lang",
            "https://github.com/rust-lang/rust/actions",
            "https://github.com/rust-lang/rust?tab=readme",
            "-owner/name",
            "owner/na me",
            "owner/..",
            "own$er/name",
            "owner/name.git.git/x",
        ];
        for input in refused {
            let error = normalize(input).expect_err(input);
            assert_eq!(
                error.to_string(),
                format!(
                    "{input:?} is not a GitHub repository (expected owner/name or https://github.com/owner/name)"
                )
            );
        }
    }

    #[test]
    fn refuses_other_hosts_unless_they_serve_the_api() {
        let error = normalize("https://gitlab.com/a/b").unwrap_err();
        assert_eq!(
            error.to_string(),
            r#""https://gitlab.com/a/b" is on gitlab.com, not on github.com or on api.github.com (the host of github.api_url)"#
        );

        let enterprise = Url::parse("https://ghe.example.com/api/v3/").expect("valid url");
        assert_eq!(
            normalize_repository("https://ghe.example.com/team/service.git", &enterprise)
                .as_deref(),
            Ok("team/service")
        );
        assert!(
            normalize_repository("https://other.example.com/team/service", &enterprise).is_err()
        );
        // github.com URLs stay accepted whatever the API host (e.g. a simulator)
        assert_eq!(
            normalize_repository("https://github.com/a/b", &enterprise).as_deref(),
            Ok("a/b")
        );
    }

    #[test]
    fn logins() {
        assert!(is_login("rust-lang"));
        assert!(is_login("octocat_acme"));
        assert!(is_login("0xdeadbeef"));
        assert!(!is_login(""));
        assert!(!is_login("-leading"));
        assert!(!is_login("has space"));
        assert!(!is_login("a/b"));
    }
}
