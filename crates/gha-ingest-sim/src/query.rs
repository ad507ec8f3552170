//! Query-string handling shared by the list endpoints: `per_page`/`page`, GitHub's `Link`
//! header, and the `created` date-range syntax of the runs list.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::clock::Millis;

/// A request's query parameters, in order, percent-decoded.
#[derive(Debug, Clone, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .map(|raw| {
                url::form_urlencoded::parse(raw.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        Self { pairs }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// True for `true`/`1`, as GitHub reads boolean parameters.
    pub(crate) fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some("true" | "1"))
    }

    /// `per_page` and `page`, clamped as GitHub does: unparsable or zero values mean the
    /// default, `per_page` above `max_per_page` means the maximum.
    pub(crate) fn page_request(&self, default_per_page: usize, max_per_page: usize) -> PageRequest {
        let per_page = self
            .get("per_page")
            .and_then(|value| value.trim().parse::<usize>().ok())
            .filter(|per_page| *per_page > 0)
            .unwrap_or(default_per_page)
            .min(max_per_page);
        let page = self
            .get("page")
            .and_then(|value| value.trim().parse::<usize>().ok())
            .filter(|page| *page > 0)
            .unwrap_or(1);
        PageRequest { per_page, page }
    }

    /// The query with `page` set to `page` (kept in place, or appended).
    fn with_page(&self, page: usize) -> String {
        let mut serializer = url::form_urlencoded::Serializer::new(String::new());
        let mut has_page = false;
        for (key, value) in &self.pairs {
            if key == "page" {
                if !has_page {
                    serializer.append_pair("page", &page.to_string());
                    has_page = true;
                }
            } else {
                serializer.append_pair(key, value);
            }
        }
        if !has_page {
            serializer.append_pair("page", &page.to_string());
        }
        serializer.finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageRequest {
    pub per_page: usize,
    pub page: usize,
}

impl PageRequest {
    /// The index range of this page within `visible` items.
    pub(crate) fn range(&self, visible: usize) -> std::ops::Range<usize> {
        let start = (self.page - 1).saturating_mul(self.per_page).min(visible);
        start..start.saturating_add(self.per_page).min(visible)
    }

    /// GitHub's `Link` header for this page of `visible` items, or `None` when everything fits
    /// on one page. `base_url` is the absolute URL without query.
    pub(crate) fn link_header(
        &self,
        base_url: &str,
        query: &Query,
        visible: usize,
    ) -> Option<String> {
        let last_page = visible.div_ceil(self.per_page).max(1);
        if last_page == 1 && self.page == 1 {
            return None;
        }
        let link = |page: usize, rel: &str| {
            format!("<{base_url}?{}>; rel=\"{rel}\"", query.with_page(page))
        };
        let mut links = Vec::new();
        if self.page > 1 {
            links.push(link((self.page - 1).min(last_page), "prev"));
        }
        if self.page < last_page {
            links.push(link(self.page + 1, "next"));
            links.push(link(last_page, "last"));
        }
        if self.page > 1 {
            links.push(link(1, "first"));
        }
        Some(links.join(", "))
    }
}

/// One end of a `created` range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bound {
    ms: Millis,
    inclusive: bool,
}

/// A parsed `created` filter: `>=T`, `>T`, `<=T`, `<T`, `A..B`, `A..*`, `*..B`, or `T` alone,
/// where `T` is a date (`2026-06-01`, the whole day) or a time (`2026-06-01T10:00:00Z`,
/// `…+02:00`, or without zone = UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct CreatedFilter {
    lower: Option<Bound>,
    upper: Option<Bound>,
}

/// A point or a whole day, as `[start, end)` in milliseconds.
#[derive(Debug, Clone, Copy)]
struct Span {
    start_ms: Millis,
    /// Exclusive end: a day's end is the next midnight, a time's end is one second later
    /// (times compare at whole seconds, as they are shown).
    end_ms: Millis,
}

fn parse_span(text: &str) -> Option<Span> {
    // A `+` offset arrives as a space when the client did not percent-encode it.
    let text = text.trim().replace(' ', "+");
    if let Ok(date) = NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
        let start_ms = date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis();
        return Some(Span {
            start_ms,
            end_ms: start_ms + 86_400_000,
        });
    }
    let start_ms = if let Ok(time) = DateTime::parse_from_rfc3339(&text) {
        time.with_timezone(&Utc).timestamp_millis()
    } else {
        let naive = NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S")
            .or_else(|_| NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M"))
            .ok()?;
        naive.and_utc().timestamp_millis()
    };
    Some(Span {
        start_ms,
        end_ms: start_ms + 1_000,
    })
}

