//! Faults, each with its observable outcome: a subscriber with a bad TLS certificate; SQS
//! failing at ingest; DynamoDB throttling the attempt record; dispatch crashing mid-batch;
//! a poison message; the emulator restarted mid-run. (The subscriber answering 500, 503 with
//! Retry-After, 429, 410, hanging, resetting, answering slowly or redirecting is covered by
//! functions/core/tests/delivery/dispatch.rs; docs/reliability.md lists every row.)

use crate::support::fault_http::FaultyHttp;
use crate::support::{self, aws, lambda, sink::Sink};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_core::adapters::aws::SqsQueue;
use switchboard_core::adapters::memory::MemoryQueue;
use switchboard_core::dispatch::{poller, Dispatcher};
use switchboard_core::domain::attempt::{AttemptStatus, ErrorKind};
use switchboard_core::ports::QueueConsumer;
use switchboard_core::state::{Compose, Ports};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

fn call_end(i: usize) -> String {
    crate::support::hipcall_call_hangup(&format!("2483a75a-1111-4000-8000-{i:012}"))
}

async fn ingest(app: &switchboard_core::api::App, body: String) -> (u16, serde_json::Value) {
    support::post_json(app, "/hooks/hipcall-main", body).await
}

// ---- subscriber presents a bad TLS certificate ------------------------------------------

/// A TLS server on 127.0.0.1:0 with a self-signed certificate made now; counts connections
/// and completed handshakes, and answers 200 to anything that gets through.
struct TlsSink {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    handshakes: Arc<AtomicUsize>,
}

async fn tls_sink() -> TlsSink {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let handshakes = Arc::new(AtomicUsize::new(0));
    let (c, h) = (connections.clone(), handshakes.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            let h = h.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(stream).await {
                    h.fetch_add(1, Ordering::SeqCst);
                    let mut buf = [0u8; 4096];
                    let _ = tls.read(&mut buf).await;
                    let _ = tls
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .await;
                }
            });
        }
    });
    TlsSink {
        addr,
        connections,
        handshakes,
    }
}

#[tokio::test]
async fn subscriber_with_a_self_signed_certificate_fails_with_error_kind_tls() {
    // Given a subscriber whose certificate no trusted authority signed
    let sink = tls_sink().await;
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(30), 5));
    let ports = Ports::in_memory(queue.clone());
    let app = support::app(ports.clone());
    support::create_source(&app, "hipcall-main", "hipcall").await;
    let sub = support::create_subscription(
        &app,
        serde_json::json!({"url": format!("https://{}/hook", sink.addr), "event_types": ["*"], "retry_schedule_secs": [60]}),
    )
    .await;

    // When an event is dispatched to it
    let (status, accepted) = ingest(&app, call_end(1)).await;
    assert_eq!(status, 202);
    let dispatcher = Dispatcher::from_settings(ports.clone(), support::settings()).unwrap();
    let msgs = queue.receive(10, Duration::ZERO).await.unwrap();
    let failed = dispatcher
        .handle_batch(
            msgs.iter()
                .map(switchboard_core::dispatch::BatchRecord::from)
                .collect(),
        )
        .await;

    // Then the handshake is refused, nothing is sent in clear, and the attempt says `tls`
    assert!(
        failed.is_empty(),
        "the attempt is recorded; the message is done"
    );
    assert!(sink.connections.load(Ordering::SeqCst) >= 1);
    assert_eq!(sink.handshakes.load(Ordering::SeqCst), 0);
    let a = support::attempts_of(&ports, accepted["id"].as_str().unwrap()).await;
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].subscription_id, sub["id"].as_str().unwrap());
    assert_eq!(a[0].error_kind, Some(ErrorKind::Tls), "{:?}", a[0].error);
    assert_eq!(
        a[0].status,
        AttemptStatus::Retrying,
        "a certificate can be fixed"
    );
    assert_eq!(a[0].http_status, None);
    assert!(
        a[0].error.as_deref().unwrap().contains("certificate"),
        "{:?}",
        a[0].error
    );
}

// ---- SQS send fails at ingest ------------------------------------------------------------

