//! `switchboard subscriptions ...`: where events are delivered, in which shape.

use super::body::Body;
use super::client::{CliError, CliResult, Client};
use super::collection::SUBSCRIPTIONS;
use super::listing::Listed;
use super::output::{done_as, time, wire_name};
use super::Global;
use clap::{Args, Subcommand};
use serde_json::json;
use std::collections::BTreeMap;
use switchboard_core::domain::Subscription;

#[derive(Args, Default)]
pub struct SubscriptionFields {
    /// Where deliveries go.
    #[arg(long)]
    url: Option<String>,
    /// Event types (repeat or comma-separate): call.ended, call.*, *.
    #[arg(long = "event-type", value_delimiter = ',')]
    event_types: Vec<String>,
    /// POST, PUT or GET.
    #[arg(long)]
    method: Option<String>,
    /// envelope, raw or template.
    #[arg(long)]
    format: Option<String>,
    /// Body template (format template).
    #[arg(long, conflicts_with = "template_file")]
    template: Option<String>,
    /// Read the body template from a file.
    #[arg(long)]
    template_file: Option<std::path::PathBuf>,
    /// Only events of this source.
    #[arg(long)]
    source: Option<String>,
    /// Extra header NAME=VALUE (repeatable).
    #[arg(long = "header")]
    headers: Vec<String>,
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Retry delays in seconds after the first attempt, e.g. 5,300,1800.
    #[arg(long, value_delimiter = ',')]
    retry_schedule: Vec<u64>,
    #[arg(long)]
    description: Option<String>,
    /// none, or call: a call's events go one at a time, in order.
    #[arg(long)]
    ordering: Option<String>,
    /// With --ordering call: how long each event waits for earlier ones (0-10000).
    #[arg(long)]
    ordering_window_ms: Option<u32>,
    /// At most N deliveries per second to this subscription (1-10000).
    #[arg(long, value_name = "N", conflicts_with = "no_rate_limit")]
    rate_limit: Option<u32>,
    /// Remove the rate limit.
    #[arg(long)]
    no_rate_limit: bool,
    /// Emit `delivery.failing` after N failed attempts in a row (1-1000; default: the
    /// deployment's SWITCHBOARD_FAILING_AFTER).
    #[arg(long, value_name = "N", conflicts_with = "default_failing_after")]
    failing_after: Option<u32>,
    /// Use the deployment's default for --failing-after again.
    #[arg(long)]
    default_failing_after: bool,
    /// Any fields as a JSON object (merged last).
    #[arg(long)]
    body: Option<String>,
}

#[derive(Subcommand)]
pub enum SubscriptionsCmd {
    /// List subscriptions (date created, status, URL, method).
    List,
    /// Show one subscription, with its body template.
    Show { id: String },
    /// Create a subscription; prints its signing secret once.
    Create {
        #[command(flatten)]
        fields: SubscriptionFields,
        /// Create it disabled.
        #[arg(long)]
        disabled: bool,
    },
    /// Change a subscription (enable, disable, edit).
    Update {
        id: String,
        #[command(flatten)]
        fields: SubscriptionFields,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
    },
    /// Delete a subscription.
    Delete { id: String },
    /// Issue a new signing secret (the old one signs for 24 more hours).
    RotateSecret { id: String },
}

impl Listed for Subscription {
    const HEADERS: &'static [&'static str] = &[
        "ID", "CREATED", "STATUS", "METHOD", "URL", "EVENTS", "FORMAT",
    ];

    fn row(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            time(&self.created_at),
            status(self).to_owned(),
            self.method.as_str().to_owned(),
            self.url.clone(),
            self.event_types.join(","),
            wire_name(&self.format),
        ]
    }
}

fn status(s: &Subscription) -> &'static str {
    if s.enabled {
        "enabled"
    } else {
        "disabled"
    }
}

/// The body of a create or update from the field flags (`--body` merged last).
fn body(f: SubscriptionFields) -> CliResult<Body> {
    let mut b = Body::default();
    b.set_opt("url", f.url);
    if !f.event_types.is_empty() {
        let types: Vec<&str> = f
            .event_types
            .iter()
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
            .collect();
        b.set("event_types", types);
    }
    b.set_opt("method", f.method.map(|m| m.to_uppercase()));
    b.set_opt("format", f.format);
    let template = match f.template_file {
        Some(path) => Some(std::fs::read_to_string(&path).map_err(|e| {
            CliError::Usage(format!(
                "cannot read --template-file {}: {e}",
                path.display()
            ))
        })?),
        None => f.template,
    };
    b.set_opt("template", template);
    b.set_opt("source", f.source);
    if !f.headers.is_empty() {
        let mut headers = BTreeMap::new();
        for raw in &f.headers {
            let (k, v) = raw
                .split_once('=')
                .ok_or_else(|| CliError::Usage(format!("--header {raw:?}: use NAME=VALUE")))?;
            headers.insert(k.trim(), v);
        }
        b.set("headers", headers);
    }
    b.set_opt("timeout_ms", f.timeout_ms);
    if !f.retry_schedule.is_empty() {
        b.set("retry_schedule_secs", f.retry_schedule);
    }
    b.set_opt("description", f.description);
    b.set_opt("ordering", f.ordering.map(|o| o.to_lowercase()));
    b.set_opt("ordering_window_ms", f.ordering_window_ms);
    b.set_opt("rate_limit_per_second", f.rate_limit);
    if f.no_rate_limit {
        b.set("rate_limit_per_second", serde_json::Value::Null);
    }
    b.set_opt("failing_after", f.failing_after);
    if f.default_failing_after {
        b.set("failing_after", serde_json::Value::Null);
    }
    b.merge(f.body.as_deref())?;
    Ok(b)
}

