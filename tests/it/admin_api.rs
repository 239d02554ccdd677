//! The admin API, route by route, in-process: success, not found, bad filter or body, and
//! unauthorized; the console page; the OpenAPI document (committed copy, route coverage).

use crate::support::{app, call, create_source, create_subscription, delete, get, ADMIN_TOKEN};
use bytes::Bytes;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::adapters::memory::MemoryQueue;
use switchboard_core::api::App;
use switchboard_core::domain::attempt::AttemptStatus;
use switchboard_core::domain::envelope::{CallInfo, StoredEvent};
use switchboard_core::domain::time::{now, Timestamp};
use switchboard_core::domain::Attempt;
use switchboard_core::state::{Compose, Ports};

fn new_app() -> App {
    app(Ports::in_memory(Arc::new(MemoryQueue::new(
        Duration::from_secs(30),
        5,
    ))))
}

/// Calls without credentials, or with the given Authorization header.
async fn call_as(app: &App, method: &str, uri: &str, auth: Option<&str>) -> (u16, Value) {
    let mut req = http::Request::builder().method(method).uri(uri);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = app.handle(req.body(Bytes::new()).unwrap()).await;
    let status = resp.status().as_u16();
    let json = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
    (status, json)
}

fn ago(minutes: i64) -> Timestamp {
    now() - chrono::Duration::minutes(minutes)
}

fn stored_event(id: &str, source: &str, call_id: Option<&str>, minutes_ago: i64) -> StoredEvent {
    let mut e = switchboard_test_support::records::event(id, source);
    e.envelope.received_at = ago(minutes_ago);
    e.envelope.call = call_id.map(|c| CallInfo {
        id: Some(c.into()),
        ..Default::default()
    });
    e.envelope.data = Some(json!({"uuid": call_id}).into());
    e.raw.body = Bytes::from_static(b"{\"raw\":true}");
    e
}

fn attempt(
    event_id: &str,
    sub: &str,
    n: u32,
    status: AttemptStatus,
    call_id: Option<&str>,
    minutes_ago: i64,
) -> Attempt {
    Attempt {
        http_status: Some(if status == AttemptStatus::Succeeded {
            200
        } else {
            500
        }),
        duration_ms: 12,
        response_excerpt: Some("body".into()),
        attempted_at: ago(minutes_ago),
        call_id: call_id.map(str::to_owned),
        ..crate::support::attempt(event_id, sub, n, status)
    }
}

/// Two events of call c-1 (two sources), one of c-2; attempts for two subscriptions.
async fn seeded() -> App {
    let app = new_app();
    let expires = now() + chrono::Duration::days(30);
    for e in [
        stored_event("evt_a", "hipcall-main", Some("c-1"), 30),
        stored_event("evt_b", "hipcall-main", Some("c-2"), 20),
        stored_event("evt_c", "callerdesk-tr", Some("c-1"), 10),
    ] {
        app.ports.events.put(&e, expires).await.unwrap();
    }
    use AttemptStatus::*;
    for a in [
        attempt("evt_a", "sub_crm", 1, Retrying, Some("c-1"), 29),
        attempt("evt_a", "sub_crm", 2, Exhausted, Some("c-1"), 25),
        attempt("evt_a", "sub_bi", 1, Succeeded, Some("c-1"), 28),
        attempt("evt_b", "sub_crm", 1, Succeeded, Some("c-2"), 19),
        attempt("evt_c", "sub_crm", 1, Failed, Some("c-1"), 9),
    ] {
        app.ports.deliveries.record(&a, expires).await.unwrap();
    }
    app
}

fn ids(json: &Value, field: &str) -> Vec<String> {
    json["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {json}"))
        .iter()
        .map(|i| i[field].as_str().unwrap().to_owned())
        .collect()
}

fn keys(json: &Value) -> Vec<String> {
    json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{}/{}/{}",
                a["event_id"].as_str().unwrap(),
                a["subscription_id"].as_str().unwrap(),
                a["attempt"]
            )
        })
        .collect()
}

