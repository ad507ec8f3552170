//! The store's guarantees, on real SQLite files: atomic change sets, one outbox row per event id
//! and destination, state that survives reopening the file.

use chrono::{TimeZone, Utc};
use gha_ingest_core::facts::{CommitFacts, JobFacts, RunFacts};
use gha_ingest_core::RepoName;
use gha_ingest_store::{ChangeSet, CursorUpdate, Destination, PendingEvent, RunUpdate, StateStore};

fn repo() -> RepoName {
    "octo/hello".parse().unwrap()
}

fn run(run_id: u64, attempt: u32, status: &str) -> RunFacts {
    let created = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
    RunFacts {
        repo: "octo/hello".into(),
        run_id,
        run_attempt: attempt,
        run_number: Some(1),
        workflow_id: None,
        workflow_name: Some("CI".into()),
        workflow_path: None,
        display_title: None,
        status: status.into(),
        conclusion: None,
        event: None,
        head_branch: None,
        head_sha: "abc".into(),
        html_url: None,
        actor: None,
        triggering_actor: None,
        pull_requests: vec![],
        created_at: created,
        updated_at: created,
        run_started_at: None,
        queue_seconds: None,
        duration_seconds: None,
        jobs: vec![],
        code_metrics: None,
        jobs_unavailable: false,
    }
}

fn event(id: &str, destination: Destination) -> PendingEvent {
    PendingEvent {
        destination,
        event_id: id.into(),
        event_type: "workflow_run_queued".into(),
        body: format!("{{\"event_id\":\"{id}\"}}"),
    }
}

#[tokio::test]
async fn an_event_is_queued_once_per_destination_even_when_derived_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(&dir.path().join("state.sqlite"))
        .await
        .unwrap();
    let changes = ChangeSet {
        runs: vec![RunUpdate {
            facts: run(1, 1, "queued"),
        }],
        events: vec![
            event("run-1-1-queued", Destination::Metrics),
            event("run-1-1-queued", Destination::LogRequests),
        ],
        ..ChangeSet::default()
    };
    assert_eq!(store.apply_changes(&repo(), &changes).await.unwrap(), 2);
    assert_eq!(store.apply_changes(&repo(), &changes).await.unwrap(), 0);
    let batch = store.outbox_batch(Destination::Metrics, 10).await.unwrap();
    assert_eq!(batch.len(), 1);
    store.mark_published(&[batch[0].seq]).await.unwrap();
    assert_eq!(store.outbox_depth(Destination::Metrics).await.unwrap(), 0);
    assert_eq!(
        store.outbox_depth(Destination::LogRequests).await.unwrap(),
        1
    );
    // Published and removed from the outbox, the id still guards against a second send.
    assert_eq!(store.apply_changes(&repo(), &changes).await.unwrap(), 0);
}

#[tokio::test]
async fn a_change_set_of_thousands_of_events_queues_each_new_one_once_in_its_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(&dir.path().join("state.sqlite"))
        .await
        .unwrap();
    let id = |n: usize| format!("job-{n}-completed");
    // Every third event was queued by an earlier change set.
    let earlier = ChangeSet {
        events: (0..1_300)
            .step_by(3)
            .map(|n| event(&id(n), Destination::Metrics))
            .collect(),
        ..ChangeSet::default()
    };
    assert_eq!(store.apply_changes(&repo(), &earlier).await.unwrap(), 434);
    // 1,300 events over several statements; event 700 comes twice (the second is not new), and
    // each job also has its copy for the log-requests queue.
    let mut events: Vec<PendingEvent> = (0..1_300)
        .map(|n| event(&id(n), Destination::Metrics))
        .collect();
    events.insert(1_000, event(&id(700), Destination::Metrics));
    events.push(event(&id(3), Destination::LogRequests));
    let changes = ChangeSet {
        events,
        ..ChangeSet::default()
    };
    let queued = store.apply_changes_queued(&repo(), &changes).await.unwrap();
    let mut expected: Vec<usize> = (0..1_300).filter(|n| n % 3 != 0).collect();
    for position in &mut expected {
        if *position >= 1_000 {
            *position += 1;
        }
    }
    expected.push(1_301);
    assert_eq!(queued, expected);
    // In the outbox in the change set's order.
    let batch = store
        .outbox_batch(Destination::Metrics, 2_000)
        .await
        .unwrap();
    let outbox_ids: Vec<String> = batch
        .iter()
        .skip(434)
        .map(|row| row.event_id.clone())
        .collect();
    let expected_ids: Vec<String> = (0..1_300).filter(|n| n % 3 != 0).map(id).collect();
    assert_eq!(outbox_ids, expected_ids);
}

