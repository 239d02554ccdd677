//! `switchboard-bench cost`: dollars per million events fanned out to S subscribers on AWS,
//! from durations, memory sizes, request counts and DynamoDB writes per event, beside SNS →
//! HTTP/S and EventBridge API destinations doing the same fan-out.
//!
//! Item sizes (and so write units) are measured here from the real records: a stored event
//! made from the Hipcall hangup fixture and an attempt like the dispatcher records.
//!
//! Prices: us-east-1, on-demand, first tier, free tiers ignored, as published by AWS and last
//! known to us in mid-2025 (docs/performance.md cites each). Pass `--price-*` to update them.

use crate::lambda::stored_event;
use crate::load;
use std::collections::BTreeMap;
use switchboard_core::domain::attempt::{AttemptStatus, Trigger};
use switchboard_core::domain::time::{epoch_secs, now, sortable};
use switchboard_core::domain::Attempt;

#[derive(clap::Args, Debug, Clone)]
pub struct CostArgs {
    /// Subscribers every event fans out to.
    #[arg(long, default_value_t = 3)]
    pub subscribers: u32,
    /// Lambda architecture: arm64 (the template's default) or x86_64.
    #[arg(long, default_value = "arm64")]
    pub arch: String,
    /// Billed duration of one ingest invocation (handler work, the dedup claim and the SQS
    /// send and the claim's confirmation: three in-region round trips).
    #[arg(long, default_value_t = 15.0)]
    pub ingest_ms: f64,
    #[arg(long, default_value_t = 128)]
    pub ingest_mb: u32,
    /// Billed duration of one dispatch invocation (a batch): dominated by the subscribers'
    /// response time, deliveries running concurrently.
    #[arg(long, default_value_t = 150.0)]
    pub dispatch_ms_per_batch: f64,
    #[arg(long, default_value_t = 256)]
    pub dispatch_mb: u32,
    /// Messages per dispatch invocation.
    #[arg(long, default_value_t = 10)]
    pub batch_size: u32,
    /// Bytes of CloudWatch Logs per event (all functions; INFO level).
    #[arg(long, default_value_t = 1000)]
    pub log_bytes_per_event: u64,
    /// Fraction of deliveries that fail once and are retried (each retry: an SQS message, an
    /// attempt record, part of an invocation).
    #[arg(long, default_value_t = 0.0)]
    pub retry_rate: f64,
    // Prices, USD.
    #[arg(long, default_value_t = 1.00)]
    pub price_http_api_per_million: f64,
    #[arg(long, default_value_t = 0.20)]
    pub price_lambda_requests_per_million: f64,
    #[arg(long, default_value_t = 0.000_013_333_4)]
    pub price_lambda_gb_s_arm64: f64,
    #[arg(long, default_value_t = 0.000_016_666_7)]
    pub price_lambda_gb_s_x86: f64,
    #[arg(long, default_value_t = 0.40)]
    pub price_sqs_per_million: f64,
    #[arg(long, default_value_t = 0.625)]
    pub price_ddb_wru_per_million: f64,
    #[arg(long, default_value_t = 0.125)]
    pub price_ddb_rru_per_million: f64,
    #[arg(long, default_value_t = 0.50)]
    pub price_logs_per_gb: f64,
    #[arg(long, default_value_t = 0.50)]
    pub price_sns_publish_per_million: f64,
    #[arg(long, default_value_t = 0.60)]
    pub price_sns_http_per_million: f64,
    #[arg(long, default_value_t = 1.00)]
    pub price_eventbridge_events_per_million: f64,
    #[arg(long, default_value_t = 0.20)]
    pub price_eventbridge_api_destinations_per_million: f64,
}

/// DynamoDB's item size: attribute names plus values (strings as UTF-8, numbers about one
/// byte per two digits plus one).
fn item_size(attrs: &[(&str, String, bool)]) -> usize {
    attrs
        .iter()
        .map(|(name, value, number)| {
            name.len()
                + if *number {
                    value.len().div_ceil(2) + 1
                } else {
                    value.len()
                }
        })
        .sum()
}

/// Write units of one item of `bytes` (1 KB each, rounded up).
fn wru(bytes: usize) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

struct Sizes {
    event_item: usize,
    attempt_item: usize,
    queue_message: usize,
}

