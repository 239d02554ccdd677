//! `switchboard <noun> <verb>`: the ops commands, over the admin API.
//!
//! Output: a table or key/value view by default, the API's JSON with `--json`.
//! Exit codes: 0 success; 1 the API answered an error (4xx/5xx; its message on stderr);
//! 2 usage or connection problems (bad flags, no endpoint, no credentials, unreachable).

pub mod client;
pub mod output;

use clap::{Args, Subcommand};
use client::{query, segment, CliError, CliResult, Client};
use serde_json::{json, Map, Value};
use std::io::{IsTerminal, Write};

/// Options every ops command takes (before or after the noun). No `Debug`: it holds the token.
#[derive(Args, Clone)]
pub struct Global {
    /// Admin API base URL: `serve`'s URL, or the deployed stack's API URL.
    #[arg(long, global = true, env = "SWITCHBOARD_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Admin token (`serve`). Without one, requests are signed with AWS SigV4.
    #[arg(long, global = true, env = "SWITCHBOARD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum SourcesCmd {
    /// List sources.
    List,
    /// Show one source (secrets redacted).
    Show { id: String },
    /// Create a source.
    Create {
        #[arg(long)]
        id: String,
        /// hipcall, voipappz, callerdesk or generic.
        #[arg(long)]
        provider: String,
        /// `none`, or the verification as JSON, e.g. '{"type":"token","token":"s3cret"}'.
        #[arg(long)]
        verification: String,
        /// IANA zone for providers that send zone-less times.
        #[arg(long)]
        timezone: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Extra fields as a JSON object (mapping, ip_allow, body_limit_bytes, ...).
        #[arg(long)]
        body: Option<String>,
    },
    /// Change fields of a source.
    Update {
        id: String,
        #[arg(long)]
        verification: Option<String>,
        #[arg(long)]
        timezone: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        body: Option<String>,
    },
    /// Delete a source.
    Delete { id: String },
}

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

#[derive(Args)]
pub struct Paging {
    /// Items per page (1-1000).
    #[arg(long)]
    limit: Option<u32>,
    /// Continue from a previous page's next_cursor.
    #[arg(long)]
    cursor: Option<String>,
    /// Follow cursors and print everything (at most 100 pages).
    #[arg(long)]
    all: bool,
}

#[derive(Subcommand)]
pub enum EventsCmd {
    /// Show one event: envelope and raw request.
    Show {
        id: String,
        /// Print only the raw body the provider sent, byte for byte.
        #[arg(long)]
        raw: bool,
    },
    /// List events of a source or of a call, newest first.
    List {
        /// Events received on one source.
        #[arg(long, required_unless_present = "call", conflicts_with = "call")]
        source: Option<String>,
        /// Events of one call, from any source.
        #[arg(long)]
        call: Option<String>,
        /// RFC 3339 time, a date (2024-11-17) or an age (90s, 15m, 2h, 3d).
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
        #[command(flatten)]
        paging: Paging,
    },
}

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
        /// succeeded, retrying, exhausted or failed.
        #[arg(long)]
        status: Option<String>,
        /// RFC 3339 time, a date (2024-11-17) or an age (90s, 15m, 2h, 3d).
        #[arg(long)]
        since: Option<String>,
        /// End of the time range (exclusive); same forms as --since.
        #[arg(long)]
        until: Option<String>,
        #[command(flatten)]
        paging: Paging,
    },
}

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

#[derive(Subcommand)]
pub enum OpsCommand {
    /// Provider sources: where webhooks come from and how they are verified.
    #[command(subcommand)]
    Sources(SourcesCmd),
    /// Subscriptions: where events are delivered.
    #[command(subcommand)]
    Subscriptions(SubscriptionsCmd),
    /// Accepted events.
    #[command(subcommand)]
    Events(EventsCmd),
    /// Delivery attempts.
    #[command(subcommand)]
    Deliveries(DeliveriesCmd),
    /// Send events to subscribers again.
    Replay(ReplayArgs),
}