#[tokio::test]
async fn a_page_of_runs_jobs_and_commits_is_written_and_read_back_whole_the_latest_state_winning() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(&dir.path().join("state.sqlite"))
        .await
        .unwrap();
    let later = Utc.with_ymd_and_hms(2026, 6, 1, 1, 0, 0).unwrap();
    let job = |job_id: u64, run_id: u64, status: &str| -> JobFacts {
        serde_json::from_value(serde_json::json!({
            "repo": "octo/hello", "run_id": run_id, "run_attempt": 1, "job_id": job_id,
            "job_name": "build", "workflow_name": "CI", "status": status, "conclusion": null,
            "head_sha": "abc", "head_branch": "main", "created_at": null, "started_at": null,
            "completed_at": null, "queue_seconds": null, "duration_seconds": null,
            "html_url": null, "runner_id": null, "runner_name": null, "runner_group_id": null,
            "runner_group_name": null, "labels": [], "steps": []
        }))
        .unwrap()
    };
    let commit = |sha: &str| -> CommitFacts {
        serde_json::from_value(serde_json::json!({
            "repo": "octo/hello", "commit_sha": sha, "commit_message": format!("message of {sha}"),
            "commit_author": {"name": null, "email": null, "login": null}, "committed_at": null,
            "files_changed_count": 1, "additions": 2, "deletions": 3,
            "pull_request_numbers": [], "pull_request_ids": []
        }))
        .unwrap()
    };
    // 1,200 runs with a job each: more rows than one statement takes.
    let mut runs: Vec<RunUpdate> = (1..=1_200)
        .map(|run_id| {
            let mut facts = run(run_id, 1, "in_progress");
            facts.jobs = vec![job(100_000 + run_id, run_id, "in_progress")];
            RunUpdate { facts }
        })
        .collect();
    // Run 7 and its job completed, then an older state of both later in the same set (a late
    // answer of another lane): the completed state stays, as it would row by row.
    let mut completed = run(7, 1, "completed");
    completed.updated_at = later;
    completed.jobs = vec![job(100_007, 7, "completed")];
    runs[6] = RunUpdate { facts: completed };
    let mut stale = run(7, 1, "in_progress");
    stale.jobs = vec![job(100_007, 7, "in_progress")];
    runs.push(RunUpdate { facts: stale });
    let changes = ChangeSet {
        runs,
        commits: (0..700).map(|n| commit(&format!("sha-{n}"))).collect(),
        ..ChangeSet::default()
    };
    store.apply_changes(&repo(), &changes).await.unwrap();

    let ids: Vec<u64> = (1..=1_300).collect();
    let stored = store.stored_runs(&ids).await.unwrap();
    assert_eq!(stored.len(), 1_200, "runs 1,201 to 1,300 were never stored");
    assert_eq!(stored[&7].status, "completed");
    assert_eq!(stored[&7].updated_at, later);
    assert!(!stored[&7].is_open);
    assert_eq!(stored[&1_200].status, "in_progress");
    assert!(stored[&1_200].is_open);
    assert_eq!(
        store.stored_run(7).await.unwrap().as_ref(),
        Some(&stored[&7])
    );
    let jobs = store.attempt_jobs(7, 1).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].status, "completed");
    assert_eq!(
        store.job_status(101_200).await.unwrap().as_deref(),
        Some("in_progress")
    );

    let shas: Vec<String> = (0..800).map(|n| format!("sha-{n}")).collect();
    let shas: Vec<&str> = shas.iter().map(String::as_str).collect();
    let commits = store.commits_facts(&repo(), &shas).await.unwrap();
    assert_eq!(commits.len(), 700, "sha-700 to sha-799 were never stored");
    assert_eq!(commits["sha-699"], commit("sha-699"));
    let other: RepoName = "octo/other".parse().unwrap();
    assert!(store.commits_facts(&other, &shas).await.unwrap().is_empty());
}