fn measure_sizes() -> Result<Sizes, String> {
    let body = load::bodies("cost", 1).pop().ok_or("no sample body")?;
    let mut event = stored_event(body);
    event.envelope.source = "hipcall-main".into();
    event.dedup_key = Some("hipcall-main:cost-000000000000:call_hangup".into());
    let doc = serde_json::to_string(&event).map_err(|e| e.to_string())?;
    let expires = epoch_secs(&now()).to_string();
    let mut attrs = vec![
        ("id", event.envelope.id.clone(), false),
        ("source", event.envelope.source.clone(), false),
        ("received_at", sortable(&event.envelope.received_at), false),
        ("expires_at", expires.clone(), true),
        ("doc", doc, false),
    ];
    if let Some(call) = event.envelope.call_id() {
        attrs.push(("call_id", call.to_owned(), false));
    }
    let event_item = item_size(&attrs);
    let sub_id = switchboard_core::domain::ids::subscription_id();
    let attempt = Attempt {
        event_id: event.envelope.id.clone(),
        subscription_id: sub_id.clone(),
        attempt: 1,
        status: AttemptStatus::Succeeded,
        trigger: Trigger::Initial,
        url: "https://hooks.example.com/switchboard/crm-sync".into(),
        method: "POST".into(),
        request_headers: BTreeMap::from([
            ("content-type".to_owned(), "application/json".to_owned()),
            (
                "webhook-id".to_owned(),
                format!("{}_{sub_id}", event.envelope.id),
            ),
            ("webhook-timestamp".to_owned(), "1731840067".to_owned()),
            ("webhook-signature".to_owned(), "[redacted]".to_owned()),
        ]),
        http_status: Some(200),
        duration_ms: 87,
        response_excerpt: Some("{\"ok\":true}".into()),
        error_kind: None,
        error: None,
        next_attempt_at: None,
        held_behind: None,
        attempted_at: now(),
        source: event.envelope.source.clone(),
        event_type: event.envelope.event_type.clone(),
        call_id: event.envelope.call_id().map(str::to_owned),
        truncated: Vec::new(),
    };
    let attempted_at = sortable(&attempt.attempted_at);
    let attempt_doc = serde_json::to_string(&attempt).map_err(|e| e.to_string())?;
    let mut attrs = vec![
        ("event_id", attempt.event_id.clone(), false),
        ("sk", format!("{sub_id}#0001"), false),
        ("subscription_id", sub_id, false),
        ("status", "succeeded".to_owned(), false),
        ("day", attempted_at[..10].to_owned(), false),
        ("attempted_at", attempted_at, false),
        ("expires_at", expires, true),
        ("doc", attempt_doc, false),
    ];
    if let Some(call) = &attempt.call_id {
        attrs.push(("call_id", call.clone(), false));
    }
    let queue_message = switchboard_core::domain::QueueMessage::Event {
        event: Box::new(event),
    }
    .to_json()
    .map_err(|e| e.to_string())?
    .len();
    Ok(Sizes {
        event_item,
        attempt_item: item_size(&attrs),
        queue_message,
    })
}

struct Line {
    what: String,
    per_million: f64,
    fan_out: bool,
}

