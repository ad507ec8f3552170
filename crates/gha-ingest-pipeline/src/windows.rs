//! Reading every run created in a time window, whatever the window holds.
//!
//! The `created` filter caps any query at 1,000 runs, so a window whose `total_count` is over the
//! limit is split in two until each half fits. Discovery (filling a gap after downtime) splits at
//! the cap and pages through. The look-back sweep splits until a window fits one page, so that
//! each window is one conditional request whose ETag covers all of it: a day in which nothing
//! changed costs no rate-limit point.
//!
//! A new day brings a new window, a path never asked before. GitHub's ETag is a digest of the
//! answer, so every empty run list has the same one: a window without an ETag of its own is asked
//! with the ETag of the last empty list seen, and an empty new day is a free 304 too. (Where the
//! server's ETags differ, the answer is a 200 as without it: nothing is lost but the point.)

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use gha_ingest_core::github::RunList;
use gha_ingest_core::Source;
use gha_ingest_github::{Fetched, RunQuery};

/// The most runs GitHub returns for one filtered query.
const RESULT_CAP: u64 = 1_000;
/// Runs per page.
const PAGE_SIZE: u64 = 100;
/// Where the ETag of an empty run list is kept, beside the ETags of request paths.
const EMPTY_RUN_LIST_ETAG: &str = "#empty-run-list";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScanMode {
    /// Fill a gap: every run in the window, unconditionally.
    Discovery,
    /// Re-check known history cheaply: one conditional request per window.
    Sweep,
}

/// `created` filter for an inclusive window, in GitHub's search syntax.
pub(crate) fn created_range(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    format!(
        "{}..{}",
        from.to_rfc3339_opts(SecondsFormat::Secs, true),
        to.to_rfc3339_opts(SecondsFormat::Secs, true)
    )
}

/// An inclusive `[from, to]` range of creation times.
pub(crate) type Window = (DateTime<Utc>, DateTime<Utc>);

/// Splits `[from, to]` in two halves that share no second, or `None` if it cannot be split.
pub(crate) fn split(from: DateTime<Utc>, to: DateTime<Utc>) -> Option<(Window, Window)> {
    let span = (to - from).num_seconds();
    if span < 1 {
        return None;
    }
    let middle = from + Duration::seconds(span / 2);
    Some(((from, middle), (middle + Duration::seconds(1), to)))
}

/// Whether a window holding `total_count` runs must be split in `mode`.
pub(crate) fn needs_split(mode: ScanMode, total_count: u64) -> bool {
    match mode {
        ScanMode::Discovery => total_count > RESULT_CAP,
        ScanMode::Sweep => total_count > PAGE_SIZE,
    }
}

impl crate::poller::RepoPoller<'_> {
    /// Observes every run created in `[from, to]`, committing a batch per page.
    pub(crate) async fn scan_window(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        mode: ScanMode,
        source: Source,
        cycle: &mut crate::poller::Cycle,
    ) -> Result<(), crate::PollError> {
        let mut windows = vec![(from, to)];
        while let Some((from, to)) = windows.pop() {
            let query = RunQuery {
                created: Some(created_range(from, to)),
                status: None,
            };
            let first_page = query.first_page_path(self.observer.repo);
            let (etag, etag_is_borrowed) = match mode {
                ScanMode::Sweep => match self.observer.store.etag(&first_page).await? {
                    Some(etag) => (Some(etag), false),
                    None => (self.observer.store.etag(EMPTY_RUN_LIST_ETAG).await?, true),
                },
                ScanMode::Discovery => (None, false),
            };
            let (list, etag, mut next_page) = match self
                .observer
                .client
                .list_runs_page(&first_page, etag.as_deref())
                .await?
            {
                Fetched::NotModified => {
                    // An empty new window: from now on it has an ETag of its own.
                    if let (true, Some(etag)) = (etag_is_borrowed, etag) {
                        cycle.batch.changes.etags.push((first_page, etag));
                        self.commit(cycle).await?;
                    }
                    continue;
                }
                Fetched::Modified {
                    value,
                    etag,
                    next_page,
                } => (value, etag, next_page),
            };
            if needs_split(mode, list.total_count) {
                if let Some((older, newer)) = split(from, to) {
                    windows.push(newer);
                    windows.push(older);
                    continue;
                }
                tracing::warn!(repo = %self.observer.repo, window = %created_range(from, to), total_count = list.total_count, "more runs in one second than github lists; some may be missed");
            }
            self.observe_page(&first_page, &list, source, cycle).await?;
            while let Some(path) = next_page.take() {
                if let Fetched::Modified {
                    value,
                    next_page: following,
                    ..
                } = self.observer.client.list_runs_page(&path, None).await?
                {
                    self.observe_page(&path, &value, source, cycle).await?;
                    next_page = following;
                }
            }
            if let (ScanMode::Sweep, Some(etag)) = (mode, etag) {
                if list.total_count == 0 {
                    cycle
                        .batch
                        .changes
                        .etags
                        .push((EMPTY_RUN_LIST_ETAG.to_string(), etag.clone()));
                }
                cycle.batch.changes.etags.push((first_page, etag));
            }
            self.commit(cycle).await?;
        }
        Ok(())
    }

    async fn observe_page(
        &self,
        path: &str,
        list: &RunList,
        source: Source,
        cycle: &mut crate::poller::Cycle,
    ) -> Result<(), crate::PollError> {
        self.observer
            .note_malformed_runs(path, &list.malformed, &mut cycle.batch)?;
        self.observe_runs(&list.workflow_runs, source, cycle)
            .await?;
        self.commit(cycle).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn halves_cover_the_window_without_overlap() {
        let from = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let to = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 9).unwrap();
        let ((a, b), (c, d)) = split(from, to).unwrap();
        assert_eq!((a, d), (from, to));
        assert_eq!(c - b, Duration::seconds(1));
        assert!(split(from, from).is_none());
        assert_eq!(
            created_range(from, to),
            "2026-01-01T00:00:00Z..2026-01-01T00:00:09Z"
        );
    }

    #[test]
    fn sweep_windows_must_fit_a_page_and_discovery_the_cap() {
        assert!(needs_split(ScanMode::Sweep, 101));
        assert!(!needs_split(ScanMode::Discovery, 1000));
        assert!(needs_split(ScanMode::Discovery, 1001));
    }
}
