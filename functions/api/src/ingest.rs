//! `POST|GET|PUT /hooks/{source}[/{token}]`: verify, parse, queue, answer 202.
//!
//! Provider retries: an event with a provider key claims it (pending) before it is queued
//! and confirms the claim after. A retry that finds the claim confirmed is a duplicate
//! (200); one that finds it pending and fresh gets 503 `in_progress` with `Retry-After`
//! (the first request may still be queueing: accepting the retry as new would queue the
//! event twice, calling it a duplicate would lose it if that first send fails; providers
//! retry 503s, and by then the claim is confirmed, released or stale); one that finds it
//! pending past the send window takes it over (the holder gave up or was killed before
//! queueing: nothing of it can still reach the queue). A store that holds the queue as well
//! (serve's durable store) claims, queues and confirms in one write: its claims are never
//! seen pending.

use super::response::{error_response, json};
use super::verify::{body_without_secrets, query_without_token, verify};
use super::{App, RuntimeTrace};
use crate::domain::envelope::{RawRequest, StoredEvent};
use crate::domain::ids::{event_id, is_valid_slug};
use crate::domain::time::now;
use crate::domain::{QueueMessage, TraceHeader};
use crate::error::ApiError;
use crate::metrics::{EventOutcome, Observation, UNKNOWN_SOURCE};
use crate::ports::{Claim, ClaimTerms, KeyClaim, Outgoing};
use crate::providers::{self, Incoming};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use std::time::Duration;
use tokio::time::Instant;

/// How a webhook was taken.
enum Answer {
    Queued { id: String, unparsed: bool },
    Duplicate(String),
    InProgress(Duration),
}

/// The webhook route; the router has checked the method (POST, GET or PUT). Every answer
/// is counted once, by source (`unknown` for a source that does not exist) and outcome.
pub(super) async fn accept(
    app: &App,
    req: &Request<Bytes>,
    source_id: &str,
    path_token: Option<&str>,
) -> Result<Response<Bytes>, ApiError> {
    let answer = take(app, req, source_id, path_token).await;
    let (outcome, event_id, unparsed) = match &answer {
        Ok(Answer::Queued { id, unparsed }) => {
            (EventOutcome::Accepted, Some(id.as_str()), *unparsed)
        }
        Ok(Answer::Duplicate(_)) => (EventOutcome::Duplicate, None, false),
        Ok(Answer::InProgress(_)) => (EventOutcome::Rejected(503), None, false),
        Err(e) => (EventOutcome::Rejected(e.status.as_u16()), None, false),
    };
    let known = !matches!(&answer, Err(e) if e.code == UNKNOWN_SOURCE_CODE);
    app.ports.metrics.observe(&Observation::Event {
        source: if known { source_id } else { UNKNOWN_SOURCE },
        outcome,
        event_id,
        unparsed,
    });
    Ok(match answer? {
        Answer::Queued { id, .. } => json(StatusCode::ACCEPTED, &serde_json::json!({"id": id})),
        Answer::Duplicate(original) => json(
            StatusCode::OK,
            &serde_json::json!({"id": original, "duplicate": true}),
        ),
        Answer::InProgress(retry_after) => in_progress(retry_after),
    })
}

const UNKNOWN_SOURCE_CODE: &str = "unknown_source";

async fn take(
    app: &App,
    req: &Request<Bytes>,
    source_id: &str,
    path_token: Option<&str>,
) -> Result<Answer, ApiError> {
    let unknown = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            UNKNOWN_SOURCE_CODE,
            format!("no source named {source_id:?}"),
        )
    };
    if !is_valid_slug(source_id) {
        return Err(unknown());
    }
    let source = app
        .ports
        .sources
        .get(source_id)
        .await?
        .ok_or_else(unknown)?;
    if req.body().len() > source.body_limit() {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "body is larger than this source's limit of {} bytes",
                source.body_limit()
            ),
        ));
    }
    verify(&source, req, path_token, app.settings.public_url.as_deref())?;
    let body = body_without_secrets(&source, req.body());

    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let query = query_without_token(&source, req.uri().query());
    let incoming = Incoming {
        method: req.method().as_str(),
        content_type: content_type.as_deref(),
        query: query.as_deref(),
        body: &body,
    };
    let parsed = providers::parse(&source, &incoming);
    let unparsed = parsed.unparsed;
    let id = event_id();

    let dedup_key = parsed
        .dedup_key
        .as_ref()
        .map(|k| format!("{source_id}:{k}"));
    // Started before the claim is written, so the holder's send ends before the moment a
    // retry may take the claim over (both count the window from the claim's time).
    let send_by = Instant::now() + app.settings.ingest_send_window;
    let event = StoredEvent {
        envelope: parsed.into_envelope(id.clone(), source.id.clone(), now()),
        raw: RawRequest {
            method: req.method().as_str().to_owned(),
            content_type,
            query,
            body,
        },
        dedup_key: dedup_key.clone(),
    };
    let message = QueueMessage::Event {
        event: std::sync::Arc::new(event),
    };
    fits_the_backends(app, &message, req)?;
    let trace = request_trace(req);
    let out = Outgoing {
        message: &message,
        delay: Duration::ZERO,
        trace: Some(&trace),
    };
    match &dedup_key {
        None => send_within(app, out, None)
            .await
            .map_err(|why| not_queued(source_id, &why))?,
        Some(key) => {
            let terms = ClaimTerms {
                at: now(),
                ttl: app.settings.dedup_window,
                pending_for: app.settings.ingest_send_window,
            };
            let claimed = KeyClaim {
                key,
                event_id: &id,
                terms,
            };
            if let Some(held) = claim_and_queue(app, claimed, out, send_by, source_id).await? {
                return Ok(held);
            }
        }
    }
    tracing::info!(event_id = %id, source = %source_id, trace_id = %trace, "accepted");
    Ok(Answer::Queued { id, unparsed })
}

