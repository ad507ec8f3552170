//! `Link` header pagination, kept on the configured API host.
//!
//! GitHub says to follow the `rel="next"` URL rather than build page numbers. Those URLs are
//! absolute; octocrab attaches the token only to relative URIs (or api.github.com), so a next link
//! on the configured base (a GHES host, the simulator) is turned back into a path relative to it.
//! A link to any other host is refused rather than followed with or without the token.

use url::Url;

use crate::error::GithubError;

/// The `rel="next"` target of a `Link` header, if any.
pub(crate) fn next_link(link_header: &str) -> Option<&str> {
    link_header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|param| param.trim().replace(' ', "") == "rel=\"next\"");
        is_next.then(|| target.trim().trim_start_matches('<').trim_end_matches('>'))
    })
}

/// `https://host/api/v3/repos/a/b?page=2` with base `https://host/api/v3` → `/repos/a/b?page=2`.
pub(crate) fn relative_to_base(base: &Url, link: &str) -> Result<String, GithubError> {
    let foreign = || GithubError::ForeignLink {
        url: link.to_string(),
    };
    let target = Url::parse(link).map_err(|_| foreign())?;
    if target.scheme() != base.scheme()
        || target.host_str() != base.host_str()
        || target.port_or_known_default() != base.port_or_known_default()
    {
        return Err(foreign());
    }
    let base_path = base.path().trim_end_matches('/');
    let path = target.path().strip_prefix(base_path).ok_or_else(foreign)?;
    Ok(match target.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_next_among_other_relations() {
        let header = r#"<https://api.github.com/repos/a/b/actions/runs?page=2>; rel="next", <https://api.github.com/repos/a/b/actions/runs?page=5>; rel="last""#;
        assert_eq!(
            next_link(header),
            Some("https://api.github.com/repos/a/b/actions/runs?page=2")
        );
        assert_eq!(next_link(r#"<https://x/y?page=1>; rel="prev""#), None);
    }

    #[test]
    fn keeps_links_on_the_base_and_refuses_others() {
        let base = Url::parse("https://ghe.example.com/api/v3").unwrap();
        assert_eq!(
            relative_to_base(
                &base,
                "https://ghe.example.com/api/v3/repos/a/b/actions/runs?page=2"
            )
            .unwrap(),
            "/repos/a/b/actions/runs?page=2"
        );
        assert!(relative_to_base(&base, "https://evil.example.com/api/v3/repos/a/b").is_err());
        let sim = Url::parse("http://127.0.0.1:4000").unwrap();
        assert_eq!(
            relative_to_base(&sim, "http://127.0.0.1:4000/x?page=3").unwrap(),
            "/x?page=3"
        );
        assert!(relative_to_base(&sim, "http://127.0.0.1:4001/x").is_err());
    }
}
