//! `switchboard serve` over real HTTP: provider → serve → sink, records via the admin API.

use crate::support::sink::Sink;
use std::time::Duration;
use switchboard_test_support::serve::ServeHarness;

#[tokio::test]
async fn serve_relays_a_hipcall_call_end_over_http_and_drains_on_stop() {
    // Given serve on a free port and a CRM sink
    let serve = ServeHarness::start().await;
    let crm = Sink::start().await;
    serve.hipcall_call_ends_to(&crm.url("/crm")).await;

    // When Hipcall posts 20 call-end webhooks (distinct calls)
    let mut ids = Vec::new();
    for i in 0..20 {
        let body = crate::support::hipcall_call_hangup(&format!("2483a75a-56a2-41f1-991b-{i:012}"));
        let (status, json) = serve.post_hook("hipcall-main", body).await;
        assert_eq!(status, 202, "{json}");
        ids.push(json["id"].as_str().unwrap().to_owned());
    }

    // Then every one reaches the CRM, and each has one succeeded attempt on record
    assert!(crate::support::eventually(10, || async { crm.count() >= 20 }).await);
    for id in &ids {
        let (status, json) = serve
            .admin("GET", &format!("/admin/deliveries?event_id={id}"), None)
            .await;
        assert_eq!(status, 200, "{json}");
        let items = json["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{json}");
        assert_eq!(items[0]["status"], "succeeded");
    }
    assert_eq!(crm.count(), 20);

    // And stopping drains: nothing is left queued
    let (base, http) = (serve.base, serve.http);
    assert_eq!(serve.running.stop().await, 0);
    assert!(http
        .get(format!("{base}/admin/sources"))
        .timeout(Duration::from_secs(1))
        .send()
        .await
        .is_err());
}
