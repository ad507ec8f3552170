//! `GithubClient`: one conditional GET with the retry policy applied, on octocrab's transport.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, ACCEPT, ETAG, IF_NONE_MATCH, LINK, USER_AGENT};
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use url::Url;

use crate::error::GithubError;
use crate::metrics::{GithubMetrics, LimitKind};
use crate::pagination::{next_link, relative_to_base};
use crate::ratelimit::{RateBudget, RateLimitSnapshot};
use crate::retry::{RetryPolicy, Verdict};

/// The REST API version this client is written against.
const API_VERSION: &str = "2022-11-28";

/// How to reach GitHub and how patient to be with it.
#[derive(Clone)]
pub struct ClientOptions {
    /// `https://api.github.com`, `https://HOST/api/v3` for GitHub Enterprise Server, or a simulator.
    pub api_url: Url,
    /// `None` only when anonymous access was explicitly allowed.
    pub token: Option<String>,
    pub user_agent: String,
    pub request_timeout: Duration,
    pub max_concurrent_requests: usize,
    pub max_retries: u32,
    pub retry_base_delay: Duration,
    pub retry_max_delay: Duration,
    pub secondary_limit_wait: Duration,
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("api_url", &self.api_url.as_str())
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("user_agent", &self.user_agent)
            .field("request_timeout", &self.request_timeout)
            .field("max_concurrent_requests", &self.max_concurrent_requests)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

/// The answer to a conditional GET.
#[derive(Debug)]
pub enum Fetched<T> {
    /// 304: the resource is as it was when `etag` was taken. Costs no rate-limit point.
    NotModified,
    Modified {
        value: T,
        etag: Option<String>,
        /// The next page, as a path relative to the API base.
        next_page: Option<String>,
    },
}

/// An answer that arrived but cannot be used (truncated or invalid JSON, a redirect without a
/// target): worth another try.
struct Garbled(String);

/// A GitHub REST client shared by all pollers of the process.
#[derive(Clone)]
pub struct GithubClient {
    octocrab: Octocrab,
    api_url: Url,
    pub(crate) policy: RetryPolicy,
    request_timeout: Duration,
    pub(crate) log_http: reqwest::Client,
    budget: Arc<RateBudget>,
    permits: Arc<Semaphore>,
    metrics: GithubMetrics,
}

impl std::fmt::Debug for GithubClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubClient")
            .field("api_url", &self.api_url.as_str())
            .finish()
    }
}

impl GithubClient {
    pub fn new(options: ClientOptions) -> Result<Self, GithubError> {
        let invalid = |detail: String| GithubError::InvalidRequest {
            path: options.api_url.to_string(),
            detail,
        };
        let mut builder = Octocrab::builder()
            .base_uri(options.api_url.as_str().trim_end_matches('/'))
            .map_err(|err| invalid(format!("bad api url: {err}")))?
            .add_header(ACCEPT, "application/vnd.github+json".to_string())
            .add_header(
                HeaderName::from_static("x-github-api-version"),
                API_VERSION.to_string(),
            )
            .add_header(USER_AGENT, options.user_agent.clone())
            .set_connect_timeout(Some(options.request_timeout))
            .set_read_timeout(Some(options.request_timeout));
        if let Some(token) = &options.token {
            builder = builder.personal_token(token.clone());
        }
        let octocrab = builder
            .build()
            .map_err(|err| invalid(format!("cannot build client: {err}")))?;
        Ok(GithubClient {
            octocrab,
            api_url: options.api_url.clone(),
            policy: RetryPolicy {
                max_retries: options.max_retries,
                base_delay: options.retry_base_delay,
                max_delay: options.retry_max_delay,
                secondary_limit_wait: options.secondary_limit_wait,
            },
            request_timeout: options.request_timeout,
            log_http: crate::job_log::log_host_client(options.request_timeout)
                .map_err(|err| invalid(format!("cannot build the log download client: {err}")))?,
            budget: Arc::new(RateBudget::default()),
            permits: Arc::new(Semaphore::new(options.max_concurrent_requests.max(1))),
            metrics: GithubMetrics::default(),
        })
    }

    pub fn api_url(&self) -> &Url {
        &self.api_url
    }

    pub fn rate_limit(&self) -> RateLimitSnapshot {
        self.budget.snapshot()
    }

    /// This client's metric families, to register in the process's registry.
    pub fn metrics(&self) -> &GithubMetrics {
        &self.metrics
    }

    /// Brings the budget gauges up to what GitHub last reported; called when `/metrics` is
    /// scraped rather than on every response.
    pub fn refresh_metrics(&self) {
        self.metrics.budget(&self.budget.snapshot());
    }

