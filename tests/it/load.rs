//! Load: a burst of events fanned out to three subscriptions, through `serve` (in-process,
//! real HTTP on 127.0.0.1; in-memory and durable stores) and through the AWS adapters on
//! the emulator. Every (event,
//! subscription) pair must reach its sink at least once, with exactly one succeeded attempt
//! on record and no other attempt; duplicates are counted and printed, and so is the
//! throughput (informational: nothing here is timed).
//!
//! Sizes: 10,000 events through `serve` and 1,000 through the emulator by default;
//! `SWITCHBOARD_LONG=1` runs 100,000 and 5,000; `SWITCHBOARD_LOAD_EVENTS` /
//! `SWITCHBOARD_LOAD_AWS_EVENTS` set them exactly.

use crate::support::tempdir::TempDir;
use crate::support::{self, aws, lambda, sink::Sink, ADMIN_TOKEN};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_cli::serve::Store;
use switchboard_core::adapters::aws::SqsQueue;
use switchboard_core::dispatch::Dispatcher;
use switchboard_core::domain::attempt::AttemptStatus;
use switchboard_core::ports::{DeliveryStore, PageRequest};
use switchboard_core::state::{Compose, Ports};
use switchboard_test_support::serve::ServeHarness;

const SUBSCRIPTIONS: usize = 3;

/// Prints a figure and appends it to target/artifacts/load.txt (the last run's figures).
fn report(line: &str) {
    eprintln!("{line}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/artifacts");
    if std::fs::create_dir_all(&dir).is_ok() {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("load.txt"))
        {
            let _ = writeln!(f, "{} {line}", chrono::Utc::now().to_rfc3339());
        }
    }
}

fn long() -> bool {
    std::env::var("SWITCHBOARD_LONG").is_ok_and(|v| v == "1")
}

fn size(var: &str, default: usize, long_default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if long() { long_default } else { default })
}

/// A Hipcall call-end webhook for call number `i` (a distinct call, so no provider dedup).
fn webhook(i: usize) -> String {
    crate::support::hipcall_call_hangup(&format!("2483a75a-0000-4000-8000-{i:012}"))
}

/// Deliveries per `webhook-id` (`<event id>_<subscription id>`) over all sinks.
fn arrivals(sinks: &[Sink]) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for sink in sinks {
        for r in sink.received() {
            let id = r.headers["webhook-id"].to_str().unwrap().to_owned();
            *seen.entry(id).or_default() += 1;
        }
    }
    seen
}

