//! `switchboard serve` over real HTTP: provider → serve → sink, records via the admin API.

use crate::support::{sink::Sink, ADMIN_TOKEN};
use std::time::Duration;
use switchboard_cli::serve::{self};

#[tokio::test]
async fn serve_relays_a_hipcall_call_end_over_http_and_drains_on_stop() {
    // Given serve on a free port and a CRM sink
    let config = switchboard_test_support::serve::config();
    let running = serve::start(config).await.unwrap();
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let crm = Sink::start().await;
    let admin = |method: reqwest::Method, path: &str| {
        http.request(method, format!("{base}{path}"))
            .bearer_auth(ADMIN_TOKEN)
    };
    let r = admin(reqwest::Method::POST, "/admin/sources")
        .body(r#"{"id":"hipcall-main","provider":"hipcall","verification":{"type":"none"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = admin(reqwest::Method::POST, "/admin/subscriptions")
        .body(
            serde_json::json!({"url": crm.url("/crm"), "event_types": ["call.ended"]}).to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // When Hipcall posts 20 call-end webhooks (distinct calls)
    let mut ids = Vec::new();
    for i in 0..20 {
        let body = crate::support::HIPCALL_CALL_HANGUP.replace(
            "2483a75a-56a2-41f1-991b-92b1667e324a",
            &format!("2483a75a-56a2-41f1-991b-{i:012}"),
        );
        let r = http
            .post(format!("{base}/hooks/hipcall-main"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let json: serde_json::Value = r.json().await.unwrap();
        ids.push(json["id"].as_str().unwrap().to_owned());
    }

    // Then every one reaches the CRM, and each has one succeeded attempt on record
    assert!(crate::support::eventually(10, || async { crm.count() >= 20 }).await);
    for id in &ids {
        let r = admin(
            reqwest::Method::GET,
            &format!("/admin/deliveries?event_id={id}"),
        )
        .send()
        .await
        .unwrap();
        let json: serde_json::Value = r.json().await.unwrap();
        let items = json["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{json}");
        assert_eq!(items[0]["status"], "succeeded");
    }
    assert_eq!(crm.count(), 20);

    // And stopping drains: nothing is left queued
    assert_eq!(running.stop().await, 0);
    assert!(http
        .get(format!("{base}/admin/sources"))
        .timeout(Duration::from_secs(1))
        .send()
        .await
        .is_err());
}
