//! GitHub's deliveries API for an App's webhook (JWT): list the recent deliveries (newest
//! first, cursor pagination, `status=success|failure`), get one with its request and answer,
//! and ask for a redelivery. Deliveries older than three days (simulated time) are neither
//! listed nor offered.

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use crate::clock::{format_seconds_z, lock};
use crate::query::Query;
use crate::routes::api::ApiOutcome;
use crate::state::Shared;
use crate::webhooks::record::{Missing, StatusFilter};
use crate::webhooks::{self, RedeliveryRefusal, WebhookDelivery};

/// The cursor of the next page: `v1_` and the id the page starts below. Clients follow the
/// `Link` header and never build it.
const CURSOR_PREFIX: &str = "v1_";

/// `GET /app/hook/deliveries?per_page=&cursor=&status=`.
pub(crate) fn list_deliveries(shared: &Shared, query: &Query) -> ApiOutcome {
    let below = match query.get("cursor").filter(|cursor| !cursor.is_empty()) {
        None => None,
        Some(cursor) => match cursor
            .strip_prefix(CURSOR_PREFIX)
            .and_then(|id| id.parse::<u64>().ok())
        {
            Some(id) => Some(id),
            None => return validation_failed(&format!("Invalid cursor parameter: {cursor}")),
        },
    };
    let filter = match query.get("status").filter(|status| !status.is_empty()) {
        None => None,
        Some("success") => Some(StatusFilter::Success),
        Some("failure") => Some(StatusFilter::Failure),
        Some(other) => return validation_failed(&format!("Invalid status parameter: {other}")),
    };
    let per_page = query.page_request(30, 100).per_page;
    let now_ms = shared.clock.now_ms();
    let book = lock(&shared.webhooks.book);
    let page = book.page(now_ms, below, per_page, filter);
    let items: Vec<Value> = page.deliveries.iter().map(|d| delivery_item(d)).collect();
    let link = page.next_below.map(|next_below| {
        let mut next = url::form_urlencoded::Serializer::new(String::new());
        next.append_pair("per_page", &per_page.to_string());
        if let Some(status) = query.get("status").filter(|status| !status.is_empty()) {
            next.append_pair("status", status);
        }
        next.append_pair("cursor", &format!("{CURSOR_PREFIX}{next_below}"));
        format!(
            "<{}/app/hook/deliveries?{}>; rel=\"next\"",
            shared.api_origin,
            next.finish()
        )
    });
    ApiOutcome::ok_paged(Value::Array(items), link)
}

/// `GET /app/hook/deliveries/{delivery_id}`: the delivery with its request and answer.
pub(crate) fn get_delivery(shared: &Shared, delivery_id: u64) -> ApiOutcome {
    let now_ms = shared.clock.now_ms();
    let book = lock(&shared.webhooks.book);
    match book.retained(delivery_id, now_ms) {
        Ok(recorded) => ApiOutcome::ok(delivery_detail(&recorded.delivery)),
        Err(Missing::Unknown | Missing::Expired) => ApiOutcome::not_found(),
    }
}

/// `POST /app/hook/deliveries/{delivery_id}/attempts`: 202 and `{}`; the redelivery goes out
/// in the background. A delivery older than three days answers 422, as GitHub refuses to
/// redeliver it; an unknown one 404.
pub(crate) fn redeliver(shared: &Shared, delivery_id: u64) -> ApiOutcome {
    match webhooks::redeliver(shared, delivery_id) {
        Ok(()) => ApiOutcome::Json {
            status: StatusCode::ACCEPTED,
            body: json!({}),
            link: None,
        },
        Err(RedeliveryRefusal::Missing(Missing::Unknown)) => ApiOutcome::not_found(),
        Err(RedeliveryRefusal::Missing(Missing::Expired)) => validation_failed(
            "Validation Failed: deliveries older than 3 days cannot be redelivered",
        ),
        Err(RedeliveryRefusal::NoReceiver) => {
            validation_failed("Validation Failed: the webhook is not active")
        }
    }
}

fn validation_failed(message: &str) -> ApiOutcome {
    ApiOutcome::error(StatusCode::UNPROCESSABLE_ENTITY, message)
}

/// A `hook-delivery-item`.
fn delivery_item(delivery: &WebhookDelivery) -> Value {
    json!({
        "id": delivery.id,
        "guid": delivery.guid,
        "delivered_at": format_seconds_z(delivery.delivered_at.timestamp_millis()),
        "redelivery": delivery.redelivery,
        // GitHub reports seconds with two decimals.
        "duration": (delivery.duration.as_secs_f64() * 100.0).round() / 100.0,
        "status": delivery.status,
        "status_code": delivery.status_code,
        "event": delivery.event,
        "action": delivery.action,
        "installation_id": delivery.installation_id,
        "repository_id": delivery.repository_id,
        "throttled_at": null,
    })
}

/// A `hook-delivery`: the item plus the URL, the request (headers and JSON payload) and the
/// answer (headers and body text).
fn delivery_detail(delivery: &WebhookDelivery) -> Value {
    let headers = |pairs: &[(String, String)]| -> Value {
        Value::Object(
            pairs
                .iter()
                .map(|(name, value)| (name.clone(), Value::String(value.clone())))
                .collect::<Map<String, Value>>(),
        )
    };
    let payload = serde_json::from_slice::<Value>(&delivery.request_body).unwrap_or(Value::Null);
    let has_answer = delivery.status_code != 0;
    let mut detail = delivery_item(delivery);
    if let Value::Object(fields) = &mut detail {
        fields.insert("url".into(), delivery.url.clone().into());
        fields.insert(
            "request".into(),
            json!({"headers": headers(&delivery.request_headers), "payload": payload}),
        );
        fields.insert(
            "response".into(),
            json!({
                "headers": if has_answer { headers(&delivery.response_headers) } else { Value::Null },
                "payload": delivery.response_body,
            }),
        );
    }
    detail
}