#[tokio::test]
async fn state_and_cursor_survive_reopening_and_track_open_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/state.sqlite");
    let through = Utc.with_ymd_and_hms(2026, 6, 2, 0, 0, 0).unwrap();
    {
        let store = StateStore::open(&path).await.unwrap();
        let changes = ChangeSet {
            runs: vec![
                RunUpdate {
                    facts: run(1, 1, "in_progress"),
                },
                RunUpdate {
                    facts: run(2, 1, "completed"),
                },
            ],
            etags: vec![(
                "/repos/octo/hello/actions/runs?per_page=100".into(),
                "W/\"abc\"".into(),
            )],
            cursor: Some(CursorUpdate {
                discovered_through: Some(through),
                ..CursorUpdate::default()
            }),
            ..ChangeSet::default()
        };
        store.apply_changes(&repo(), &changes).await.unwrap();
        store.close().await;
    }
    let store = StateStore::open(&path).await.unwrap();
    let open: Vec<u64> = store
        .open_runs(&repo())
        .await
        .unwrap()
        .iter()
        .map(|r| r.run_id)
        .collect();
    assert_eq!(open, vec![1]);
    assert_eq!(
        store.cursor(&repo()).await.unwrap().discovered_through,
        Some(through)
    );
    assert_eq!(
        store
            .etag("/repos/octo/hello/actions/runs?per_page=100")
            .await
            .unwrap()
            .as_deref(),
        Some("W/\"abc\"")
    );
    // A later update without a cursor leaves the cursor where it was.
    store
        .apply_changes(
            &repo(),
            &ChangeSet {
                cursor: Some(CursorUpdate::default()),
                ..ChangeSet::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.cursor(&repo()).await.unwrap().discovered_through,
        Some(through)
    );
    let stored = store.stored_run(1).await.unwrap().unwrap();
    assert_eq!(
        (stored.status.as_str(), stored.is_open),
        ("in_progress", true)
    );
}

#[tokio::test]
async fn poll_health_counts_consecutive_errors_and_resets() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(&dir.path().join("state.sqlite"))
        .await
        .unwrap();
    store
        .record_poll(&repo(), Some("boom"), None, None)
        .await
        .unwrap();
    store
        .record_poll(&repo(), Some("boom again"), None, None)
        .await
        .unwrap();
    let cursor = store.cursor(&repo()).await.unwrap();
    assert_eq!(
        (cursor.consecutive_errors, cursor.last_error.as_deref()),
        (2, Some("boom again"))
    );
    assert!(cursor.last_poll_ok_at.is_none());
    store.record_poll(&repo(), None, None, None).await.unwrap();
    let cursor = store.cursor(&repo()).await.unwrap();
    assert_eq!(cursor.consecutive_errors, 0);
    assert!(cursor.last_poll_ok_at.is_some());
}

/// A store in `dir` on a clock the test moves by hand (through the returned "now").
async fn store_on_manual_clock(
    dir: &std::path::Path,
) -> (
    StateStore,
    std::sync::Arc<std::sync::Mutex<chrono::DateTime<Utc>>>,
) {
    let now = std::sync::Arc::new(std::sync::Mutex::new(Utc::now()));
    let reader = now.clone();
    let clock = gha_ingest_core::Clock::from_fn(move || *reader.lock().unwrap());
    let store = StateStore::open(&dir.join("state.sqlite"))
        .await
        .unwrap()
        .with_clock(clock);
    (store, now)
}

#[tokio::test]
async fn pruned_idempotency_keys_no_longer_guard_and_recent_ones_still_do() {
    let dir = tempfile::tempdir().unwrap();
    let (store, now) = store_on_manual_clock(dir.path()).await;
    let changes = ChangeSet {
        events: vec![event("run-9-1-queued", Destination::Metrics)],
        ..ChangeSet::default()
    };
    assert_eq!(store.apply_changes(&repo(), &changes).await.unwrap(), 1);
    assert_eq!(
        store.prune_emitted_events(1).await.unwrap(),
        0,
        "a fresh key is kept"
    );
    assert_eq!(store.apply_changes(&repo(), &changes).await.unwrap(), 0);
    *now.lock().unwrap() += chrono::Duration::days(2);
    assert_eq!(store.prune_emitted_events(1).await.unwrap(), 1);
    assert_eq!(
        store.apply_changes(&repo(), &changes).await.unwrap(),
        1,
        "a pruned key no longer guards"
    );
}

#[tokio::test]
async fn state_past_the_horizon_and_etags_no_longer_asked_for_are_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let (store, now) = store_on_manual_clock(dir.path()).await;
    let old = run(1, 1, "completed");
    let mut open = run(2, 1, "in_progress");
    open.updated_at = old.updated_at;
    let changes = ChangeSet {
        runs: vec![RunUpdate { facts: old }, RunUpdate { facts: open }],
        etags: vec![
            ("/still-polled".to_string(), "\"a\"".to_string()),
            ("/no-longer-polled".to_string(), "\"b\"".to_string()),
        ],
        ..ChangeSet::default()
    };
    store.apply_changes(&repo(), &changes).await.unwrap();
    for _ in 0..5 {
        *now.lock().unwrap() += chrono::Duration::days(1);
        assert!(store.etag("/still-polled").await.unwrap().is_some());
    }
    let horizon = *now.lock().unwrap() - chrono::Duration::days(1);
    let report = store.prune_state(horizon, 3).await.unwrap();
    assert_eq!((report.runs, report.etags), (1, 1), "{report:?}");
    assert!(
        store.stored_run(1).await.unwrap().is_none(),
        "completed and old"
    );
    assert!(
        store.stored_run(2).await.unwrap().is_some(),
        "still open: followed"
    );
    assert!(store.etag("/still-polled").await.unwrap().is_some());
    assert!(store.etag("/no-longer-polled").await.unwrap().is_none());
    assert_eq!(store.etag_count().await.unwrap(), 1);
}

