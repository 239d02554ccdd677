//! Dispatch under a deadline (Lambda's): attempts that could not finish in time are not
//! started, their messages fail for SQS to hand out again, and nothing is recorded,
//! scheduled or counted against the endpoint for them.

use crate::common::*;
use crate::sink::{Reply, Sink};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::config::Settings;
use switchboard_core::delivery::guard::StaticLookup;
use switchboard_core::dispatch::BatchRecord;
use switchboard_core::domain::attempt::{AttemptStatus, ErrorKind};
use switchboard_core::domain::QueueMessage;
use tokio::time::Instant;

/// A sink on `/hook` that hangs (says nothing for a minute) while `hanging` is set, else
/// answers 200.
async fn switchable_sink(hanging: Arc<AtomicBool>) -> Sink {
    Sink::replying(move |_, _| {
        if hanging.load(Ordering::SeqCst) {
            Reply::Hang(Duration::from_secs(60))
        } else {
            Reply::Status(200)
        }
    })
    .await
}

fn harness(concurrency: usize) -> Harness {
    let settings = Settings {
        delivery_concurrency: concurrency,
        deadline_margin: Duration::from_millis(200),
        ..settings()
    };
    Harness::with(settings, loopback_policy(), StaticLookup::new())
}

/// `n` new call-end events, one message each with ids `m0`, `m1`, ...; and which event
/// each id carries.
fn call_ends(n: usize) -> (Vec<BatchRecord>, HashMap<String, String>) {
    let mut carried = HashMap::new();
    let records = (0..n)
        .map(|i| {
            let ev = event("call.ended");
            let message_id = format!("m{i}");
            carried.insert(message_id.clone(), ev.envelope.id.clone());
            BatchRecord {
                message_id,
                body: QueueMessage::Event {
                    event: std::sync::Arc::new(ev),
                }
                .to_json()
                .unwrap(),
                trace: None,
            }
        })
        .collect();
    (records, carried)
}

/// Dispatches `batch` with `budget` left before the deadline; the messages that failed.
async fn dispatch_within(h: &Harness, batch: Vec<BatchRecord>, budget: Duration) -> Vec<String> {
    let deadline = Instant::now() + budget;
    h.dispatcher
        .handle_batch_before(batch, Some(deadline))
        .await
}

#[tokio::test]
async fn a_hanging_subscriber_leaves_the_rest_of_the_batch_to_redelivery_before_the_deadline() {
    // Given a subscriber that hangs, attempts of at most 1 s, two at a time, and a batch
    // of 10 events due within 2 s (sequentially they would need 5 s)
    let hanging = Arc::new(AtomicBool::new(true));
    let sink = switchable_sink(hanging.clone()).await;
    let h = harness(2);
    let mut sub = subscription(&sink.url("/hook"), &["*"]);
    sub.timeout_ms = Some(1_000);
    h.add(&sub).await;
    let (batch, carried) = call_ends(10);

    // When dispatch handles it
    let started = Instant::now();
    let failed = dispatch_within(&h, batch.clone(), Duration::from_secs(2)).await;

    // Then it returns before the deadline
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "returned after the deadline: {took:?}"
    );
    // And every message either made its attempt (timed out, retry scheduled) or failed
    // with no attempt at all
    let mut attempted = 0;
    for (message_id, event_id) in &carried {
        let attempts = h.attempts(event_id).await;
        if failed.contains(message_id) {
            assert!(attempts.is_empty(), "{message_id}: {attempts:?}");
        } else {
            assert_eq!(attempts.len(), 1, "{message_id}");
            assert_eq!(attempts[0].error_kind, Some(ErrorKind::Timeout));
            assert_eq!(attempts[0].status, AttemptStatus::Retrying);
            attempted += 1;
        }
    }
    assert!(attempted >= 1, "the first attempts fit before the deadline");
    assert!(
        !failed.is_empty(),
        "not every attempt fits before the deadline"
    );
    assert_eq!(
        sink.count_at("/hook"),
        attempted,
        "nothing sent for the failed ones"
    );
    // No retry is scheduled for a message that was not attempted
    assert_eq!(delivers(&h.queue.take()).len(), attempted);

    // And when SQS hands the failed messages out again (the subscriber answers now), each
    // is delivered once, as attempt 1
    hanging.store(false, Ordering::SeqCst);
    let again: Vec<BatchRecord> = batch
        .into_iter()
        .filter(|r| failed.contains(&r.message_id))
        .collect();
    assert!(h.dispatcher.handle_batch(again).await.is_empty());
    for message_id in &failed {
        let attempts = h.attempts(&carried[message_id]).await;
        assert_eq!(attempts.len(), 1, "{message_id}");
        assert_eq!(
            (attempts[0].attempt, attempts[0].status),
            (1, AttemptStatus::Succeeded)
        );
    }
    assert_eq!(sink.count_at("/hook"), 10);
}

