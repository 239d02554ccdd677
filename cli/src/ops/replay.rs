//! `switchboard replay`: send events to subscribers again — one delivery, one event to all
//! its subscriptions, or after an outage every event whose latest attempt failed.

use super::client::{decode, CliError, CliResult, Client};
use super::listing::{fetch, Paging};
use super::output::done;
use super::progress::Progress;
use super::time::parse_time;
use super::Global;
use clap::Args;
use serde::Serialize;
use serde_json::json;
use std::collections::HashSet;
use switchboard_core::domain::{Attempt, AttemptStatus};
use switchboard_core::ports::Page;

#[derive(Args)]
pub struct ReplayArgs {
    /// Replay this event (to every subscription it went to, or to --subscription).
    #[arg(long, required_unless_present = "since")]
    event: Option<String>,
    /// The subscription to replay to.
    #[arg(long, required_unless_present = "event")]
    subscription: Option<String>,
    /// With --subscription and no --event: replay every delivery of the subscription whose
    /// latest attempt since then failed or was exhausted.
    #[arg(long, conflicts_with = "event", requires = "subscription")]
    since: Option<String>,
    /// List what a bulk replay would send, without sending.
    #[arg(long, requires = "since")]
    dry_run: bool,
}

/// A replay the API refused, in the bulk summary.
#[derive(Serialize)]
struct Refused {
    event_id: String,
    status: u16,
    error: String,
}

pub async fn run(g: &Global, c: &Client, a: ReplayArgs) -> CliResult<()> {
    if let Some(event) = a.event {
        let mut body = json!({"event_id": event});
        if let Some(s) = &a.subscription {
            body["subscription_id"] = json!(s);
        }
        let out = c.post("/admin/replay", &body).await?;
        let target = a
            .subscription
            .map(|s| format!(" to {s}"))
            .unwrap_or_else(|| " to its subscriptions".into());
        done(g.json, &out, &format!("replay of {event}{target} queued"));
        return Ok(());
    }
    let (Some(subscription), Some(since)) = (a.subscription, a.since) else {
        return Err(CliError::Usage(
            "replay takes --event [--subscription], or --subscription with --since".into(),
        ));
    };
    let since = parse_time("--since", &since)?;
    let params = vec![
        ("subscription_id", Some(subscription.clone())),
        ("since", Some(since.clone())),
    ];
    let answer = fetch(c, "/admin/deliveries", params, &Paging::everything(1000)).await?;
    let attempts: Page<Attempt> = decode(&answer)?;
    let todo = failed_events(&attempts.items);
    if a.dry_run {
        let plan = json!({"subscription_id": subscription, "since": since, "events": todo});
        done(
            g.json,
            &plan,
            &format!(
                "would replay {} event(s) to {subscription}:\n{}",
                todo.len(),
                todo.join("\n")
            ),
        );
        return Ok(());
    }
    let total = todo.len();
    let progress = Progress::new(total);
    let mut replayed = Vec::new();
    let mut refused: Vec<Refused> = Vec::new();
    for (i, event) in todo.iter().enumerate() {
        let body = json!({"event_id": event, "subscription_id": subscription});
        match c.post("/admin/replay", &body).await {
            Ok(_) => replayed.push(event.clone()),
            Err(CliError::Api {
                status, message, ..
            }) => refused.push(Refused {
                event_id: event.clone(),
                status,
                error: message,
            }),
            Err(other) => {
                progress.finish();
                return Err(other);
            }
        }
        progress.step(i + 1, event);
    }
    progress.finish();
    let summary = json!({"subscription_id": subscription, "since": since, "replayed": replayed, "failed": refused});
    done(
        g.json,
        &summary,
        &format!(
            "replayed {} of {total} failed deliveries to {subscription}{}",
            replayed.len(),
            if refused.is_empty() {
                String::new()
            } else {
                format!("; {} failed (see --json)", refused.len())
            }
        ),
    );
    match refused.first() {
        Some(first) => Err(CliError::Api {
            status: first.status,
            code: "replay_failed".into(),
            message: format!("{} replay(s) failed; first: {}", refused.len(), first.error),
        }),
        None => Ok(()),
    }
}

/// The events whose latest attempt (lists are newest first) failed or was exhausted, oldest
/// first, as they happened.
fn failed_events(newest_first: &[Attempt]) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut todo: Vec<String> = newest_first
        .iter()
        .filter(|a| seen.insert(a.event_id.as_str()))
        .filter(|a| matches!(a.status, AttemptStatus::Failed | AttemptStatus::Exhausted))
        .map(|a| a.event_id.clone())
        .collect();
    todo.reverse();
    todo
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attempt(event: &str, status: &str) -> Attempt {
        serde_json::from_value(json!({
            "event_id": event, "subscription_id": "sub_1", "attempt": 1, "status": status,
            "trigger": "initial", "url": "http://x/", "method": "POST", "request_headers": {},
            "duration_ms": 1, "attempted_at": "2024-11-17T10:41:00Z", "source": "s",
            "event_type": "call.ended"
        }))
        .unwrap()
    }

    #[test]
    fn only_events_whose_latest_attempt_failed_oldest_first() {
        let newest_first = [
            attempt("evt_c", "exhausted"),
            attempt("evt_b", "succeeded"),
            attempt("evt_a", "failed"),
            attempt("evt_b", "failed"),
            attempt("evt_c", "retrying"),
            attempt("evt_d", "retrying"),
        ];
        assert_eq!(failed_events(&newest_first), ["evt_a", "evt_c"]);
    }
}
