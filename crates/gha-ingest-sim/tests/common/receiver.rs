//! A webhook receiver on loopback, as a careful integration would write it: it checks
//! `X-Hub-Signature-256` over the raw body with the secret (constant time) and answers 401 when
//! it does not match, keeps every delivery in arrival order, can be told to answer slowly, and
//! counts the most deliveries it was answering at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use gha_ingest_sim::SimHandle;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One delivery as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub signature_is_valid: bool,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("delivery has {name}"))
            .to_str()
            .expect("ascii header")
    }

    pub fn event(&self) -> &str {
        self.header("x-github-event")
    }

    pub fn guid(&self) -> &str {
        self.header("x-github-delivery")
    }

    pub fn payload(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    /// `workflow_run requested 30000001` / `workflow_job queued 400000003`: what it says
    /// happened to what.
    pub fn summary(&self) -> (String, String, u64) {
        let payload = self.payload();
        let subject = &payload[self.event()];
        (
            self.event().to_string(),
            payload["action"].as_str().expect("action").to_string(),
            subject["id"].as_u64().expect("subject id"),
        )
    }
}

struct Inbox {
    secret: String,
    received: Mutex<Vec<Received>>,
    answer_after: Mutex<Duration>,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
}

pub struct Receiver {
    pub url: String,
    inbox: Arc<Inbox>,
    task: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether `header` is `sha256=` + the hex HMAC-SHA256 of `body` keyed with `secret`.
pub fn signature_is_valid(secret: &str, header: Option<&str>, body: &[u8]) -> bool {
    let Some(hex_digest) = header.and_then(|value| value.strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(digest) = hex::decode(hex_digest) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    mac.verify_slice(&digest).is_ok()
}

async fn receive(State(inbox): State<Arc<Inbox>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let in_flight = inbox.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    inbox.most_in_flight.fetch_max(in_flight, Ordering::SeqCst);
    let status = answer(&inbox, headers, body).await;
    inbox.in_flight.fetch_sub(1, Ordering::SeqCst);
    status
}

async fn answer(inbox: &Inbox, headers: HeaderMap, body: Bytes) -> StatusCode {
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|value| value.to_str().ok());
    let is_valid = signature_is_valid(&inbox.secret, signature, &body);
    inbox.received.lock().expect("inbox").push(Received {
        headers,
        body,
        signature_is_valid: is_valid,
    });
    let answer_after = *inbox.answer_after.lock().expect("inbox");
    tokio::time::sleep(answer_after).await;
    if is_valid {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    }
}

impl Receiver {
    pub async fn start(secret: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("loopback");
        let url = format!(
            "http://{}/github/webhook",
            listener.local_addr().expect("bound")
        );
        let inbox = Arc::new(Inbox {
            secret: secret.to_string(),
            received: Mutex::new(Vec::new()),
            answer_after: Mutex::new(Duration::ZERO),
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/github/webhook", post(receive))
            .with_state(Arc::clone(&inbox));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, inbox, task }
    }

    /// Every delivery so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.inbox.received.lock().expect("inbox").clone()
    }

    /// The most deliveries it was answering at once so far.
    pub fn most_in_flight(&self) -> usize {
        self.inbox.most_in_flight.load(Ordering::SeqCst)
    }

    /// Answers only after `delay` from now on.
    pub fn answer_after(&self, delay: Duration) {
        *self.inbox.answer_after.lock().expect("inbox") = delay;
    }
}

/// Waits (real time, at most 20 s) until `condition` holds.
pub async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until every queued delivery has been POSTed and recorded.
pub async fn settled(handle: &SimHandle) {
    eventually("every webhook delivery is recorded", || {
        handle.webhook_stats().pending == 0
    })
    .await;
}