async fn count_items(sdk: &aws_config::SdkConfig, table: &str) -> i32 {
    aws::scan(sdk, table).await.count
}

#[tokio::test]
async fn sqs_outage_at_ingest_is_503_and_leaves_nothing_half_recorded() {
    // Given ingest over the emulator, with SQS SendMessage failing (HTTP 500 from SQS, after
    // the SDK's own retries)
    let sdk = aws::sdk().await;
    let names = aws::resources(&sdk, 30).await;
    let (faulty, outage) = FaultyHttp::send_message_outage();
    let ports = Ports::aws(&faulty.config(&sdk), &names);
    let app = support::app(ports.clone());
    support::create_source(&app, "hipcall-main", "hipcall").await;

    // When a provider posts a call-end webhook (it has a provider key, so a dedup claim)
    let (status, json) = ingest(&app, call_end(7)).await;

    // Then it is told to retry, and nothing is left behind: no claim, nothing queued
    assert_eq!(status, 503, "{json}");
    assert_eq!(json["error"]["code"], "unavailable");
    assert!(
        !json.to_string().contains("injected"),
        "cause leaked: {json}"
    );
    assert!(faulty.injected().iter().all(|op| op == "SendMessage"));
    assert!(!faulty.injected().is_empty());
    assert_eq!(
        count_items(&sdk, &names.dedup_table).await,
        0,
        "claim released"
    );
    assert_eq!(aws::queue_depth(&sdk, &names.queue_url).await, 0);

    // And when SQS is back, the provider's retry is a new event (202), queued once
    outage.store(false, Ordering::SeqCst);
    let (status, first) = ingest(&app, call_end(7)).await;
    assert_eq!(status, 202, "{first}");
    assert_eq!(count_items(&sdk, &names.dedup_table).await, 1);
    assert_eq!(aws::queue_depth(&sdk, &names.queue_url).await, 1);
    // And a further retry of the same webhook is recognised as a duplicate of that one
    let (status, dup) = ingest(&app, call_end(7)).await;
    assert_eq!(status, 200);
    assert_eq!(dup["id"], first["id"]);
    assert_eq!(aws::queue_depth(&sdk, &names.queue_url).await, 1);
}

// ---- DynamoDB throttles the attempt record ------------------------------------------------

#[tokio::test]
async fn throttled_attempt_record_fails_the_message_and_only_that_pair_is_resent() {
    // Given two subscribers, and DynamoDB throttling every write of subscriber A's attempt
    // record until three such writes were refused (the SDK's own three tries)
    let aws::Stack(sdk, names, plain, app) = aws::stack(2).await;
    support::create_source(&app, "hipcall-main", "hipcall").await;
    let (sink_a, sink_b) = (Sink::start().await, Sink::start().await);
    let a = support::create_subscription(
        &app,
        serde_json::json!({"url": sink_a.url("/a"), "event_types": ["call.ended"]}),
    )
    .await;
    support::create_subscription(
        &app,
        serde_json::json!({"url": sink_b.url("/b"), "event_types": ["call.ended"]}),
    )
    .await;
    let a_id = a["id"].as_str().unwrap().to_owned();
    let deliveries_table = names.deliveries_table.clone();
    let refused = Arc::new(AtomicUsize::new(0));
    let r = refused.clone();
    let faulty = FaultyHttp::new(move |seen| {
        let mine = seen.operation == "PutItem"
            && seen.body.contains(&deliveries_table)
            && seen.body.contains(&format!("{a_id}#"));
        (mine && r.fetch_add(1, Ordering::SeqCst) < 3).then(FaultyHttp::throttled)
    });
    let ports = Ports::aws(&faulty.config(&sdk), &names);
    let (status, accepted) = ingest(&app, call_end(3)).await;
    assert_eq!(status, 202);
    let event_id = accepted["id"].as_str().unwrap().to_owned();
    let dispatcher = Dispatcher::from_settings(ports.clone(), support::settings()).unwrap();
    let consumer = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &names.queue_url);

    // When dispatch runs: the first round cannot record A's success
    let first = lambda::dispatch_round(&dispatcher, &consumer, Duration::from_secs(2)).await;
    assert_eq!(
        (first.received, first.failed),
        (1, 1),
        "message reported failed"
    );
    assert_eq!(faulty.injected(), vec!["PutItem"; 3]);
    assert_eq!((sink_a.count(), sink_b.count()), (1, 1));

    // Then SQS redelivers it (visibility 2 s) and only the unrecorded pair is sent again
    let deadline = Instant::now() + Duration::from_secs(20);
    while sink_a.count() < 2 && Instant::now() < deadline {
        lambda::dispatch_round(&dispatcher, &consumer, Duration::from_secs(1)).await;
    }
    assert_eq!(sink_a.count(), 2, "A's success was never recorded: re-sent");
    assert_eq!(sink_b.count(), 1, "B's recorded success is not re-sent");
    let recorded = support::attempts_of(&plain, &event_id).await;
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    assert!(recorded
        .iter()
        .all(|x| x.status == AttemptStatus::Succeeded && x.attempt == 1));
    // And the queue is drained: nothing is re-sent after that
    let last = lambda::dispatch_round(&dispatcher, &consumer, Duration::from_secs(3)).await;
    assert_eq!(last.received, 0);
    assert_eq!((sink_a.count(), sink_b.count()), (2, 1));
}

