//! Durable `serve` survives `kill -9`: the real binary, a burst of events, SIGKILL in the
//! middle of it, a restart on the same data directory. Every event answered 2xx before the
//! kill reaches the sink (at least once) and has exactly one succeeded attempt on record;
//! duplicates (deliveries repeated because the kill came between the HTTP request and its
//! record) are counted and reported on stderr.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use crate::process::{self, Started};
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard_test_support::serve::{json_answer, AdminApi};
use switchboard_test_support::sink::Sink;
use switchboard_test_support::ADMIN_TOKEN;

/// Writes to stderr past the test harness's capture: the figures are the test's report.
macro_rules! report {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// Events in the burst.
const BURST: usize = 2_000;
/// Requests in flight at once.
const CONCURRENCY: usize = 32;
/// The kill comes once this many events were answered 2xx.
const KILL_AFTER: usize = 600;

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path =
            std::env::temp_dir().join(format!("switchboard-crash-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A serve process, killed if the test ends (or fails) with it still running.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `switchboard serve` on a free port over `data_dir`; returns the process and its base URL.
fn spawn_serve(data_dir: &Path) -> (Serve, String) {
    let Started {
        child,
        mut lines,
        url,
    } = process::start(
        Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--admin-token",
                ADMIN_TOKEN,
            ])
            .arg("--data-dir")
            .arg(data_dir)
            .env("SWITCHBOARD_LOG", "error")
            .stderr(Stdio::inherit()),
        process::SERVE_BANNER,
    );
    let data_line = lines
        .by_ref()
        .take(5)
        .map(|l| l.unwrap())
        .find(|l| l.contains("data:"))
        .expect("serve prints where its data lives");
    assert!(
        data_line.contains(&data_dir.display().to_string()),
        "{data_line}"
    );
    report!("crash test: {}", data_line.trim());
    // Keep draining stdout so serve never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Serve(child), url)
}

/// Deliveries per event id (the envelope's `id`) the sink has received.
fn per_event(sink: &Sink) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for r in sink.received() {
        let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
        if let Some(id) = json["id"].as_str() {
            *seen.entry(id.to_owned()).or_default() += 1;
        }
    }
    seen
}

#[test]
fn kill_9_mid_burst_loses_no_answered_event_and_completes_every_delivery() {
    let started = Instant::now();
    let data = TempDir::new();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        // Given durable serve, a Hipcall source and a subscription to a local sink
        let sink = Sink::start().await;
        let sink_url = sink.url("/crm");
        let (mut child, base) = spawn_serve(&data.0);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let api = AdminApi::new(&http, &base, ADMIN_TOKEN);
        api.create_source("hipcall-main", "hipcall").await;
        let subscription = json!({"url": sink_url, "event_types": ["*"], "format": "envelope"});
        api.create_subscription(subscription).await;

        // When a burst of distinct call-end events is pushed concurrently and serve is
        // killed with SIGKILL once enough of them were answered
        let answered: Arc<Mutex<Vec<String>>> = Arc::default();
        let next = Arc::new(AtomicUsize::new(0));
        let pushers: Vec<_> = (0..CONCURRENCY)
            .map(|_| {
                let (http, base, answered, next) =
                    (http.clone(), base.clone(), answered.clone(), next.clone());
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= BURST {
                            return;
                        }
                        let body = switchboard_test_support::hipcall_call_hangup(&format!("2483a75a-56a2-41f1-991b-{i:012}"));
                        let sent = http
                            .post(format!("{base}/hooks/hipcall-main"))
                            .header("content-type", "application/json")
                            .body(body)
                            .send()
                            .await;
                        let Ok(r) = sent else {
                            return; // serve is gone: the provider would retry later
                        };
                        if !r.status().is_success() {
                            continue;
                        }
                        let Ok(json) = r.json::<serde_json::Value>().await else {
                            return;
                        };
                        if let Some(id) = json["id"].as_str() {
                            answered.lock().unwrap().push(id.to_owned());
                        }
                    }
                })
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(20);
        while answered.lock().unwrap().len() < KILL_AFTER && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        child.0.kill().unwrap(); // SIGKILL
        child.0.wait().unwrap();
        for p in pushers {
            p.await.unwrap();
        }
        let answered = answered.lock().unwrap().clone();
        let delivered_before = per_event(&sink).len();
        assert!(
            answered.len() >= KILL_AFTER,
            "only {} events answered before the deadline",
            answered.len()
        );
        assert!(
            answered.len() < BURST,
            "the kill came after the whole burst was answered; nothing was tested"
        );

        // Then after a restart on the same data directory every answered event arrives
        let (mut child, base) = spawn_serve(&data.0);
        let deadline = Instant::now() + Duration::from_secs(30);
        let missing = loop {
            let seen = per_event(&sink);
            let missing: Vec<&String> = answered.iter().filter(|id| !seen.contains_key(*id)).collect();
            if missing.is_empty() || Instant::now() >= deadline {
                break missing.len();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(missing, 0, "{missing} of {} answered events never reached the sink", answered.len());

        // And each has exactly one succeeded attempt on record
        let checked = Arc::new(AtomicUsize::new(0));
        let chunks: Vec<Vec<String>> = answered.chunks(answered.len().div_ceil(8)).map(<[String]>::to_vec).collect();
        let checkers: Vec<_> = chunks
            .into_iter()
            .map(|ids| {
                let (http, base, checked) = (http.clone(), base.clone(), checked.clone());
                tokio::spawn(async move {
                    for id in ids {
                        let json = json_answer(
                            http.get(format!("{base}/admin/deliveries?event_id={id}"))
                                .bearer_auth(ADMIN_TOKEN),
                        )
                        .await;
                        let succeeded = json["items"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .filter(|a| a["status"] == "succeeded")
                            .count();
                        assert_eq!(succeeded, 1, "event {id}: {json}");
                        checked.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for c in checkers {
            c.await.unwrap();
        }
        assert_eq!(checked.load(Ordering::SeqCst), answered.len());

        let seen = per_event(&sink);
        let duplicates: usize = seen.values().map(|n| n - 1).sum();
        let unanswered = seen.len() - answered.iter().filter(|id| seen.contains_key(*id)).count();
        report!(
            "crash test: {BURST} pushed, {} answered 2xx before kill -9, {delivered_before} delivered before it; \
             after restart all {} delivered; {duplicates} duplicate deliveries; \
             {unanswered} delivered that were accepted but not answered before the kill; {:.1} s",
            answered.len(),
            answered.len(),
            started.elapsed().as_secs_f64()
        );

        let status = Command::new("kill")
            .args(["-INT", &child.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let stop_deadline = Instant::now() + Duration::from_secs(20);
        while child.0.try_wait().unwrap().is_none() {
            assert!(Instant::now() < stop_deadline, "serve did not stop on SIGINT");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}
