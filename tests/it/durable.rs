//! The durable store beyond the shared contracts: what survives a restart, dead letters,
//! recovery of messages left in flight, one process per store. (The `kill -9` test of the
//! real binary is `cli/tests/crash.rs`.)

use crate::support::tempdir::TempDir;
use crate::support::{sink::Sink, ADMIN_TOKEN};
use std::sync::Arc;
use std::time::Duration;
use switchboard_cli::serve::{self, Store};
use switchboard_core::adapters::memory::MemoryQueue;
use switchboard_core::adapters::sqlite::{Db, SqliteQueue, SyncMode, DB_FILE};
use switchboard_core::dispatch::Dispatcher;
use switchboard_core::domain::attempt::AttemptStatus;
use switchboard_core::domain::{Envelope, QueueMessage};
use switchboard_core::ports::{EventQueue, QueueConsumer, Stored};
use switchboard_core::state::{Compose, Ports};
use switchboard_test_support::serve::ServeHarness;

fn open(dir: &TempDir, visibility: Duration, max_receives: u32) -> Arc<SqliteQueue> {
    let db = Db::open(&dir.path().join(DB_FILE), SyncMode::Normal).unwrap();
    Arc::new(SqliteQueue::new(db, visibility, max_receives))
}

/// A queue that writes each event message's event into the event store with it, as serve's
/// does (without the hand-off unless asked).
fn storing(dir: &TempDir, visibility: Duration, max_receives: u32) -> SqliteQueue {
    let db = Db::open(&dir.path().join(DB_FILE), SyncMode::Normal).unwrap();
    SqliteQueue::new(db, visibility, max_receives).storing_events(Duration::from_secs(86_400))
}

/// Receives and never deletes until the message is gone; returns the receive counts seen.
async fn receive_until_dead(consumer: &dyn QueueConsumer) -> Vec<u32> {
    let mut counts = Vec::new();
    for _ in 0..20 {
        let got = consumer
            .receive(10, Duration::from_millis(400))
            .await
            .unwrap();
        counts.extend(got.iter().map(|m| m.receive_count));
        if got.is_empty() && !counts.is_empty() {
            break;
        }
    }
    counts
}

#[tokio::test]
async fn a_message_never_deleted_is_dead_lettered_after_max_receives_in_memory_and_on_disk() {
    // Given each local queue with a short visibility and three receives allowed
    let dir = TempDir::new("switchboard-dlq");
    let disk = open(&dir, Duration::from_millis(100), 3);
    let memory = Arc::new(MemoryQueue::new(Duration::from_millis(100), 3));
    type Local = (&'static str, Arc<dyn EventQueue>, Arc<dyn QueueConsumer>);
    let queues: [Local; 2] = [
        ("memory", memory.clone(), memory.clone()),
        ("sqlite", disk.clone(), disk.clone()),
    ];
    for (name, producer, consumer) in queues {
        // When a message is received and never deleted
        producer
            .send(&crate::support::retry_message(1), Duration::ZERO)
            .await
            .unwrap();
        let counts = receive_until_dead(consumer.as_ref()).await;
        // Then it was handed out exactly three times, then dead-lettered
        assert_eq!(counts, vec![1, 2, 3], "{name}");
    }
    assert_eq!(memory.dead_letters().len(), 1);
    let dead = disk.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        QueueMessage::from_json(&dead[0]).unwrap(),
        crate::support::retry_message(1)
    );
    assert!(disk.is_empty().await.unwrap());
}