// ---- dispatch crashes mid-batch ----------------------------------------------------------

#[tokio::test]
async fn dispatch_killed_mid_batch_resends_only_the_pairs_without_a_record() {
    // Given three events, a fast subscriber and one that takes its time answering
    let aws::Stack(sdk, names, ports, app) = aws::stack(2).await;
    support::create_source(&app, "hipcall-main", "hipcall").await;
    let (fast, slow) = (Sink::start().await, Sink::start().await);
    slow.set_delay(Duration::from_secs(30));
    for (sink, path) in [(&fast, "/fast"), (&slow, "/slow")] {
        support::create_subscription(
            &app,
            serde_json::json!({"url": sink.url(path), "event_types": ["call.ended"], "timeout_ms": 60000}),
        )
        .await;
    }
    let mut ids = Vec::new();
    for i in 0..3 {
        let (status, json) = ingest(&app, call_end(100 + i)).await;
        assert_eq!(status, 202);
        ids.push(json["id"].as_str().unwrap().to_owned());
    }
    let dispatcher =
        Arc::new(Dispatcher::from_settings(ports.clone(), support::settings()).unwrap());
    let consumer = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &names.queue_url);

    // When the dispatcher dies while the slow deliveries are in flight, after the fast ones
    // were recorded (the batch is dropped: no response, no deletes)
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < 3 && Instant::now() < deadline {
        got.extend(consumer.receive(10, Duration::from_secs(1)).await.unwrap());
    }
    assert_eq!(got.len(), 3);
    let batch: Vec<_> = got
        .iter()
        .map(switchboard_core::dispatch::BatchRecord::from)
        .collect();
    let d = dispatcher.clone();
    let crashed = tokio::spawn(async move { d.handle_batch(batch).await });
    let p = ports.clone();
    let ids2 = ids.clone();
    let slow2 = slow.clone();
    let fast_recorded = support::eventually(15, || {
        let p = p.clone();
        let ids = ids2.clone();
        let slow = slow2.clone();
        async move {
            let mut n = 0;
            for id in &ids {
                n += support::attempts_of(&p, id).await.len();
            }
            n == 3 && slow.count() == 3
        }
    })
    .await;
    assert!(fast_recorded, "fast pairs recorded, slow ones in flight");
    crashed.abort();
    assert!(crashed.await.unwrap_err().is_cancelled());
    slow.set_delay(Duration::ZERO);

    // Then after the visibility timeout SQS hands the messages out again, and only the
    // pairs without a record are sent (the slow subscriber sees each event a second time)
    let deadline = Instant::now() + Duration::from_secs(30);
    while slow.count() < 6 && Instant::now() < deadline {
        lambda::dispatch_round(&dispatcher, &consumer, Duration::from_secs(1)).await;
    }
    assert_eq!(fast.count(), 3, "recorded pairs are not re-sent");
    assert_eq!(slow.count(), 6);
    for id in &ids {
        let a = support::attempts_of(&ports, id).await;
        assert_eq!(a.len(), 2, "{a:?}");
        assert!(a.iter().all(|x| x.status == AttemptStatus::Succeeded));
    }
    let last = lambda::dispatch_round(&dispatcher, &consumer, Duration::from_secs(3)).await;
    assert_eq!(
        last.received, 0,
        "every message deleted after its pairs were recorded"
    );
}

