//! Real deliveries captured at the sink, for the official `standardwebhooks` verifier.
//!
//! With `SWITCHBOARD_SIGNATURE_CAPTURE=<file>` set, writes one JSON line per (delivery,
//! secret): `{"label", "secret", "headers": {webhook-id, webhook-timestamp,
//! webhook-signature}, "body_b64"}`; `scripts/verify_signatures.py <file>` then verifies each
//! with the PyPI package (within its 5-minute timestamp tolerance: run it right after).

use crate::common::*;
use crate::sink::Sink;
use base64::Engine as _;
use serde_json::json;
use std::io::Write as _;
use switchboard_core::delivery::signing;
use switchboard_core::domain::subscription::{Format, Method, RetiringSecret};
use switchboard_core::redact::Secret;

#[tokio::test]
async fn captures_real_deliveries_for_the_python_verifier() {
    let sink = Sink::ok().await;
    let h = Harness::new();
    let envelope = subscription(&sink.url("/envelope"), &["*"]);
    let mut raw = subscription(&sink.url("/raw"), &["*"]);
    raw.format = Format::Raw;
    let mut tpl = subscription(&sink.url("/template"), &["*"]);
    tpl.format = Format::Template;
    tpl.template = Some("{\"uuid\": \"{{ call.id }}\", \"who\": \"Zoë ☎ {{ call.from }}\"}".into());
    let mut form = subscription(&sink.url("/form"), &["*"]);
    form.format = Format::Template;
    form.method = Method::Put;
    form.content_type = Some("application/x-www-form-urlencoded".into());
    form.template = Some("uuid={{ call.id|urlencode }}&from={{ call.from|urlencode }}".into());
    let mut rotated = subscription(&sink.url("/rotated"), &["*"]);
    let old = rotated.secret.clone();
    rotated.secret = Secret::new(signing::generate_secret());
    rotated.previous_secret = Some(RetiringSecret {
        secret: old.clone(),
        expires_at: chrono::Utc::now() + chrono::Duration::hours(24),
    });
    let subs = [&envelope, &raw, &tpl, &form, &rotated];
    for s in subs {
        h.add(s).await;
    }
    for _ in 0..2 {
        assert!(h.publish(&event("call.ended")).await.is_empty());
    }

    let mut lines = Vec::new();
    for r in sink.received() {
        let sub = subs.iter().find(|s| s.url.ends_with(r.path())).unwrap();
        let mut secrets = vec![sub.secret.expose().to_owned()];
        if let Some(p) = &sub.previous_secret {
            secrets.push(p.secret.expose().to_owned());
        }
        let (id, ts, sig) = (
            r.header("webhook-id").unwrap(),
            r.header("webhook-timestamp").unwrap(),
            r.header("webhook-signature").unwrap(),
        );
        for secret in &secrets {
            // Our own verifier agrees first.
            assert!(signing::verify(
                secret,
                id,
                ts.parse().unwrap(),
                &r.body,
                sig
            ));
            lines.push(json!({
                "label": r.path(),
                "secret": secret,
                "headers": {"webhook-id": id, "webhook-timestamp": ts, "webhook-signature": sig},
                "body_b64": base64::engine::general_purpose::STANDARD.encode(&r.body),
            }));
        }
    }
    assert_eq!(lines.len(), 12, "2 events x (4 subscriptions + 2 secrets)");
    if let Ok(path) = std::env::var("SWITCHBOARD_SIGNATURE_CAPTURE") {
        let mut f = std::fs::File::create(&path).unwrap();
        for l in &lines {
            writeln!(f, "{l}").unwrap();
        }
    }
}
