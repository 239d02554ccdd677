//! One OpenAPI operation per admin handler of the route table: the match in [`operation`]
//! is exhaustive, so a handler cannot be added without saying what it does here.

use super::super::router::Handler;
use serde_json::{json, Map, Value};

pub(super) fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": schema_ref("Error")}}
    })
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn page_of(item: &str) -> Value {
    json!({
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": schema_ref(item)},
            "next_cursor": {
                "type": "string",
                "nullable": true,
                "description": "Opaque; pass as `cursor` for the next page. Null on the last page."
            }
        }
    })
}

fn query_param(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description,
           "schema": {"type": "string", "minLength": 1}})
}

fn time_param(name: &str, description: &str) -> Value {
    query_param(
        name,
        description,
        json!({"type": "string", "format": "date-time", "example": "2024-11-17T10:41:00Z"}),
    )
}

fn paging_params() -> Vec<Value> {
    vec![
        query_param(
            "cursor",
            "The `next_cursor` of the previous page.",
            json!({"type": "string", "minLength": 1}),
        ),
        query_param(
            "limit",
            "Items per page (default 100).",
            json!({"type": "integer", "minimum": 1, "maximum": 1000}),
        ),
    ]
}

/// One operation: summary, parameters, optional JSON body, and responses keyed by status.
struct Op {
    id: &'static str,
    tag: &'static str,
    summary: &'static str,
    description: Option<&'static str>,
    params: Vec<Value>,
    body: Option<Value>,
    responses: Vec<(&'static str, Value)>,
}

impl Op {
    fn new(id: &'static str, tag: &'static str, summary: &'static str) -> Self {
        Self {
            id,
            tag,
            summary,
            description: None,
            params: Vec::new(),
            body: None,
            responses: Vec::new(),
        }
    }
    fn describe(mut self, text: &'static str) -> Self {
        self.description = Some(text);
        self
    }
    fn params(mut self, params: Vec<Value>) -> Self {
        self.params.extend(params);
        self
    }
    fn body(mut self, schema: &str) -> Self {
        self.body = Some(json!({
            "required": true,
            "content": {"application/json": {"schema": schema_ref(schema)}}
        }));
        self
    }
    fn ok(mut self, status: &'static str, response: Value) -> Self {
        self.responses.push((status, response));
        self
    }
    fn errors(mut self, statuses: &[&'static str]) -> Self {
        for s in statuses {
            let text = match *s {
                "400" => "Invalid request: body, filter, time, cursor or limit.",
                "401" => "Missing or invalid credentials.",
                "404" => "No such item.",
                "405" => "Method not allowed on this path.",
                "409" => "Conflict: an item with this id exists (create), the item kept changing concurrently while this update was applied (retry it), or the subscription to replay to is disabled (`subscription_disabled`: enable it first).",
                "413" => "Request body over 256 KiB, or a record that would not fit one stored item (392 KiB).",
                _ => "A backing store is unavailable; retry later.",
            };
            self.responses.push((s, error_response(text)));
        }
        self
    }
    fn build(self) -> Value {
        let mut op = Map::new();
        op.insert("operationId".into(), json!(self.id));
        op.insert("tags".into(), json!([self.tag]));
        op.insert("summary".into(), json!(self.summary));
        if let Some(d) = self.description {
            op.insert("description".into(), json!(d));
        }
        if !self.params.is_empty() {
            op.insert("parameters".into(), Value::Array(self.params));
        }
        if let Some(b) = self.body {
            op.insert("requestBody".into(), b);
        }
        let mut responses = Map::new();
        for (status, r) in self.responses {
            responses.insert(status.into(), r);
        }
        op.insert("responses".into(), Value::Object(responses));
        Value::Object(op)
    }
}

/// Every admin operation's standard failure statuses (auth, store).
const COMMON: [&str; 2] = ["401", "503"];

fn with_common(op: Op, more: &[&'static str]) -> Value {
    let mut statuses: Vec<&'static str> = more.to_vec();
    statuses.extend(COMMON);
    statuses.sort_unstable();
    op.errors(&statuses).build()
}

/// The operation a handler serves, or `None` for what the admin document does not cover
/// (the ingest webhooks).
pub fn operation(handler: Handler) -> Option<Value> {
    use Handler::*;
    let op = match handler {
        Hook => return None,
        Console => {
            let mut op = Op::new("getConsole", "meta", "The ops console page")
                .describe("A self-contained HTML page (no external assets). Loading it needs no credentials; it asks for the admin token and calls this API with it.")
                .ok("200", json!({"description": "The page.", "content": {"text/html": {"schema": {"type": "string"}}}}))
                .build();
            if let Some(o) = op.as_object_mut() {
                o.insert("security".into(), json!([]));
            }
            op
        }
        OpenApi => with_common(
            Op::new("getOpenApi", "meta", "This document")
                .ok("200", json_response("The OpenAPI document.", json!({"type": "object"}))),
            &[],
        ),
        Metrics => with_common(
            Op::new("getMetrics", "meta", "Metrics in Prometheus (OpenMetrics) text format")
                .describe("Counters and histograms of webhooks and deliveries, and the queue depth, for a Prometheus scrape with the admin token as its bearer `authorization`. Served by `switchboard serve`; a deployed stack publishes the same metrics to CloudWatch (namespace `Switchboard`) and answers 404.")
                .ok("200", json!({"description": "The exposition.", "content": {"application/openmetrics-text": {"schema": {"type": "string"}}}})),
            &["404"],
        ),
        ListSources => with_common(
            Op::new("listSources", "sources", "List sources")
                .ok("200", json_response("Every source, by id (secrets redacted).", page_of("Source"))),
            &[],
        ),
        CreateSource => with_common(
            Op::new("createSource", "sources", "Create a source")
                .body("SourceCreate")
                .ok("201", json_response("Created (secrets redacted).", schema_ref("Source"))),
            &["400", "409", "413"],
        ),
        GetSource => with_common(
            Op::new("getSource", "sources", "Show a source")
                .ok("200", json_response("The source (secrets redacted).", schema_ref("Source"))),
            &["404"],
        ),
        UpdateSource => with_common(
            Op::new("updateSource", "sources", "Update a source")
                .describe("Changes only the fields given; `id` cannot change.")
                .body("SourceUpdate")
                .ok("200", json_response("Updated (secrets redacted).", schema_ref("Source"))),
            &["400", "404", "413"],
        ),
        DeleteSource => with_common(
            Op::new("deleteSource", "sources", "Delete a source")
                .ok("204", json!({"description": "Deleted."})),
            &["404"],
        ),
        ListSubscriptions => with_common(
            Op::new("listSubscriptions", "subscriptions", "List subscriptions")
                .ok("200", json_response("Every subscription (secrets redacted).", page_of("Subscription"))),
            &[],
        ),
        CreateSubscription => with_common(
            Op::new("createSubscription", "subscriptions", "Create a subscription")
                .describe("The answer carries the signing secret; it is shown only here (and by rotate-secret).")
                .body("SubscriptionCreate")
                .ok("201", json_response("Created, with its secret.", schema_ref("Subscription"))),
            &["400", "413"],
        ),
        GetSubscription => with_common(
            Op::new("getSubscription", "subscriptions", "Show a subscription (with its body template)")
                .ok("200", json_response("The subscription (secrets redacted).", schema_ref("Subscription"))),
            &["404"],
        ),
        UpdateSubscription => with_common(
            Op::new("updateSubscription", "subscriptions", "Update a subscription (enable, disable, edit)")
                .describe("Changes only the fields given, applied to the current record (a concurrent change to other fields is kept).")
                .body("SubscriptionUpdate")
                .ok("200", json_response("Updated (secrets redacted).", schema_ref("Subscription"))),
            &["400", "404", "409", "413"],
        ),
        DeleteSubscription => with_common(
            Op::new("deleteSubscription", "subscriptions", "Delete a subscription")
                .ok("204", json!({"description": "Deleted."})),
            &["404"],
        ),
        RotateSecret => with_common(
            Op::new("rotateSubscriptionSecret", "subscriptions", "Rotate a subscription's signing secret")
                .describe("A new secret signs from now on; the previous one keeps signing for 24 hours. The answer shows the new secret once.")
                .ok("200", json_response("The subscription with its new secret.", json!({"type": "object"}))),
            &["404", "409"],
        ),
        ListEvents => with_common(
            Op::new("listEvents", "events", "List events of a source or of a call")
                .describe("Exactly one of `source` or `call_id`. Newest first; `since` inclusive, `until` exclusive. Envelopes only: show one event for its raw request.")
                .params(vec![
                    query_param("source", "Source id.", json!({"type": "string", "minLength": 1})),
                    query_param("call_id", "Call id.", json!({"type": "string", "minLength": 1})),
                    time_param("since", "Received at or after (RFC 3339)."),
                    time_param("until", "Received before (RFC 3339)."),
                ])
                .params(paging_params())
                .ok("200", json_response("A page of envelopes, newest first.", page_of("Envelope"))),
            &["400"],
        ),
        GetEvent => with_common(
            Op::new("getEvent", "events", "Show an event: envelope and raw request")
                .ok("200", json_response("The stored event.", schema_ref("StoredEvent"))),
            &["404"],
        ),
        ListDeliveries => with_common(
            Op::new("listDeliveries", "deliveries", "List delivery attempts")
                .describe("Filters: `event_id` (optionally with `subscription_id`; attempts in subscription, attempt order); or `subscription_id`, `call_id` or `status` over `since`/`until` (`status` combines with `subscription_id` or `call_id`); or none: the most recent attempts. Time-ordered lists are newest first; `since` inclusive, `until` exclusive. Without `since`, the recent list covers 31 days.")
                .params(vec![
                    query_param("event_id", "Attempts of one event.", json!({"type": "string", "minLength": 1})),
                    query_param("subscription_id", "Attempts for one subscription.", json!({"type": "string", "minLength": 1})),
                    query_param("call_id", "Attempts of every event of one call.", json!({"type": "string", "minLength": 1})),
                    query_param("status", "Attempt outcome.", schema_ref("AttemptStatus")),
                    time_param("since", "Attempted at or after (RFC 3339)."),
                    time_param("until", "Attempted before (RFC 3339)."),
                ])
                .params(paging_params())
                .ok("200", json_response("A page of attempts.", page_of("Attempt"))),
            &["400"],
        ),
        CallTimeline => with_common(
            Op::new("getCallTimeline", "events", "Everything about one call: its events and each subscription's outcome")
                .describe("Every event of the call in `occurred_at` order (then arrival), each with, per subscription it went to, the latest attempt's status, the number of attempts, and the last HTTP status or error. 404 when no event of the call is on record.")
                .ok("200", json_response("The call's timeline.", schema_ref("CallTimeline"))),
            &["404"],
        ),
        Replay => with_common(
            Op::new("replay", "deliveries", "Replay deliveries")
                .describe("One event to one subscription (`event_id` + `subscription_id`), one event to all its subscriptions (`event_id`), or every failed delivery of a subscription since a time (`subscription_id` + `since`).")
                .body("ReplayRequest")
                .ok("200", json_response("Replay queued.", json!({"type": "object"})))
                .ok("202", json_response("Replay queued.", json!({"type": "object"}))),
            &["400", "404", "409", "413"],
        ),
        ListDeadLetters => with_common(
            Op::new("listDeadLetters", "dead-letters", "List dead-lettered queue messages")
                .describe("Messages the events queue gave up on after its maximum receive count, oldest first, each with its raw body and, when the body decodes, its kind, event id and type (or subscription id). `reason` says why when the body itself is the cause. On AWS the dead-letter queue cannot be paged: one page of up to `limit` messages, `next_cursor` null.")
                .params(paging_params())
                .ok("200", json_response("A page of dead letters.", page_of("DeadLetter"))),
            &["400"],
        ),
        RedriveDeadLetters => with_common(
            Op::new("redriveDeadLetters", "dead-letters", "Send dead letters back to the events queue")
                .describe("`{\"ids\": [...]}` (message ids from the listing) or `{\"all\": true, \"limit\": N}` (the oldest N, default 100). Each message is on the events queue before it leaves the dead-letter queue, so a redrive that fails midway loses nothing; call again until `count` is 0 to empty the queue.")
                .body("RedriveRequest")
                .ok("200", json_response("What was moved.", schema_ref("RedriveReport"))),
            &["400", "413"],
        ),
    };
    Some(op)
}

/// The path-level parameters of a route pattern: its `{id}`, named after the resource.
pub fn path_parameters(path: &str) -> Option<Value> {
    if !path.contains("{id}") {
        return None;
    }
    let what = match path.split('/').nth(2) {
        Some("sources") => "Source id.",
        Some("subscriptions") => "Subscription id.",
        Some("events") => "Event id.",
        Some("calls") => "Call id (as the provider names it; percent-encode `/` and spaces).",
        _ => "Id.",
    };
    Some(json!([path_param("id", what)]))
}
