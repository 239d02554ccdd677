//! Durable vs in-memory `serve`: the same burst of events pushed through `serve` (in
//! process) to a loopback sink, once per store, and the ratio of the rates.
//!
//! ```sh
//! cargo run --release -p switchboard-cli --example durable_throughput -- [EVENTS] [CONCURRENCY] [ROUNDS]
//! ```
//!
//! For each store it reports the ingest rate (202 answers per second: each one a committed
//! write with the durable store) and the end-to-end rate (events per second from the first
//! request to the last delivery recorded at the sink). One machine runs the load, serve and
//! the sink, so the figures are for comparing the stores, not absolute capacity.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a measurement program: a panic is a report

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_cli::serve::{self, ServeConfig, Store};
use switchboard_core::adapters::sqlite::SyncMode;
use switchboard_core::redact::Secret;
use switchboard_test_support::serve::{post_hook, AdminApi};
use tokio::net::TcpListener;

const TOKEN: &str = "throughput-token";

async fn sink(count: Arc<AtomicUsize>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let count = count.clone();
                    async move {
                        req.into_body().collect().await?;
                        count.fetch_add(1, Ordering::Relaxed);
                        Ok::<_, hyper::Error>(hyper::Response::new(Full::new(Bytes::new())))
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    format!("http://{addr}/hook")
}

struct Run {
    ingest_per_sec: f64,
    end_to_end_per_sec: f64,
    /// Largest WAL file seen during the run (durable store), in bytes.
    max_wal: u64,
    /// CPU time of the whole process (load, serve and sink) per event, in microseconds.
    cpu_us_per_event: f64,
}

/// CPU time (user + system) of this process so far, from /proc (Linux; zero elsewhere).
fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the command name (which is in parentheses and may hold spaces).
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name; the
    // clock tick is 100 Hz on Linux.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

async fn run(store: Store, events: usize, concurrency: usize) -> Run {
    let wal = match &store {
        Store::Durable { dir, .. } => Some(dir.join("switchboard.db-wal")),
        Store::Memory => None,
    };
    let wal_size = move || {
        wal.as_ref()
            .and_then(|p| std::fs::metadata(p).ok())
            .map_or(0, |m| m.len())
    };
    let mut max_wal = 0;
    let delivered = Arc::new(AtomicUsize::new(0));
    let sink_url = sink(delivered.clone()).await;
    let mut config = ServeConfig::new("127.0.0.1:0".parse().unwrap(), Secret::new(TOKEN));
    config.store = store;
    let running = serve::start(config).await.unwrap();
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let api = AdminApi::new(&http, &base, TOKEN);
    api.create_source("hipcall-main", "hipcall").await;
    (api.create_subscription(serde_json::json!({"url": sink_url, "event_types": ["*"]}))).await;

    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = cpu_time();
    let started = Instant::now();
    let pushers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, base, next) = (http.clone(), base.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= events {
                        return;
                    }
                    let body = switchboard_test_support::hipcall_call_hangup(&format!(
                        "2483a75a-56a2-41f1-991b-{i:012}"
                    ));
                    let (status, answer) = post_hook(&http, &base, "hipcall-main", body).await;
                    assert_eq!(status, 202, "{answer}");
                }
            })
        })
        .collect();
    for p in pushers {
        while !p.is_finished() {
            max_wal = max_wal.max(wal_size());
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        p.await.unwrap();
    }
    let ingested = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(300);
    while delivered.load(Ordering::Relaxed) < events && Instant::now() < deadline {
        max_wal = max_wal.max(wal_size());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let done = started.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_before);
    assert_eq!(
        delivered.load(Ordering::Relaxed),
        events,
        "deliveries missing"
    );
    running.stop().await;
    Run {
        ingest_per_sec: events as f64 / ingested.as_secs_f64(),
        end_to_end_per_sec: events as f64 / done.as_secs_f64(),
        max_wal,
        cpu_us_per_event: cpu.as_secs_f64() * 1e6 / events as f64,
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(0.0)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let events: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5_000);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let dir = std::env::temp_dir().join(format!("switchboard-throughput-{}", std::process::id()));
    println!(
        "{events} events, {concurrency} concurrent requests, 1 subscription, loopback sink; \
         median of {rounds} interleaved rounds"
    );
    let stores = [
        ("memory", None),
        ("durable (sync normal)", Some(SyncMode::Normal)),
        ("durable (sync full)", Some(SyncMode::Full)),
    ];
    let mut results: Vec<(Vec<f64>, Vec<f64>, Vec<f64>)> = vec![Default::default(); stores.len()];
    let mut max_wal = 0;
    for round in 0..rounds {
        for (i, (_, sync)) in stores.iter().enumerate() {
            let store = match sync {
                None => Store::Memory,
                Some(sync) => Store::Durable {
                    dir: dir.join(format!("{}-{round}", sync.as_str())),
                    sync: *sync,
                },
            };
            let r = run(store, events, concurrency).await;
            results[i].0.push(r.ingest_per_sec);
            results[i].1.push(r.end_to_end_per_sec);
            results[i].2.push(r.cpu_us_per_event);
            max_wal = max_wal.max(r.max_wal);
        }
    }
    let medians: Vec<(f64, f64, f64)> = results
        .into_iter()
        .map(|(ingest, e2e, cpu)| (median(ingest), median(e2e), median(cpu)))
        .collect();
    println!(
        "{:<22} {:>12} {:>16} {:>14}",
        "store", "ingest ev/s", "end-to-end ev/s", "CPU us/event"
    );
    for ((name, _), (ingest, e2e, cpu)) in stores.iter().zip(&medians) {
        let (mi, me, mc) = medians[0];
        println!(
            "{name:<22} {ingest:>12.0} {e2e:>16.0} {cpu:>14.0}   vs memory: ingest {:.2}, \
             end-to-end {:.2}, CPU {:.2}",
            ingest / mi,
            e2e / me,
            cpu / mc
        );
    }
    println!(
        "largest WAL file seen: {:.1} MiB",
        max_wal as f64 / (1024.0 * 1024.0)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
