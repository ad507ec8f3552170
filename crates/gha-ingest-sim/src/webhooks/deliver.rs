//! POSTing deliveries in the background, so neither the API nor `SimHandle::advance` ever waits
//! for a receiver.
//!
//! Deliveries are spread over `WebhookSettings::max_concurrent` lanes by run: a lane POSTs one
//! delivery after the other, so the changes of one run reach the receiver in the order they
//! happened (unless a fault holds one back on purpose), while different runs go out side by
//! side. A semaphore with as many permits bounds the POSTs in flight, held-back ones included.
//! Each POST, from connecting to the last byte of the answer, has `WebhookSettings::timeout`;
//! the outcome is recorded in the `DeliveryBook` either way.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::clock::{lock, to_datetime};
use crate::state::Shared;
use crate::webhooks::record::{Recorded, TIMED_OUT};

/// How much of a receiver's answer is kept for `GET /app/hook/deliveries/{id}`.
const RESPONSE_BODY_KEPT: usize = 64 * 1024;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// What a POST came back with.
#[derive(Debug)]
struct Answer {
    status_code: u16,
    headers: Vec<(String, String)>,
    body: String,
}

/// Why a POST has no answer.
#[derive(Debug)]
enum NoAnswer {
    /// Could not connect (or the URL is not one hyper can reach).
    Connect,
    /// The connection broke before a whole answer arrived.
    Broken(String),
}

/// Posts deliveries and records their outcomes; shared by the lanes.
struct Poster {
    shared: Arc<Shared>,
    client: HttpClient,
    in_flight: Semaphore,
    timeout: Duration,
}

/// Starts one task per lane, each draining its queue of the hub. Call once per simulator.
pub(crate) fn spawn(shared: &Arc<Shared>) -> Vec<JoinHandle<()>> {
    let queues = shared.webhooks.take_lane_queues();
    let settings = shared.config.webhooks;
    let poster = Arc::new(Poster {
        shared: Arc::clone(shared),
        client: Client::builder(TokioExecutor::new()).build_http(),
        in_flight: Semaphore::new(settings.max_concurrent.max(1)),
        timeout: settings.timeout,
    });
    queues
        .into_iter()
        .map(|queue| tokio::spawn(run_lane(Arc::clone(&poster), queue)))
        .collect()
}

/// POSTs the lane's deliveries in order; a held-back one waits in its own task so the ones
/// behind it overtake it.
async fn run_lane(poster: Arc<Poster>, mut queue: UnboundedReceiver<Recorded>) {
    let mut held_back = JoinSet::new();
    loop {
        tokio::select! {
            next = queue.recv() => {
                let Some(pending) = next else { break };
                match pending.delivery.injected.delay {
                    Some(delay) => {
                        let poster = Arc::clone(&poster);
                        held_back.spawn(async move {
                            tokio::time::sleep(delay).await;
                            poster.deliver(pending).await;
                        });
                    }
                    None => poster.deliver(pending).await,
                }
            }
            Some(_) = held_back.join_next(), if !held_back.is_empty() => {}
        }
    }
}

impl Poster {
    async fn deliver(&self, mut pending: Recorded) {
        // The semaphore is never closed.
        let _permit = self.in_flight.acquire().await.ok();
        let delivered_ms = self.shared.clock.now_ms();
        let started = Instant::now();
        let outcome = tokio::time::timeout(self.timeout, self.post(&pending)).await;
        let delivery = &mut pending.delivery;
        delivery.delivered_at = to_datetime(delivered_ms);
        delivery.duration = started.elapsed();
        match outcome {
            Ok(Ok(answer)) => {
                delivery.status = if (200..300).contains(&answer.status_code) {
                    "OK".to_string()
                } else {
                    format!("Invalid HTTP Response: {}", answer.status_code)
                };
                delivery.status_code = answer.status_code;
                delivery.response_headers = answer.headers;
                delivery.response_body = Some(answer.body);
            }
            Ok(Err(NoAnswer::Connect)) => delivery.status = "failed to connect".to_string(),
            Ok(Err(NoAnswer::Broken(reason))) => {
                delivery.status = format!("connection broken: {reason}");
            }
            Err(_) => delivery.status = TIMED_OUT.to_string(),
        }
        tracing::debug!(
            id = delivery.id,
            event = %delivery.event,
            status = %delivery.status,
            "webhook delivered"
        );
        lock(&self.shared.webhooks.book).record(pending);
    }

    async fn post(&self, pending: &Recorded) -> Result<Answer, NoAnswer> {
        let delivery = &pending.delivery;
        let mut builder = Request::post(delivery.url.as_str());
        for (name, value) in &delivery.request_headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let request = builder
            .body(Full::new(delivery.request_body.clone()))
            .map_err(|_| NoAnswer::Connect)?;
        let response = self.client.request(request).await.map_err(|error| {
            if error.is_connect() {
                NoAnswer::Connect
            } else {
                NoAnswer::Broken(error.to_string())
            }
        })?;
        let status_code = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_string(), text)
            })
            .collect();
        let mut body = response.into_body();
        let mut kept = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|error| NoAnswer::Broken(error.to_string()))?;
            if let Some(data) = frame.data_ref() {
                let room = RESPONSE_BODY_KEPT - kept.len();
                kept.extend_from_slice(&data[..data.len().min(room)]);
                if kept.len() == RESPONSE_BODY_KEPT {
                    break;
                }
            }
        }
        Ok(Answer {
            status_code,
            headers,
            body: String::from_utf8_lossy(&kept).into_owned(),
        })
    }
}
