//! The dispatch memory run: one SQS batch built from the Hipcall fixture, handed to the
//! dispatch bootstrap through the stub, and the process's peak RSS while it handles it.

use super::stub::{spawn, Seen, Stub};
use crate::sink::Sink;
use bytes::Bytes;
use std::path::Path;
use std::time::Duration;
use switchboard_core::domain::ids::event_id;
use switchboard_core::domain::source::Provider;
use switchboard_core::domain::time::now;
use switchboard_core::domain::{QueueMessage, RawRequest, Source, StoredEvent};
use switchboard_core::providers::{self, Incoming as ProviderRequest};

/// One stored event like ingest makes from the Hipcall hangup fixture, with a unique call id.
pub(crate) fn stored_event(body: Bytes) -> StoredEvent {
    let t = now();
    let source = Source::blank(
        "bench",
        Provider::Hipcall,
        switchboard_core::domain::Verification::None,
        t,
    );
    let parsed = providers::parse(
        &source,
        &ProviderRequest {
            method: "POST",
            content_type: Some("application/json"),
            query: None,
            body: &body,
        },
    );
    StoredEvent {
        envelope: parsed.into_envelope(event_id(), String::new(), t),
        raw: RawRequest {
            method: "POST".into(),
            content_type: Some("application/json".into()),
            query: None,
            body,
        },
        dedup_key: None,
    }
}

/// An SQS event as Lambda's event source mapping sends it.
pub(super) fn sqs_event(
    source_id: &str,
    bodies: Vec<Bytes>,
    queue_arn: &str,
) -> Result<Bytes, String> {
    let mut records = Vec::new();
    for (i, body) in bodies.into_iter().enumerate() {
        let mut event = stored_event(body);
        event.envelope.source = source_id.to_owned();
        let message = QueueMessage::Event {
            event: std::sync::Arc::new(event),
        }
        .to_json()
        .map_err(|e| e.to_string())?;
        records.push(serde_json::json!({
            "messageId": format!("bench-{i}"),
            "receiptHandle": format!("receipt-{i}"),
            "body": message,
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": "1700000000000",
                "SenderId": "AIDAEXAMPLE",
                "ApproximateFirstReceiveTimestamp": "1700000000001"
            },
            "messageAttributes": {},
            "md5OfBody": "00000000000000000000000000000000",
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": "us-east-1"
        }));
    }
    serde_json::to_vec(&serde_json::json!({ "Records": records }))
        .map(Bytes::from)
        .map_err(|e| e.to_string())
}

fn proc_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

pub(super) struct BatchRun {
    pub(super) hwm_kib: u64,
    pub(super) duration: Duration,
    pub(super) delivered: usize,
    pub(super) failures: String,
}

pub(super) async fn dispatch_batch(
    stub: &mut Stub,
    binary: &Path,
    env: &[(String, String)],
    payload: Bytes,
    sink: &Sink,
    expected: usize,
) -> Result<BatchRun, String> {
    stub.drain();
    sink.reset();
    stub.queue("bench-invocation", payload);
    let mut child =
        spawn(binary, env).map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    let pid = child.id().unwrap_or_default();
    let mut served = None;
    let result = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            match stub.seen.recv().await {
                Some(Seen::Poll(at)) => {
                    // The first poll takes the batch; the second means the batch is done.
                    if served.is_none() {
                        served = Some(at);
                    }
                }
                Some(Seen::Response(at, body)) => return Ok((at, body)),
                Some(Seen::Error(body)) => {
                    return Err(format!(
                        "the function reported an error: {}",
                        String::from_utf8_lossy(&body)
                    ))
                }
                None => return Err("the stub stopped".to_owned()),
            }
        }
    })
    .await;
    // The process now waits in its next poll: its high-water mark covers the whole batch.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let hwm = proc_kib(pid, "VmHWM:");
    let _ = child.kill().await;
    let (at, body) = result.map_err(|_| "the batch did not finish within 120 s".to_owned())??;
    let delivered = sink.requests();
    let response: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let failures = response
        .get("batchItemFailures")
        .map(|f| f.to_string())
        .unwrap_or_else(|| "?".into());
    if delivered < expected {
        eprintln!("warning: the sink received {delivered} of {expected} deliveries");
    }
    Ok(BatchRun {
        hwm_kib: hwm.ok_or("cannot read the function's /proc status")?,
        duration: served.map_or(Duration::ZERO, |s| at.saturating_duration_since(s)),
        delivered,
        failures,
    })
}