/// Runs one ops command; returns the exit code.
pub async fn run(global: Global, command: OpsCommand) -> u8 {
    match execute(&global, command).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

async fn execute(g: &Global, command: OpsCommand) -> CliResult<()> {
    let client = Client::new(g.endpoint.clone(), g.token.clone()).await?;
    match command {
        OpsCommand::Sources(c) => sources(g, &client, c).await,
        OpsCommand::Subscriptions(c) => subscriptions(g, &client, c).await,
        OpsCommand::Events(c) => events(g, &client, c).await,
        OpsCommand::Deliveries(c) => deliveries(g, &client, c).await,
        OpsCommand::Replay(a) => replay(g, &client, a).await,
    }
}

fn print_json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
}

fn parse_object(flag: &str, raw: &str) -> CliResult<Map<String, Value>> {
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(CliError::Usage(format!("{flag} must be a JSON object"))),
        Err(e) => Err(CliError::Usage(format!("{flag} is not valid JSON: {e}"))),
    }
}

fn verification(raw: &str) -> CliResult<Value> {
    if raw.trim() == "none" {
        return Ok(json!({"type": "none"}));
    }
    parse_object("--verification", raw).map(Value::Object)
}

/// A time flag: RFC 3339, a date (midnight UTC) or an age before now (`90s`, `15m`, `2h`, `3d`).
pub fn parse_time(flag: &str, raw: &str) -> CliResult<String> {
    let raw = raw.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&chrono::Utc).to_rfc3339());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc().to_rfc3339());
        }
    }
    let age = raw
        .char_indices()
        .last()
        .and_then(|(i, unit)| {
            let n: i64 = raw[..i].parse().ok()?;
            let secs = match unit {
                's' => n,
                'm' => n.checked_mul(60)?,
                'h' => n.checked_mul(3600)?,
                'd' => n.checked_mul(86_400)?,
                _ => return None,
            };
            chrono::Duration::try_seconds(secs)
        })
        .filter(|d| *d >= chrono::Duration::zero());
    match age {
        Some(d) => Ok((chrono::Utc::now() - d).to_rfc3339()),
        None => Err(CliError::Usage(format!(
            "{flag} {raw:?}: use an RFC 3339 time (2024-11-17T10:41:00Z), a date (2024-11-17) or an age (90s, 15m, 2h, 3d)"
        ))),
    }
}

fn opt_time(flag: &str, v: &Option<String>) -> CliResult<Option<String>> {
    v.as_deref().map(|t| parse_time(flag, t)).transpose()
}

// ---- sources ----------------------------------------------------------------------------

async fn sources(g: &Global, c: &Client, cmd: SourcesCmd) -> CliResult<()> {
    match cmd {
        SourcesCmd::List => {
            let page = c.get("/admin/sources").await?;
            if g.json {
                print_json(&page);
            } else {
                let items = items(&page);
                print!(
                    "{}",
                    output::table(
                        &["ID", "PROVIDER", "VERIFICATION", "TIMEZONE", "CREATED"],
                        &output::rows(
                            items,
                            &[
                                "id",
                                "provider",
                                "verification.type",
                                "timezone",
                                "created_at"
                            ]
                        )
                    )
                );
            }
        }
        SourcesCmd::Show { id } => {
            let s = c.get(&format!("/admin/sources/{}", segment(&id))).await?;
            show(g, &s);
        }
        SourcesCmd::Create {
            id,
            provider,
            verification: v,
            timezone,
            description,
            body,
        } => {
            let mut b = Map::new();
            b.insert("id".into(), json!(id));
            b.insert("provider".into(), json!(provider));
            b.insert("verification".into(), verification(&v)?);
            insert_opt(&mut b, "timezone", timezone);
            insert_opt(&mut b, "description", description);
            merge(&mut b, body.as_deref())?;
            let s = c.post("/admin/sources", &Value::Object(b)).await?;
            done(g, &s, &format!("created source {}", cell(&s, "id")));
        }
        SourcesCmd::Update {
            id,
            verification: v,
            timezone,
            description,
            body,
        } => {
            let mut b = Map::new();
            if let Some(v) = v {
                b.insert("verification".into(), verification(&v)?);
            }
            insert_opt(&mut b, "timezone", timezone);
            insert_opt(&mut b, "description", description);
            merge(&mut b, body.as_deref())?;
            nothing_to_change(&b)?;
            let s = c
                .patch(
                    &format!("/admin/sources/{}", segment(&id)),
                    &Value::Object(b),
                )
                .await?;
            done(g, &s, &format!("updated source {id}"));
        }
        SourcesCmd::Delete { id } => {
            c.delete(&format!("/admin/sources/{}", segment(&id)))
                .await?;
            done(g, &json!({"deleted": id}), &format!("deleted source {id}"));
        }
    }
    Ok(())
}