    /// GETs `path` (relative to the API base, with its query) as JSON, conditionally on `etag`.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        etag: Option<&str>,
    ) -> Result<Fetched<T>, GithubError> {
        self.request(path, etag, |status, headers, body| {
            if status == StatusCode::NOT_MODIFIED {
                return Some(Ok(Fetched::NotModified));
            }
            if !status.is_success() {
                return None;
            }
            Some(match serde_json::from_slice::<T>(body) {
                // A next link to another host is refused; it surfaces as a malformed answer.
                Ok(value) => self
                    .next_page(headers)
                    .map(|next_page| Fetched::Modified {
                        value,
                        etag: header_text(headers, ETAG),
                        next_page,
                    })
                    .map_err(|error| Garbled(error.to_string())),
                Err(err) => Err(Garbled(format!("{err} ({} bytes)", body.len()))),
            })
        })
        .await
    }

    /// GETs `path`, which answers with a redirect, and returns where it points. Used for job
    /// logs: the target is a short-lived URL on another host, to be fetched without the token.
    pub async fn get_redirect_location(&self, path: &str) -> Result<String, GithubError> {
        self.request(path, None, |status, headers, _| {
            if !status.is_redirection() {
                return None;
            }
            Some(
                header_text(headers, http::header::LOCATION).ok_or_else(|| {
                    Garbled(format!("status {} without a location", status.as_u16()))
                }),
            )
        })
        .await
    }

    /// Sends GETs until `accept` takes the answer or the retry policy gives up. `accept` returns
    /// `None` for answers the policy should classify (errors), `Some(Err)` for a garbled answer
    /// worth another try.
    async fn request<T>(
        &self,
        path: &str,
        etag: Option<&str>,
        accept: impl Fn(StatusCode, &HeaderMap, &Bytes) -> Option<Result<T, Garbled>>,
    ) -> Result<T, GithubError> {
        let mut failures = 0u32;
        loop {
            let (reason, garbled) = match self.send_once(path, etag).await {
                Ok((status, headers, body)) => match accept(status, &headers, &body) {
                    Some(Ok(value)) => return Ok(value),
                    Some(Err(Garbled(detail))) => (detail, true),
                    None => match self.policy.classify(path, status, &headers, &body) {
                        Verdict::Fail(error) => return Err(error),
                        Verdict::WaitForRateLimit(wait) => {
                            self.metrics.rate_limited(limit_kind(&headers));
                            tracing::warn!(
                                path,
                                status = status.as_u16(),
                                wait_secs = wait.as_secs(),
                                "rate limited by github; waiting as told"
                            );
                            tokio::time::sleep(wait).await;
                            continue;
                        }
                        Verdict::RetryAfterFailure(reason) => (reason, false),
                    },
                },
                Err(transport_error) => (transport_error, false),
            };
            failures += 1;
            self.metrics.failed_attempts.inc();
            if failures > self.policy.max_retries {
                return Err(match garbled {
                    true => GithubError::Malformed {
                        path: path.to_string(),
                        detail: reason,
                    },
                    false => GithubError::RetriesExhausted {
                        path: path.to_string(),
                        attempts: failures,
                        last_error: reason,
                    },
                });
            }
            let wait = self.policy.backoff(failures);
            tracing::warn!(path, attempt = failures, wait_ms = wait.as_millis() as u64, cause = %reason, "github request failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// Sends one GET and reads the whole body. Transport failures come back as `Err(reason)`.
    async fn send_once(
        &self,
        path: &str,
        etag: Option<&str>,
    ) -> Result<(StatusCode, HeaderMap, Bytes), String> {
        if let Some(wait) = self.budget.wait_before_request() {
            self.metrics.rate_limited(LimitKind::Primary);
            tracing::warn!(
                wait_secs = wait.as_secs(),
                "github rate-limit budget spent; waiting for the reset"
            );
            tokio::time::sleep(wait).await;
        }
        let mut headers = HeaderMap::new();
        if let Some(etag) = etag.and_then(|tag| HeaderValue::from_str(tag).ok()) {
            headers.insert(IF_NONE_MATCH, etag);
        }
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the request semaphore is never closed");
        let sent_at = std::time::Instant::now();
        let exchange = async {
            let response = self
                .octocrab
                ._get_with_headers(path, Some(headers))
                .await
                .map_err(|err| format!("request failed: {}", describe_octocrab_error(&err)))?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|err| {
                    format!("reading the body failed: {}", describe_octocrab_error(&err))
                })?
                .to_bytes();
            Ok::<_, String>((parts.status, parts.headers, body))
        };
        let answer = tokio::time::timeout(self.request_timeout * 2, exchange)
            .await
            .map_err(|_| format!("timed out after {:?}", self.request_timeout * 2))
            .and_then(|answer| answer);
        let status = answer.as_ref().ok().map(|(status, _, _)| status.as_u16());
        self.metrics.response(path, status, sent_at.elapsed());
        let (status, headers, body) = answer?;
        self.budget.record(&headers);
        Ok((status, headers, body))
    }

    fn next_page(&self, headers: &HeaderMap) -> Result<Option<String>, GithubError> {
        let Some(link) = header_text(headers, LINK) else {
            return Ok(None);
        };
        next_link(&link)
            .map(|next| relative_to_base(&self.api_url, next))
            .transpose()
    }
}

/// An answer that spent the hourly budget says so in `x-ratelimit-remaining`; any other rate
/// limit is a secondary one.
fn limit_kind(headers: &HeaderMap) -> LimitKind {
    match headers
        .get("x-ratelimit-remaining")
        .and_then(|value| value.to_str().ok())
    {
        Some("0") => LimitKind::Primary,
        _ => LimitKind::Secondary,
    }
}

fn header_text(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    headers.get(name)?.to_str().ok().map(str::to_string)
}

/// octocrab's errors can embed the request; keep only the kind and source text, which never
/// carry the token (it lives in a header octocrab marks sensitive).
fn describe_octocrab_error(error: &octocrab::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
