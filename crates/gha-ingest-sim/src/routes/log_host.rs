//! The log origin: a second host standing in for GitHub's blob storage. It serves a job's raw
//! log for an opaque, short-lived token, streamed in chunks, and refuses any request that carries
//! an `Authorization` header (a client must never send its GitHub token to another host).

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;

use crate::clock::lock;
use crate::faults::{FaultKind, Origin};
use crate::logs::{spec_for_job, LogContent};
use crate::state::Shared;

fn blob_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/xml")
        .body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

pub(crate) async fn serve_log(
    State(shared): State<Arc<Shared>>,
    Path(token): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    lock(&shared.stats).log_requests_total += 1;
    let fault = lock(&shared.faults).take(Origin::LogHost, uri.path());
    if let Some(FaultKind::LogHostStatus(code)) = fault {
        lock(&shared.stats).faults_fired_total += 1;
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return blob_error(status, "InternalError", "Injected fault.");
    }
    if headers.contains_key(header::AUTHORIZATION) {
        lock(&shared.stats).log_authorization_rejected_total += 1;
        return blob_error(
            StatusCode::FORBIDDEN,
            "AuthenticationFailed",
            "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.",
        );
    }
    let job_id = lock(&shared.log_tokens).resolve(&token, shared.clock.now_ms());
    let Some(job_id) = job_id else {
        return blob_not_found();
    };
    let content = {
        let world = lock(&shared.world);
        world.job_context(job_id).and_then(|context| {
            let spec = spec_for_job(&lock(&shared.log_specs), job_id, Some(context.job));
            let commit = context.repo.commits.get(&context.run.head_sha);
            LogContent::for_job(&spec, context, commit)
        })
    };
    let Some(content) = content else {
        return blob_not_found();
    };
    lock(&shared.stats).log_downloads_total += 1;
    let counting_shared = Arc::clone(&shared);
    let chunks = futures::stream::iter(content.into_chunks()).map(move |chunk: Bytes| {
        lock(&counting_shared.stats).log_bytes_served_total += chunk.len() as u64;
        Ok::<Bytes, Infallible>(chunk)
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header("x-ms-blob-type", "BlockBlob")
        .body(Body::from_stream(chunks))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// Any other path on the log origin.
pub(crate) async fn serve_unknown(State(shared): State<Arc<Shared>>) -> Response {
    lock(&shared.stats).log_requests_total += 1;
    blob_not_found()
}

/// An unknown or expired token, or any other path.
fn blob_not_found() -> Response {
    blob_error(
        StatusCode::NOT_FOUND,
        "BlobNotFound",
        "The specified blob does not exist.",
    )
}
