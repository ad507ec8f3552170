//! The webhook receiver: `POST {webhooks.path}`, where GitHub delivers `workflow_run` and
//! `workflow_job` events.
//!
//! The port is reachable by anyone, so a delivery is trusted only once its signature is: the
//! body is read up to `max_body_bytes` (413 past it), then `X-Hub-Signature-256` is checked
//! against an HMAC-SHA256 of the raw bytes with each configured secret (the current one and,
//! during a rotation, the previous one), in constant time, before any byte is parsed. Unsigned or
//! wrongly signed: 401 and nothing stored. Only then are the headers read and the delivery handed
//! to the pipeline's [`WebhookReceiver`], which commits its state and events before this answers
//! 2xx: GitHub counts a delivery as failed unless it gets a 2xx within 10 seconds, and a failed
//! delivery can be redelivered, so an error here loses nothing.

use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use gha_ingest_core::{error_chain, Throttle};
use gha_ingest_pipeline::{Delivery, DeliveryError, WebhookReceiver};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::error::ApiError;
use crate::SharedState;

/// The header carrying `sha256=<hex HMAC-SHA256 of the body>`.
const SIGNATURE_HEADER: &str = "x-hub-signature-256";
const EVENT_HEADER: &str = "x-github-event";
const DELIVERY_HEADER: &str = "x-github-delivery";
/// Refused deliveries are logged at most this often.
const REFUSAL_WARNING_EVERY: Duration = Duration::from_secs(60);
/// Longest delivery id or event name accepted (GitHub's are a GUID and a short word).
const MAX_HEADER_CHARS: usize = 100;

/// How deliveries are received: where, with which secrets, up to which size, into what.
#[derive(Debug, Clone)]
pub struct WebhookEndpoint {
    /// The route, e.g. `/webhooks/github`.
    pub path: String,
    /// The secrets a delivery may be signed with: the current one first, then the previous one
    /// during a rotation. Never empty.
    pub secrets: Vec<SecretString>,
    pub max_body_bytes: usize,
    pub receiver: WebhookReceiver,
}

/// `POST {path}`: verifies, then takes the delivery in.
pub(crate) async fn receive(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Some(endpoint) = &state.webhooks else {
        return Err(ApiError::NotFound("no webhook receiver".into()));
    };
    let event = header_text(&headers, EVENT_HEADER).unwrap_or_default();
    let refuse = |error: ApiError| {
        endpoint.receiver.refused(event);
        if refusal_warning().ready() {
            tracing::warn!(event, cause = %error, "webhook delivery refused (said at most once a minute; gha_ingest_pipeline_webhook_deliveries_total counts them all)");
        }
        error
    };
    let body = body.map_err(|rejection| {
        refuse(ApiError::TooLarge(format!(
            "the delivery could not be read whole (at most {} bytes): {rejection}",
            endpoint.max_body_bytes
        )))
    })?;
    verify_signature(&headers, &body, &endpoint.secrets).map_err(refuse)?;
    let delivery_id = header_text(&headers, DELIVERY_HEADER)
        .ok_or_else(|| ApiError::BadRequest("missing or invalid X-GitHub-Delivery".into()))?;
    if event.is_empty() {
        return Err(ApiError::BadRequest(
            "missing or invalid X-GitHub-Event".into(),
        ));
    }
    let delivery = Delivery {
        id: delivery_id,
        event,
        body: &body,
    };
    match endpoint.receiver.receive(delivery).await {
        Ok(outcome) => {
            tracing::debug!(
                event,
                delivery = delivery_id,
                outcome = outcome.as_str(),
                "webhook delivery"
            );
            Ok(Json(serde_json::json!({ "outcome": outcome.as_str() })))
        }
        Err(DeliveryError::Malformed(error)) => {
            tracing::warn!(event, delivery = delivery_id, cause = %error_chain(&error), "webhook delivery malformed; polling will read the same facts");
            Err(ApiError::BadRequest(error_chain(&error).to_string()))
        }
        Err(DeliveryError::Store(error)) => {
            tracing::error!(event, delivery = delivery_id, cause = %error_chain(&error), "webhook delivery not stored; GitHub counts it as failed");
            Err(ApiError::Store(error))
        }
    }
}

/// Whether `X-Hub-Signature-256` is the HMAC-SHA256 of `body` under one of `secrets`; the
/// comparison is constant-time (`Mac::verify_slice`).
pub(crate) fn verify_signature(
    headers: &HeaderMap,
    body: &[u8],
    secrets: &[SecretString],
) -> Result<(), ApiError> {
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| {
            ApiError::BadSignature("the delivery is not signed (X-Hub-Signature-256)".into())
        })?;
    let digest = signature
        .strip_prefix("sha256=")
        .and_then(|hex_text| hex::decode(hex_text).ok())
        .ok_or_else(|| ApiError::BadSignature("X-Hub-Signature-256 is not sha256=<hex>".into()))?;
    let signed_with_one = secrets.iter().any(|secret| {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(body);
        mac.verify_slice(&digest).is_ok()
    });
    if signed_with_one {
        Ok(())
    } else {
        Err(ApiError::BadSignature(
            "the signature does not match the webhook secret".into(),
        ))
    }
}

/// Refusals are logged at most once a minute: anyone who can reach the port could otherwise
/// flood the log with bad deliveries.
fn refusal_warning() -> &'static Throttle {
    static THROTTLE: OnceLock<Throttle> = OnceLock::new();
    THROTTLE.get_or_init(|| Throttle::new(REFUSAL_WARNING_EVERY))
}

/// A header's value when it is short printable ASCII (ids and event names are).
fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .filter(|text| {
            !text.is_empty()
                && text.len() <= MAX_HEADER_CHARS
                && text.chars().all(|c| c.is_ascii_graphic())
        })
}
