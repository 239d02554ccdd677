//! `switchboard-bench cost`: dollars per million events fanned out to S subscribers on AWS,
//! beside SNS → HTTP/S and EventBridge API destinations doing the same fan-out.
//!
//! The DynamoDB and SQS figures are measured: the emulator load (`bench emulator`) runs the
//! real AWS adapters with every request recorded (`metering`), and `capacity` prices each
//! write, index write, read and queue request per the services' rules. Lambda durations,
//! memory sizes and log bytes are inputs (flags).
//!
//! Prices: us-east-1, on-demand, first tier, free tiers ignored, as published by AWS and last
//! known to us in mid-2025 (docs/performance.md cites each). Pass `--price-*` to update them.

use crate::capacity::{self, Breakdown};
use crate::emulator::{self, stack_env, EmulatorArgs};
use std::collections::HashMap;
use std::path::PathBuf;
use switchboard_core::adapters::aws::metering::{Item, RequestLog};
use switchboard_core::config::AwsResources;
use switchboard_core::state::load_sdk_config;

#[derive(clap::Args, Debug, Clone)]
pub struct CostArgs {
    /// The stack description `scripts/deploy-test-stack --out` wrote, on the emulator at
    /// `AWS_ENDPOINT_URL` (scripts/cost-model starts both).
    #[arg(long)]
    pub stack: PathBuf,
    /// Events the measured run sends.
    #[arg(long, default_value_t = 100)]
    pub events: usize,
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

struct Line {
    what: String,
    per_million: f64,
    fan_out: bool,
}

/// Runs the load on the emulator with every request recorded, and prices what it did.
async fn measure(a: &CostArgs) -> Result<(Breakdown, usize), String> {
    let env = stack_env(&a.stack)?;
    let lookup = |k: &str| env.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let names = AwsResources::from_lookup(lookup).map_err(|e| e.to_string())?;
    let log = RequestLog::default();
    let run = EmulatorArgs {
        stack: a.stack.clone(),
        events: a.events.max(1),
        subscriptions: a.subscribers as usize,
        concurrency: 8,
        workers: 2,
        timeout_secs: 300,
    };
    let events = emulator::exercise(run, Some(&log)).await?;
    let requests = log.take();
    let sdk = load_sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let tables = capacity::describe(
        &client,
        &[
            ("events", names.events_table.clone()),
            ("deliveries", names.deliveries_table.clone()),
            ("dedup", names.dedup_table.clone()),
            ("sources", names.sources_table.clone()),
            ("subscriptions", names.subscriptions_table.clone()),
        ],
    )
    .await?;
    // Updates and deletes carry only a key: price the item as stored after the run.
    let mut stored = HashMap::new();
    for r in &requests {
        if let (op, Some(table), Some(key)) = (r.operation, &r.table, &r.item) {
            if op == "UpdateItem" {
                let out = client
                    .get_item()
                    .table_name(table)
                    .set_key(Some(key.clone()))
                    .send()
                    .await
                    .map_err(|e| format!("GetItem {table}: {e}"))?;
                if let Some(item) = out.item {
                    stored.insert(format!("{table}{key:?}"), item);
                }
            }
        }
    }
    let lookup_stored = |t: &str, k: &Item| stored.get(&format!("{t}{k:?}")).cloned();
    Ok((
        capacity::breakdown(&requests, &tables, &lookup_stored),
        events,
    ))
}

pub async fn run(a: CostArgs) -> Result<(), String> {
    let (measured, events) = measure(&a).await?;
    let per_event = 1.0 / events.max(1) as f64;
    let s = f64::from(a.subscribers);
    let m = 1_000_000.0;
    let gb_s = match a.arch.as_str() {
        "arm64" => a.price_lambda_gb_s_arm64,
        "x86_64" => a.price_lambda_gb_s_x86,
        other => return Err(format!("--arch must be arm64 or x86_64, not {other:?}")),
    };
    let batches = 1.0 / f64::from(a.batch_size.max(1));
    let chunks = measured.largest_message.div_ceil(64 * 1024).max(1) as f64;
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
            what: format!(
                "dispatch λ: 1/{} invocation × {} ms × {} MB",
                a.batch_size, a.dispatch_ms_per_batch, a.dispatch_mb
            ),
            per_million: batches
                * (a.price_lambda_requests_per_million
                    + m * lambda(a.dispatch_ms_per_batch, a.dispatch_mb)),
            fan_out: true,
        },
    ];
    let mut write_units = 0.0;
    for ((kind, what), t) in &measured.lines {
        let (price, unit, service) = match *kind {
            "write" => (a.price_ddb_wru_per_million, "WRU", "DynamoDB write"),
            "read" => (a.price_ddb_rru_per_million, "RRU", "DynamoDB read"),
            _ => (a.price_sqs_per_million, "billed requests", "SQS"),
        };
        if *kind == "write" {
            write_units += t.units * per_event;
        }
        ours.push(Line {
            what: format!(
                "{service} {what}: {:.2} per event, {:.2} {unit} (avg {} B)",
                t.requests * per_event,
                t.units * per_event,
                t.bytes / (t.requests.max(1.0) as usize),
            ),
            per_million: price * t.units * per_event,
            // The dedup claim is the front's; everything else grows with the fan-out.
            fan_out: !what.starts_with("dedup"),
        });
    }
    ours.push(Line {
        what: format!("CloudWatch Logs: {} bytes", a.log_bytes_per_event),
        per_million: a.price_logs_per_gb * (a.log_bytes_per_event as f64 * m / 1e9),
        fan_out: false,
    });
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
        .filter(|l| l.what.starts_with("API Gateway") || l.what.starts_with("ingest λ"))
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
        "measured: {events} events through the AWS adapters on the emulator, every request recorded; \
         {write_units:.2} write units per event; largest queue message {} B",
        measured.largest_message
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
    println!(
        "  {:>8}  of it fan-out (SQS, dispatch, records)",
        format!("${fan_out:.3}")
    );
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
    println!(
        "total: ${total:.2} per million events × {} subscribers (measured)",
        a.subscribers
    );
    Ok(())
}