#[tokio::test]
async fn an_attempt_that_cannot_finish_in_time_is_not_an_attempt() {
    // Given a subscriber whose attempts may take 3 s, and a batch due in 1 s
    let sink = Sink::ok().await;
    let h = harness(4);
    let mut sub = subscription(&sink.url("/hook"), &["*"]);
    sub.timeout_ms = Some(3_000);
    h.add(&sub).await;
    let (batch, carried) = call_ends(3);

    // When dispatch handles it
    let mut failed = dispatch_within(&h, batch, Duration::from_secs(1)).await;

    // Then every message fails, and nothing happened: no request, no attempt record, no
    // retry, no change to the subscription's health
    failed.sort();
    assert_eq!(failed, ["m0", "m1", "m2"]);
    assert_eq!(sink.count_at("/hook"), 0);
    for event_id in carried.values() {
        assert!(h.attempts(event_id).await.is_empty());
    }
    assert!(h.queue.take().is_empty());
    let after = h.sub(&sub.id).await;
    assert_eq!(after.failing_since, None);
    assert!(after.enabled);
}

#[tokio::test]
async fn a_mixed_batch_records_the_fast_subscriber_and_redelivery_does_not_resend_it() {
    // Given a fast subscriber (attempts of at most 300 ms) and a hanging one (3 s), and
    // batches due within 1.5 s
    let hanging = Arc::new(AtomicBool::new(true));
    let slow_sink = switchable_sink(hanging.clone()).await;
    let fast_sink = Sink::ok().await;
    let h = harness(8);
    let mut fast = subscription(&fast_sink.url("/hook"), &["*"]);
    fast.timeout_ms = Some(300);
    let mut slow = subscription(&slow_sink.url("/hook"), &["*"]);
    slow.timeout_ms = Some(3_000);
    h.add(&fast).await;
    h.add(&slow).await;
    let (batch, carried) = call_ends(3);

    // When dispatch handles the batch
    let budget = Duration::from_millis(1_500);
    let started = Instant::now();
    let failed = dispatch_within(&h, batch.clone(), budget).await;

    // Then the fast subscriber's deliveries are made and recorded, the slow one's are not
    // started, and every message is left to redelivery for it
    assert!(started.elapsed() < budget);
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert_eq!(fast_sink.count_at("/hook"), 3);
    assert_eq!(slow_sink.count_at("/hook"), 0);
    for event_id in carried.values() {
        let attempts = h.attempts(event_id).await;
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].subscription_id, fast.id);
        assert_eq!(attempts[0].status, AttemptStatus::Succeeded);
    }

    // And when SQS redelivers them with time to spare, only the slow subscriber is sent to
    hanging.store(false, Ordering::SeqCst);
    assert!(dispatch_within(&h, batch, Duration::from_secs(600))
        .await
        .is_empty());
    assert_eq!(
        fast_sink.count_at("/hook"),
        3,
        "already delivered: not re-sent"
    );
    assert_eq!(slow_sink.count_at("/hook"), 3);
    for event_id in carried.values() {
        let attempts = h.attempts(event_id).await;
        assert_eq!(attempts.len(), 2);
        assert!(attempts
            .iter()
            .all(|a| a.attempt == 1 && a.status == AttemptStatus::Succeeded));
    }
}

/// The poller of `serve` has no deadline: a long attempt is made whatever the margin.
#[tokio::test]
async fn without_a_deadline_every_attempt_is_made() {
    let sink = Sink::replying(|_, _| Reply::Slow(Duration::from_millis(200), 200)).await;
    let mut settings = settings();
    settings.deadline_margin = Duration::from_secs(3600);
    let h = Harness::with(settings, loopback_policy(), StaticLookup::new());
    let mut sub = subscription(&sink.url("/hook"), &["*"]);
    sub.timeout_ms = Some(60_000);
    h.add(&sub).await;
    assert_eq!(h.publish_call_end().await.len(), 1);
}