fn items(page: &Value) -> &[Value] {
    page.get("items")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn cell(v: &Value, field: &str) -> String {
    output::cell(output::pointer(v, field))
}

fn show(g: &Global, v: &Value) {
    if g.json {
        print_json(v);
    } else {
        print!("{}", output::details(v));
    }
}

fn done(g: &Global, v: &Value, human: &str) {
    if g.json {
        print_json(v);
    } else {
        println!("{human}");
    }
}

fn insert_opt(b: &mut Map<String, Value>, key: &str, v: Option<String>) {
    if let Some(v) = v {
        b.insert(key.into(), json!(v));
    }
}

fn merge(b: &mut Map<String, Value>, body: Option<&str>) -> CliResult<()> {
    if let Some(raw) = body {
        b.extend(parse_object("--body", raw)?);
    }
    Ok(())
}

fn nothing_to_change(b: &Map<String, Value>) -> CliResult<()> {
    if b.is_empty() {
        Err(CliError::Usage(
            "nothing to change: give at least one field flag (see --help)".into(),
        ))
    } else {
        Ok(())
    }
}

// ---- subscriptions ----------------------------------------------------------------------

fn subscription_body(f: SubscriptionFields) -> CliResult<Map<String, Value>> {
    let mut b = Map::new();
    insert_opt(&mut b, "url", f.url);
    if !f.event_types.is_empty() {
        let types: Vec<String> = f
            .event_types
            .iter()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect();
        b.insert("event_types".into(), json!(types));
    }
    insert_opt(&mut b, "method", f.method.map(|m| m.to_uppercase()));
    insert_opt(&mut b, "format", f.format);
    let template = match f.template_file {
        Some(path) => Some(std::fs::read_to_string(&path).map_err(|e| {
            CliError::Usage(format!(
                "cannot read --template-file {}: {e}",
                path.display()
            ))
        })?),
        None => f.template,
    };
    insert_opt(&mut b, "template", template);
    insert_opt(&mut b, "source", f.source);
    if !f.headers.is_empty() {
        let mut h = Map::new();
        for raw in &f.headers {
            let (k, v) = raw
                .split_once('=')
                .ok_or_else(|| CliError::Usage(format!("--header {raw:?}: use NAME=VALUE")))?;
            h.insert(k.trim().to_owned(), json!(v));
        }
        b.insert("headers".into(), Value::Object(h));
    }
    if let Some(t) = f.timeout_ms {
        b.insert("timeout_ms".into(), json!(t));
    }
    if !f.retry_schedule.is_empty() {
        b.insert("retry_schedule_secs".into(), json!(f.retry_schedule));
    }
    insert_opt(&mut b, "description", f.description);
    merge(&mut b, f.body.as_deref())?;
    Ok(b)
}

async fn subscriptions(g: &Global, c: &Client, cmd: SubscriptionsCmd) -> CliResult<()> {
    match cmd {
        SubscriptionsCmd::List => {
            let page = c.get("/admin/subscriptions").await?;
            if g.json {
                print_json(&page);
            } else {
                let rows: Vec<Vec<String>> = items(&page)
                    .iter()
                    .map(|s| {
                        vec![
                            cell(s, "id"),
                            output::time(&cell(s, "created_at")),
                            if s.get("enabled").and_then(Value::as_bool) == Some(true) {
                                "enabled".into()
                            } else {
                                "disabled".into()
                            },
                            cell(s, "method"),
                            cell(s, "url"),
                            cell(s, "event_types"),
                            cell(s, "format"),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    output::table(
                        &["ID", "CREATED", "STATUS", "METHOD", "URL", "EVENTS", "FORMAT"],
                        &rows
                    )
                );
            }
        }
        SubscriptionsCmd::Show { id } => {
            let s = c
                .get(&format!("/admin/subscriptions/{}", segment(&id)))
                .await?;
            show(g, &s);
        }
        SubscriptionsCmd::Create { fields, disabled } => {
            let mut b = subscription_body(fields)?;
            if disabled {
                b.insert("enabled".into(), json!(false));
            }
            let s = c.post("/admin/subscriptions", &Value::Object(b)).await?;
            done(
                g,
                &s,
                &format!(
                    "created subscription {}\nsigning secret (shown once): {}",
                    cell(&s, "id"),
                    cell(&s, "secret")
                ),
            );
        }
        SubscriptionsCmd::Update {
            id,
            fields,
            enable,
            disable,
        } => {
            let mut b = subscription_body(fields)?;
            if enable {
                b.insert("enabled".into(), json!(true));
            }
            if disable {
                b.insert("enabled".into(), json!(false));
            }
            nothing_to_change(&b)?;
            let s = c
                .patch(
                    &format!("/admin/subscriptions/{}", segment(&id)),
                    &Value::Object(b),
                )
                .await?;
            let state = if s.get("enabled").and_then(Value::as_bool) == Some(true) {
                "enabled"
            } else {
                "disabled"
            };
            done(g, &s, &format!("updated subscription {id} ({state})"));
        }
        SubscriptionsCmd::Delete { id } => {
            c.delete(&format!("/admin/subscriptions/{}", segment(&id)))
                .await?;
            done(
                g,
                &json!({"deleted": id}),
                &format!("deleted subscription {id}"),
            );
        }
        SubscriptionsCmd::RotateSecret { id } => {
            let s = c
                .post(
                    &format!("/admin/subscriptions/{}/rotate-secret", segment(&id)),
                    &json!({}),
                )
                .await?;
            let secret = cell(&s, "secret");
            done(
                g,
                &s,
                &format!(
                    "rotated the secret of {id}; the previous one signs for 24 more hours\nnew signing secret (shown once): {secret}"
                ),
            );
        }
    }
    Ok(())
}

// ---- events and deliveries --------------------------------------------------------------

/// Reads one page, or every page with `--all`; returns what `--json` prints.
async fn list(
    c: &Client,
    path: &str,
    params: Vec<(&str, Option<String>)>,
    p: &Paging,
) -> CliResult<Value> {
    let mut params = params;
    params.push(("limit", p.limit.map(|l| l.to_string())));
    let mut cursor = p.cursor.clone();
    let mut all: Vec<Value> = Vec::new();
    for _ in 0..100 {
        let mut q = params.clone();
        q.push(("cursor", cursor.clone()));
        let page = c.get(&format!("{path}{}", query(&q))).await?;
        if !p.all {
            return Ok(page);
        }
        all.extend(items(&page).iter().cloned());
        match page.get("next_cursor").and_then(Value::as_str) {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(json!({"items": all, "next_cursor": null})),
        }
    }
    Ok(json!({"items": all, "next_cursor": cursor}))
}

fn more_hint(g: &Global, page: &Value) {
    if let Some(next) = page.get("next_cursor").and_then(Value::as_str) {
        if !g.json {
            eprintln!("more: add --cursor {next} (or --all)");
        }
    }
}

async fn events(g: &Global, c: &Client, cmd: EventsCmd) -> CliResult<()> {
    match cmd {
        EventsCmd::Show { id, raw } => {
            let e = c.get(&format!("/admin/events/{}", segment(&id))).await?;
            let body = output::pointer(&e, "raw.body")
                .and_then(Value::as_str)
                .map(|b| {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD.decode(b)
                });
            if raw {
                let bytes = body
                    .transpose()
                    .map_err(|_| CliError::Connection("the raw body is not base64".into()))?
                    .unwrap_or_default();
                std::io::stdout()
                    .write_all(&bytes)
                    .map_err(|e| CliError::Connection(format!("cannot write: {e}")))?;
                return Ok(());
            }
            if g.json {
                print_json(&e);
                return Ok(());
            }
            let envelope = e.get("envelope").cloned().unwrap_or(Value::Null);
            print!("{}", output::details(&envelope));
            println!(
                "raw request: {} {}{}",
                cell(&e, "raw.method"),
                cell(&e, "raw.content_type"),
                e.pointer("/raw/query")
                    .and_then(Value::as_str)
                    .map(|q| format!(" ?{q}"))
                    .unwrap_or_default()
            );
            match body {
                Some(Ok(bytes)) => match String::from_utf8(bytes) {
                    Ok(text) => println!("raw body:\n{text}"),
                    Err(e) => println!(
                        "raw body: {} bytes, not UTF-8 (events show {id} --raw prints them)",
                        e.into_bytes().len()
                    ),
                },
                _ => println!("raw body: (none)"),
            }
        }
        EventsCmd::List {
            source,
            call,
            since,
            until,
            paging,
        } => {
            let params = vec![
                ("source", source),
                ("call_id", call),
                ("since", opt_time("--since", &since)?),
                ("until", opt_time("--until", &until)?),
            ];
            let page = list(c, "/admin/events", params, &paging).await?;
            if g.json {
                print_json(&page);
            } else {
                print!(
                    "{}",
                    output::table(
                        &["RECEIVED", "ID", "TYPE", "SOURCE", "CALL", "PROVIDER EVENT"],
                        &output::rows(
                            items(&page),
                            &[
                                "received_at",
                                "id",
                                "type",
                                "source",
                                "call.id",
                                "provider_event"
                            ]
                        )
                    )
                );
                more_hint(g, &page);
            }
        }
    }
    Ok(())
}

const DELIVERY_COLUMNS: [&str; 8] = [
    "ATTEMPTED",
    "EVENT",
    "SUBSCRIPTION",
    "#",
    "STATUS",
    "HTTP",
    "MS",
    "ERROR / RESPONSE",
];

fn delivery_rows(items: &[Value]) -> Vec<Vec<String>> {
    items
        .iter()
        .map(|a| {
            let detail = match cell(a, "error") {
                e if !e.is_empty() => e,
                _ => cell(a, "response_excerpt"),
            };
            vec![
                output::time(&cell(a, "attempted_at")),
                cell(a, "event_id"),
                cell(a, "subscription_id"),
                cell(a, "attempt"),
                cell(a, "status"),
                cell(a, "http_status"),
                cell(a, "duration_ms"),
                detail,
            ]
        })
        .collect()
}

async fn deliveries(g: &Global, c: &Client, cmd: DeliveriesCmd) -> CliResult<()> {
    let DeliveriesCmd::List {
        event,
        subscription,
        call,
        status,
        since,
        until,
        paging,
    } = cmd;
    let params = vec![
        ("event_id", event),
        ("subscription_id", subscription),
        ("call_id", call),
        ("status", status),
        ("since", opt_time("--since", &since)?),
        ("until", opt_time("--until", &until)?),
    ];
    let page = list(c, "/admin/deliveries", params, &paging).await?;
    if g.json {
        print_json(&page);
    } else {
        print!(
            "{}",
            output::table(&DELIVERY_COLUMNS, &delivery_rows(items(&page)))
        );
        more_hint(g, &page);
    }
    Ok(())
}

// ---- replay -----------------------------------------------------------------------------

async fn replay(g: &Global, c: &Client, a: ReplayArgs) -> CliResult<()> {
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
        done(g, &out, &format!("replay of {event}{target} queued"));
        return Ok(());
    }
    let (Some(subscription), Some(since)) = (a.subscription, a.since) else {
        return Err(CliError::Usage(
            "replay takes --event [--subscription], or --subscription with --since".into(),
        ));
    };
    let since = parse_time("--since", &since)?;
    // The latest attempt per event since then (lists are newest first); replay the failed.
    let params = vec![
        ("subscription_id", Some(subscription.clone())),
        ("since", Some(since.clone())),
    ];
    let paging = Paging {
        limit: Some(1000),
        cursor: None,
        all: true,
    };
    let page = list(c, "/admin/deliveries", params, &paging).await?;
    let mut seen = std::collections::HashSet::new();
    let mut todo: Vec<String> = Vec::new();
    for attempt in items(&page) {
        let event = cell(attempt, "event_id");
        if seen.insert(event.clone())
            && matches!(cell(attempt, "status").as_str(), "failed" | "exhausted")
        {
            todo.push(event);
        }
    }
    todo.reverse(); // oldest first, as they happened
    if a.dry_run {
        let plan = json!({"subscription_id": subscription, "since": since, "events": todo});
        done(
            g,
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
    let mut failed = Vec::new();
    for (i, event) in todo.iter().enumerate() {
        let body = json!({"event_id": event, "subscription_id": subscription});
        match c.post("/admin/replay", &body).await {
            Ok(_) => replayed.push(event.clone()),
            Err(CliError::Api {
                status, message, ..
            }) => failed.push(json!({"event_id": event, "status": status, "error": message})),
            Err(other) => {
                progress.finish();
                return Err(other);
            }
        }
        progress.step(i + 1, event);
    }
    progress.finish();
    let summary = json!({"subscription_id": subscription, "since": since, "replayed": replayed, "failed": failed});
    done(
        g,
        &summary,
        &format!(
            "replayed {} of {total} failed deliveries to {subscription}{}",
            replayed.len(),
            if failed.is_empty() {
                String::new()
            } else {
                format!("; {} failed (see --json)", failed.len())
            }
        ),
    );
    if let Some(first) = failed.first() {
        return Err(CliError::Api {
            status: first
                .get("status")
                .and_then(Value::as_u64)
                .and_then(|s| u16::try_from(s).ok())
                .unwrap_or(500),
            code: "replay_failed".into(),
            message: format!(
                "{} replay(s) failed; first: {}",
                failed.len(),
                cell(first, "error")
            ),
        });
    }
    Ok(())
}

/// Bulk replay progress on stderr: a bar on a terminal, one line per step otherwise.
struct Progress {
    total: usize,
    tty: bool,
}

impl Progress {
    fn new(total: usize) -> Self {
        let tty = std::io::stderr().is_terminal();
        eprintln!("replaying {total} delivery(ies)");
        Self { total, tty }
    }

    fn step(&self, done: usize, item: &str) {
        let total = self.total.max(1);
        if self.tty {
            let width = 30;
            let filled = done * width / total;
            eprint!(
                "\r[{}{}] {done}/{} {item}   ",
                "#".repeat(filled),
                ".".repeat(width - filled),
                self.total
            );
        } else {
            eprintln!("[{done}/{}] {item}", self.total);
        }
    }

    fn finish(&self) {
        if self.tty {
            eprintln!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(
            parse_time("--since", "2024-11-17T13:41:00+03:00").unwrap(),
            "2024-11-17T10:41:00+00:00"
        );
        assert_eq!(
            parse_time("--since", "2024-11-17").unwrap(),
            "2024-11-17T00:00:00+00:00"
        );
        let two_hours = parse_time("--since", "2h").unwrap();
        let t = chrono::DateTime::parse_from_rfc3339(&two_hours).unwrap();
        let age = chrono::Utc::now() - t.with_timezone(&chrono::Utc);
        assert!((age.num_seconds() - 7200).abs() < 5);
        for bad in ["yesterday", "2h30", "-5m", "", "5w"] {
            assert!(parse_time("--since", bad).is_err(), "{bad}");
        }
    }
}
