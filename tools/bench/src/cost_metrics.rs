//! The cost model's CloudWatch metrics section (issue: observability): what the
//! Switchboard metrics (EMF lines of ingest and dispatch, namespace `Switchboard`) add per
//! million events, from the byte size of the lines the code really writes, plus the
//! monthly charge of the custom metrics (one per distinct dimension combination).
//!
//! EMF costs no API call: the lines are log ingestion (priced per GB like any log line),
//! and CloudWatch bills each metric the lines create per month, whatever the traffic.

use std::time::Duration;
use switchboard_core::domain::Attempt;
use switchboard_core::metrics::emf::{self, CATALOGUE};
use switchboard_core::metrics::{EventOutcome, Observation};

#[derive(clap::Args, Debug, Clone)]
pub struct MetricsCostArgs {
    /// Sources (provider accounts) sending webhooks: multiplies the per-source metrics.
    #[arg(long, default_value_t = 3)]
    pub sources: u32,
    /// Distinct webhook outcomes a source sees in a month (accepted, duplicate, and a
    /// rejection status or two).
    #[arg(long, default_value_t = 3)]
    pub event_outcomes: u32,
    /// USD per custom metric per month (first 10,000 metrics).
    #[arg(long, default_value_t = 0.30)]
    pub price_custom_metric_month: f64,
}

/// The byte length of one EMF line per kind: (ingest line, delivery line).
fn line_bytes() -> Result<(usize, usize), String> {
    let attempt: Attempt = serde_json::from_value(serde_json::json!({
        "event_id": "evt_01M7YBKGPTFE13PYRDH12WDY7R",
        "subscription_id": "sub_01M7YBKGPTFE13PYRDH12WDY7R", "attempt": 1,
        "status": "succeeded", "trigger": "initial", "url": "https://crm.example.com/hook",
        "method": "POST", "request_headers": {}, "http_status": 200, "duration_ms": 120,
        "attempted_at": "2026-11-21T06:09:54Z", "source": "hipcall-main",
        "event_type": "call.ended", "call_id": "2483a75a-56a2-41f1-991b-92b1667e324a"
    }))
    .map_err(|e| e.to_string())?;
    let at = switchboard_core::domain::time::now();
    let stack = "switchboard-prod";
    let ingest = Observation::Event {
        source: "hipcall-main",
        outcome: EventOutcome::Accepted,
        event_id: Some("evt_01M7YBKGPTFE13PYRDH12WDY7R"),
        unparsed: false,
    };
    // Every delivery line carries the trace id of its ingest request.
    let delivery = Observation::Delivery {
        attempt: &attempt,
        lag: Some(Duration::from_millis(900)),
        trace: Some("1-5759e988-bd862e3fe1be46a994272793"),
        hold: None,
    };
    let len = |o: &Observation<'_>| emf::document(o, stack, at).to_string().len() + 1;
    Ok((len(&ingest), len(&delivery)))
}

/// Prints the section; `subscribers` and `retries` (failed attempts retried, per event) as
/// the main model has them.
pub fn print(
    a: &MetricsCostArgs,
    price_logs_per_gb: f64,
    subscribers: u32,
    retries: f64,
) -> Result<f64, String> {
    let (ingest, delivery) = line_bytes()?;
    let s = f64::from(subscribers);
    let bytes = ingest as f64 + (s + retries) * delivery as f64;
    let per_million = price_logs_per_gb * bytes * 1e6 / 1e9;
    // Distinct dimension combinations of every metric, as the catalogue publishes them.
    let mut series = 0u64;
    for m in CATALOGUE {
        for dims in m.dimensions {
            series += dims.iter().fold(1u64, |n, d| {
                n * match *d {
                    "Source" => u64::from(a.sources),
                    "Subscription" => u64::from(subscribers),
                    // succeeded, retrying, exhausted, failed; or the webhook outcomes
                    "Outcome" if m.name == "Events" => u64::from(a.event_outcomes),
                    "Outcome" => 4,
                    // ordering_window, ordering, rate_limit (subscriptions with flow
                    // control only: an upper bound)
                    "Reason" => 3,
                    _ => 1, // Stack: one per stack
                }
            });
        }
    }
    let monthly = series as f64 * a.price_custom_metric_month;
    println!("CloudWatch metrics (EMF, namespace Switchboard; measured lines: ingest {ingest} B, delivery {delivery} B):");
    println!(
        "  {:>8}  per million events: log ingestion of 1 ingest line + {:.2} delivery lines ({bytes:.0} B per event)",
        format!("${per_million:.3}"),
        s + retries
    );
    println!(
        "  {:>8}  per month, whatever the traffic: {series} custom metrics ({} sources, {subscribers} subscriptions) × ${:.2}",
        format!("${monthly:.2}"),
        a.sources,
        a.price_custom_metric_month
    );
    Ok(per_million)
}
