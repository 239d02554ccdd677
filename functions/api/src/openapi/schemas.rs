//! The component schemas of the OpenAPI document: the bodies the admin API reads and
//! writes.

use super::operations::schema_ref;
use serde_json::{json, Map, Value};

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
    p.insert(
        "ordering".into(),
        opt(json!({"type": "string", "enum": ["none", "call"], "default": "none", "description": "call: the events of one call go to this subscription one at a time, in order; other calls are never held."})),
    );
    p.insert(
        "ordering_window_ms".into(),
        opt(json!({"type": "integer", "minimum": 0, "maximum": 10_000, "default": 0, "description": "With ordering call: each event waits this long after it arrives, so events arriving out of order within it go by occurred_at."})),
    );
    p.insert(
        "rate_limit_per_second".into(),
        json!({"type": "integer", "minimum": 1, "maximum": 10_000, "nullable": true, "description": "At most this many deliveries per second, across every dispatcher; null removes the limit."}),
    );
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
    p.insert(
        "failing_after".into(),
        json!({"type": "integer", "minimum": 1, "maximum": 1000, "nullable": true, "description": "Consecutive failed attempts before delivery.failing is emitted; absent or null: the deployment's SWITCHBOARD_FAILING_AFTER (default 5)."}),
    );
    p
}

/// `GET /admin/calls/{id}`'s answer.
fn call_timeline() -> Value {
    json!({
        "type": "object",
        "required": ["call_id", "events"],
        "properties": {
            "call_id": {"type": "string"},
            "events": {"type": "array", "items": {
                "type": "object",
                "required": ["id", "type", "received_at", "source", "deliveries"],
                "properties": {
                    "id": {"type": "string"},
                    "type": {"type": "string"},
                    "occurred_at": {"type": "string", "format": "date-time", "nullable": true},
                    "received_at": timestamp(),
                    "source": {"type": "string"},
                    "provider_event": {"type": "string", "nullable": true},
                    "raw_unparsed": {"type": "boolean"},
                    "deliveries": {"type": "array", "items": {
                        "type": "object",
                        "required": ["subscription_id", "status", "attempts", "last_attempt", "last_attempted_at"],
                        "properties": {
                            "subscription_id": {"type": "string"},
                            "status": schema_ref("AttemptStatus"),
                            "attempts": {"type": "integer", "minimum": 1, "description": "Attempts on record for this subscription."},
                            "last_attempt": {"type": "integer", "minimum": 1, "description": "The latest attempt's number."},
                            "last_attempted_at": timestamp(),
                            "http_status": {"type": "integer", "nullable": true},
                            "error_kind": {"type": "string", "nullable": true},
                            "error": {"type": "string", "nullable": true},
                            "next_attempt_at": {"type": "string", "format": "date-time", "nullable": true}
                        }
                    }}
                }
            }}
        }
    })
}

pub fn schemas() -> Value {
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
    subscription.insert(
        "failing_since".into(),
        json!({"type": "string", "format": "date-time", "description": "Read-only: start of the current run of failed attempts."}),
    );
    subscription.insert(
        "consecutive_failures".into(),
        json!({"type": "integer", "minimum": 0, "description": "Read-only: failed attempts in a row, counted until delivery.failing is emitted."}),
    );
    subscription.insert(
        "failing_reported_at".into(),
        json!({"type": "string", "format": "date-time", "description": "Read-only: when delivery.failing was emitted for the current run; the next success emits delivery.recovered."}),
    );
    subscription.insert(
        "version".into(),
        json!({"type": "integer", "minimum": 0, "description": "Read-only: 1 on create, +1 on every change (0 for a record stored before versions existed)."}),
    );
    subscription.insert("created_at".into(), timestamp());
    subscription.insert("updated_at".into(), timestamp());
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
            "enum": ["succeeded", "retrying", "exhausted", "failed", "held", "waiting"],
            "description": "succeeded: 2xx; retrying: failed, another attempt scheduled; exhausted: failed, schedule used up; failed: failed and not retried by rule (410, refused target, disabled subscription); held (attempt 0, not an attempt): waiting behind an earlier event of its call (held_behind) or in its ordering window; waiting (attempt 0, not an attempt): waiting for the subscription's rate limit or a 429's Retry-After."
        },
        "Attempt": {
            "type": "object",
            "required": ["event_id", "subscription_id", "attempt", "status", "url", "method", "duration_ms", "attempted_at"],
            "properties": {
                "event_id": {"type": "string"},
                "subscription_id": {"type": "string"},
                "attempt": {"type": "integer", "minimum": 0, "description": "1 for the first attempt; 0 for the pair's latest wait (held or waiting)."},
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
                "held_behind": {"type": "string", "description": "held: the event of the same call this one waits behind."},
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
        "CallTimeline": call_timeline(),
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
        },
        "DeadLetter": {
            "type": "object",
            "required": ["message_id", "receive_count", "body"],
            "properties": {
                "message_id": {"type": "string"},
                "kind": {"type": "string", "enum": ["event", "deliver"]},
                "event_id": {"type": "string"},
                "event_type": {"type": "string"},
                "subscription_id": {"type": "string"},
                "receive_count": {"type": "integer", "minimum": 0},
                "dead_at": timestamp(),
                "reason": {"type": "string"},
                "body": {"type": "string", "description": "The message body as it was queued."}
            }
        },
        "RedriveRequest": {
            "type": "object",
            "properties": {
                "ids": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1, "maxItems": 1000, "nullable": true},
                "all": {"type": "boolean", "nullable": true},
                "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "nullable": true}
            },
            "additionalProperties": false
        },
        "RedriveReport": {
            "type": "object",
            "required": ["count", "redriven"],
            "properties": {
                "count": {"type": "integer", "minimum": 0},
                "redriven": {"type": "array", "items": {"type": "string"}}
            }
        }
    })
}
