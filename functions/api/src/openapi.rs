//! The admin API's OpenAPI 3 document, built by code (served at `GET /admin/openapi.json`
//! and committed as `docs/openapi.json`; a test keeps the two identical and checks that
//! every admin route the router answers is described here).
//!
//! Built by hand as JSON rather than derived with macros: the domain types it describes
//! belong to other modules and keep serde as their only concern, and the tests (plus
//! schemathesis against `serve`) check this document against what the handlers really do.

use serde_json::{json, Map, Value};

/// The document's `info.version`; bump when the admin API changes shape.
pub const API_VERSION: &str = "1.0.0";

fn schema_ref(name: &str) -> Value {
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
                "409" => "Conflict: an item with this id exists (create), or the item kept changing concurrently while this update was applied (retry it).",
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

fn paths() -> Value {
    let sources = json!({
        "get": with_common(
            Op::new("listSources", "sources", "List sources")
                .ok("200", json_response("Every source, by id (secrets redacted).", page_of("Source"))),
            &[],
        ),
        "post": with_common(
            Op::new("createSource", "sources", "Create a source")
                .body("SourceCreate")
                .ok("201", json_response("Created (secrets redacted).", schema_ref("Source"))),
            &["400", "409", "413"],
        ),
    });
    let source = json!({
        "parameters": [path_param("id", "Source id.")],
        "get": with_common(
            Op::new("getSource", "sources", "Show a source")
                .ok("200", json_response("The source (secrets redacted).", schema_ref("Source"))),
            &["404"],
        ),
        "patch": with_common(
            Op::new("updateSource", "sources", "Update a source")
                .describe("Changes only the fields given; `id` cannot change.")
                .body("SourceUpdate")
                .ok("200", json_response("Updated (secrets redacted).", schema_ref("Source"))),
            &["400", "404", "413"],
        ),
        "delete": with_common(
            Op::new("deleteSource", "sources", "Delete a source")
                .ok("204", json!({"description": "Deleted."})),
            &["404"],
        ),
    });
    let subscriptions = json!({
        "get": with_common(
            Op::new("listSubscriptions", "subscriptions", "List subscriptions")
                .ok("200", json_response("Every subscription (secrets redacted).", page_of("Subscription"))),
            &[],
        ),
        "post": with_common(
            Op::new("createSubscription", "subscriptions", "Create a subscription")
                .describe("The answer carries the signing secret; it is shown only here (and by rotate-secret).")
                .body("SubscriptionCreate")
                .ok("201", json_response("Created, with its secret.", schema_ref("Subscription"))),
            &["400", "413"],
        ),
    });
    let subscription = json!({
        "parameters": [path_param("id", "Subscription id.")],
        "get": with_common(
            Op::new("getSubscription", "subscriptions", "Show a subscription (with its body template)")
                .ok("200", json_response("The subscription (secrets redacted).", schema_ref("Subscription"))),
            &["404"],
        ),
        "patch": with_common(
            Op::new("updateSubscription", "subscriptions", "Update a subscription (enable, disable, edit)")
                .describe("Changes only the fields given, applied to the current record (a concurrent change to other fields is kept).")
                .body("SubscriptionUpdate")
                .ok("200", json_response("Updated (secrets redacted).", schema_ref("Subscription"))),
            &["400", "404", "409", "413"],
        ),
        "delete": with_common(
            Op::new("deleteSubscription", "subscriptions", "Delete a subscription")
                .ok("204", json!({"description": "Deleted."})),
            &["404"],
        ),
    });
    let rotate = json!({
        "parameters": [path_param("id", "Subscription id.")],
        "post": with_common(
            Op::new("rotateSubscriptionSecret", "subscriptions", "Rotate a subscription's signing secret")
                .describe("A new secret signs from now on; the previous one keeps signing for 24 hours. The answer shows the new secret once.")
                .ok("200", json_response("The subscription with its new secret.", json!({"type": "object"}))),
            &["404", "409"],
        ),
    });
    let events = json!({
        "get": with_common(
            Op::new("listEvents", "events", "List events of a source or of a call")
                .describe("Exactly one of `source` or `call_id`. Newest first; `since` inclusive, `until` exclusive. Envelopes only: show one event for its raw request.")
                .params(vec![
                    query_param("source", "Source id (index by_source).", json!({"type": "string", "minLength": 1})),
                    query_param("call_id", "Call id (index by_call).", json!({"type": "string", "minLength": 1})),
                    time_param("since", "Received at or after (RFC 3339)."),
                    time_param("until", "Received before (RFC 3339)."),
                ])
                .params(paging_params())
                .ok("200", json_response("A page of envelopes, newest first.", page_of("Envelope"))),
            &["400"],
        ),
    });
    let event = json!({
        "parameters": [path_param("id", "Event id.")],
        "get": with_common(
            Op::new("getEvent", "events", "Show an event: envelope and raw request")
                .ok("200", json_response("The stored event.", schema_ref("StoredEvent"))),
            &["404"],
        ),
    });
    let deliveries = json!({
        "get": with_common(
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
    });
    let replay = json!({
        "post": with_common(
            Op::new("replay", "deliveries", "Replay deliveries")
                .describe("One event to one subscription (`event_id` + `subscription_id`), one event to all its subscriptions (`event_id`), or every failed delivery of a subscription since a time (`subscription_id` + `since`).")
                .body("ReplayRequest")
                .ok("200", json_response("Replay queued.", json!({"type": "object"})))
                .ok("202", json_response("Replay queued.", json!({"type": "object"}))),
            &["400", "404", "413"],
        ),
    });
    let openapi = json!({
        "get": with_common(
            Op::new("getOpenApi", "meta", "This document")
                .ok("200", json_response("The OpenAPI document.", json!({"type": "object"}))),
            &[],
        ),
    });
    let console = json!({
        "get": Op::new("getConsole", "meta", "The ops console page")
            .describe("A self-contained HTML page (no external assets). Loading it needs no credentials; it asks for the admin token and calls this API with it.")
            .ok("200", json!({"description": "The page.", "content": {"text/html": {"schema": {"type": "string"}}}}))
            .build(),
    });
    let mut console = console;
    if let Some(get) = console.get_mut("get").and_then(Value::as_object_mut) {
        get.insert("security".into(), json!([]));
    }
    json!({
        "/": console,
        "/admin/openapi.json": openapi,
        "/admin/sources": sources,
        "/admin/sources/{id}": source,
        "/admin/subscriptions": subscriptions,
        "/admin/subscriptions/{id}": subscription,
        "/admin/subscriptions/{id}/rotate-secret": rotate,
        "/admin/events": events,
        "/admin/events/{id}": event,
        "/admin/deliveries": deliveries,
        "/admin/replay": replay,
    })
}

/// Optional fields accept `null` (serde reads it as absent), so the schema says so.
fn nullable(mut schema: Value) -> Value {
    if let Some(o) = schema.as_object_mut() {
        if o.contains_key("$ref") {
            return json!({"allOf": [schema], "nullable": true});
        }
        if let Some(Value::Array(values)) = o.get_mut("enum") {
            values.push(Value::Null);
        }
        o.insert("nullable".into(), json!(true));
    }
    schema
}

/// The methods the document lists for a concrete request path (`{id}` matches any one
/// segment), in the order of the `Allow` header; empty when the path is not documented.
pub fn allowed_methods(path: &str) -> Vec<String> {
    let doc = document();
    let Some(paths) = doc["paths"].as_object() else {
        return Vec::new();
    };
    let given: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    for (template, item) in paths {
        let want: Vec<&str> = template.trim_end_matches('/').split('/').collect();
        let matches = want.len() == given.len()
            && want
                .iter()
                .zip(&given)
                .all(|(w, g)| w == g || (w.starts_with('{') && !g.is_empty()));
        if matches {
            let mut methods: Vec<String> = item
                .as_object()
                .map(|o| {
                    o.keys()
                        .filter(|k| *k != "parameters")
                        .map(|k| k.to_uppercase())
                        .collect()
                })
                .unwrap_or_default();
            methods.sort();
            return methods;
        }
    }
    Vec::new()
}

/// Adds the `Allow` header (RFC 9110) to a 405 answer for a documented path.
pub fn with_allow(
    mut response: http::Response<bytes::Bytes>,
    path: &str,
) -> http::Response<bytes::Bytes> {
    if response.status() == http::StatusCode::METHOD_NOT_ALLOWED
        && !response.headers().contains_key(http::header::ALLOW)
    {
        let methods = allowed_methods(path);
        if !methods.is_empty() {
            if let Ok(v) = http::HeaderValue::from_str(&methods.join(", ")) {
                response.headers_mut().insert(http::header::ALLOW, v);
            }
        }
    }
    response
}

fn timestamp() -> Value {
    json!({"type": "string", "format": "date-time"})
}

fn slug() -> Value {
    json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"})
}

fn string_map() -> Value {
    json!({"type": "object", "additionalProperties": {"type": "string"}})
}

fn verification() -> Value {
    let variant = |kind: &str, required: &[&str], props: Value| {
        let mut properties = props.as_object().cloned().unwrap_or_default();
        properties.insert("type".into(), json!({"type": "string", "enum": [kind]}));
        let mut req = vec!["type"];
        req.extend(required);
        json!({"type": "object", "required": req, "properties": properties})
    };
    json!({
        "description": "How a source proves a request came from its provider. Secrets are shown as `[redacted]`.",
        "oneOf": [
            variant("none", &[], json!({})),
            variant("token", &["token"], json!({
                "token": {"type": "string"},
                "location": {"type": "string", "enum": ["path", "query", "header"]},
                "name": {"type": "string", "nullable": true}
            })),
            variant("hmac", &["secret", "header"], json!({
                "secret": {"type": "string"},
                "header": {"type": "string"},
                "algorithm": {"type": "string", "enum": ["sha1", "sha256"]},
                "encoding": {"type": "string", "enum": ["hex", "base64"]},
                "prefix": {"type": "string", "nullable": true}
            })),
            variant("basic", &["username", "password"], json!({
                "username": {"type": "string"},
                "password": {"type": "string"}
            })),
            variant("twilio", &["auth_token"], json!({
                "auth_token": {"type": "string"},
                "public_url": {"type": "string", "nullable": true, "description": "The URL configured at Twilio (no query), when it differs from what the request shows."}
            })),
            variant("plivo", &["auth_token"], json!({
                "auth_token": {"type": "string"},
                "public_url": {"type": "string", "nullable": true, "description": "The URL configured at Plivo (no query), when it differs from what the request shows."}
            })),
            variant("telnyx", &["public_key"], json!({
                "public_key": {"type": "string", "description": "The account's Ed25519 public key, base64 (32 bytes)."},
                "tolerance_secs": {"type": "integer", "minimum": 1, "maximum": 86400, "default": 300}
            })),
            variant("vonage", &["signature_secret"], json!({
                "signature_secret": {"type": "string"},
                "tolerance_secs": {"type": "integer", "minimum": 1, "maximum": 86400, "default": 300}
            })),
            variant("body_token", &["token"], json!({
                "field": {"type": "string", "default": "token", "description": "Key or dotted path of the body field holding the token."},
                "token": {"type": "string"}
            })),
        ]
    })
}

fn source_fields(input: bool) -> Map<String, Value> {
    let opt = |s: Value| if input { nullable(s) } else { s };
    let mut p = Map::new();
    p.insert("id".into(), if input { nullable(slug()) } else { slug() });
    p.insert(
        "provider".into(),
        opt(json!({"type": "string", "enum": [
            "hipcall", "voipappz", "callerdesk", "generic",
            "twilio", "plivo", "telnyx", "vonage", "aircall", "exotel"
        ]})),
    );
    p.insert("verification".into(), opt(schema_ref("Verification")));
    p.insert(
        "timezone".into(),
        opt(json!({"type": "string", "description": "IANA zone for zone-less provider times."})),
    );
    p.insert(
        "body_limit_bytes".into(),
        opt(json!({"type": "integer", "minimum": 1, "maximum": 6_291_456})),
    );
    p.insert(
        "ip_allow".into(),
        opt(json!({"type": "array", "items": {"type": "string"}})),
    );
    p.insert(
        "mapping".into(),
        opt(json!({"description": "Field mapping for generic sources."})),
    );
    p.insert("description".into(), opt(json!({"type": "string"})));
    p
}

fn subscription_fields(input: bool) -> Map<String, Value> {
    let opt = |s: Value| if input { nullable(s) } else { s };
    let mut p = Map::new();
    p.insert(
        "url".into(),
        opt(json!({"type": "string", "minLength": 1, "example": "https://crm.example.com/hooks"})),
    );
    p.insert(
        "method".into(),
        opt(json!({"type": "string", "enum": ["POST", "PUT", "GET"]})),
    );
    p.insert("enabled".into(), opt(json!({"type": "boolean"})));
    p.insert(
        "event_types".into(),
        opt(json!({"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}, "example": ["call.*"]})),
    );
    p.insert("source".into(), opt(slug()));
    p.insert(
        "filter".into(),
        opt(json!({"description": "Content filter on envelope fields."})),
    );
    p.insert(
        "format".into(),
        opt(json!({"type": "string", "enum": ["raw", "envelope", "template"]})),
    );
    p.insert(
        "template".into(),
        opt(json!({"type": "string", "description": "Body template (format template)."})),
    );
    p.insert("headers".into(), opt(string_map()));
    p.insert(
        "timeout_ms".into(),
        opt(json!({"type": "integer", "minimum": 100, "maximum": 60_000})),
    );
    p.insert(
        "retry_schedule_secs".into(),
        opt(json!({"type": "array", "maxItems": 20, "items": {"type": "integer", "minimum": 0, "maximum": 86_400}})),
    );
    p.insert("description".into(), opt(json!({"type": "string"})));
    p
}

fn schemas() -> Value {
    let mut source = source_fields(false);
    source.insert("created_at".into(), timestamp());
    source.insert("updated_at".into(), timestamp());
    let mut subscription = subscription_fields(false);
    subscription.insert("id".into(), json!({"type": "string"}));
    subscription.insert(
        "secret".into(),
        json!({"type": "string", "description": "`whsec_...` on create and rotate; `[redacted]` elsewhere."}),
    );
    subscription.insert(
        "previous_secret".into(),
        json!({"type": "object", "properties": {"secret": {"type": "string"}, "expires_at": timestamp()}}),
    );
    subscription.insert("disabled_reason".into(), json!({"type": "string"}));
    subscription.insert("created_at".into(), timestamp());
    subscription.insert("updated_at".into(), timestamp());
    subscription.insert(
        "version".into(),
        json!({"type": "integer", "minimum": 0, "description": "Read-only: 1 on create, +1 on every change (0 for a record stored before versions existed)."}),
    );
    json!({
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "example": "invalid_filter"},
                    "message": {"type": "string"}
                }
            }}
        },
        "Verification": verification(),
        "Source": {
            "type": "object",
            "required": ["id", "provider", "verification", "created_at", "updated_at"],
            "properties": source,
        },
        "SourceCreate": {
            "type": "object",
            "additionalProperties": false,
            "required": ["id", "provider", "verification"],
            "properties": source_fields(true),
        },
        "SourceUpdate": {
            "type": "object",
            "additionalProperties": false,
            "properties": source_fields(true),
        },
        "Subscription": {
            "type": "object",
            "required": ["id", "url", "enabled", "event_types", "secret", "created_at", "updated_at"],
            "properties": subscription,
        },
        "SubscriptionCreate": {
            "type": "object",
            "additionalProperties": false,
            "required": ["url", "event_types"],
            "properties": subscription_fields(true),
        },
        "SubscriptionUpdate": {
            "type": "object",
            "additionalProperties": false,
            "properties": subscription_fields(true),
        },
        "CallInfo": {
            "type": "object",
            "properties": {
                "id": {"type": "string"}, "direction": {"type": "string"},
                "from": {"type": "string"}, "to": {"type": "string"}, "agent": {"type": "string"},
                "started_at": timestamp(), "answered_at": timestamp(), "ended_at": timestamp(),
                "duration_secs": {"type": "integer"}, "talk_duration_secs": {"type": "integer"},
                "ring_duration_secs": {"type": "integer"}, "recording_url": {"type": "string"},
                "status": {"type": "string"}, "hangup_by": {"type": "string"}
            }
        },
        "Envelope": {
            "type": "object",
            "required": ["id", "type", "source", "received_at"],
            "properties": {
                "id": {"type": "string"},
                "type": {"type": "string", "example": "call.ended"},
                "provider_event": {"type": "string"},
                "source": {"type": "string"},
                "occurred_at": timestamp(),
                "received_at": timestamp(),
                "call": schema_ref("CallInfo"),
                "data": {"description": "The provider payload as JSON; absent when unparseable."},
                "raw_unparsed": {"type": "boolean"}
            }
        },
        "StoredEvent": {
            "type": "object",
            "required": ["envelope", "raw"],
            "properties": {
                "envelope": schema_ref("Envelope"),
                "raw": {
                    "type": "object",
                    "required": ["method", "body"],
                    "properties": {
                        "method": {"type": "string"},
                        "content_type": {"type": "string"},
                        "query": {"type": "string"},
                        "body": {"type": "string", "format": "byte", "description": "The raw body, base64."}
                    }
                },
                "dedup_key": {"type": "string"}
            }
        },
        "AttemptStatus": {
            "type": "string",
            "enum": ["succeeded", "retrying", "exhausted", "failed"],
            "description": "succeeded: 2xx; retrying: failed, another attempt scheduled; exhausted: failed, schedule used up; failed: failed and not retried by rule (410, refused target, disabled subscription)."
        },
        "Attempt": {
            "type": "object",
            "required": ["event_id", "subscription_id", "attempt", "status", "url", "method", "duration_ms", "attempted_at"],
            "properties": {
                "event_id": {"type": "string"},
                "subscription_id": {"type": "string"},
                "attempt": {"type": "integer", "minimum": 1},
                "status": schema_ref("AttemptStatus"),
                "trigger": {"type": "string", "description": "initial, retry or manual."},
                "url": {"type": "string"},
                "method": {"type": "string"},
                "request_headers": string_map(),
                "http_status": {"type": "integer"},
                "duration_ms": {"type": "integer", "minimum": 0},
                "response_excerpt": {"type": "string", "description": "First 4 KiB of the response body."},
                "error_kind": {"type": "string", "description": "timeout, connect, tls, dns, status, refused, request."},
                "error": {"type": "string"},
                "next_attempt_at": timestamp(),
                "attempted_at": timestamp(),
                "source": {"type": "string"},
                "event_type": {"type": "string"},
                "call_id": {"type": "string"},
                "truncated": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Fields cut so the record fits the store's item size (url, request_headers, response_excerpt, error, call_id, event_type, source); absent when nothing was cut."
                }
            }
        },
        // A null field means the same as an absent one (clients pass `next_cursor` back).
        "ReplayRequest": {
            "type": "object",
            "properties": {
                "event_id": {"type": "string", "minLength": 1, "nullable": true},
                "subscription_id": {"type": "string", "minLength": 1, "nullable": true},
                "since": {"type": "string", "format": "date-time", "nullable": true},
                "until": {"type": "string", "format": "date-time", "nullable": true},
                "cursor": {"type": "string", "nullable": true},
                "limit": {"type": "integer", "minimum": 1, "maximum": 500, "nullable": true}
            },
            "additionalProperties": false
        }
    })
}

