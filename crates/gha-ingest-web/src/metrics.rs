//! `/metrics`: the process's registry, in the Prometheus text format (0.0.4), or OpenMetrics when
//! the scraper asks for it (`Accept: application/openmetrics-text`).
//!
//! Nothing is defined here: each crate declares its own families in its `metrics.rs` (pipeline,
//! logs, github, store, queue) and this module only registers them under `gha_ingest_<crate>_`
//! and, at each scrape, asks the ones read from the database and the queues to refresh. Names
//! and labels are listed in `docs/metrics.md`.
//!
//! Open by default (the Prometheus convention) because nothing here is private text: no commit
//! message, branch, workflow or job name, no error text. Repository names appear as a label only
//! with `telemetry.metrics_repo_label`; `http.metrics_require_token` puts the endpoint behind the
//! read token.

use std::time::Duration;

use axum::extract::State;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use gha_ingest_pipeline::PipelineMetrics;
use gha_ingest_queue::QueueMetrics;
use gha_ingest_store::StoreMetrics;
use prometheus_client::encoding::{prometheus_text, text};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::auth::Reader;
use crate::error::ApiError;
use crate::{SharedState, WebState};

const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The registry of this process and the families refreshed at each scrape.
#[derive(Debug)]
pub(crate) struct ProcessMetrics {
    registry: Registry,
    pipeline: Option<PipelineMetrics>,
    store: StoreMetrics,
    queues: QueueMetrics,
}

impl ProcessMetrics {
    /// Registers the families of every component `web` was given.
    pub(crate) fn new(web: &WebState) -> Self {
        let mut registry = Registry::with_prefix("gha_ingest");
        registry.register(
            "build",
            "The running gha-ingest version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        let pipeline = web.pipeline_status.as_ref().map(|status| {
            status
                .metrics()
                .register(registry.sub_registry_with_prefix("pipeline"));
            status.metrics().clone()
        });
        if let Some(status) = &web.log_status {
            status
                .metrics()
                .register(registry.sub_registry_with_prefix("logs"));
        }
        web.github
            .metrics()
            .register(registry.sub_registry_with_prefix("github"));
        let store = StoreMetrics::default();
        store.register(registry.sub_registry_with_prefix("store"));
        let queues = QueueMetrics::default();
        queues.register(registry.sub_registry_with_prefix("queue"));
        ProcessMetrics {
            registry,
            pipeline,
            store,
            queues,
        }
    }

    /// Brings the families read from the database and the queues up to date.
    async fn refresh(&self, web: &WebState) -> Result<(), ApiError> {
        if let Some(pipeline) = &self.pipeline {
            pipeline
                .refresh(
                    &web.store,
                    Duration::from_secs(web.poll_interval_secs),
                    Duration::from_secs(web.quiet_poll_max_secs),
                    web.metrics_repo_label,
                )
                .await?;
        }
        web.github.refresh_metrics();
        self.store.refresh(&web.store).await?;
        self.queues.refresh(&web.queues).await;
        Ok(())
    }
}

/// Whether the caller may read the metrics: anyone, unless `metrics_require_token`.
pub(crate) struct MetricsReader;

impl axum::extract::FromRequestParts<SharedState> for MetricsReader {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        if state.access.metrics_require_token {
            Reader::from_request_parts(parts, state).await?;
        }
        Ok(MetricsReader)
    }
}

pub(crate) async fn metrics(
    State(state): State<SharedState>,
    _reader: MetricsReader,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.metrics.refresh(&state).await?;
    let openmetrics = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|accept| accept.contains("application/openmetrics-text"));
    let mut body = String::new();
    let content_type = if openmetrics {
        text::encode(&mut body, &state.metrics.registry)
            .map_err(|_| ApiError::Internal("encoding the metrics failed".into()))?;
        OPENMETRICS_CONTENT_TYPE
    } else {
        prometheus_text::encode(&mut body, &state.metrics.registry)
            .map_err(|_| ApiError::Internal("encoding the metrics failed".into()))?;
        prometheus_text::CONTENT_TYPE
    };
    let headers = [(CONTENT_TYPE, HeaderValue::from_static(content_type))];
    Ok((headers, body).into_response())
}