pub fn run(a: CostArgs) -> Result<(), String> {
    let sizes = measure_sizes()?;
    let s = f64::from(a.subscribers);
    let m = 1_000_000.0;
    let gb_s = match a.arch.as_str() {
        "arm64" => a.price_lambda_gb_s_arm64,
        "x86_64" => a.price_lambda_gb_s_x86,
        other => return Err(format!("--arch must be arm64 or x86_64, not {other:?}")),
    };
    let batches = 1.0 / f64::from(a.batch_size.max(1));
    let retries = s * a.retry_rate.max(0.0);
    // SQS bills each 64 KB chunk of a request as one request.
    let chunks = sizes.queue_message.div_ceil(64 * 1024).max(1) as f64;
    let event_wru = wru(sizes.event_item);
    let attempt_wru = wru(sizes.attempt_item);
    let lambda = |ms: f64, mb: u32| ms.ceil() / 1000.0 * f64::from(mb) / 1024.0 * gb_s;

    let mut ours = vec![
        Line {
            what: "API Gateway HTTP API: 1 request".into(),
            per_million: a.price_http_api_per_million,
            fan_out: false,
        },
        Line {
            what: format!(
                "ingest λ: 1 invocation × {} ms × {} MB",
                a.ingest_ms, a.ingest_mb
            ),
            per_million: a.price_lambda_requests_per_million + m * lambda(a.ingest_ms, a.ingest_mb),
            fan_out: false,
        },
        Line {
            what: "DynamoDB: dedup claim and its confirmation, 2 conditional writes (2 WRU)"
                .into(),
            per_million: 2.0 * a.price_ddb_wru_per_million,
            fan_out: false,
        },
        Line {
            what: format!(
                "SQS: send {chunks:.0} + receive and delete per batch of {} ({:.2} requests) + {retries:.2} retry messages",
                a.batch_size,
                chunks + 2.0 * batches
            ),
            per_million: a.price_sqs_per_million * (chunks + 2.0 * batches + 3.0 * retries),
            fan_out: true,
        },
        Line {
            what: format!(
                "dispatch λ: 1/{} invocation × {} ms × {} MB",
                a.batch_size, a.dispatch_ms_per_batch, a.dispatch_mb
            ),
            per_million: batches
                * (a.price_lambda_requests_per_million
                    + m * lambda(a.dispatch_ms_per_batch, a.dispatch_mb)),
            fan_out: true,
        },
        Line {
            what: format!(
                "DynamoDB: event item {} B ({event_wru:.0} WRU) + {} attempt items of {} B ({attempt_wru:.0} WRU each)",
                sizes.event_item,
                s + retries,
                sizes.attempt_item
            ),
            per_million: a.price_ddb_wru_per_million
                * (event_wru + (s + retries) * attempt_wru),
            fan_out: true,
        },
        Line {
            what: "DynamoDB: 1 strongly consistent query per event (redelivery check) + subscriptions scan per batch (RRU)".into(),
            per_million: a.price_ddb_rru_per_million * (1.0 + batches),
            fan_out: true,
        },
        Line {
            what: format!("CloudWatch Logs: {} bytes", a.log_bytes_per_event),
            per_million: a.price_logs_per_gb * (a.log_bytes_per_event as f64 * m / 1e9),
            fan_out: false,
        },
    ];
    for l in &mut ours {
        l.per_million = (l.per_million * 1e4).round() / 1e4;
    }
    let total: f64 = ours.iter().map(|l| l.per_million).sum();
    let fan_out: f64 = ours
        .iter()
        .filter(|l| l.fan_out)
        .map(|l| l.per_million)
        .sum();
    // The same front (API, ingest function that verifies and parses) for the alternatives,
    // without the dedup claim (neither deduplicates provider retries).
    let front: f64 = ours
        .iter()
        .filter(|l| {
            !l.fan_out && !l.what.starts_with("DynamoDB") && !l.what.starts_with("CloudWatch")
        })
        .map(|l| l.per_million)
        .sum();
    let sns = a.price_sns_publish_per_million * chunks + s * a.price_sns_http_per_million;
    let eventbridge = a.price_eventbridge_events_per_million * chunks
        + s * a.price_eventbridge_api_destinations_per_million;

    println!(
        "cost per million events × {} subscribers, us-east-1, {} Lambdas (prices: docs/performance.md)",
        a.subscribers, a.arch
    );
    println!(
        "measured sizes: event item {} B, attempt item {} B, queue message {} B",
        sizes.event_item, sizes.attempt_item, sizes.queue_message
    );
    println!("switchboard:");
    for l in &ours {
        println!(
            "  {:>8}  {}{}",
            format!("${:.3}", l.per_million),
            l.what,
            if l.fan_out { "  [fan-out]" } else { "" }
        );
    }
    let total_s = format!("${total:.3}");
    println!("  {total_s:>8}  total (${fan_out:.3} of it fan-out: SQS, dispatch, records)");
    println!("alternatives (fan-out only; no per-attempt records, no signing, their own retry policies):");
    println!(
        "  {:>8}  SNS → HTTP/S: 1 publish + {} deliveries   (with the same API + ingest front: ${:.3})",
        format!("${sns:.3}"),
        a.subscribers,
        sns + front
    );
    println!(
        "  {:>8}  EventBridge API destinations: 1 PutEvents entry + {} invocations   (with the same front: ${:.3})",
        format!("${eventbridge:.3}"),
        a.subscribers,
        eventbridge + front
    );
    let cheapest = sns.min(eventbridge);
    println!(
        "fan-out ratio: switchboard ÷ cheapest alternative = {:.2} (target < 1.00)",
        fan_out / cheapest.max(1e-9)
    );
    Ok(())
}
