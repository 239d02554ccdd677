//! `switchboard deliveries list`: delivery attempts, by event, subscription, call, status
//! and time.

use super::client::{CliResult, Client};
use super::listing::{fetch, print_page, Listed, Paging};
use super::output::{opt, time};
use super::time::TimeRange;
use super::Global;
use clap::Subcommand;
use switchboard_core::domain::Attempt;

#[derive(Subcommand)]
pub enum DeliveriesCmd {
    /// List delivery attempts; without filters, the most recent.
    List {
        /// Attempts of one event (with --subscription: to one subscription).
        #[arg(long, conflicts_with_all = ["call", "status", "since", "until"])]
        event: Option<String>,
        /// Attempts for one subscription.
        #[arg(long, conflicts_with = "call")]
        subscription: Option<String>,
        /// Attempts of every event of one call.
        #[arg(long)]
        call: Option<String>,
        /// succeeded, retrying, exhausted, failed, held or waiting.
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        range: TimeRange,
        #[command(flatten)]
        paging: Paging,
    },
}

impl Listed for Attempt {
    const HEADERS: &'static [&'static str] = &[
        "ATTEMPTED",
        "EVENT",
        "SUBSCRIPTION",
        "#",
        "STATUS",
        "HTTP",
        "MS",
        "ERROR / RESPONSE",
    ];

    fn row(&self) -> Vec<String> {
        // The error when there is one, else what the subscriber answered.
        let detail = match (self.held_behind.as_deref(), self.error.as_deref()) {
            (Some(behind), _) => format!("held behind {behind}"),
            (None, Some(e)) if !e.is_empty() => e.to_owned(),
            _ => self.response_excerpt.clone().unwrap_or_default(),
        };
        vec![
            time(&self.attempted_at),
            self.event_id.clone(),
            self.subscription_id.clone(),
            self.attempt.to_string(),
            self.status.as_str().to_owned(),
            opt(self.http_status),
            self.duration_ms.to_string(),
            detail,
        ]
    }
}

pub async fn run(g: &Global, c: &Client, cmd: DeliveriesCmd) -> CliResult<()> {
    let DeliveriesCmd::List {
        event,
        subscription,
        call,
        status,
        range,
        paging,
    } = cmd;
    let mut params = vec![
        ("event_id", event),
        ("subscription_id", subscription),
        ("call_id", call),
        ("status", status),
    ];
    params.extend(range.params()?);
    let page = fetch(c, "/admin/deliveries", params, &paging).await?;
    print_page::<Attempt>(g.json, &page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attempt(extra: serde_json::Value) -> Attempt {
        let mut v = json!({
            "event_id": "evt_1", "subscription_id": "sub_1", "attempt": 2,
            "status": "retrying", "trigger": "retry", "url": "http://x/", "method": "POST",
            "request_headers": {}, "duration_ms": 41,
            "attempted_at": "2024-11-17T10:41:00.123456Z", "source": "s",
            "event_type": "call.ended"
        });
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn rows_show_the_error_else_the_response() {
        let answered = attempt(json!({"http_status": 503, "response_excerpt": "busy"}));
        assert_eq!(
            answered.row(),
            [
                "2024-11-17 10:41:00Z",
                "evt_1",
                "sub_1",
                "2",
                "retrying",
                "503",
                "41",
                "busy"
            ]
        );
        let timed_out = attempt(json!({"error_kind": "timeout", "error": "timed out"}));
        let row = timed_out.row();
        assert_eq!((row[5].as_str(), row[7].as_str()), ("", "timed out"));
        assert_eq!(row.len(), Attempt::HEADERS.len());
    }
}
