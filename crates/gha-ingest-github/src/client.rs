//! `GithubClient`: one conditional GET with the retry policy applied, on octocrab's transport,
//! admitted by its credential's [`RequestScheduler`] at the priority of the work it serves.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, ACCEPT, ETAG, IF_NONE_MATCH, LINK, USER_AGENT};
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use url::Url;

use crate::auth::Credential;
use crate::error::GithubError;
use crate::metrics::{GithubMetrics, LimitKind};
use crate::pagination::{next_link, relative_to_base};
use crate::ratelimit::RateLimitSnapshot;
use crate::retry::{RetryPolicy, Verdict};
use crate::schedule::{BudgetOptions, BudgetSnapshot, Decision, Priority, RequestScheduler};

/// The REST API version this client is written against.
const API_VERSION: &str = "2022-11-28";

/// How to reach GitHub and how patient to be with it.
#[derive(Clone)]
pub struct ClientOptions {
    /// `https://api.github.com`, `https://HOST/api/v3` for GitHub Enterprise Server, or a simulator.
    pub api_url: Url,
    /// A personal access token; `None` only when anonymous access was explicitly allowed (an
    /// App's installations get their credential from [`GithubClient::for_credential`]).
    pub token: Option<String>,
    pub user_agent: String,
    pub request_timeout: Duration,
    /// The request budget of each credential: ceiling, concurrency, reserve.
    pub budget: BudgetOptions,
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
            .field("budget", &self.budget)
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

/// A GitHub REST client for one credential, shared by every task of the process that works for
/// that credential's repositories. Clones share the credential, its scheduler and the metrics;
/// [`GithubClient::at`] gives a clone whose requests are of another priority.
#[derive(Clone)]
pub struct GithubClient {
    octocrab: Octocrab,
    api_url: Url,
    pub(crate) policy: RetryPolicy,
    request_timeout: Duration,
    pub(crate) log_http: reqwest::Client,
    credential: Arc<Credential>,
    scheduler: Arc<RequestScheduler>,
    budget_options: BudgetOptions,
    priority: Priority,
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
    /// A client for the options' token (or anonymous), with a scheduler of its own.
    pub fn new(options: ClientOptions) -> Result<Self, GithubError> {
        let credential = match &options.token {
            Some(token) => Credential::Token(SecretString::from(token.clone())),
            None => Credential::Anonymous,
        };
        Self::build(options, credential)
    }

    /// A client of another credential (an App installation) on this client's transport and
    /// settings, with its own scheduler: each credential has its own budget.
    pub fn for_credential(&self, credential: Credential) -> GithubClient {
        GithubClient {
            credential: Arc::new(credential),
            scheduler: Arc::new(RequestScheduler::new(self.budget_options)),
            priority: Priority::Fresh,
            ..self.clone()
        }
    }

    /// The same client, its requests admitted at `priority`.
    pub fn at(&self, priority: Priority) -> GithubClient {
        GithubClient {
            priority,
            ..self.clone()
        }
    }

    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// Names the credential (`token`, `installation:42`); never holds a secret.
    pub fn credential_label(&self) -> String {
        self.credential.label()
    }

    /// The credential, for its own bookkeeping (tokens minted).
    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// The transport, for the App's own endpoints (which authenticate with a JWT instead).
    pub fn transport(&self) -> &Octocrab {
        &self.octocrab
    }

    /// The request plan of this credential: ceiling, reserve, admissions and waiters by class.
    pub fn budget(&self) -> BudgetSnapshot {
        self.scheduler.snapshot()
    }

    fn build(options: ClientOptions, credential: Credential) -> Result<Self, GithubError> {
        let invalid = |detail: String| GithubError::InvalidRequest {
            path: options.api_url.to_string(),
            detail,
        };
        let builder = Octocrab::builder()
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
            credential: Arc::new(credential),
            scheduler: Arc::new(RequestScheduler::new(options.budget)),
            budget_options: options.budget,
            priority: Priority::Fresh,
            metrics: GithubMetrics::default(),
        })
    }

    pub fn api_url(&self) -> &Url {
        &self.api_url
    }

    pub fn rate_limit(&self) -> RateLimitSnapshot {
        self.scheduler.snapshot().primary
    }

    /// This client's metric families, to register in the process's registry.
    pub fn metrics(&self) -> &GithubMetrics {
        &self.metrics
    }

    /// Brings the budget gauges up to what GitHub last reported; called when `/metrics` is
    /// scraped rather than on every response.
    pub fn refresh_metrics(&self) {
        self.metrics
            .budget(&self.credential.label(), &self.scheduler.snapshot());
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
        let mut renewed = false;
        loop {
            let (answer, generation) = self.send_once(path, etag).await?;
            let (reason, garbled) = match answer {
                Ok((status, headers, body)) => match accept(status, &headers, &body) {
                    Some(Ok(value)) => return Ok(value),
                    Some(Err(Garbled(detail))) => (detail, true),
                    None if status == StatusCode::UNAUTHORIZED
                        && !renewed
                        && self.credential.renew_after_refusal(generation) =>
                    {
                        // An installation token refused before its time: one try with a new one.
                        renewed = true;
                        tracing::warn!(path, credential = %self.credential.label(), "token refused; minting a new one");
                        continue;
                    }
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

    /// Sends one GET, once the scheduler admits it, and reads the whole body. Transport failures
    /// come back as `Ok((Err(reason), _))`; a credential that cannot be had as `Err`. Also says
    /// which token was sent.
    async fn send_once(
        &self,
        path: &str,
        etag: Option<&str>,
    ) -> Result<(Result<(StatusCode, HeaderMap, Bytes), String>, u64), GithubError> {
        let (_admission, held_back) = self.scheduler.admit(self.priority).await;
        // After admission: a wait for the reset may outlast the token held before it.
        let (authorization, generation) = self.credential.authorization(&self.octocrab).await?;
        self.metrics
            .admitted(&self.credential.label(), self.priority, held_back);
        if let Some(Decision::Primary(_)) = held_back {
            tracing::info!(
                credential = %self.credential.label(),
                priority = self.priority.as_str(),
                "a request waited for the primary budget (spent, or down to the reserve)"
            );
        }
        let mut headers = HeaderMap::new();
        if let Some(etag) = etag.and_then(|tag| HeaderValue::from_str(tag).ok()) {
            headers.insert(IF_NONE_MATCH, etag);
        }
        if let Some(authorization) = authorization {
            headers.insert(http::header::AUTHORIZATION, authorization);
        }
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
        if let Ok((status, headers, _)) = &answer {
            self.scheduler.record(self.priority, *status, headers);
        }
        Ok((answer, generation))
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
pub(crate) fn describe_octocrab_error(error: &octocrab::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