pub async fn run(g: &Global, c: &Client, cmd: SubscriptionsCmd) -> CliResult<()> {
    match cmd {
        SubscriptionsCmd::List => SUBSCRIPTIONS.list::<Subscription>(g, c).await?,
        SubscriptionsCmd::Show { id } => SUBSCRIPTIONS.show::<Subscription>(g, c, &id).await?,
        SubscriptionsCmd::Create { fields, disabled } => {
            let mut b = body(fields)?;
            if disabled {
                b.set("enabled", false);
            }
            let answer = c.post(SUBSCRIPTIONS.path, &b.into_value()).await?;
            done_as(g.json, &answer, |s: Subscription| {
                format!(
                    "created subscription {}\nsigning secret (shown once): {}",
                    s.id,
                    s.secret.expose()
                )
            })?;
        }
        SubscriptionsCmd::Update {
            id,
            fields,
            enable,
            disable,
        } => {
            let mut b = body(fields)?;
            if enable {
                b.set("enabled", true);
            }
            if disable {
                b.set("enabled", false);
            }
            let answer = c.patch(&SUBSCRIPTIONS.item(&id), &b.changes()?).await?;
            done_as(g.json, &answer, |s: Subscription| {
                format!("updated subscription {id} ({})", status(&s))
            })?;
        }
        SubscriptionsCmd::Delete { id } => SUBSCRIPTIONS.delete(g, c, &id).await?,
        SubscriptionsCmd::RotateSecret { id } => {
            let answer = c
                .post(
                    &format!("{}/rotate-secret", SUBSCRIPTIONS.item(&id)),
                    &json!({}),
                )
                .await?;
            done_as(g.json, &answer, |s: Subscription| {
                format!(
                    "rotated the secret of {id}; the previous one signs for 24 more hours\nnew signing secret (shown once): {}",
                    s.secret.expose()
                )
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_bodies() {
        let listed: Subscription = serde_json::from_value(json!({
            "id": "sub_1", "url": "http://127.0.0.1:9/crm", "method": "PUT", "enabled": false,
            "event_types": ["call.ended", "call.answered"], "format": "template",
            "template": "{}", "secret": "[redacted]",
            "created_at": "2024-11-17T10:41:00Z", "updated_at": "2024-11-17T10:41:00Z"
        }))
        .unwrap();
        assert_eq!(
            listed.row(),
            [
                "sub_1",
                "2024-11-17 10:41:00Z",
                "disabled",
                "PUT",
                "http://127.0.0.1:9/crm",
                "call.ended,call.answered",
                "template"
            ]
        );
        let cases = [
            (
                "fields",
                SubscriptionFields {
                    event_types: vec![" call.* ".into(), String::new()],
                    method: Some("get".into()),
                    headers: vec!["X-Tenant= acme".into()],
                    retry_schedule: vec![5, 300],
                    ..Default::default()
                },
                json!({"event_types": ["call.*"], "method": "GET", "headers": {"X-Tenant": " acme"},
                       "retry_schedule_secs": [5, 300]}),
            ),
            (
                "flow",
                SubscriptionFields {
                    ordering: Some("Call".into()),
                    ordering_window_ms: Some(2000),
                    rate_limit: Some(20),
                    ..Default::default()
                },
                json!({"ordering": "call", "ordering_window_ms": 2000, "rate_limit_per_second": 20}),
            ),
            (
                "unlimited",
                SubscriptionFields {
                    no_rate_limit: true,
                    ..Default::default()
                },
                json!({"rate_limit_per_second": null}),
            ),
            (
                "failing",
                SubscriptionFields {
                    failing_after: Some(3),
                    ..Default::default()
                },
                json!({"failing_after": 3}),
            ),
            (
                "default failing",
                SubscriptionFields {
                    default_failing_after: true,
                    ..Default::default()
                },
                json!({"failing_after": null}),
            ),
        ];
        for (name, fields, want) in cases {
            assert_eq!(body(fields).unwrap().into_value(), want, "{name}");
        }
        let bad = SubscriptionFields {
            headers: vec!["no-equals".into()],
            ..Default::default()
        };
        assert!(body(bad).is_err());
    }
}