fn assert_error(status: u16, json: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "{json}");
    assert_eq!(json["error"]["code"], want_code, "{json}");
    assert!(json["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
}

// ---- auth -------------------------------------------------------------------------------

/// Every operation in the OpenAPI document, with placeholders filled in.
fn documented_operations() -> Vec<(String, String)> {
    let doc = switchboard_core::api::openapi::document();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if method != "parameters" {
                ops.push((method.to_uppercase(), path.replace("{id}", "some-id")));
            }
        }
    }
    ops
}

#[tokio::test]
async fn no_admin_route_is_reachable_without_the_token() {
    let app = seeded().await;
    let ops = documented_operations();
    assert!(ops.len() >= 17, "{ops:?}");
    for (method, path) in ops.iter().filter(|(_, p)| p.starts_with("/admin")) {
        for auth in [
            None,
            Some("Bearer wrong-token"),
            Some("Basic dGVzdDp0ZXN0"),
            Some(ADMIN_TOKEN),
        ] {
            let (status, json) = call_as(&app, method, path, auth).await;
            assert_error(status, &json, 401, "unauthorized");
        }
    }
    // Also paths no route serves, and the queries that list data
    for path in [
        "/admin",
        "/admin/",
        "/admin/nope",
        "/admin/deliveries?call_id=c-1",
        "/admin/events?call_id=c-1",
    ] {
        let (status, _) = call_as(&app, "GET", path, None).await;
        assert_eq!(status, 401, "{path}");
    }
}

#[tokio::test]
async fn console_page_loads_without_credentials_and_loads_nothing_from_elsewhere() {
    let app = new_app();
    let req = http::Request::get("/").body(Bytes::new()).unwrap();
    let resp = app.handle(req).await;
    assert_eq!(resp.status(), 200);
    let h = resp.headers();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"));
    let html = std::str::from_utf8(resp.body()).unwrap();
    assert!(html.contains("Subscriptions") && html.contains("Delivery log"));
    for external in ["http://", "https://", "src=\"//", "@import"] {
        let hits: Vec<&str> = html
            .lines()
            .filter(|l| l.contains(external) && !l.contains("placeholder="))
            .collect();
        assert!(hits.is_empty(), "external reference {external}: {hits:?}");
    }
    // The page itself is data-free: no token needed, and none is embedded
    assert!(!html.contains(ADMIN_TOKEN));
}

// ---- sources ----------------------------------------------------------------------------

#[tokio::test]
async fn sources_crud() {
    let app = new_app();
    create_source(&app, "hipcall-main", "hipcall").await;
    let body =
        json!({"id": "hipcall-main", "provider": "hipcall", "verification": {"type": "none"}});
    let (s, j) = call(&app, "POST", "/admin/sources", None, body.to_string()).await;
    assert_error(s, &j, 409, "conflict");
    let (s, j) = call(&app, "POST", "/admin/sources", None, "{not json").await;
    assert_error(s, &j, 400, "invalid_body");
    let (s, j) = call(
        &app,
        "POST",
        "/admin/sources",
        None,
        json!({"id": "../x", "provider": "hipcall", "verification": {"type": "none"}}).to_string(),
    )
    .await;
    assert_error(s, &j, 400, "invalid_id");

    let (s, j) = get(&app, "/admin/sources").await;
    assert_eq!(s, 200);
    assert_eq!(ids(&j, "id"), ["hipcall-main"]);
    assert!(j["next_cursor"].is_null());
    let (s, j) = get(&app, "/admin/sources/hipcall-main").await;
    assert_eq!(s, 200);
    assert_eq!(j["provider"], "hipcall");
    let (s, j) = get(&app, "/admin/sources/missing").await;
    assert_error(s, &j, 404, "not_found");

    let patch = json!({"description": "main account", "timezone": "Europe/Istanbul"});
    let (s, j) = call(
        &app,
        "PATCH",
        "/admin/sources/hipcall-main",
        None,
        patch.to_string(),
    )
    .await;
    assert_eq!(s, 200, "{j}");
    assert_eq!(j["description"], "main account");
    let (s, j) = call(
        &app,
        "PATCH",
        "/admin/sources/missing",
        None,
        patch.to_string(),
    )
    .await;
    assert_error(s, &j, 404, "not_found");
    let (s, j) = call(
        &app,
        "PATCH",
        "/admin/sources/hipcall-main",
        None,
        json!({"nope": 1}).to_string(),
    )
    .await;
    assert_error(s, &j, 400, "invalid_body");

    let (s, _) = delete(&app, "/admin/sources/hipcall-main").await;
    assert_eq!(s, 204);
    let (s, j) = delete(&app, "/admin/sources/hipcall-main").await;
    assert_error(s, &j, 404, "not_found");
    let (s, j) = call(&app, "PUT", "/admin/sources", None, "").await;
    assert_error(s, &j, 405, "method_not_allowed");
}