// ---- poison messages -----------------------------------------------------------------

const POISON: &str = "{\"kind\": \"event\", \"event\": {\"not\": \"an event\"}}";

#[tokio::test]
async fn poison_message_dead_letters_on_sqs_after_max_receives_without_blocking_its_batch() {
    // Given the events queue with a redrive policy (maxReceiveCount 2) to a DLQ
    let sdk = aws::sdk().await;
    let names = aws::resources_with_dlq(&sdk, 1, 2).await;
    let dlq_url = names.dead_letter_queue_url.clone().unwrap();
    let ports = Ports::aws(&sdk, &names);
    let app = support::app(ports.clone());
    let sink = Sink::start().await;
    support::hipcall_call_ends_to(&app, &sink.url("/crm")).await;
    // And an undecodable message queued before two good events
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    sqs.send_message()
        .queue_url(&names.queue_url)
        .message_body(POISON)
        .send()
        .await
        .unwrap();
    for i in 0..2 {
        assert_eq!(ingest(&app, call_end(200 + i)).await.0, 202);
    }
    let dispatcher = Dispatcher::from_settings(ports.clone(), support::settings()).unwrap();
    let consumer = SqsQueue::new(sqs.clone(), &names.queue_url);

    // When dispatch runs until the queue is empty
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut failed = 0;
    let mut dead = Vec::new();
    while Instant::now() < deadline {
        let round = lambda::dispatch_round(&dispatcher, &consumer, Duration::from_secs(1)).await;
        failed += round.failed;
        let got = sqs
            .receive_message()
            .queue_url(&dlq_url)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        dead.extend(got.into_iter().filter_map(|m| m.body));
        if !dead.is_empty() && aws::queue_depth(&sdk, &names.queue_url).await == 0 {
            break;
        }
    }

    // Then both good events were delivered, the poison was failed each time it was
    // received (twice), and SQS moved it to the DLQ
    assert_eq!(sink.count(), 2);
    assert_eq!(failed, 2, "failed once per receive, up to maxReceiveCount");
    assert_eq!(dead, vec![POISON.to_owned()]);
    assert_eq!(aws::queue_depth(&sdk, &names.queue_url).await, 0);
}

#[tokio::test]
async fn poison_message_dead_letters_in_memory_while_serve_keeps_delivering() {
    // Given serve's queue (2 receives, then dead letters; short visibility) and its poller
    let queue = Arc::new(MemoryQueue::new(Duration::from_millis(200), 2));
    let ports = Ports::in_memory(queue.clone());
    let app = support::app(ports.clone());
    let sink = Sink::start().await;
    support::hipcall_call_ends_to(&app, &sink.url("/crm")).await;
    let dispatcher =
        Arc::new(Dispatcher::from_settings(ports.clone(), support::settings()).unwrap());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let polling = tokio::spawn(poller::run(dispatcher, queue.clone(), stopped));

    // When undecodable bodies are queued among good events
    for body in ["not json", POISON, "", "{\"kind\":\"deliver\"}"] {
        queue.send_raw(body.to_owned(), Duration::ZERO);
    }
    for i in 0..3 {
        assert_eq!(ingest(&app, call_end(300 + i)).await.0, 202);
    }

    // Then the good events are delivered and the poison ends in the dead-letter list
    assert!(support::eventually(10, || async { sink.count() == 3 }).await);
    assert!(support::eventually(10, || async { queue.dead_letters().len() == 4 }).await);
    assert!(queue.is_empty());
    let mut dead = queue.dead_letters();
    dead.sort();
    let mut want = vec!["", "not json", "{\"kind\":\"deliver\"}", POISON];
    want.sort();
    assert_eq!(dead, want);
    stop.send(true).unwrap();
    polling.await.unwrap();
}

