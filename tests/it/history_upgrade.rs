//! `switchboard-upgrade-history` on the emulator: items in the first data model's shape
//! (the whole record in `doc`, indexes by source, call, subscription, status and day) are
//! copied into the current tables, where every listing finds them; a copy interrupted
//! between pages resumes from its saved progress; a second run writes nothing.

use crate::support::aws::{self, create_table, unique, Gsi};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use switchboard_core::adapters::aws::history_upgrade::{
    HistoryUpgrade, Progress, UpgradeLimits, UpgradeTables,
};
use switchboard_core::domain::attempt::{AttemptStatus, Trigger};
use switchboard_core::domain::envelope::{Envelope, RawRequest, StoredEvent};
use switchboard_core::domain::time::{epoch_secs, now, sortable, Timestamp};
use switchboard_core::domain::{Attempt, CallInfo};
use switchboard_core::ports::{DeliveryQuery, EventQuery, PageRequest, TimeRange};
use switchboard_core::state::{Compose, Ports};

fn at(hours_ago: i64) -> Timestamp {
    // Whole milliseconds: the comparisons are of records read back.
    let t = now() - chrono::Duration::hours(hours_ago);
    t - chrono::Duration::nanoseconds(i64::from(t.timestamp_subsec_nanos() % 1_000_000))
}

fn event(id: &str, call: Option<&str>, hours_ago: i64) -> StoredEvent {
    let body = format!(r#"{{"event":"call_hangup","data":{{"uuid":"{id}"}}}}"#);
    StoredEvent {
        envelope: Envelope {
            id: id.into(),
            event_type: "call.ended".into(),
            provider_event: Some("call_hangup".into()),
            source: "src-up".into(),
            occurred_at: None,
            received_at: at(hours_ago),
            call: call.map(|c| CallInfo {
                id: Some(c.into()),
                ..Default::default()
            }),
            data: serde_json::from_str(&body).ok(),
            raw_unparsed: false,
        },
        raw: RawRequest {
            method: "POST".into(),
            content_type: Some("application/json".into()),
            query: None,
            body: bytes::Bytes::from(body),
        },
        dedup_key: None,
    }
}

fn attempt(e: &StoredEvent, sub: &str, status: AttemptStatus, hours_ago: i64) -> Attempt {
    Attempt {
        event_id: e.envelope.id.clone(),
        subscription_id: sub.into(),
        attempt: 1,
        status,
        trigger: Trigger::Initial,
        url: "http://127.0.0.1:1/x".into(),
        method: "POST".into(),
        request_headers: Default::default(),
        http_status: Some(if status == AttemptStatus::Succeeded {
            200
        } else {
            500
        }),
        duration_ms: 3,
        response_excerpt: None,
        error_kind: None,
        error: None,
        next_attempt_at: None,
        held_behind: None,
        attempted_at: at(hours_ago),
        source: e.envelope.source.clone(),
        event_type: e.envelope.event_type.clone(),
        call_id: e.envelope.call_id().map(str::to_owned),
        truncated: Vec::new(),
    }
}

fn strings(pairs: &[(&str, String)]) -> HashMap<String, AttributeValue> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), AttributeValue::S(v.clone())))
        .collect()
}

/// An event item as the first data model wrote it.
fn old_event_item(e: &StoredEvent, expires_at: i64) -> HashMap<String, AttributeValue> {
    let mut item = strings(&[
        ("id", e.envelope.id.clone()),
        ("source", e.envelope.source.clone()),
        ("received_at", sortable(&e.envelope.received_at)),
        ("doc", serde_json::to_string(e).unwrap()),
    ]);
    if let Some(c) = e.envelope.call_id() {
        item.insert("call_id".into(), AttributeValue::S(c.into()));
    }
    item.insert(
        "expires_at".into(),
        AttributeValue::N(expires_at.to_string()),
    );
    item
}

/// An attempt item as the first data model wrote it.
fn old_attempt_item(a: &Attempt, expires_at: i64) -> HashMap<String, AttributeValue> {
    let attempted_at = sortable(&a.attempted_at);
    let mut item = strings(&[
        ("event_id", a.event_id.clone()),
        ("sk", format!("{}#{:06}", a.subscription_id, a.attempt)),
        ("subscription_id", a.subscription_id.clone()),
        ("status", a.status.as_str().to_owned()),
        ("day", attempted_at[..10].to_owned()),
        ("attempted_at", attempted_at),
        ("doc", serde_json::to_string(a).unwrap()),
    ]);
    if let Some(c) = &a.call_id {
        item.insert("call_id".into(), AttributeValue::S(c.clone()));
    }
    item.insert(
        "expires_at".into(),
        AttributeValue::N(expires_at.to_string()),
    );
    item
}

/// The first data model's tables (their keys and index keys; a copy only scans them).
async fn old_tables(ddb: &aws_sdk_dynamodb::Client) -> (String, String) {
    let (events, deliveries) = (unique("events"), unique("deliveries"));
    let gsi = |name, hash, range| Gsi {
        name,
        hash,
        range,
        include: None,
    };
    create_table(
        ddb,
        &events,
        "id",
        None,
        &[
            gsi("by_source", "source", "received_at"),
            gsi("by_call", "call_id", "received_at"),
        ],
    )
    .await;
    create_table(
        ddb,
        &deliveries,
        "event_id",
        Some("sk"),
        &[
            gsi("by_subscription", "subscription_id", "attempted_at"),
            gsi("by_call", "call_id", "attempted_at"),
            gsi("by_status", "status", "attempted_at"),
            gsi("recent", "day", "attempted_at"),
        ],
    )
    .await;
    (events, deliveries)
}