#[tokio::test]
async fn the_viewer_history_is_bounded_but_the_pollers_state_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(&dir.path().join("state.sqlite"))
        .await
        .unwrap();
    let mut runs = Vec::new();
    for run_id in 1..=5 {
        let mut facts = run(run_id, 1, "completed");
        facts.created_at += chrono::Duration::minutes(run_id as i64);
        runs.push(RunUpdate { facts });
    }
    runs.push(RunUpdate {
        facts: run(6, 1, "in_progress"),
    });
    store
        .apply_changes(
            &repo(),
            &ChangeSet {
                runs,
                ..ChangeSet::default()
            },
        )
        .await
        .unwrap();

    // Keep the 3 newest; everything is younger than 100000 days.
    assert_eq!(store.prune_viewer_history(3, 100_000).await.unwrap(), 2);
    let shown: Vec<u64> = store
        .recent_runs(10)
        .await
        .unwrap()
        .iter()
        .map(|facts| facts.run_id)
        .collect();
    assert_eq!(
        shown,
        vec![5, 4, 3, 6],
        "the newest runs and every open run stay"
    );
    assert!(
        store.stored_run(1).await.unwrap().is_some(),
        "the poller's state of a pruned run stays"
    );
    assert_eq!(store.run_facts(1).await.unwrap(), None);
    // Age: the fixtures were created in 2026-06, so a 1-day bound drops all completed ones.
    store.prune_viewer_history(100, 1).await.unwrap();
    let shown: Vec<u64> = store
        .recent_runs(10)
        .await
        .unwrap()
        .iter()
        .map(|facts| facts.run_id)
        .collect();
    assert_eq!(shown, vec![6]);
}

#[tokio::test]
async fn a_job_state_read_earlier_never_replaces_a_later_one_and_a_delivery_is_taken_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(&dir.path().join("state.sqlite"))
        .await
        .unwrap();
    let job = |status: &str| {
        let mut facts: gha_ingest_core::facts::JobFacts =
            serde_json::from_value(serde_json::json!({
                "repo": "octo/hello", "run_id": 1, "run_attempt": 1, "job_id": 10,
                "job_name": "build", "workflow_name": "CI", "status": status, "conclusion": null,
                "head_sha": "abc", "head_branch": "main", "created_at": null, "started_at": null,
                "completed_at": null, "queue_seconds": null, "duration_seconds": null,
                "html_url": null, "runner_id": null, "runner_name": null, "runner_group_id": null,
                "runner_group_name": null, "labels": [], "steps": []
            }))
            .unwrap();
        facts.status = status.to_string();
        facts
    };
    // A job on its own is kept only under a stored run.
    let alone = ChangeSet {
        jobs: vec![job("queued")],
        ..ChangeSet::default()
    };
    store.apply_changes(&repo(), &alone).await.unwrap();
    assert_eq!(store.job_status(10).await.unwrap(), None);

    let mut in_progress = run(1, 1, "in_progress");
    in_progress.jobs = vec![job("completed")];
    let changes = ChangeSet {
        runs: vec![RunUpdate { facts: in_progress }],
        ..ChangeSet::default()
    };
    store.apply_changes(&repo(), &changes).await.unwrap();
    let late = ChangeSet {
        jobs: vec![job("in_progress")],
        ..ChangeSet::default()
    };
    assert_eq!(
        store
            .apply_delivery("d-1", "workflow_job", &repo(), &late)
            .await
            .unwrap(),
        Some(vec![])
    );
    assert_eq!(
        store.job_status(10).await.unwrap().as_deref(),
        Some("completed")
    );
    assert_eq!(
        store
            .apply_delivery("d-1", "workflow_job", &repo(), &late)
            .await
            .unwrap(),
        None,
        "the same delivery twice"
    );
    assert!(!store.record_delivery("d-1", "workflow_job").await.unwrap());
    assert!(store.record_delivery("d-2", "ping").await.unwrap());
}