// ---- the emulator restarts mid-run -------------------------------------------------------

/// A moto_server of this test's own, on a fixed port so it can come back at the same address.
struct Emulator {
    port: u16,
    child: std::process::Child,
}

fn moto_server_path() -> std::path::PathBuf {
    if let Ok(p) = std::env::var("SWITCHBOARD_MOTO_SERVER") {
        return p.into();
    }
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server")
}

impl Emulator {
    async fn start(port: u16) -> Self {
        let path = moto_server_path();
        assert!(
            path.exists(),
            "{} is missing: ./scripts/test installs it (or set SWITCHBOARD_MOTO_SERVER)",
            path.display()
        );
        let child = std::process::Command::new(path)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let http = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{port}/moto-api/");
        let up = support::eventually(30, || async {
            http.get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        assert!(up, "moto_server did not start on port {port}");
        Self { port, child }
    }

    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulator_restart_mid_run_loses_nothing_that_was_answered_202() {
    // Given our own emulator, the stack's resources on it, and dispatch running as a loop
    let port = free_port();
    let mut emulator = Emulator::start(port).await;
    let sdk = aws::sdk_at(&format!("http://127.0.0.1:{}", emulator.port)).await;
    let names = aws::resources(&sdk, 2).await;
    let ports = Ports::aws(&sdk, &names);
    let app = support::app(ports.clone());
    let sink = Sink::start().await;
    let configure = || async {
        support::hipcall_call_ends_to(&app, &sink.url("/crm")).await;
    };
    configure().await;
    let dispatcher =
        Arc::new(Dispatcher::from_settings(ports.clone(), support::settings()).unwrap());
    let consumer = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &names.queue_url);
    let stop = Arc::new(AtomicBool::new(false));
    let receive_errors = Arc::new(AtomicUsize::new(0));
    let looping = {
        let (stop, errors) = (stop.clone(), receive_errors.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                if lambda::try_dispatch_round(&dispatcher, &consumer, Duration::from_secs(1))
                    .await
                    .is_err()
                {
                    errors.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        })
    };
    let mut accepted = Vec::new();
    for i in 0..5 {
        let (status, json) = ingest(&app, call_end(400 + i)).await;
        assert_eq!(status, 202);
        accepted.push(json["id"].as_str().unwrap().to_owned());
    }
    assert!(support::eventually(30, || async { sink.count() == 5 }).await);

    // When the emulator goes away: providers are told to retry, none is answered 202
    emulator.kill();
    let mut pending = Vec::new();
    for i in 5..10 {
        let (status, json) = ingest(&app, call_end(400 + i)).await;
        assert_eq!(status, 503, "{json}");
        pending.push(i);
    }
    assert!(support::eventually(20, || async { receive_errors.load(Ordering::SeqCst) > 0 }).await);
    assert!(
        !looping.is_finished(),
        "the dispatch loop survives the outage"
    );

    // And when it is back (empty, as moto keeps nothing: the stack is recreated), the same
    // clients reconnect, the providers' retries are accepted and every 202 is delivered
    let _emulator = Emulator::start(port).await;
    aws::recreate(&sdk, &names, 2).await;
    configure().await;
    for i in pending {
        let (status, json) = ingest(&app, call_end(400 + i)).await;
        assert_eq!(status, 202, "{json}");
        accepted.push(json["id"].as_str().unwrap().to_owned());
    }
    assert!(support::eventually(30, || async { sink.count() >= 10 }).await);
    stop.store(true, Ordering::SeqCst);
    looping.await.unwrap();
    let got: std::collections::HashSet<String> = sink
        .received()
        .iter()
        .map(|r| {
            let id = r.headers["webhook-id"].to_str().unwrap();
            id.split('_').take(2).collect::<Vec<_>>().join("_")
        })
        .collect();
    for id in &accepted {
        assert!(
            got.contains(id),
            "event {id} answered 202 but not delivered"
        );
    }
}