async fn put(ddb: &aws_sdk_dynamodb::Client, table: &str, item: HashMap<String, AttributeValue>) {
    ddb.put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

fn page() -> PageRequest {
    PageRequest {
        limit: 100,
        cursor: None,
    }
}

#[tokio::test]
async fn the_first_models_history_is_copied_resumably_and_once() {
    let sdk = aws::sdk().await;
    let names = aws::resources(&sdk, 2).await;
    let ports = Ports::aws(&sdk, &names);
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let (old_events, old_deliveries) = old_tables(&ddb).await;
    let live = epoch_secs(&(now() + chrono::Duration::days(20)));
    let gone = epoch_secs(&(now() - chrono::Duration::hours(1)));

    // Given five events of the first model (one past its expiry), two of one call, each
    // with a success and a failure
    let events: Vec<StoredEvent> = (1..=5)
        .map(|i| event(&format!("evt_up{i}"), (i <= 2).then_some("call-up"), 10 - i))
        .collect();
    let mut attempts = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let expires = if i == 4 { gone } else { live };
        put(&ddb, &old_events, old_event_item(e, expires)).await;
        for (sub, status) in [
            ("sub_ok", AttemptStatus::Succeeded),
            ("sub_down", AttemptStatus::Failed),
        ] {
            let a = attempt(e, sub, status, 9 - i as i64);
            put(&ddb, &old_deliveries, old_attempt_item(&a, expires)).await;
            if i < 4 {
                attempts.push(a);
            }
        }
    }
    // And a retry the upgraded stack already recorded in the new table, under the key of
    // an old failure: the copy leaves it alone
    let mut retried = attempt(&events[3], "sub_down", AttemptStatus::Succeeded, 1);
    retried.http_status = Some(204);
    let expires = now() + chrono::Duration::days(20);
    ports.deliveries.record(&retried, expires).await.unwrap();

    let upgrade = HistoryUpgrade::new(
        ddb.clone(),
        UpgradeTables {
            old_events,
            old_deliveries,
            events: names.events_table.clone(),
            deliveries: names.deliveries_table.clone(),
        },
        UpgradeLimits {
            max_writes_per_second: 1000.0,
            page_size: 2,
        },
    );

    // When a copy stops after its third page (its progress saved for two), and is resumed
    // from what was saved
    let mut saved: Vec<Progress> = Vec::new();
    let mut progress = Progress::default();
    let mut stop_after_two = |p: &Progress| {
        if saved.len() == 2 {
            return Err(std::io::Error::other("stopped"));
        }
        saved.push(p.clone());
        Ok(())
    };
    assert!(upgrade
        .run(&mut progress, &mut stop_after_two)
        .await
        .is_err());
    let mut resumed = saved.last().cloned().unwrap();
    assert!(!resumed.done());
    let mut saves = 0;
    upgrade
        .run(&mut resumed, &mut |_: &Progress| {
            saves += 1;
            Ok(())
        })
        .await
        .unwrap();

    // Then every live item was scanned once after the resume point, the expired ones left
    // out, and the page copied twice (written before the stop, its progress unsaved) was
    // found in place the second time
    assert!(resumed.done() && saves > 0);
    assert_eq!(resumed.events.expired, 1);
    assert_eq!(resumed.deliveries.expired, 2);
    assert_eq!(resumed.events.copied + resumed.events.present, 4);
    assert_eq!(
        resumed.deliveries.copied + resumed.deliveries.present,
        8,
        "{resumed:?}"
    );

    // And a second run over everything writes nothing
    let mut again = Progress::default();
    upgrade
        .run(&mut again, &mut |_: &Progress| Ok(()))
        .await
        .unwrap();
    assert_eq!((again.events.copied, again.events.present), (0, 4));
    assert_eq!((again.deliveries.copied, again.deliveries.present), (0, 8));

    // And every listing finds the history in the new layout
    for e in &events[..4] {
        assert_eq!(
            ports.events.get(&e.envelope.id).await.unwrap().as_ref(),
            Some(e)
        );
    }
    assert_eq!(ports.events.get("evt_up5").await.unwrap(), None);
    let by_source = ports
        .event_queries
        .query_events(
            &EventQuery::Source {
                source: "src-up".into(),
                range: TimeRange::default(),
            },
            &page(),
        )
        .await
        .unwrap();
    let ids: Vec<&str> = by_source.items.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["evt_up4", "evt_up3", "evt_up2", "evt_up1"]);
    let listed = |q: DeliveryQuery| {
        let ports = &ports;
        async move {
            ports
                .delivery_queries
                .query_deliveries(&q, &page())
                .await
                .unwrap()
                .items
        }
    };
    let by_call = listed(DeliveryQuery::Call {
        call_id: "call-up".into(),
        status: None,
        range: TimeRange::default(),
    })
    .await;
    let mut want: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| a.event_id.as_str() <= "evt_up2")
        .collect();
    want.sort_by(|a, b| {
        b.attempted_at
            .cmp(&a.attempted_at)
            .then(b.event_id.cmp(&a.event_id))
    });
    assert_eq!(by_call.iter().collect::<Vec<_>>(), want);
    let failures = listed(DeliveryQuery::Status {
        status: AttemptStatus::Failed,
        range: TimeRange::default(),
    })
    .await;
    let failed: Vec<&str> = failures.iter().map(|a| a.event_id.as_str()).collect();
    assert_eq!(failed, ["evt_up3", "evt_up2", "evt_up1"]);
    let by_subscription = listed(DeliveryQuery::Subscription {
        subscription_id: "sub_down".into(),
        status: None,
        range: TimeRange::default(),
    })
    .await;
    assert_eq!(by_subscription.len(), 4);
    assert_eq!(by_subscription[0], retried, "the newer record was kept");
}
