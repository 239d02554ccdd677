//! Deliveries per second from the dispatcher to a loopback HTTP sink, with 1, 10 and 100
//! subscriptions per event. In-memory ports, one pooled client, the real signing, rendering,
//! guard and record path.
//!
//!     cargo run --release -p switchboard-core --example delivery_throughput [total_deliveries]
//!
//! Prints one line per case; it asserts nothing about speed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_core::adapters::memory::MemoryQueue;
use switchboard_core::config::Settings;
use switchboard_core::delivery::client::ClientOptions;
use switchboard_core::delivery::guard::{AddressClass, Policy};
use switchboard_core::delivery::DeliveryClient;
use switchboard_core::dispatch::{BatchRecord, Dispatcher};
use switchboard_core::domain::time::now;
use switchboard_core::domain::{Envelope, QueueMessage, RawRequest, StoredEvent, Subscription};
use switchboard_core::redact::Secret;
use switchboard_core::state::{Compose, Ports};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A keep-alive HTTP/1.1 sink answering 204 to everything, as cheaply as it can.
async fn sink() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            s.set_nodelay(true).ok();
            tokio::spawn(async move {
                let mut buf = Vec::with_capacity(16 * 1024);
                let mut chunk = [0u8; 16 * 1024];
                loop {
                    // Answer every complete request in the buffer.
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if buf.len() < end + 4 + len {
                            break;
                        }
                        buf.drain(..end + 4 + len);
                        if s.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    addr
}

fn event(i: usize) -> StoredEvent {
    let data = serde_json::json!({"event": "call_hangup", "data": {"uuid": format!("call-{i}"), "duration": 60}});
    StoredEvent {
        envelope: Envelope {
            id: switchboard_core::domain::ids::event_id(),
            event_type: "call.ended".into(),
            provider_event: Some("call_hangup".into()),
            source: "bench".into(),
            occurred_at: Some(now()),
            received_at: now(),
            call: None,
            data: Some(data.clone().into()),
            raw_unparsed: false,
        },
        raw: RawRequest {
            method: "POST".into(),
            content_type: Some("application/json".into()),
            query: None,
            body: serde_json::to_vec(&data).unwrap().into(),
        },
        dedup_key: None,
    }
}

fn subscription(i: usize, addr: SocketAddr) -> Subscription {
    let t = now();
    Subscription {
        url: format!("http://{addr}/s{i}"),
        event_types: vec!["call.*".into()],
        ..Subscription::blank(
            format!("sub_bench{i:04}"),
            Secret::new(switchboard_core::delivery::signing::generate_secret()),
            t,
        )
    }
}

async fn run(subs: usize, total: usize, addr: SocketAddr) -> f64 {
    let settings = Settings {
        delivery_concurrency: 64,
        ..Settings::default()
    };
    let ports = Ports::in_memory(Arc::new(MemoryQueue::new(Duration::from_secs(30), 5)));
    for i in 0..subs {
        ports
            .subscriptions
            .create(&subscription(i, addr))
            .await
            .unwrap();
    }
    let client = DeliveryClient::with_options(ClientOptions::new(
        Duration::from_secs(5),
        Policy::allowing([AddressClass::Loopback]),
    ))
    .unwrap();
    let dispatcher = Arc::new(Dispatcher::new(ports, client, settings));
    let events = (total / subs).max(1);
    let bodies: Vec<String> = (0..events)
        .map(|i| {
            QueueMessage::Event {
                event: std::sync::Arc::new(event(i)),
            }
            .to_json()
            .unwrap()
        })
        .collect();
    // Batches of 10 messages (SQS's batch size), 8 batches in flight (8 concurrent pollers
    // or Lambda instances).
    let batches: Vec<Vec<BatchRecord>> = bodies
        .chunks(10)
        .enumerate()
        .map(|(b, chunk)| {
            chunk
                .iter()
                .enumerate()
                .map(|(i, body)| BatchRecord {
                    message_id: format!("{b}-{i}"),
                    body: body.clone(),
                    trace: None,
                })
                .collect()
        })
        .collect();
    let started = Instant::now();
    let lanes = 8;
    let batches = Arc::new(std::sync::Mutex::new(batches));
    let mut tasks = Vec::new();
    for _ in 0..lanes {
        let d = dispatcher.clone();
        let batches = batches.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let next = batches.lock().unwrap().pop();
                let Some(batch) = next else { return };
                let failed = d.handle_batch(batch).await;
                assert!(failed.is_empty(), "failed messages: {failed:?}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    (events * subs) as f64 / elapsed
}

/// The same sink driven by a bare pooled reqwest client (64 requests in flight): the
/// ceiling the dispatcher is compared with.
async fn baseline(total: usize, addr: SocketAddr) -> f64 {
    switchboard_core::tls::install_default_provider();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let body = serde_json::to_vec(&event(0).envelope).unwrap();
    let url = format!("http://{addr}/baseline");
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (client, url, body, next) = (client.clone(), url.clone(), body.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                let r = client.post(&url).body(body.clone()).send().await.unwrap();
                assert!(r.status().is_success());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let total: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let addr = sink().await;
    // Warm-up: connections, allocator.
    run(10, 2_000, addr).await;
    let bare = baseline(total, addr).await;
    println!("bare reqwest client (64 in flight): requests_per_sec={bare:.0}");
    for subs in [1, 10, 100] {
        let rate = run(subs, total, addr).await;
        println!("subscriptions={subs:>3} deliveries={total} deliveries_per_sec={rate:.0}");
    }
}
