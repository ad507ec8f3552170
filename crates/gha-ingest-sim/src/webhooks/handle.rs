//! The webhook controls of `SimHandle`: where deliveries go, what goes wrong with them, and
//! what happened to them.

use crate::clock::lock;
use crate::handle::SimHandle;
use crate::spec::SimError;
use crate::webhooks::{self, WebhookDelivery, WebhookFaults, WebhookStats};

impl SimHandle {
    /// Delivers GitHub webhooks to `url` (plain `http://`), signed with `secret`, from now on:
    /// every later state change of a run attempt is a `workflow_run` delivery (`requested`,
    /// `in_progress`, `completed`; a re-run's new attempt too) and every change of a job a
    /// `workflow_job` delivery (`waiting`, `queued`, `in_progress`, `completed`), in the order
    /// the changes happen on the simulated clock. On the manual clock `advance`, `create_run`
    /// and `rerun` queue the deliveries of the changes they cause before they return; on a
    /// real-time clock they go out as time passes. A background task POSTs them (see
    /// `WebhookSettings`); nothing here waits for the receiver.
    ///
    /// What a receiver gets is what GitHub sends: `X-GitHub-Event`, `X-GitHub-Delivery` (a
    /// GUID), `X-Hub-Signature-256` (`sha256=` + hex HMAC-SHA256 of the exact body),
    /// `X-GitHub-Hook-ID`, `User-Agent: GitHub-Hookshot/…`, `Content-Type: application/json`,
    /// and `{"action", "workflow_run" | "workflow_job", "repository", "organization", "sender",
    /// "installation" (when an App installation has the repository), "workflow" (runs only)}`,
    /// whose run or job is the REST API's own object at the instant of the change. As on
    /// GitHub, a run that ends in `startup_failure` sends nothing at all, a payload over 25 MB
    /// is not sent, and past changes (history, changes while no webhook was set) never are.
    ///
    /// Calling it again changes the URL and secret without losing track of runs in progress.
    ///
    /// # Panics
    /// If `url` is not an absolute `http://` URL; see `try_set_webhook`.
    pub fn set_webhook(&self, url: &str, secret: &str) {
        self.try_set_webhook(url, secret)
            .unwrap_or_else(|error| panic!("set_webhook: {error}"));
    }

    /// `set_webhook` that reports an unusable URL instead of panicking.
    pub fn try_set_webhook(&self, url: &str, secret: &str) -> Result<(), SimError> {
        let parsed =
            url::Url::parse(url).map_err(|error| SimError::InvalidWebhookUrl(error.to_string()))?;
        if parsed.scheme() != "http" || parsed.host().is_none() {
            return Err(SimError::InvalidWebhookUrl(format!(
                "{url} is not an http:// URL with a host (the simulator delivers without TLS)"
            )));
        }
        webhooks::set_receiver(self.shared(), url, secret);
        Ok(())
    }

    /// Stops delivering webhooks. Deliveries already queued still go out; changes from now
    /// until the next `set_webhook` are never delivered (as for a deleted webhook). The record
    /// of past deliveries stays.
    pub fn clear_webhook(&self) {
        webhooks::clear_receiver(self.shared());
    }

    /// Applies `faults` to the deliveries of changes from now on (replacing the previous
    /// faults, and restarting their draws from `faults.seed`). `WebhookFaults::default()`
    /// turns them off.
    pub fn set_webhook_faults(&self, faults: WebhookFaults) {
        webhooks::set_faults(self.shared(), faults);
    }

    /// The webhook counters since start.
    pub fn webhook_stats(&self) -> WebhookStats {
        lock(&self.shared().webhooks.book).stats.clone()
    }

    /// Every recorded delivery, oldest first: what `GET /app/hook/deliveries` lists (newest
    /// first, three days back) and more, including each request's headers and body. A delivery
    /// appears once its outcome is known (`WebhookStats::pending` counts the others).
    pub fn webhook_deliveries(&self) -> Vec<WebhookDelivery> {
        lock(&self.shared().webhooks.book).all()
    }
}