/// The whole document.
pub fn document() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Switchboard admin API",
            "version": API_VERSION,
            "description": "Ops API of Switchboard, the webhook relay: sources, subscriptions, events, delivery attempts and replay. Deployed, every route is behind API Gateway's IAM authorizer (SigV4, service execute-api); under `switchboard serve` it takes `Authorization: Bearer <admin token>`. Errors are `{\"error\": {\"code\", \"message\"}}`. Lists answer `{\"items\": [...], \"next_cursor\": ...}`."
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "tags": [
            {"name": "sources"}, {"name": "subscriptions"}, {"name": "events"},
            {"name": "deliveries"}, {"name": "meta"}
        ],
        "paths": paths(),
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The admin token of `switchboard serve`. A deployed stack uses IAM (SigV4) instead."
                }
            },
            "schemas": schemas()
        }
    })
}

/// The document as served and committed: pretty-printed, with a final newline.
pub fn document_text() -> String {
    let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_methods_follow_the_document() {
        assert_eq!(allowed_methods("/admin/sources"), ["GET", "POST"]);
        assert_eq!(
            allowed_methods("/admin/sources/x"),
            ["DELETE", "GET", "PATCH"]
        );
        assert_eq!(allowed_methods("/"), ["GET"]);
        assert!(allowed_methods("/admin/nope/x/y").is_empty());
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part.chars().take_while(|c| c.is_alphanumeric()).collect();
            assert!(schemas.contains_key(&name), "missing schema {name}");
        }
    }

    #[test]
    fn every_operation_has_an_id_and_responses() {
        let doc = document();
        let mut ids = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if method == "parameters" {
                    continue;
                }
                ids.push(op["operationId"].as_str().unwrap().to_owned());
                assert!(
                    !op["responses"].as_object().unwrap().is_empty(),
                    "{method} {path}"
                );
            }
        }
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate operationId");
    }
}