/// Claims the provider key and queues the event: in one write where the store holds both
/// (serve's durable store), else claim, send within the window, confirm. `Some` when the key
/// was held already: a duplicate or a retry of a request still queueing (nothing queued).
async fn claim_and_queue(
    app: &App,
    claimed: KeyClaim<'_>,
    out: Outgoing<'_>,
    send_by: Instant,
    source_id: &str,
) -> Result<Option<Answer>, ApiError> {
    let KeyClaim {
        key,
        event_id,
        terms,
    } = claimed;
    let claim = match app.ports.dedup.claim_and_send(claimed, out).await {
        Some(claim) => return Ok(already_held(claim?)),
        None => app.ports.dedup.claim(key, event_id, terms).await?,
    };
    if let Some(held) = already_held(claim) {
        return Ok(Some(held));
    }
    if let Err(why) = send_within(app, out, Some(send_by)).await {
        release_claim(app, key, event_id).await;
        return Err(not_queued(source_id, &why));
    }
    confirm_claim(app, key, event_id).await;
    Ok(None)
}

/// The answer to a request whose key another event holds; `None` when the claim is ours.
fn already_held(claim: Claim) -> Option<Answer> {
    match claim {
        Claim::New => None,
        Claim::Duplicate(original) => Some(Answer::Duplicate(original)),
        Claim::InProgress { retry_after } => Some(Answer::InProgress(retry_after)),
    }
}

fn not_queued(source_id: &str, why: &str) -> ApiError {
    tracing::error!(error = %why, source = %source_id, "queue send failed; answering 503");
    ApiError::unavailable("the event could not be queued; retry later")
}

/// Sends the event; with a claim held, gives up at `send_by` (the end of the send window),
/// after which a provider retry may take the claim over.
async fn send_within(app: &App, out: Outgoing<'_>, send_by: Option<Instant>) -> Result<(), String> {
    let send = app.ports.queue.send_traced(out);
    let sent = match send_by {
        Some(at) => tokio::time::timeout_at(at, send)
            .await
            .map_err(|_| "no answer within the send window".to_owned())?,
        None => send.await,
    };
    sent.map_err(|e| e.to_string())
}

/// The trace the event travels with: the caller's (`X-Amzn-Trace-Id`, else a W3C
/// `traceparent`), else the Lambda invocation's, else a new one (`serve`).
fn request_trace(req: &Request<Bytes>) -> TraceHeader {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    header("x-amzn-trace-id")
        .and_then(TraceHeader::from_xray)
        .or_else(|| header("traceparent").and_then(TraceHeader::from_traceparent))
        .or_else(|| req.extensions().get::<RuntimeTrace>().map(|t| t.0.clone()))
        .unwrap_or_else(|| TraceHeader::generate(now().timestamp()))
}

/// Marks the claim queued. If that fails the event is queued all the same (202); its claim
/// stays pending, so a provider retry after the send window is queued as a second event.
async fn confirm_claim(app: &App, key: &str, id: &str) {
    match app.ports.dedup.confirm(key, id).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(event_id = %id, "dedup claim taken over before it was confirmed");
        }
        Err(e) => tracing::warn!(event_id = %id, error = %e, "could not confirm the dedup claim"),
    }
}

/// 503 `in_progress`: a request with the same provider key is being queued right now.
fn in_progress(retry_after: Duration) -> Response<Bytes> {
    let mut response = error_response(&ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "in_progress",
        "the same event is being queued by another request; retry later",
    ));
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    response.headers_mut().insert(
        http::header::RETRY_AFTER,
        http::HeaderValue::from(secs.max(1)),
    );
    response
}

/// Frees a dedup claim for an event that was not queued, so the provider's retry is
/// accepted rather than called a duplicate.
async fn release_claim(app: &App, key: &str, id: &str) {
    if let Err(e) = app.ports.dedup.release(key, id).await {
        tracing::warn!(error = %e, "could not release the dedup claim");
    }
}

/// Refuses (413) an event too large for the queue or the event store once encoded (the
/// raw body travels base64-encoded next to its parsed JSON, so an event can be about
/// 2.5 times its body): accepting it would queue a message dispatch could never store.
/// Small requests skip the encoding: they fit whatever the content.
fn fits_the_backends(
    app: &App,
    message: &QueueMessage,
    req: &Request<Bytes>,
) -> Result<(), ApiError> {
    let limit = match (
        app.ports.queue.max_message_bytes(),
        app.ports.events.max_event_bytes(),
    ) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => return Ok(()),
    };
    let request_bytes = req.body().len() + req.uri().query().map_or(0, str::len);
    // JSON escaping grows a byte to at most 6 (\u00XX); base64 to 4/3: 8 per byte is safe.
    if request_bytes.saturating_mul(8) + 16 * 1024 < limit {
        return Ok(());
    }
    let encoded = message.to_json().map(|j| j.len()).unwrap_or(usize::MAX);
    if encoded <= limit {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!(
            "this webhook is {encoded} bytes once stored (raw body and parsed payload); \
             the queue and event store hold at most {limit}"
        ),
    ))
}
