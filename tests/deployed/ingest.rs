//! Ingest under its own role: every provider fixture, provider retries (dedup), unknown
//! sources, and an SQS outage (503, the dedup claim released).

use crate::flow::{self, dispatch_until, unique};
use crate::stack::{Function, Stack, INGEST};
use crate::support::{self, fault_http::FaultyHttp};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use std::sync::atomic::Ordering;
use switchboard_core::api::Surface;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../events/providers");

fn fixture(path: &str) -> String {
    let full = format!("{FIXTURES}/{path}");
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

#[tokio::test]
async fn every_provider_fixture_is_accepted_stored_and_listed() {
    let stack = Stack::load().await;
    let (ingest, admin, dispatcher) = stack.parts();
    let manifest: serde_json::Value = serde_json::from_str(&fixture("manifest.json")).unwrap();

    // Given one source per provider fixture (its provider, zone and mapping), made by admin
    let mut accepted = Vec::new();
    for entry in manifest["fixtures"].as_array().unwrap() {
        let file = entry["file"].as_str().unwrap();
        let source = unique(entry["provider"].as_str().unwrap());
        let mut body = serde_json::json!({
            "id": source, "provider": entry["provider"], "verification": {"type": "none"},
        });
        if let Some(tz) = entry["timezone"].as_str() {
            body["timezone"] = tz.into();
        }
        if let Some(mapping) = entry["mapping"].as_str() {
            body["mapping"] = serde_json::from_str(&fixture(mapping)).unwrap();
        }
        flow::create_source(&admin, body).await;

        // When the provider sends it to ingest as it arrives (method, content type, query)
        let text = fixture(file);
        let (uri, body) = if file.ends_with(".query") {
            (format!("/hooks/{source}?{}", text.trim()), String::new())
        } else {
            let query = entry["query"]
                .as_str()
                .map(|q| format!("?{q}"))
                .unwrap_or_default();
            (format!("/hooks/{source}{query}"), text.clone())
        };
        let method = entry["method"].as_str().unwrap();
        let (status, json) = support::call(
            &ingest,
            method,
            &uri,
            entry["content_type"].as_str(),
            body.clone(),
        )
        .await;

        // Then it is accepted and queued
        assert_eq!(status, 202, "{file}: {json}");
        let id = json["id"].as_str().unwrap().to_owned();

        // And the provider's retry of it is a duplicate when the provider gives a key
        let (status, again) =
            support::call(&ingest, method, &uri, entry["content_type"].as_str(), body).await;
        match status {
            200 => assert_eq!(again["id"], id.as_str(), "{file}: {again}"),
            202 => assert_ne!(again["id"], id.as_str(), "{file}: {again}"),
            other => panic!("{file}: retry answered {other}: {again}"),
        }
        if status == 202 {
            accepted.push((file.to_owned(), again["id"].as_str().unwrap().to_owned()));
        }
        accepted.push((file.to_owned(), id));
    }
    let duplicates = manifest["fixtures"].as_array().unwrap().len() * 2 - accepted.len();
    assert!(duplicates > 0, "no fixture has a dedup key");

    // And dispatch, under its role, stores every one (admin reads each back)
    let mut pending = accepted;
    for _ in 0..30 {
        if pending.is_empty() {
            break;
        }
        dispatch_until(&stack.dispatch, &dispatcher, 1, || false).await;
        let mut still = Vec::new();
        for (file, id) in pending {
            let (status, _) = support::get(&admin, &format!("/admin/events/{id}")).await;
            if status != 200 {
                still.push((file, id));
            }
        }
        pending = still;
    }
    assert!(pending.is_empty(), "never stored: {pending:?}");

    // And an unknown source is 404 (a sources read the role allows)
    let (status, json) = flow::post_call_hangup(&ingest, &unique("nobody")).await;
    assert_eq!(status, 404, "{json}");
    stack.assert_no_denials();
}

#[tokio::test]
async fn sqs_outage_is_503_and_the_providers_retry_is_accepted() {
    let stack = Stack::load().await;
    let admin = stack.admin.app(Surface::Admin);
    let source = flow::hipcall_source(&admin).await;

    // Given ingest whose SendMessage fails (SQS answers 500), under its role
    let (faulty, outage) = FaultyHttp::send_message_outage();
    let ingest_fn = Function::load(INGEST, Some(SharedHttpClient::new(faulty.clone()))).await;
    let ingest = ingest_fn.app(Surface::Ingest);

    // When a provider posts a call end (it carries a dedup key, so a claim is made)
    let (status, json) = flow::post_call_hangup(&ingest, &source).await;

    // Then it is told to retry later, and the claim was released (DeleteItem allowed):
    // once SQS is back the retry is a new event, not a duplicate
    assert_eq!(status, 503, "{json}");
    assert_eq!(json["error"]["code"], "unavailable");
    assert!(!faulty.injected().is_empty());
    outage.store(false, Ordering::SeqCst);
    let (status, json) = flow::post_call_hangup(&ingest, &source).await;
    assert_eq!(status, 202, "{json}");
    assert!(json.get("duplicate").is_none(), "{json}");
    ingest_fn.assert_no_denials();
    stack.assert_no_denials();
}
