//! Wiring: configuration in, running agents out. The only place that knows every crate.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gha_ingest_config::{QueueBackend, Settings};
use gha_ingest_core::{Clock, RepoName};
use gha_ingest_github::{BudgetOptions, ClientOptions, GithubAccess, GithubApp, GithubClient};
use gha_ingest_logs::{LogAgent, LogAgentOptions, LogAgentStatus, LogQueues};
use gha_ingest_pipeline::{
    AgentStatus, FailurePolicy, OutboxPublisher, PipelineAgent, PipelineOptions, QueueSet,
    Redelivery, WebhookReceiver,
};
use gha_ingest_queue::{
    EmbeddedQueue, EmbeddedQueueOptions, MessageLimits, MessageQueue, SqsQueue, SqsQueueSettings,
};
use gha_ingest_store::StateStore;
use gha_ingest_web::{WebState, WebhookEndpoint};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Which agents this process runs (each also needs `enabled` in its configuration section).
#[derive(Debug, Clone, Copy)]
pub struct Agents {
    pub pipeline: bool,
    pub logs: bool,
}

/// What the dashboard gets to see of the running agents.
#[derive(Default)]
struct WebParts {
    pipeline_status: Option<Arc<AgentStatus>>,
    log_status: Option<Arc<LogAgentStatus>>,
    trigger: Option<Arc<Notify>>,
    queues: Vec<(String, Arc<dyn MessageQueue>)>,
    webhooks: Option<WebhookEndpoint>,
}