/// Checks every pair: arrived at least once, exactly one attempt on record and it succeeded.
/// Returns the number of duplicate arrivals.
async fn verify(
    label: &str,
    ids: &[String],
    sub_ids: &[String],
    sinks: &[Sink],
    deliveries: &dyn DeliveryStore,
) -> usize {
    let seen = arrivals(sinks);
    let mut lost = Vec::new();
    let mut duplicates = 0;
    for id in ids {
        for sub in sub_ids {
            match seen.get(&format!("{id}_{sub}")) {
                None | Some(0) => lost.push(format!("{id}_{sub}")),
                Some(n) => duplicates += n - 1,
            }
        }
    }
    let arrived: usize = seen.values().sum();
    assert!(
        lost.is_empty(),
        "{label}: {} of {} pairs never arrived, e.g. {:?}",
        lost.len(),
        ids.len() * sub_ids.len(),
        &lost[..lost.len().min(5)]
    );
    assert_eq!(
        arrived,
        ids.len() * sub_ids.len() + duplicates,
        "{label}: deliveries of pairs that were never accepted"
    );
    let page = PageRequest {
        limit: 100,
        cursor: None,
    };
    let checked = AtomicUsize::new(0);
    futures::stream::iter(ids)
        .for_each_concurrent(16, |id| {
            let page = &page;
            let checked = &checked;
            async move {
                let attempts = deliveries.list_by_event(id, page).await.unwrap().items;
                for sub in sub_ids {
                    let mine: Vec<_> = attempts
                        .iter()
                        .filter(|a| &a.subscription_id == sub)
                        .collect();
                    assert_eq!(
                        mine.len(),
                        1,
                        "{label}: event {id} subscription {sub}: {mine:?}"
                    );
                    assert_eq!(mine[0].status, AttemptStatus::Succeeded);
                    assert_eq!(mine[0].attempt, 1);
                }
                assert_eq!(attempts.len(), sub_ids.len(), "{label}: {attempts:?}");
                checked.fetch_add(1, Ordering::Relaxed);
            }
        })
        .await;
    assert_eq!(checked.load(Ordering::Relaxed), ids.len());
    duplicates
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_through_serve_delivers_every_pair_once_on_record() {
    serve_burst("serve (memory)", Store::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_through_durable_serve_delivers_every_pair_once_on_record() {
    let dir = TempDir::new("switchboard-load");
    serve_burst("serve (durable)", Store::durable(dir.path())).await;
}

async fn serve_burst(label: &str, store: Store) {
    let events = size("SWITCHBOARD_LOAD_EVENTS", 10_000, 100_000);
    // Given serve on a free port, a Hipcall source and three subscribers to call.ended
    let mut config = switchboard_test_support::serve::config();
    config.store = store;
    let sb = ServeHarness::with(config).await;
    sb.create_source("hipcall-main", "hipcall").await;
    let (running, base, http) = sb.into_parts();
    let mut sinks = Vec::new();
    let mut sub_ids = Vec::new();
    for i in 0..SUBSCRIPTIONS {
        let sink = Sink::start().await;
        let r = http
            .post(format!("{base}/admin/subscriptions"))
            .bearer_auth(ADMIN_TOKEN)
            .body(
                serde_json::json!({"url": sink.url(&format!("/crm{i}")), "event_types": ["call.ended"]})
                    .to_string(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let json: serde_json::Value = r.json().await.unwrap();
        sub_ids.push(json["id"].as_str().unwrap().to_owned());
        sinks.push(sink);
    }

    // When the provider posts `events` distinct call-end webhooks, 32 at a time
    let started = Instant::now();
    let ids: Vec<String> = futures::stream::iter(0..events)
        .map(|i| {
            let http = http.clone();
            let url = format!("{base}/hooks/hipcall-main");
            async move {
                let r = http
                    .post(url)
                    .header("content-type", "application/json")
                    .body(webhook(i))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202);
                let json: serde_json::Value = r.json().await.unwrap();
                json["id"].as_str().unwrap().to_owned()
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let ingested = started.elapsed();

    // Then every pair arrives and the queue empties
    let want = events * SUBSCRIPTIONS;
    let delivered = support::eventually(600, || async {
        sinks.iter().map(Sink::count).sum::<usize>() >= want && running.queue.is_empty().await
    })
    .await;
    let all_done = started.elapsed();
    assert!(
        delivered,
        "only {} of {want} deliveries after 600 s; queue holds {}",
        sinks.iter().map(Sink::count).sum::<usize>(),
        running.queue.len().await
    );
    let ports = running.ports.clone();
    let duplicates = verify(label, &ids, &sub_ids, &sinks, ports.deliveries.as_ref()).await;
    assert!(support::dead_letters(&running.queue).await.is_empty());
    report(&format!(
        "load/{label}: {events} events x {SUBSCRIPTIONS} subscriptions: ingest {:.0} events/s ({:.1} s); \
         {want} deliveries in {:.1} s = {:.0} deliveries/s end to end; lost 0; duplicates {duplicates}",
        events as f64 / ingested.as_secs_f64(),
        ingested.as_secs_f64(),
        all_done.as_secs_f64(),
        want as f64 / all_done.as_secs_f64(),
    ));
    assert_eq!(running.stop().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_through_sqs_and_dynamodb_delivers_every_pair_once_on_record() {
    let events = size("SWITCHBOARD_LOAD_AWS_EVENTS", 1_000, 5_000);
    // Given a stack's resources on the emulator, a source and three subscribers
    let sdk = aws::sdk().await;
    let names = aws::resources(&sdk, 60).await;
    let ports = Ports::aws(&sdk, &names);
    let app = Arc::new(support::app(ports.clone()));
    support::create_source(&app, "hipcall-main", "hipcall").await;
    let mut sinks = Vec::new();
    let mut sub_ids = Vec::new();
    for i in 0..SUBSCRIPTIONS {
        let sink = Sink::start().await;
        let sub = support::create_subscription(
            &app,
            serde_json::json!({"url": sink.url(&format!("/crm{i}")), "event_types": ["call.ended"]}),
        )
        .await;
        sub_ids.push(sub["id"].as_str().unwrap().to_owned());
        sinks.push(sink);
    }

    // When the provider posts `events` webhooks through the ingest handler (SQS behind it)
    let started = Instant::now();
    let ids: Vec<String> = futures::stream::iter(0..events)
        .map(|i| {
            let app = app.clone();
            async move {
                let (status, json) =
                    support::post_json(&app, "/hooks/hipcall-main", webhook(i)).await;
                assert_eq!(status, 202, "{json}");
                json["id"].as_str().unwrap().to_owned()
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let ingested = started.elapsed();

    // And four dispatch "invocations" at a time drain the queue as the event source mapping would
    let dispatcher =
        Arc::new(Dispatcher::from_settings(ports.clone(), support::settings()).unwrap());
    let consumer = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &names.queue_url);
    let want = events * SUBSCRIPTIONS;
    let deadline = Instant::now() + Duration::from_secs(600);
    let failed_messages = Arc::new(AtomicUsize::new(0));
    // message id -> (first receipt, receipts, longest gap between the first and a later one)
    type Receipts = HashMap<String, (Instant, usize, Duration)>;
    let receipts: Arc<std::sync::Mutex<Receipts>> = Arc::default();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let dispatcher = dispatcher.clone();
            let consumer = consumer.clone();
            let sinks: Vec<Sink> = sinks.clone();
            let failed_messages = failed_messages.clone();
            let receipts = receipts.clone();
            tokio::spawn(async move {
                let mut idle = 0;
                while Instant::now() < deadline {
                    let round =
                        lambda::dispatch_round(&dispatcher, &consumer, Duration::from_secs(1))
                            .await;
                    failed_messages.fetch_add(round.failed, Ordering::Relaxed);
                    let mut r = receipts.lock().unwrap();
                    let now = round.received_at.unwrap_or_else(Instant::now);
                    for id in round.message_ids {
                        let e = r.entry(id).or_insert((now, 0, Duration::ZERO));
                        e.1 += 1;
                        e.2 = e.2.max(now - e.0);
                    }
                    drop(r);
                    let done = sinks.iter().map(Sink::count).sum::<usize>() >= want;
                    idle = if round.received == 0 { idle + 1 } else { 0 };
                    if done && idle >= 2 {
                        return;
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let all_done = started.elapsed();

    // Then every pair arrived, and DynamoDB holds exactly one succeeded attempt per pair
    let duplicates = verify("aws", &ids, &sub_ids, &sinks, ports.deliveries.as_ref()).await;
    let gaps: Vec<String> = {
        let r = receipts.lock().unwrap();
        let mut g: Vec<Duration> = r
            .values()
            .filter(|(_, n, _)| *n > 1)
            .map(|(_, _, gap)| *gap)
            .collect();
        g.sort();
        g.iter()
            .map(|d| format!("{:.1} s", d.as_secs_f64()))
            .collect()
    };
    report(&format!(
        "load/aws-emulator: {events} events x {SUBSCRIPTIONS} subscriptions: ingest {:.0} events/s ({:.1} s); \
         {want} deliveries in {:.1} s = {:.0} deliveries/s end to end; lost 0; duplicates {duplicates}; \
         failed messages {}; messages the queue handed out more than once {} \
         (second receipt after {:?}; visibility timeout 60 s)",
        events as f64 / ingested.as_secs_f64(),
        ingested.as_secs_f64(),
        all_done.as_secs_f64(),
        want as f64 / all_done.as_secs_f64(),
        failed_messages.load(Ordering::Relaxed),
        gaps.len(),
        gaps,
    ));
}