impl CreatedFilter {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let at_least = |span: Span| {
            Some(Bound {
                ms: span.start_ms,
                inclusive: true,
            })
        };
        let before_end = |span: Span| {
            Some(Bound {
                ms: span.end_ms,
                inclusive: false,
            })
        };
        if let Some((from, to)) = text.split_once("..") {
            let lower = match from.trim() {
                "*" => None,
                from => at_least(parse_span(from)?),
            };
            let upper = match to.trim() {
                "*" => None,
                to => before_end(parse_span(to)?),
            };
            return Some(Self { lower, upper });
        }
        if let Some(rest) = text.strip_prefix(">=") {
            return Some(Self {
                lower: at_least(parse_span(rest)?),
                upper: None,
            });
        }
        if let Some(rest) = text.strip_prefix("<=") {
            return Some(Self {
                lower: None,
                upper: before_end(parse_span(rest)?),
            });
        }
        if let Some(rest) = text.strip_prefix('>') {
            let span = parse_span(rest)?;
            return Some(Self {
                lower: Some(Bound {
                    ms: span.end_ms,
                    inclusive: true,
                }),
                upper: None,
            });
        }
        if let Some(rest) = text.strip_prefix('<') {
            let span = parse_span(rest)?;
            return Some(Self {
                lower: None,
                upper: Some(Bound {
                    ms: span.start_ms,
                    inclusive: false,
                }),
            });
        }
        let span = parse_span(text)?;
        Some(Self {
            lower: at_least(span),
            upper: before_end(span),
        })
    }

    pub(crate) fn matches(&self, created_ms: Millis) -> bool {
        let above_lower = self.lower.is_none_or(|bound| {
            if bound.inclusive {
                created_ms >= bound.ms
            } else {
                created_ms > bound.ms
            }
        });
        let below_upper = self.upper.is_none_or(|bound| {
            if bound.inclusive {
                created_ms <= bound.ms
            } else {
                created_ms < bound.ms
            }
        });
        above_lower && below_upper
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JUNE_1: Millis = 1_780_272_000_000; // 2026-06-01T00:00:00Z
    const DAY: Millis = 86_400_000;

    fn accepts(filter: &str, ms: Millis) -> bool {
        CreatedFilter::parse(filter)
            .unwrap_or_else(|| panic!("{filter} parses"))
            .matches(ms)
    }

    #[test]
    fn created_dates_cover_whole_days() {
        assert!(accepts("2026-06-01", JUNE_1 + DAY - 1_000));
        assert!(!accepts("2026-06-01", JUNE_1 + DAY));
        assert!(accepts(">2026-05-31", JUNE_1));
        assert!(!accepts(">2026-06-01", JUNE_1 + 5_000));
        assert!(accepts("<=2026-06-01", JUNE_1 + 5_000));
        assert!(!accepts("<2026-06-01", JUNE_1));
        assert!(accepts("2026-05-31..2026-06-01", JUNE_1 + 7_000));
        assert!(!accepts("2026-05-31..2026-06-01", JUNE_1 + DAY));
    }

    #[test]
    fn created_times_compare_at_seconds_and_accept_offsets() {
        assert!(accepts(">=2026-06-01T00:00:05Z", JUNE_1 + 5_000));
        assert!(!accepts(">2026-06-01T00:00:05Z", JUNE_1 + 5_000));
        assert!(accepts("<=2026-06-01T00:00:05Z", JUNE_1 + 5_000));
        assert!(!accepts("<2026-06-01T00:00:05Z", JUNE_1 + 5_000));
        assert!(accepts(">=2026-06-01T02:00:00+02:00", JUNE_1));
        assert!(
            accepts(">=2026-06-01T02:00:00 02:00", JUNE_1),
            "unencoded plus"
        );
        assert!(accepts("2026-06-01T00:00:00Z..*", JUNE_1));
        assert!(!accepts("*..2026-05-31T23:59:59Z", JUNE_1));
        assert!(accepts("2026-06-01T00:00:00", JUNE_1));
        assert!(CreatedFilter::parse("yesterday").is_none());
    }

    #[test]
    fn link_header_has_githubs_relations() {
        let query = Query::parse(Some("status=completed&per_page=10&page=2"));
        let request = query.page_request(30, 100);
        let link = request
            .link_header("http://sim/x", &query, 35)
            .unwrap_or_default();
        assert_eq!(
            link,
            "<http://sim/x?status=completed&per_page=10&page=1>; rel=\"prev\", \
             <http://sim/x?status=completed&per_page=10&page=3>; rel=\"next\", \
             <http://sim/x?status=completed&per_page=10&page=4>; rel=\"last\", \
             <http://sim/x?status=completed&per_page=10&page=1>; rel=\"first\""
        );
        let first = Query::parse(Some("per_page=500")).page_request(30, 100);
        assert_eq!(first.per_page, 100);
        assert_eq!(
            first.link_header("http://sim/x", &Query::parse(None), 100),
            None
        );
    }
}
