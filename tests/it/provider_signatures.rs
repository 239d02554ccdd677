//! Requests signed by the providers' own libraries — Twilio's `RequestValidator`, Plivo's
//! `signature_v3`, PyNaCl (Ed25519) for Telnyx, PyJWT for Vonage — made fresh by
//! scripts/provider_vectors.py, are accepted under `serve` (plain, and behind a public URL)
//! and through the ingest Lambda handler with API Gateway events; changed parameters or
//! bodies, missing or wrong signatures, a wrong nonce and stale timestamps get 401.
//! The script needs the libraries of scripts/requirements-test.txt in `.venv`: without
//! them these tests fail, never skip.

use crate::support;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use switchboard_cli::serve::{self, ServeConfig};
use switchboard_core::adapters::memory::MemoryQueue;
use switchboard_core::api::{AdminAuth, App, Surface};
use switchboard_core::entry::http_glue;
use switchboard_core::redact::Secret;
use switchboard_core::state::{Compose as _, Ports};

const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
const APIGW_HOST: &str = "abc123.execute-api.eu-west-1.amazonaws.com";

/// Runs the vector script for requests sent to `base`; the vectors land in target/.
fn vectors(base: &str, name: &str) -> Value {
    let python = PathBuf::from(WORKSPACE).join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: ./scripts/test installs the providers' libraries there",
        python.display()
    );
    let out = PathBuf::from(WORKSPACE).join(format!("target/provider-vectors/{name}.json"));
    let run = std::process::Command::new(&python)
        .arg(PathBuf::from(WORKSPACE).join("scripts/provider_vectors.py"))
        .arg(base)
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "provider_vectors.py failed: {}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let v: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert!(v["cases"].as_array().unwrap().len() >= 30, "{v}");
    v
}

fn expected(case: &Value) -> u16 {
    if case["accept"].as_bool().unwrap() {
        202
    } else {
        401
    }
}

fn url_of(base: &str, case: &Value) -> String {
    let (path, query) = (
        case["path"].as_str().unwrap(),
        case["query"].as_str().unwrap(),
    );
    if query.is_empty() {
        format!("{base}{path}")
    } else {
        format!("{base}{path}?{query}")
    }
}

/// Every case through a running `serve` at `listen_base`; the vectors sign `signed_base`.
async fn replay_through_serve(config: ServeConfig, signed_base: Option<&str>, name: &str) {
    let admin = "adm-provider-signatures";
    let running = serve::start(config).await.unwrap();
    let base = format!("http://{}", running.addr);
    let v = vectors(signed_base.unwrap_or(&base), name);
    let http = reqwest::Client::new();
    for s in v["sources"].as_array().unwrap() {
        let r = http
            .post(format!("{base}/admin/sources"))
            .bearer_auth(admin)
            .body(s.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
    let mut wrong = Vec::new();
    for case in v["cases"].as_array().unwrap() {
        let method: reqwest::Method = case["method"].as_str().unwrap().parse().unwrap();
        let mut req = http.request(method, url_of(&base, case));
        for (k, val) in case["headers"].as_object().unwrap() {
            req = req.header(k.as_str(), val.as_str().unwrap());
        }
        let r = req
            .body(case["body"].as_str().unwrap().to_owned())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        if status != expected(case) || (status == 401 && body["error"]["code"] != "unauthorized") {
            wrong.push(format!("{}: {status} {body}", case["name"]));
        }
    }
    running.stop().await;
    assert!(
        wrong.is_empty(),
        "unexpected answers:\n{}",
        wrong.join("\n")
    );
}

#[tokio::test]
async fn provider_signed_requests_are_accepted_by_serve_and_tampered_ones_refused() {
    let config = ServeConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        Secret::new("adm-provider-signatures"),
    );
    replay_through_serve(config, None, "serve").await;
}

#[tokio::test]
async fn behind_a_public_url_serve_checks_the_url_the_provider_called() {
    // Given serve behind a tunnel: providers call https://hooks.example.com/hooks/...
    let mut config = ServeConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        Secret::new("adm-provider-signatures"),
    );
    config.settings.public_url = Some("https://hooks.example.com".into());
    // Then the URL-signing schemes verify against that URL, not the local one
    replay_through_serve(config, Some("https://hooks.example.com"), "public-url").await;
}

/// API Gateway's HTTP API event (payload 2.0) for one case.
fn apigw_event(case: &Value) -> Value {
    let path = case["path"].as_str().unwrap();
    let mut headers = json!({
        "host": APIGW_HOST,
        "x-forwarded-proto": "https",
        "x-forwarded-for": "203.0.113.10",
        "user-agent": "provider-webhook/1.0",
    });
    for (k, val) in case["headers"].as_object().unwrap() {
        headers[k.to_ascii_lowercase()] = val.clone();
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut ev = json!({
        "version": "2.0",
        "routeKey": "ANY /hooks/{source}",
        "rawPath": path,
        "rawQueryString": case["query"],
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": APIGW_HOST,
            "domainPrefix": "abc123",
            "http": {
                "method": case["method"],
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "provider-webhook/1.0",
            },
            "requestId": "provider-signatures",
            "routeKey": "ANY /hooks/{source}",
            "stage": "$default",
            "time": "02/Dec/2024:21:04:41 +0000",
            "timeEpoch": 1733173481000u64,
        },
        "pathParameters": {"source": segments.get(1).copied().unwrap_or("")},
        "isBase64Encoded": false,
    });
    let body = case["body"].as_str().unwrap();
    if !body.is_empty() {
        ev["body"] = json!(body);
    }
    ev
}

#[tokio::test]
async fn provider_signed_requests_are_accepted_by_the_lambda_handler() {
    // Given the ingest function's app over in-memory ports, with the vectors' sources
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(30), 5));
    let ports = Ports::in_memory(queue);
    let admin = support::app(ports.clone());
    let v = vectors(&format!("https://{APIGW_HOST}"), "lambda");
    for s in v["sources"].as_array().unwrap() {
        let (status, body) =
            support::call(&admin, "POST", "/admin/sources", None, s.to_string()).await;
        assert_eq!(status, 201, "{body}");
    }
    let ingest = App {
        ports,
        settings: support::settings(),
        admin_auth: AdminAuth::Iam,
        surface: Surface::Ingest,
    };

    // When each request arrives as API Gateway hands it to the function
    let mut wrong = Vec::new();
    for case in v["cases"].as_array().unwrap() {
        let event = apigw_event(case).to_string();
        let request = lambda_http::request::from_str(&event).unwrap();
        let response = http_glue::ingest(&ingest, request).await.unwrap();
        let status = response.status().as_u16();
        let body = match response.body() {
            lambda_http::Body::Text(t) => t.clone(),
            _ => String::new(),
        };
        // Then the signed ones are accepted and the others refused
        if status != expected(case) {
            wrong.push(format!("{}: {status} {body}", case["name"]));
        }
    }
    assert!(
        wrong.is_empty(),
        "unexpected answers:\n{}",
        wrong.join("\n")
    );
}