#[tokio::test]
async fn queued_and_in_flight_messages_survive_a_reopen_and_in_flight_ones_are_visible_at_once() {
    let dir = TempDir::new("switchboard-reopen");
    // Given a ready message, a delayed one, and one received but not deleted (in flight for
    // a minute) when the store is closed
    {
        let q = open(&dir, Duration::from_secs(60), 5);
        q.send(&crate::support::retry_message(1), Duration::ZERO)
            .await
            .unwrap();
        q.send(&crate::support::retry_message(2), Duration::ZERO)
            .await
            .unwrap();
        q.send(&crate::support::retry_message(3), Duration::from_secs(600))
            .await
            .unwrap();
        let got = q.receive(1, Duration::from_secs(1)).await.unwrap();
        assert_eq!(got.len(), 1);
    }
    // When it is opened again and recovered
    let q = open(&dir, Duration::from_secs(60), 5);
    let recovered = q.recover().await.unwrap();
    assert_eq!((recovered.queued, recovered.in_flight), (3, 1));
    // Then both undelayed messages are visible now, the one in flight with its count kept,
    // and the delayed one is still delayed
    let got = q.receive(10, Duration::from_millis(200)).await.unwrap();
    let mut counts: Vec<u32> = got.iter().map(|m| m.receive_count).collect();
    counts.sort();
    assert_eq!(counts, vec![1, 2]);
    for m in &got {
        q.delete(&m.receipt).await.unwrap();
    }
    assert_eq!(q.len().await.unwrap(), 1);
    assert_eq!(q.active_len().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_provider_retries_on_the_durable_store_are_one_event_never_in_progress() {
    // Given durable serve, where a claim and its queued event are one write, and a CRM
    let dir = TempDir::new("switchboard-durable-dedup");
    let mut config = switchboard_test_support::serve::config();
    config.store = Store::durable(dir.path());
    let crm = Sink::ok().await;
    let sb = ServeHarness::with(config).await;
    sb.create_source("hipcall-main", "hipcall").await;
    let (status, _) = sb
        .admin(
            "POST",
            "/admin/subscriptions",
            Some(serde_json::json!({"url": crm.url("/crm"), "event_types": ["call.ended"]})),
        )
        .await;
    assert_eq!(status, 201);
    // When the provider sends the same event 16 times at once
    let sends = (0..16).map(|_| {
        sb.http
            .post(sb.url("/hooks/hipcall-main"))
            .header("content-type", "application/json")
            .body(crate::support::HIPCALL_CALL_HANGUP)
            .send()
    });
    let mut answers = Vec::new();
    for r in futures::future::join_all(sends).await {
        let r = r.unwrap();
        let status = r.status().as_u16();
        answers.push((status, r.json::<serde_json::Value>().await.unwrap()));
    }
    // Then one is accepted and every other is its duplicate: none finds a claim pending
    // (no 503 in_progress), and the CRM gets the event once
    let accepted: Vec<_> = answers.iter().filter(|(s, _)| *s == 202).collect();
    assert_eq!(accepted.len(), 1, "{answers:?}");
    let id = &accepted[0].1["id"];
    for (status, body) in &answers {
        if *status != 202 {
            assert_eq!(
                (*status, &body["id"], &body["duplicate"]),
                (200, id, &serde_json::json!(true))
            );
        }
    }
    assert!(crate::support::eventually(10, || async { crm.count() >= 1 }).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(crm.count(), 1);
    sb.running.stop().await;
}

#[tokio::test]
async fn a_store_is_used_by_one_process_at_a_time() {
    let dir = TempDir::new("switchboard-lock");
    let path = dir.path().join(DB_FILE);
    let first = Db::open(&path, SyncMode::Normal).unwrap();
    let err = Db::open(&path, SyncMode::Normal).unwrap_err();
    assert!(err.to_string().contains("in use"), "{err}");
    drop(first);
    Db::open(&path, SyncMode::Full).unwrap();
}

#[tokio::test]
async fn serve_keeps_config_records_and_scheduled_retries_across_a_restart() {
    // Given durable serve, a source, and a subscription whose sink fails at first
    let dir = TempDir::new("switchboard-serve-restart");
    let config = || {
        let mut c = switchboard_test_support::serve::config();
        c.store = Store::durable(dir.path());
        c.drain_timeout = Duration::from_secs(5);
        c
    };
    let crm = Sink::start().await;
    crm.set_status(500);
    let sb = ServeHarness::with(config()).await;
    sb.create_source("hipcall-main", "hipcall").await;
    let (running, base, http) = sb.into_parts();
    let r = http
        .post(format!("{base}/admin/subscriptions"))
        .bearer_auth(ADMIN_TOKEN)
        .body(
            serde_json::json!({"url": crm.url("/crm"), "event_types": ["call.ended"], "retry_schedule_secs": [2]})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = http
        .post(format!("{base}/hooks/hipcall-main"))
        .header("content-type", "application/json")
        .body(crate::support::HIPCALL_CALL_HANGUP)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // When the first attempt failed and serve stops before the retry is due
    assert!(crate::support::eventually(10, || async { crm.count() >= 1 }).await);
    let left = running.stop().await;
    assert_eq!(left, 1, "the scheduled retry is kept on disk");
    crm.set_status(200);

    // Then a restart on the same directory has the source, the subscription and the first
    // attempt, and delivers the retry
    let running = serve::start(config()).await.unwrap();
    let data = running.data.clone().unwrap();
    assert_eq!(data.path, dir.path().join(DB_FILE));
    assert_eq!(data.queued, 1);
    let base = format!("http://{}", running.addr);
    let get = |path: String| {
        let http = http.clone();
        async move {
            http.get(path)
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        get(format!("{base}/admin/sources")).await["items"][0]["id"],
        "hipcall-main"
    );
    let statuses = || {
        let url = format!("{base}/admin/deliveries?event_id={id}");
        async move {
            get(url).await["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["status"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(statuses().await, ["retrying"]);
    assert!(crate::support::eventually(10, || async { crm.count() >= 2 }).await);
    assert!(
        crate::support::eventually(5, || async {
            statuses().await == ["retrying", "succeeded"]
        })
        .await
    );
    assert_eq!(
        get(format!("{base}/admin/events/{id}")).await["envelope"]["id"],
        id.as_str()
    );
    assert_eq!(running.stop().await, 0);
}

#[tokio::test]
async fn a_queue_storing_events_writes_each_event_once_and_hands_its_message_out_whole() {
    // Given serve's durable queue: events written with their messages, 100 ms visibility,
    // two receipts before the dead-letter table
    let dir = TempDir::new("switchboard-events-once");
    let q = Arc::new(storing(&dir, Duration::from_millis(100), 2));
    let ports = Ports::sqlite(q.clone());
    let event = switchboard_test_support::records::event("evt_once", "hipcall");
    let sent = QueueMessage::Event {
        event: Arc::new(event.clone()),
    };
    // When an event message is sent
    q.send(&sent, Duration::ZERO).await.unwrap();
    // Then the event is stored at once, and the queue's row holds a reference, not a copy
    assert_eq!(ports.events.get("evt_once").await.unwrap(), Some(event));
    let file = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    let (body_len, event_id): (i64, Option<String>) = file
        .query_row("SELECT length(body), event_id FROM queue", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((body_len, event_id.as_deref()), (0, Some("evt_once")));
    // The first receipt (dispatch's) gives the message whole, its event stored and new
    let first = q.receive_kept(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].sent.as_deref(), Some(&sent));
    assert_eq!(first[0].event_stored, Some(Stored::New));
    // A later receipt (after the visibility timeout) may follow attempts: not new; a plain
    // receive carries the message's JSON as sent
    let second = q.receive(10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].receive_count, 2);
    assert_eq!(second[0].event_stored, Some(Stored::Existing));
    assert_eq!(QueueMessage::from_json(&second[0].body).unwrap(), sent);
    // Once dead-lettered, the dead letter holds the whole message
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(q.receive(10, Duration::ZERO).await.unwrap().is_empty());
    let dead = q.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(QueueMessage::from_json(&dead[0]).unwrap(), sent);
    // and a redriven one is queued whole: dispatch looks for the attempts made before
    use switchboard_core::ports::{DeadLetterQueue, RedriveSelection};
    let moved = q.redrive(&RedriveSelection::Oldest(10)).await.unwrap();
    assert_eq!(moved.len(), 1);
    let again = q.receive_kept(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].event_stored, None);
    assert_eq!(QueueMessage::from_json(&again[0].body).unwrap(), sent);
}

#[tokio::test]
async fn an_event_row_holds_its_raw_body_as_bytes_and_rows_written_as_json_before_still_read() {
    // Given serve's durable queue and an event whose body is not UTF-8
    let dir = TempDir::new("switchboard-raw-column");
    let q = Arc::new(storing(&dir, Duration::from_secs(30), 5));
    let ports = Ports::sqlite(q.clone());
    let mut event = switchboard_test_support::records::event("evt_packed", "hipcall");
    event.raw.body = bytes::Bytes::from_static(b"\xff{\"a\":\n1}");
    event.raw.query = Some("x=1".into());
    q.send(
        &QueueMessage::Event {
            event: Arc::new(event.clone()),
        },
        Duration::ZERO,
    )
    .await
    .unwrap();
    // Then its row holds the body's bytes after a one-line head, not base64
    let file = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    let raw: Vec<u8> = file
        .query_row("SELECT raw FROM events WHERE id = 'evt_packed'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let head_end = raw.iter().position(|b| *b == b'\n').unwrap();
    let head: serde_json::Value = serde_json::from_slice(&raw[..head_end]).unwrap();
    assert_eq!(head["method"], event.raw.method.as_str());
    assert_eq!(head["query"], "x=1");
    assert_eq!(&raw[head_end + 1..], &event.raw.body[..]);
    assert_eq!(
        ports.events.get("evt_packed").await.unwrap(),
        Some(event.clone())
    );
    // And a row an earlier version wrote, the request as JSON text, reads the same
    let mut old = event.clone();
    old.envelope.id = "evt_json".into();
    file.execute(
        "INSERT INTO events (id, source, call_id, received_at, envelope, raw, dedup_key, \
         expires_at) VALUES ('evt_json', 'hipcall', NULL, '2026-11-30T00:00:00Z', ?1, ?2, \
         NULL, 99999999999)",
        rusqlite::params![
            serde_json::to_string(&old.envelope).unwrap(),
            serde_json::to_string(&old.raw).unwrap()
        ],
    )
    .unwrap();
    assert_eq!(
        ports.events.get("evt_json").await.unwrap(),
        Some(old.clone())
    );
    // as does its queued message
    file.execute(
        "INSERT INTO queue (body, visible_at, sent_at, event_id) VALUES ('', 0, 0, 'evt_json')",
        [],
    )
    .unwrap();
    let got = q.receive_kept(10, Duration::from_secs(1)).await.unwrap();
    let old_message = QueueMessage::Event {
        event: Arc::new(old),
    };
    let read = got
        .iter()
        .find(|m| m.sent.as_deref() == Some(&old_message))
        .unwrap();
    // whose envelope dispatch serialises again: an older version wrote its JSON
    assert!(read.envelope_json.is_none());
}

#[tokio::test]
async fn an_event_message_whose_event_is_gone_ends_among_the_dead_letters_saying_why() {
    // Given a queued event message whose event was purged (retention shorter than its wait)
    let dir = TempDir::new("switchboard-events-lost");
    let q = Arc::new(storing(&dir, Duration::from_millis(100), 1));
    let event = switchboard_test_support::records::event("evt_gone", "hipcall");
    q.send(
        &QueueMessage::Event {
            event: Arc::new(event),
        },
        Duration::ZERO,
    )
    .await
    .unwrap();
    let file = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    file.execute("DELETE FROM events WHERE id = 'evt_gone'", [])
        .unwrap();
    // When it is received, it is not given as an event (dispatch refuses it), and once
    // received too often its dead letter names the event and the reason
    let got = q.receive_kept(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert!(got[0].sent.is_none() && got[0].event_stored.is_none());
    assert!(QueueMessage::from_json(&got[0].body).is_err());
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(q.receive(10, Duration::ZERO).await.unwrap().is_empty());
    let dead = q.dead_letters().await.unwrap();
    let why: serde_json::Value = serde_json::from_str(&dead[0]).unwrap();
    assert_eq!(why["event_id"], "evt_gone");
    assert_eq!(why["error"], "the event is no longer stored");
}

#[tokio::test]
async fn a_later_receipt_of_a_message_whose_event_the_queue_stored_skips_the_pairs_done_before() {
    // Given serve's durable queue (events written with their messages), two subscribers
    // and an accepted event
    let dir = TempDir::new("switchboard-events-once-dispatch");
    let q = Arc::new(storing(&dir, Duration::from_millis(200), 5));
    let ports = Ports::sqlite(q.clone());
    let app = crate::support::app(ports.clone());
    crate::support::create_source(&app, "hipcall-main", "hipcall").await;
    let sink = Sink::start().await;
    let mut subs = Vec::new();
    for path in ["/a", "/b"] {
        let body = serde_json::json!({"url": sink.url(path), "event_types": ["call.ended"]});
        let created = crate::support::create_subscription(&app, body).await;
        subs.push(created["id"].as_str().unwrap().to_owned());
    }
    let (status, accepted) = crate::support::post_json(
        &app,
        "/hooks/hipcall-main",
        crate::support::HIPCALL_CALL_HANGUP,
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let event_id = accepted["id"].as_str().unwrap().to_owned();
    // and a dispatch that took the message and delivered to /a, then died before the
    // message was acknowledged
    let first = q.receive_kept(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(first[0].event_stored, Some(Stored::New));
    let done = crate::support::attempt(&event_id, &subs[0], 1, AttemptStatus::Succeeded);
    ports
        .deliveries
        .record(&done, switchboard_core::domain::time::now())
        .await
        .unwrap();
    // When the message comes back after its visibility timeout and is dispatched
    let again = q.receive_kept(10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].event_stored, Some(Stored::Existing));
    let dispatcher = Dispatcher::from_settings(ports.clone(), crate::support::settings()).unwrap();
    assert!(dispatcher.handle_received(again).await.is_empty());
    // Then only /b is sent the event: /a's success is not repeated
    assert_eq!(sink.count_at("/a"), 0);
    assert_eq!(sink.count_at("/b"), 1);
}

/// serve's durable queue: events stored with their messages, messages handed over as sent
/// (through a hand-off of 256 messages, which the tests fill; serve's holds 8,192).
fn open_as_serve(dir: &TempDir, visibility: Duration) -> Arc<SqliteQueue> {
    Arc::new(storing(dir, visibility, 5).with_handoff_of(256, 32 << 20))
}

fn event_message(id: &str) -> QueueMessage {
    QueueMessage::Event {
        event: Arc::new(switchboard_test_support::records::event(id, "hipcall")),
    }
}

#[tokio::test]
async fn a_handed_over_message_is_leased_in_the_store_from_its_send_and_comes_back_if_not_deleted()
{
    // Given serve's queue with a 200 ms visibility timeout
    let dir = TempDir::new("switchboard-handoff");
    let q = open_as_serve(&dir, Duration::from_millis(200));
    // When an event message is sent, its row is written already received once and hidden
    let sent = event_message("evt_handed");
    q.send(&sent, Duration::ZERO).await.unwrap();
    let file = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    let (count, hidden): (u32, bool) = file
        .query_row(
            "SELECT receive_count, visible_at > CAST(strftime('%s','now') AS INTEGER) * 1000 \
             FROM queue",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((count, hidden), (1, true));
    // Then a consumer gets it as sent: first receipt, its event stored and new
    let first = q.receive_kept(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].receive_count, 1);
    assert_eq!(first[0].sent.as_deref(), Some(&sent));
    assert_eq!(first[0].event_stored, Some(Stored::New));
    // with the envelope's JSON, which dispatch sends as it is
    let QueueMessage::Event { event } = &sent else {
        unreachable!()
    };
    assert_eq!(
        first[0].envelope_json.as_deref(),
        Some(serde_json::to_vec(&event.envelope).unwrap().as_slice())
    );
    // while the event's row holds the payload once, as the body it came in
    let (stored, raw): (String, Vec<u8>) = file
        .query_row("SELECT envelope, raw FROM events", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let without_data = Envelope {
        data: None,
        ..event.envelope.clone()
    };
    assert_eq!(stored, serde_json::to_string(&without_data).unwrap());
    assert!(raw.ends_with(&event.raw.body));
    // and, not deleted, the store hands it out again once the lease is over: not new
    assert!(q.receive(10, Duration::ZERO).await.unwrap().is_empty());
    let again = q.receive(10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].message_id, first[0].message_id);
    assert_eq!(again[0].receive_count, 2);
    assert_eq!(again[0].event_stored, Some(Stored::Existing));
    assert_eq!(QueueMessage::from_json(&again[0].body).unwrap(), sent);
    // read back from the store whole, its payload from the body, and its envelope's JSON
    // the row's with the payload put back: what dispatch would write
    assert_eq!(
        again[0].envelope_json.as_deref(),
        Some(serde_json::to_vec(&event.envelope).unwrap().as_slice())
    );
    // The first receipt no longer deletes it; the second does
    q.delete(&first[0].receipt).await.unwrap();
    assert_eq!(q.len().await.unwrap(), 1);
    q.delete(&again[0].receipt).await.unwrap();
    assert!(q.is_empty().await.unwrap());
}

#[tokio::test]
async fn handed_over_messages_survive_a_crash_and_a_full_hand_off_queues_the_rest_once() {
    let dir = TempDir::new("switchboard-handoff-crash");
    let sent = 300;
    {
        // Given more messages sent than the hand-off holds, none received, when the process
        // stops
        let q = open_as_serve(&dir, Duration::from_secs(60));
        for n in 0..sent {
            q.send(&event_message(&format!("evt_{n:04}")), Duration::ZERO)
                .await
                .unwrap();
        }
        assert_eq!(q.len().await.unwrap(), sent as u64);
    }
    // Then on restart the handed-over ones are in flight, made visible at once, and every
    // message is received exactly once
    let q = open_as_serve(&dir, Duration::from_secs(60));
    let recovered = q.recover().await.unwrap();
    assert_eq!(recovered.queued, sent as u64);
    assert!(
        recovered.in_flight > 0 && recovered.in_flight < sent as u64,
        "{recovered:?}"
    );
    let mut ids = std::collections::BTreeSet::new();
    loop {
        let got = q
            .receive_kept(10, Duration::from_millis(100))
            .await
            .unwrap();
        if got.is_empty() {
            break;
        }
        for m in got {
            let QueueMessage::Event { event } = m.sent.as_deref().unwrap() else {
                panic!("not an event message");
            };
            assert!(ids.insert(event.envelope.id.clone()), "received twice");
            q.delete(&m.receipt).await.unwrap();
        }
    }
    assert_eq!(ids.len(), sent);
    assert!(q.is_empty().await.unwrap());
}

#[tokio::test]
async fn a_message_heavier_than_the_hand_off_holds_is_queued_as_a_row() {
    let dir = TempDir::new("switchboard-handoff-bytes");
    {
        // Given a hand-off with room for many messages but fewer bytes than one event holds
        let q = Arc::new(storing(&dir, Duration::from_secs(60), 5).with_handoff_of(1_000, 1_024));
        for n in 0..3 {
            q.send(&event_message(&format!("evt_{n:04}")), Duration::ZERO)
                .await
                .unwrap();
        }
    }
    // Then none was handed over: on restart none is in flight, all three are queued rows
    let q = open_as_serve(&dir, Duration::from_secs(60));
    let recovered = q.recover().await.unwrap();
    assert_eq!((recovered.queued, recovered.in_flight), (3, 0));
}

#[tokio::test]
async fn a_delayed_message_is_not_handed_over_before_its_delay() {
    let dir = TempDir::new("switchboard-handoff-delay");
    let q = open_as_serve(&dir, Duration::from_secs(60));
    q.send(
        &crate::support::retry_message(1),
        Duration::from_millis(300),
    )
    .await
    .unwrap();
    assert!(q.receive(10, Duration::ZERO).await.unwrap().is_empty());
    let got = q.receive(10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].receive_count, got[0].event_stored), (1, None));
    assert_eq!(
        QueueMessage::from_json(&got[0].body).unwrap(),
        crate::support::retry_message(1)
    );
}

#[tokio::test]
async fn messages_queued_past_a_full_hand_off_are_not_starved_by_newer_handed_over_ones() {
    // Given a full hand-off (256 messages) and 20 more queued as ordinary rows
    let dir = TempDir::new("switchboard-handoff-fair");
    let q = open_as_serve(&dir, Duration::from_secs(60));
    for n in 0..276 {
        q.send(&event_message(&format!("evt_{n:04}")), Duration::ZERO)
            .await
            .unwrap();
    }
    // When a consumer takes a batch, part of it comes from the queued rows
    let batch = q.receive_kept(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(batch.len(), 10);
    let queued_rows = batch
        .iter()
        .filter(|m| m.event_stored.is_some() && m.receive_count == 1)
        .filter(|m| match m.sent.as_deref() {
            Some(QueueMessage::Event { event }) => event.envelope.id.as_str() >= "evt_0256",
            _ => false,
        })
        .count();
    assert!(queued_rows >= 1, "no queued row in the batch");
    assert!(queued_rows < 10, "nothing from the hand-off");
}