/// Runs the selected agents until `shutdown` is cancelled.
pub async fn run(
    settings: Settings,
    agents: Agents,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    tracing::info!(version = env!("CARGO_PKG_VERSION"), api_url = %settings.github.api_url,
        queue_backend = %settings.queue.backend, "gha-ingest starting");
    let access = github_access(&settings)?;
    let run_pipeline = agents.pipeline && settings.pipeline.enabled;
    let run_logs = agents.logs && settings.logs.enabled;
    let mut tasks = tokio::task::JoinSet::new();
    let store = StateStore::open(&settings.store.path)
        .await
        .context("opening the state database")?;
    let mut web = WebParts::default();

    if run_pipeline {
        sync_configured_repositories(&store, &settings).await?;
        let queues = QueueSet {
            metrics: open_queue(&settings, &settings.queue.metrics_queue).await?,
            log_requests: match settings.logs.enabled {
                true => Some(open_queue(&settings, &settings.queue.log_requests_queue).await?),
                false => None,
            },
        };
        web.queues
            .push(("metrics".to_string(), queues.metrics.clone()));
        if let Some(log_requests) = &queues.log_requests {
            web.queues
                .push(("log_requests".to_string(), log_requests.clone()));
        }
        let status = Arc::new(AgentStatus::default());
        let published = Arc::new(Notify::new());
        let publisher =
            OutboxPublisher::new(store.clone(), queues, published.clone(), status.clone())
                .with_drain_deadline(work_grace(&settings));
        tasks.spawn(publisher.run(shutdown.clone()));
        let options = pipeline_options(&settings);
        web.webhooks = webhook_endpoint(&settings, &store, &options, &status, &published);
        if let Some(redelivery) = webhook_redelivery(&settings, &access, &store, &status) {
            tasks.spawn(redelivery.run(shutdown.clone()));
        }
        let agent = PipelineAgent::new(
            access.clone(),
            store.clone(),
            options,
            status.clone(),
            published,
        )
        .with_organizations(settings.pipeline.organizations.clone());
        web.pipeline_status = Some(status);
        web.trigger = Some(agent.trigger());
        tasks.spawn(agent.run(shutdown.clone()));
    }
    if settings.webhooks.enabled && !run_pipeline {
        tracing::warn!("webhooks are enabled but the pipeline agent does not run in this process; deliveries are not received here");
    }
    if run_logs {
        let queues = LogQueues {
            requests: open_queue(&settings, &settings.queue.log_requests_queue).await?,
            logs: open_queue(&settings, &settings.queue.logs_queue).await?,
        };
        if !run_pipeline {
            web.queues
                .push(("log_requests".to_string(), queues.requests.clone()));
        }
        web.queues.push(("logs".to_string(), queues.logs.clone()));
        let status = Arc::new(LogAgentStatus::default());
        web.log_status = Some(status.clone());
        let agent = LogAgent::new(access.clone(), queues, log_agent_options(&settings), status);
        tasks.spawn(agent.run(shutdown.clone()));
    }
    if settings.http.enabled {
        let listener = tokio::net::TcpListener::bind(settings.http.listen)
            .await
            .with_context(|| format!("binding the dashboard to {}", settings.http.listen))?;
        tracing::info!(address = %settings.http.listen, "dashboard, API and /metrics listening");
        let state = WebState {
            store: store.clone(),
            pipeline_status: web.pipeline_status,
            log_status: web.log_status,
            trigger: web.trigger,
            queues: web.queues,
            github: access,
            probe_github: readiness_probe_client(&settings)?,
            access: web_access(&settings),
            log_viewer: log_viewer_options(&settings),
            readiness_ttl: Duration::from_secs(5),
            metrics_repo_label: settings.telemetry.metrics_repo_label,
            poll_interval_secs: settings.pipeline.poll_interval_secs,
            quiet_poll_max_secs: settings.pipeline.quiet_poll_max_secs,
            webhooks: web.webhooks,
        };
        let web_shutdown = shutdown.clone();
        tasks.spawn(async move {
            if let Err(error) = gha_ingest_web::serve(listener, state, web_shutdown).await {
                tracing::error!(cause = %error, "the dashboard server stopped");
            }
        });
    }
    if !run_pipeline && !run_logs {
        tracing::warn!("no agent enabled in this process; waiting for shutdown");
        shutdown.cancelled().await;
    }
    let grace = Duration::from_secs(settings.daemon.shutdown_grace_secs);
    let past_deadline = {
        let all_stopped = async {
            while let Some(finished) = tasks.join_next().await {
                finished.context("an agent task panicked")?;
            }
            anyhow::Ok(())
        };
        let deadline = async {
            shutdown.cancelled().await;
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            stopped = all_stopped => { stopped?; false }
            () = deadline => true,
        }
    };
    if past_deadline {
        // Nothing is lost by stopping here: events not yet published stay in the outbox, and
        // log requests not yet finished return to their queue when their visibility ends.
        tracing::warn!(
            grace_secs = grace.as_secs(),
            "shutdown grace period over; stopping what is still running"
        );
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
    store.close().await;
    tracing::info!("gha-ingest stopped");
    Ok(())
}

pub fn github_client(settings: &Settings) -> anyhow::Result<GithubClient> {
    GithubClient::new(client_options(settings)).context("building the github client")
}

/// The credentials: the token, or the GitHub App whose installations are discovered at start.
pub fn github_access(settings: &Settings) -> anyhow::Result<GithubAccess> {
    let client = github_client(settings)?;
    let app = &settings.github.app;
    let (Some(app_id), Some(key)) = (app.id, &app.private_key) else {
        return Ok(GithubAccess::token(client));
    };
    let github_app = GithubApp::new(app_id, &key.to_secret_string())
        .context("reading the GitHub App's private key")?;
    tracing::info!(
        app_id,
        installations = ?app.installations,
        "authenticating as a GitHub App; its installations' repositories are followed"
    );
    Ok(GithubAccess::app(
        github_app,
        client,
        app.installations.clone(),
    ))
}

/// A GitHub client for `/readyz` alone: one request slot and no retries of its own, so a probe
/// never takes or waits for one of the pipeline's slots and fails fast.
fn readiness_probe_client(settings: &Settings) -> anyhow::Result<GithubClient> {
    let options = client_options(settings);
    GithubClient::new(ClientOptions {
        request_timeout: options.request_timeout.min(Duration::from_secs(3)),
        budget: BudgetOptions {
            max_concurrent: 1,
            ..options.budget
        },
        max_retries: 0,
        ..options
    })
    .context("building the github client of the readiness probe")
}

/// The GitHub client as configured.
fn client_options(settings: &Settings) -> ClientOptions {
    let github = &settings.github;
    ClientOptions {
        api_url: github.api_url.clone(),
        token: github
            .token
            .as_ref()
            .map(|secret| secret.expose_secret().to_string()),
        user_agent: github.user_agent.clone(),
        request_timeout: Duration::from_secs(github.request_timeout_secs),
        budget: BudgetOptions {
            points_per_minute: github.points_per_minute,
            max_concurrent: github.max_concurrent_requests,
            reserve_percent: github.primary_reserve_percent,
            burst_percent: github.catchup_burst_percent,
        },
        max_retries: github.max_retries,
        retry_base_delay: Duration::from_millis(github.retry_base_delay_millis),
        retry_max_delay: Duration::from_secs(github.retry_max_delay_secs),
        secondary_limit_wait: Duration::from_secs(github.secondary_limit_wait_secs),
    }
}

/// The HTTP server's tokens (kept as `SecretString`) and host names.
fn web_access(settings: &Settings) -> gha_ingest_web::AccessPolicy {
    let http = &settings.http;
    gha_ingest_web::AccessPolicy {
        admin_token: http
            .admin_token
            .as_ref()
            .map(|token| token.to_secret_string()),
        read_token: http
            .read_token
            .as_ref()
            .map(|token| token.to_secret_string()),
        metrics_require_token: http.metrics_require_token,
        allowed_hosts: http.allowed_hosts.clone(),
    }
}

/// The data volume: the folder of the state database, where the spools live too.
fn data_dir(settings: &Settings) -> PathBuf {
    settings
        .store
        .path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The log viewer's limits; its spool sits beside the state database, in the data volume.
fn log_viewer_options(settings: &Settings) -> gha_ingest_web::LogViewerOptions {
    let http = &settings.http;
    let data_dir = data_dir(settings);
    gha_ingest_web::LogViewerOptions {
        max_concurrent_downloads: http.log_downloads_max_concurrent,
        max_log_bytes: http.log_max_bytes,
        spool_max_bytes: http.log_spool_max_bytes,
        ..gha_ingest_web::LogViewerOptions::new(data_dir.join("viewer-spool"))
    }
}

pub fn pipeline_options(settings: &Settings) -> PipelineOptions {
    let pipeline = &settings.pipeline;
    PipelineOptions {
        poll_interval: Duration::from_secs(pipeline.poll_interval_secs),
        reconcile_interval: Duration::from_secs(pipeline.reconcile_interval_secs),
        reconcile_lookback_days: pipeline.reconcile_lookback_days,
        backfill_days: pipeline.backfill_days,
        max_message_bytes: settings.queue.max_message_bytes,
        emit_log_requests: settings.logs.enabled,
        shard_index: pipeline.shard_index,
        shard_count: pipeline.shard_count,
        concurrent_repositories: settings.github.max_concurrent_requests,
        org_refresh_interval: Duration::from_secs(pipeline.org_refresh_interval_secs),
        viewer_runs_retained: settings.store.recent_runs_retained,
        viewer_max_age_days: settings.store.recent_runs_max_age_days,
        failure_policy: FailurePolicy {
            max_attempts: pipeline.entity_max_attempts,
            retry_base: Duration::from_secs(pipeline.entity_retry_base_secs),
            ..FailurePolicy::default()
        },
        repo_backoff_max: Duration::from_secs(pipeline.repo_backoff_max_secs),
        max_outbox_events: pipeline.max_outbox_events,
        quiet_poll_max: Duration::from_secs(pipeline.quiet_poll_max_secs),
        webhook_poll_slowdown: settings.webhooks.poll_slowdown,
        catchup_concurrency: pipeline.catchup_concurrency,
    }
}

pub fn log_agent_options(settings: &Settings) -> LogAgentOptions {
    let logs = &settings.logs;
    let data_dir = data_dir(settings);
    LogAgentOptions {
        concurrency: logs.concurrency,
        visibility_timeout: Duration::from_secs(logs.request_visibility_timeout_secs),
        max_attempts: logs.max_attempts,
        max_log_bytes: logs.max_log_bytes,
        max_message_bytes: settings.queue.max_message_bytes,
        spool_dir: data_dir.join("log-spool"),
        retry_delay: Duration::from_secs(logs.retry_delay_secs),
        receive_wait: Duration::from_secs(20),
        shutdown_grace: work_grace(settings),
    }
}

/// What in-flight work may take of the shutdown grace: the rest is for closing the databases
/// and answering the last HTTP requests, so the process exits before the orchestrator kills it.
fn work_grace(settings: &Settings) -> Duration {
    const CLOSING_MARGIN: Duration = Duration::from_secs(2);
    let grace = Duration::from_secs(settings.daemon.shutdown_grace_secs);
    grace.saturating_sub(CLOSING_MARGIN).max(grace / 2)
}

/// The repositories named in the configuration, recorded in the store; ones removed from the
/// configuration since the last start are forgotten (repositories added at runtime stay).
async fn sync_configured_repositories(
    store: &StateStore,
    settings: &Settings,
) -> anyhow::Result<()> {
    let configured: Vec<RepoName> = settings
        .pipeline
        .repositories
        .iter()
        .map(|name| {
            name.parse()
                .with_context(|| format!("pipeline.repositories: {name}"))
        })
        .collect::<anyhow::Result<_>>()?;
    for entry in store.repositories().await? {
        if entry.origin == "config" && !configured.contains(&entry.repo) {
            store.remove_repository(&entry.repo).await?;
            tracing::info!(repo = %entry.repo, "repository no longer configured; stopped following it");
        }
    }
    for repo in &configured {
        store.add_repository(repo, "config").await?;
    }
    Ok(())
}

/// Opens one queue of the configured backend, by name (or SQS URL).
async fn open_queue(settings: &Settings, name: &str) -> anyhow::Result<Arc<dyn MessageQueue>> {
    let limits = MessageLimits {
        max_message_bytes: settings.queue.max_message_bytes,
    };
    match settings.queue.backend {
        QueueBackend::Embedded => {
            let embedded_settings = &settings.queue.embedded;
            let options = EmbeddedQueueOptions {
                max_receive_count: Some(embedded_settings.max_receive_count),
                limits,
                retention: Duration::from_secs(
                    u64::from(embedded_settings.retention_days) * 86_400,
                ),
                max_bytes: embedded_settings.max_bytes,
            };
            embedded(&settings.queue.embedded.path, name, options).await
        }
        QueueBackend::Sqs => sqs(settings, name, limits).await,
    }
}

async fn sqs(
    settings: &Settings,
    name: &str,
    limits: MessageLimits,
) -> anyhow::Result<Arc<dyn MessageQueue>> {
    let sqs_settings = SqsQueueSettings {
        queue: name.to_string(),
        region: settings.queue.sqs.region.clone(),
        endpoint_url: settings
            .queue
            .sqs
            .endpoint_url
            .as_ref()
            .map(|url| url.to_string()),
    };
    let queue = SqsQueue::connect(sqs_settings, limits)
        .await
        .with_context(|| format!("connecting to SQS queue {name}"))?;
    Ok(Arc::new(queue))
}

async fn embedded(
    path: &Path,
    name: &str,
    options: EmbeddedQueueOptions,
) -> anyhow::Result<Arc<dyn MessageQueue>> {
    let queue = EmbeddedQueue::open(path, name, options)
        .await
        .with_context(|| format!("opening embedded queue {name} in {}", path.display()))?;
    Ok(Arc::new(queue))
}

/// The webhook receiver, when webhooks are on: it writes to the pipeline's store and outbox and
/// counts into its metrics.
fn webhook_endpoint(
    settings: &Settings,
    store: &StateStore,
    options: &PipelineOptions,
    status: &AgentStatus,
    published: &Arc<Notify>,
) -> Option<WebhookEndpoint> {
    let webhooks = &settings.webhooks;
    if !webhooks.enabled {
        return None;
    }
    let secrets = [&webhooks.secret, &webhooks.previous_secret]
        .into_iter()
        .flatten()
        .map(|secret| secret.to_secret_string())
        .collect();
    tracing::info!(path = %webhooks.path, "receiving webhooks");
    Some(WebhookEndpoint {
        path: webhooks.path.clone(),
        secrets,
        max_body_bytes: usize::try_from(webhooks.max_body_bytes).unwrap_or(usize::MAX),
        receiver: WebhookReceiver::new(
            store.clone(),
            options,
            status.metrics().clone(),
            published.clone(),
            Clock::wall(),
        ),
    })
}

/// The loop asking GitHub to redeliver failed deliveries: with webhooks on, an App (its JWT
/// reads the App's delivery list) and a non-zero interval.
fn webhook_redelivery(
    settings: &Settings,
    access: &GithubAccess,
    store: &StateStore,
    status: &AgentStatus,
) -> Option<Redelivery> {
    let webhooks = &settings.webhooks;
    if !webhooks.enabled || webhooks.redeliver_interval_secs == 0 {
        return None;
    }
    let Some(hooks) = access.app_hooks() else {
        tracing::info!("webhook deliveries that fail are not asked for again without a GitHub App (an organisation webhook's need an owner's admin:org_hook); polling reads their facts");
        return None;
    };
    Some(Redelivery::new(
        hooks,
        store.clone(),
        status.metrics().clone(),
        Duration::from_secs(webhooks.redeliver_interval_secs),
        Duration::from_secs(webhooks.redeliver_after_secs),
    ))
}
