//! The App's webhook deliveries, as GitHub records them: `GET /app/hook/deliveries` lists every
//! attempt (newest first, `Link` cursor pagination) with its status code, and `POST
//! /app/hook/deliveries/{id}/attempts` asks GitHub to send one again (same `X-GitHub-Delivery`).
//!
//! GitHub never redelivers a failed delivery by itself (one the receiver did not answer with a
//! 2xx within 10 seconds), and keeps them listed for 3 days: this is how the daemon gets back what
//! a restart, a timeout or an outage cost it. Both calls authenticate with the App's JWT, not an
//! installation token, so they spend no installation's budget.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use gha_ingest_core::Clock;
use http::Method;
use serde::Deserialize;

use crate::auth::GithubApp;
use crate::client::GithubClient;
use crate::error::GithubError;
use crate::pagination::{next_link, relative_to_base};

/// Deliveries asked for per page (GitHub's maximum).
const PER_PAGE: u32 = 100;

/// One attempt at delivering one event, as GitHub lists it (`hook-delivery-item`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HookDelivery {
    /// The attempt's id (what a redelivery is asked for).
    pub id: u64,
    /// The delivery's `X-GitHub-Delivery`, shared by its redeliveries.
    pub guid: String,
    pub delivered_at: DateTime<Utc>,
    #[serde(default)]
    pub redelivery: bool,
    /// `OK`, or why it failed.
    #[serde(default)]
    pub status: String,
    /// The receiver's answer; 0 when there was none (a timeout, a refused connection).
    #[serde(default)]
    pub status_code: u16,
    #[serde(default)]
    pub event: String,
    #[serde(default)]
    pub action: Option<String>,
}

impl HookDelivery {
    /// Whether the receiver took it (a 2xx).
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status_code)
    }
}

/// One page of deliveries, newest first, and where the next (older) page is.
#[derive(Debug, Clone)]
pub struct DeliveryPage {
    pub deliveries: Vec<HookDelivery>,
    /// The path of the next page, relative to the API's base.
    pub next: Option<String>,
}

/// The App's webhook deliveries; cloning shares the App.
#[derive(Debug, Clone)]
pub struct AppHooks {
    app: Arc<GithubApp>,
    /// Its transport and base URL carry the calls.
    template: GithubClient,
}

impl AppHooks {
    pub(crate) fn new(app: Arc<GithubApp>, template: GithubClient) -> Self {
        AppHooks { app, template }
    }

    /// GitHub's clock, as the App's answers date it: deliveries are dated on it, so how old
    /// one is must be measured on it too (a host's clock may drift; a simulator's is its own).
    pub fn github_clock(&self) -> Clock {
        let app = self.app.clone();
        Clock::from_fn(move || app.github_now())
    }

    /// The newest page of deliveries (`next` = `None`), or the page at `next`.
    pub async fn deliveries(&self, next: Option<&str>) -> Result<DeliveryPage, GithubError> {
        let path = match next {
            Some(next) => next.to_string(),
            None => format!("/app/hook/deliveries?per_page={PER_PAGE}"),
        };
        let answer = self
            .app
            .call(self.template.transport(), Method::GET, &path)
            .await?;
        let deliveries: Vec<HookDelivery> =
            serde_json::from_slice(&answer.body).map_err(|error| GithubError::Malformed {
                path: path.clone(),
                detail: error.to_string(),
            })?;
        let next = match answer.link.as_deref().and_then(next_link) {
            Some(link) => Some(relative_to_base(self.template.api_url(), link)?),
            None => None,
        };
        Ok(DeliveryPage { deliveries, next })
    }

    /// Asks GitHub to send the delivery of attempt `delivery_id` again.
    pub async fn redeliver(&self, delivery_id: u64) -> Result<(), GithubError> {
        let path = format!("/app/hook/deliveries/{delivery_id}/attempts");
        self.app
            .call(self.template.transport(), Method::POST, &path)
            .await
            .map(|_| ())
    }
}