// ---- subscriptions ----------------------------------------------------------------------

#[tokio::test]
async fn subscriptions_crud_and_secret_shown_once() {
    let app = new_app();
    let created = create_subscription(
        &app,
        json!({"url": "http://127.0.0.1:9/crm", "event_types": ["call.*"], "method": "PUT"}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let (s, j) = call(
        &app,
        "POST",
        "/admin/subscriptions",
        None,
        json!({"url": "not a url", "event_types": ["*"]}).to_string(),
    )
    .await;
    assert_error(s, &j, 400, "invalid_url");

    let (s, j) = get(&app, "/admin/subscriptions").await;
    assert_eq!(s, 200);
    assert_eq!(ids(&j, "id"), vec![id.clone()]);
    assert!(!j.to_string().contains(&secret), "secret listed: {j}");
    let (s, j) = get(&app, &format!("/admin/subscriptions/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(j["method"], "PUT");
    assert_eq!(j["secret"], "[redacted]");
    let (s, j) = get(&app, "/admin/subscriptions/sub_missing").await;
    assert_error(s, &j, 404, "not_found");

    let (s, j) = call(
        &app,
        "PATCH",
        &format!("/admin/subscriptions/{id}"),
        None,
        json!({"enabled": false}).to_string(),
    )
    .await;
    assert_eq!(s, 200, "{j}");
    assert_eq!(j["enabled"], false);
    let (s, j) = call(
        &app,
        "PATCH",
        &format!("/admin/subscriptions/{id}"),
        None,
        json!({"timeout_ms": 5}).to_string(),
    )
    .await;
    assert_error(s, &j, 400, "invalid_timeout");
    let (s, j) = call(
        &app,
        "PATCH",
        "/admin/subscriptions/sub_missing",
        None,
        json!({"enabled": true}).to_string(),
    )
    .await;
    assert_error(s, &j, 404, "not_found");

    let (s, _) = delete(&app, &format!("/admin/subscriptions/{id}")).await;
    assert_eq!(s, 204);
    let (s, j) = delete(&app, &format!("/admin/subscriptions/{id}")).await;
    assert_error(s, &j, 404, "not_found");
}

// ---- events -----------------------------------------------------------------------------

#[tokio::test]
async fn events_show_one_with_its_raw_request() {
    let app = seeded().await;
    let (s, j) = get(&app, "/admin/events/evt_a").await;
    assert_eq!(s, 200);
    assert_eq!(j["envelope"]["id"], "evt_a");
    assert_eq!(j["raw"]["body"], "eyJyYXciOnRydWV9"); // base64 of {"raw":true}
    let (s, j) = get(&app, "/admin/events/evt_missing").await;
    assert_error(s, &j, 404, "not_found");
}

#[tokio::test]
async fn events_list_by_source_and_by_call() {
    let app = seeded().await;
    let (s, j) = get(&app, "/admin/events?source=hipcall-main").await;
    assert_eq!(s, 200, "{j}");
    assert_eq!(ids(&j, "id"), ["evt_b", "evt_a"]);
    assert!(j["items"][0].get("raw").is_none(), "lists envelopes only");
    let (_, j) = get(&app, "/admin/events?call_id=c-1").await;
    assert_eq!(ids(&j, "id"), ["evt_c", "evt_a"]);
    let since = (ago(25)).to_rfc3339();
    let (_, j) = get(
        &app,
        &format!("/admin/events?call_id=c-1&since={}", urlencode(&since)),
    )
    .await;
    assert_eq!(ids(&j, "id"), ["evt_c"]);
    let (_, j) = get(&app, "/admin/events?source=nobody").await;
    assert_eq!(j, json!({"items": [], "next_cursor": null}));
    // Pages
    let (_, j) = get(&app, "/admin/events?source=hipcall-main&limit=1").await;
    assert_eq!(ids(&j, "id"), ["evt_b"]);
    let cursor = j["next_cursor"].as_str().unwrap().to_owned();
    let (_, j) = get(
        &app,
        &format!("/admin/events?source=hipcall-main&limit=1&cursor={cursor}"),
    )
    .await;
    assert_eq!(ids(&j, "id"), ["evt_a"]);
    assert!(j["next_cursor"].is_null());
    // A cursor from another listing is refused
    let (s, j) = get(&app, &format!("/admin/events?call_id=c-1&cursor={cursor}")).await;
    assert_error(s, &j, 400, "invalid_cursor");
}

#[tokio::test]
async fn events_list_rejects_bad_filters() {
    let app = seeded().await;
    for (uri, code) in [
        ("/admin/events", "missing_filter"),
        ("/admin/events?source=a&call_id=b", "conflicting_filters"),
        ("/admin/events?source=a&since=yesterday", "invalid_time"),
        (
            "/admin/events?source=a&until=2024-13-01T00:00:00Z",
            "invalid_time",
        ),
        (
            "/admin/events?source=a&since=2024-11-17T11:00:00Z&until=2024-11-17T10:00:00Z",
            "invalid_time_range",
        ),
        ("/admin/events?source=a&colour=red", "invalid_filter"),
        ("/admin/events?source=a&source=b", "invalid_filter"),
        ("/admin/events?source=", "invalid_filter"),
        ("/admin/events?source=a&limit=0", "invalid_limit"),
        ("/admin/events?source=a&limit=1001", "invalid_limit"),
        ("/admin/events?source=a&limit=x", "invalid_limit"),
        ("/admin/events?source=a&cursor=!!", "invalid_cursor"),
    ] {
        let (s, j) = get(&app, uri).await;
        assert_error(s, &j, 400, code);
    }
    let (s, j) = call(&app, "POST", "/admin/events", None, "{}").await;
    assert_error(s, &j, 405, "method_not_allowed");
}

// ---- deliveries -------------------------------------------------------------------------

#[tokio::test]
async fn deliveries_by_event_subscription_call_status_and_recent() {
    let app = seeded().await;
    // Of an event, in subscription then attempt order (the original listing)
    let (s, j) = get(&app, "/admin/deliveries?event_id=evt_a").await;
    assert_eq!(s, 200, "{j}");
    assert_eq!(
        keys(&j),
        ["evt_a/sub_bi/1", "evt_a/sub_crm/1", "evt_a/sub_crm/2"]
    );
    for field in ["status", "http_status", "duration_ms", "attempt"] {
        assert!(j["items"][0].get(field).is_some(), "{field}");
    }
    let (_, j) = get(
        &app,
        "/admin/deliveries?event_id=evt_a&subscription_id=sub_crm",
    )
    .await;
    assert_eq!(keys(&j), ["evt_a/sub_crm/1", "evt_a/sub_crm/2"]);
    let (_, j) = get(&app, "/admin/deliveries?event_id=evt_none").await;
    assert_eq!(j, json!({"items": [], "next_cursor": null}));
    // Of a subscription, newest first, optionally of one status and over a time range
    let (_, j) = get(&app, "/admin/deliveries?subscription_id=sub_crm").await;
    assert_eq!(
        keys(&j),
        [
            "evt_c/sub_crm/1",
            "evt_b/sub_crm/1",
            "evt_a/sub_crm/2",
            "evt_a/sub_crm/1"
        ]
    );
    let until = urlencode(&ago(15).to_rfc3339());
    let (_, j) = get(
        &app,
        &format!("/admin/deliveries?subscription_id=sub_crm&until={until}"),
    )
    .await;
    assert_eq!(
        keys(&j),
        ["evt_b/sub_crm/1", "evt_a/sub_crm/2", "evt_a/sub_crm/1"]
    );
    let (_, j) = get(
        &app,
        "/admin/deliveries?subscription_id=sub_crm&status=exhausted",
    )
    .await;
    assert_eq!(keys(&j), ["evt_a/sub_crm/2"]);
    // Of a call, across its events
    let (_, j) = get(&app, "/admin/deliveries?call_id=c-1").await;
    assert_eq!(
        keys(&j),
        [
            "evt_c/sub_crm/1",
            "evt_a/sub_crm/2",
            "evt_a/sub_bi/1",
            "evt_a/sub_crm/1"
        ]
    );
    // By status
    let (_, j) = get(&app, "/admin/deliveries?status=failed").await;
    assert_eq!(keys(&j), ["evt_c/sub_crm/1"]);
    let (_, j) = get(&app, "/admin/deliveries?status=succeeded&limit=1").await;
    assert_eq!(keys(&j), ["evt_b/sub_crm/1"]);
    let cursor = j["next_cursor"].as_str().unwrap().to_owned();
    let (_, j) = get(
        &app,
        &format!("/admin/deliveries?status=succeeded&limit=1&cursor={cursor}"),
    )
    .await;
    assert_eq!(keys(&j), ["evt_a/sub_bi/1"]);
    // No filter: the most recent, newest first
    let (_, j) = get(&app, "/admin/deliveries?limit=2").await;
    assert_eq!(keys(&j), ["evt_c/sub_crm/1", "evt_b/sub_crm/1"]);
    assert!(j["next_cursor"].is_string());
}

#[tokio::test]
async fn deliveries_list_rejects_bad_filters() {
    let app = seeded().await;
    for (uri, code) in [
        ("/admin/deliveries?status=lost", "invalid_status"),
        ("/admin/deliveries?status=FAILED", "invalid_status"),
        (
            "/admin/deliveries?event_id=e&call_id=c",
            "conflicting_filters",
        ),
        (
            "/admin/deliveries?event_id=e&status=failed",
            "conflicting_filters",
        ),
        (
            "/admin/deliveries?event_id=e&since=2024-11-17T10:00:00Z",
            "conflicting_filters",
        ),
        (
            "/admin/deliveries?subscription_id=s&call_id=c",
            "conflicting_filters",
        ),
        ("/admin/deliveries?since=17/11/2024", "invalid_time"),
        (
            "/admin/deliveries?since=2024-11-17T10:00:00Z&until=2024-11-17T10:00:00Z",
            "invalid_time_range",
        ),
        ("/admin/deliveries?event=e", "invalid_filter"),
        (
            "/admin/deliveries?status=failed&status=exhausted",
            "invalid_filter",
        ),
        ("/admin/deliveries?call_id=", "invalid_filter"),
        ("/admin/deliveries?limit=-1", "invalid_limit"),
        (
            "/admin/deliveries?status=failed&cursor=e30",
            "invalid_cursor",
        ),
    ] {
        let (s, j) = get(&app, uri).await;
        assert_error(s, &j, 400, code);
    }
    // A cursor of one listing does not work for another
    let (_, j) = get(&app, "/admin/deliveries?subscription_id=sub_crm&limit=1").await;
    let cursor = j["next_cursor"].as_str().unwrap().to_owned();
    let (s, j) = get(
        &app,
        &format!("/admin/deliveries?subscription_id=sub_bi&cursor={cursor}"),
    )
    .await;
    assert_error(s, &j, 400, "invalid_cursor");
    let (s, j) = delete(&app, "/admin/deliveries").await;
    assert_error(s, &j, 405, "method_not_allowed");
}

// ---- OpenAPI ----------------------------------------------------------------------------

fn committed_openapi_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json")
}

/// The document generated from the route table and the types is the committed copy, and
/// `GET /admin/openapi.json` serves that copy (embedded at build time).
/// `SWITCHBOARD_BLESS=1 cargo test -p switchboard-tests --test it openapi` rewrites the
/// committed copy after an intended API change.
#[tokio::test]
async fn openapi_document_is_served_and_matches_the_committed_copy() {
    let generated = switchboard_core::api::openapi::document_text();
    let doc: Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    let path = committed_openapi_path();
    let blessing = std::env::var_os("SWITCHBOARD_BLESS").is_some();
    if blessing {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json differs from the document the code generates; if the API change is \
         intended, run SWITCHBOARD_BLESS=1 cargo test -p switchboard-tests --test it openapi and commit it"
    );
    let app = new_app();
    let req = http::Request::get("/admin/openapi.json")
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .body(Bytes::new())
        .unwrap();
    let resp = app.handle(req).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    // A blessed copy is embedded by the next build (the served one is the copy as it was).
    if !blessing {
        assert!(
            resp.body() == committed.as_bytes(),
            "the served document is not docs/openapi.json"
        );
    }
    let (s, j) = call(&app, "POST", "/admin/openapi.json", None, "").await;
    assert_error(s, &j, 405, "method_not_allowed");
}

/// Whether the router answered the request with a route (anything but its "no route" and
/// "method not allowed" answers).
fn routed(status: u16, json: &Value) -> bool {
    let code = json["error"]["code"].as_str().unwrap_or("");
    let no_route = status == 404
        && json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("no admin route") || m.starts_with("no route"));
    !(no_route || (status == 405 && code == "method_not_allowed"))
}

#[tokio::test]
async fn every_route_the_router_answers_is_in_the_openapi_document() {
    let app = seeded().await;
    let documented: Vec<(String, String)> = documented_operations()
        .into_iter()
        .map(|(m, p)| (m, p.replace("some-id", "{id}")))
        .collect();
    // Probe every method on every path shape the admin surface could plausibly serve
    let nouns = [
        "sources",
        "subscriptions",
        "events",
        "deliveries",
        "replay",
        "openapi.json",
        "calls",
        "attempts",
        "health",
        "metrics",
        "config",
    ];
    let verbs = [
        "rotate-secret",
        "replay",
        "enable",
        "disable",
        "deliveries",
        "events",
    ];
    let mut shapes: Vec<String> = vec!["/".into(), "/admin".into()];
    for n in nouns {
        shapes.push(format!("/admin/{n}"));
        shapes.push(format!("/admin/{n}/{{id}}"));
        for v in verbs {
            shapes.push(format!("/admin/{n}/{{id}}/{v}"));
        }
    }
    let mut undocumented = Vec::new();
    for shape in &shapes {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            let uri = shape.replace("{id}", "evt_a");
            let bearer = format!("Bearer {ADMIN_TOKEN}");
            let (status, json) = call_as(&app, method, &uri, Some(&bearer)).await;
            if routed(status, &json) && !documented.contains(&(method.to_owned(), shape.clone())) {
                undocumented.push(format!("{method} {shape} -> {status} {json}"));
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "routes missing from the OpenAPI document: {undocumented:#?}"
    );
}

fn urlencode(s: &str) -> String {
    form_urlencoded_byte_serialize(s)
}

fn form_urlencoded_byte_serialize(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn method_not_allowed_answers_name_the_allowed_methods() {
    let app = new_app();
    for (method, uri, allow) in [
        ("PUT", "/admin/sources", "GET, POST"),
        ("POST", "/admin/sources/x", "DELETE, GET, PATCH"),
        ("DELETE", "/admin/events", "GET"),
        ("POST", "/", "GET"),
    ] {
        let req = http::Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .body(Bytes::new())
            .unwrap();
        let resp = app.handle(req).await;
        assert_eq!(resp.status(), 405, "{method} {uri}");
        assert_eq!(resp.headers()["allow"], allow, "{method} {uri}");
    }
}
