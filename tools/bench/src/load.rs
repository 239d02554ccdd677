//! The load itself, shared by the embedded and the emulator runs: N provider webhooks
//! POSTed to `/hooks/...` at concurrency C, the sink waited on until every (event,
//! subscription) pair arrived, and the baseline (a bare pooled client POSTing the same
//! bodies to the same sink at the same concurrency).

use crate::poster::{Poster, Target};
use crate::sink::{Sample, Sink};
use http::StatusCode;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The Hipcall hangup fixture: a real provider payload of about 1.3 KB.
const HIPCALL_HANGUP: &str = include_str!("../../../events/providers/hipcall/call_hangup.json");
const FIXTURE_UUID: &str = "2483a75a-56a2-41f1-991b-92b1667e324a";

/// N distinct bodies: the fixture with its call uuid replaced, so provider-retry
/// deduplication sees N different calls.
pub fn bodies(run: &str, n: usize) -> Vec<bytes::Bytes> {
    (0..n)
        .map(|i| {
            let uuid = format!("{run}-{i:012}");
            bytes::Bytes::from(HIPCALL_HANGUP.replace(FIXTURE_UUID, &uuid))
        })
        .collect()
}

pub fn run_id() -> String {
    use rand::Rng;
    format!("{:08x}", rand::thread_rng().gen::<u32>())
}

/// Percentiles of a set of durations.
pub struct Dist(Vec<Duration>);

impl Dist {
    pub fn new(mut v: Vec<Duration>) -> Self {
        v.sort();
        Self(v)
    }
    pub fn pct(&self, p: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * (self.0.len() - 1) as f64).round() as usize;
        self.0[rank.min(self.0.len() - 1)]
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub events: usize,
    pub subscriptions: usize,
    pub concurrency: usize,
    pub timeout: Duration,
    /// Events per second offered (open loop: event `i` is sent no earlier than `i / rate`
    /// seconds after the start, `concurrency` still capping those in flight); `None` sends
    /// each as soon as a request is free (closed loop, the most the server accepts).
    pub rate: Option<f64>,
}

pub struct Outcome {
    pub accepted: usize,
    pub rejected: usize,
    /// From the first POST to the last 202.
    pub accept_elapsed: Duration,
    /// POST sent → 202 read, per event.
    pub ingest: Dist,
    /// Deliveries the sink received (duplicates included) and distinct pairs among them.
    pub delivered: usize,
    pub distinct_pairs: usize,
    /// From the first POST to the last delivery at the sink.
    pub delivery_elapsed: Duration,
    /// 202 read → sink received (0 when the delivery beat the 202 back to the client).
    pub e2e_from_accept: Dist,
    /// POST sent → sink received.
    pub e2e_from_send: Dist,
    /// Deliveries that arrived before their 202 was read.
    pub before_accept: usize,
    /// Ids of the accepted events.
    pub event_ids: Vec<String>,
    /// Deliveries still to make when the last 202 was read (the backlog ingest left).
    pub backlog_at_accept_end: usize,
    /// From the last 202 to the last delivery.
    pub drain_after_accept: Duration,
}

impl Outcome {
    pub fn events_per_sec(&self) -> f64 {
        self.accepted as f64 / self.accept_elapsed.as_secs_f64().max(1e-9)
    }
    pub fn deliveries_per_sec(&self) -> f64 {
        self.delivered as f64 / self.delivery_elapsed.as_secs_f64().max(1e-9)
    }
}

struct Sent {
    sent: Instant,
    accepted: Instant,
}

/// POSTs the bodies to `url` at `spec.concurrency`, then waits for `events × subscriptions`
/// deliveries at the sink (or the timeout).
pub async fn drive(
    url: &str,
    bodies: Vec<bytes::Bytes>,
    spec: Spec,
    sink: &Sink,
) -> Result<Outcome, String> {
    let target = Target::parse(url).await?;
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let rate = spec.rate.filter(|r| *r > 0.0);
    let mut tasks = Vec::new();
    for _ in 0..spec.concurrency.max(1) {
        let (mut poster, bodies, next) =
            (Poster::new(target.clone()), bodies.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut mine: Vec<(String, Sent)> = Vec::new();
            let mut rejected = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                if let Some(rate) = rate {
                    let due = start + Duration::from_secs_f64(i as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                let sent = Instant::now();
                let ok = match poster.post(body.clone()).await {
                    Ok((StatusCode::ACCEPTED, b)) => Some(b),
                    Ok((status, _)) => {
                        if rejected == 0 {
                            eprintln!("ingest answered {status}");
                        }
                        None
                    }
                    Err(e) => {
                        if rejected == 0 {
                            eprintln!("ingest request failed: {e}");
                        }
                        None
                    }
                };
                let accepted = Instant::now();
                let id = ok
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(str::to_owned));
                match id {
                    Some(id) => mine.push((id, Sent { sent, accepted })),
                    None => rejected += 1,
                }
            }
            (mine, rejected)
        }));
    }
    let mut sent: HashMap<String, Sent> = HashMap::with_capacity(spec.events);
    let mut rejected = 0;
    for t in tasks {
        let (mine, r) = t.await.map_err(|e| format!("load task failed: {e}"))?;
        sent.extend(mine);
        rejected += r;
    }
    let accept_elapsed = sent
        .values()
        .map(|s| s.accepted)
        .max()
        .map_or(Duration::ZERO, |t| t - start);
    let expected_now = sent.len() * spec.subscriptions;
    let deadline = tokio::time::Instant::now() + spec.timeout;
    let delivered = sink.wait_for(expected_now, deadline).await;
    let arrivals = sink.take_arrivals();
    let last = arrivals.iter().map(|a| a.at).max().unwrap_or(start);
    let last_accept = start + accept_elapsed;
    let delivered_by_accept_end = arrivals.iter().filter(|a| a.at <= last_accept).count();
    let mut pairs = std::collections::HashSet::with_capacity(arrivals.len());
    let mut from_accept = Vec::with_capacity(arrivals.len());
    let mut from_send = Vec::with_capacity(arrivals.len());
    let mut before_accept = 0;
    for a in &arrivals {
        pairs.insert(a.webhook_id.as_str());
        // `<event id>_<subscription id>`; event ids are `evt_` + a 26-character ULID.
        let event_id = a.webhook_id.get(..30).unwrap_or(&a.webhook_id);
        if let Some(s) = sent.get(event_id) {
            from_send.push(a.at.saturating_duration_since(s.sent));
            if a.at < s.accepted {
                before_accept += 1;
            }
            from_accept.push(a.at.saturating_duration_since(s.accepted));
        }
    }
    Ok(Outcome {
        accepted: sent.len(),
        rejected,
        accept_elapsed,
        ingest: Dist::new(sent.values().map(|s| s.accepted - s.sent).collect()),
        delivered,
        distinct_pairs: pairs.len(),
        delivery_elapsed: last.saturating_duration_since(start),
        e2e_from_accept: Dist::new(from_accept),
        e2e_from_send: Dist::new(from_send),
        before_accept,
        event_ids: sent.keys().cloned().collect(),
        backlog_at_accept_end: expected_now.saturating_sub(delivered_by_accept_end),
        drain_after_accept: last.saturating_duration_since(last_accept),
    })
}

/// The baseline: a bare pooled reqwest client POSTing `sample` to the sink `total` times at
/// `concurrency`. Returns requests per second.
pub async fn baseline(
    sink: &Sink,
    sample: &Sample,
    total: usize,
    concurrency: usize,
) -> Result<f64, String> {
    switchboard_core::tls::install_default_provider();
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(concurrency)
        .build()
        .map_err(|e| format!("cannot build the baseline client: {e}"))?;
    let url = format!("http://{}{}", sink.addr, sample.path);
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (client, url, next, failures) =
            (client.clone(), url.clone(), next.clone(), failures.clone());
        let sample = sample.clone();
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let mut req = client.post(&url).body(sample.body.clone());
                for (k, v) in &sample.headers {
                    req = req.header(k, v);
                }
                match req.send().await {
                    Ok(r) if r.status().is_success() => {}
                    _ => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| format!("baseline task failed: {e}"))?;
    }
    let elapsed = start.elapsed();
    let failed = failures.load(Ordering::Relaxed);
    if failed > 0 {
        return Err(format!("{failed} baseline requests failed"));
    }
    Ok(total as f64 / elapsed.as_secs_f64().max(1e-9))
}

/// `wrk` against the same sink with the same body and headers, when `wrk` is installed.
pub fn wrk(sink: &Sink, sample: &Sample, concurrency: usize, seconds: u64) -> Option<f64> {
    let dir = std::env::temp_dir().join(format!("switchboard-bench-wrk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let script = dir.join("post.lua");
    let lua_string = |s: &str| {
        let mut out = String::from("\"");
        for b in s.bytes() {
            out.push_str(&format!("\\{b}"));
        }
        out.push('"');
        out
    };
    let mut lua = String::from("wrk.method = \"POST\"\n");
    lua.push_str(&format!(
        "wrk.body = {}\n",
        lua_string(&String::from_utf8_lossy(&sample.body))
    ));
    for (k, v) in &sample.headers {
        lua.push_str(&format!(
            "wrk.headers[{}] = {}\n",
            lua_string(k),
            lua_string(v)
        ));
    }
    std::fs::write(&script, lua).ok()?;
    let out = std::process::Command::new("wrk")
        .arg("-t1")
        .arg(format!("-c{}", concurrency.max(1)))
        .arg(format!("-d{seconds}s"))
        .arg("-s")
        .arg(&script)
        .arg(format!("http://{}{}", sink.addr, sample.path))
        .output()
        .ok()?;
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Peak and current resident set of this process, from /proc/self/status (Linux), in KiB.
pub fn memory_kib() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// Prints the load figures; `label` names the pipeline.
pub fn print_outcome(label: &str, spec: &Spec, o: &Outcome) {
    println!("{label}");
    if let Some(rate) = spec.rate {
        println!("  offered              {rate:.0} events/s (open loop)");
    }
    println!(
        "  events accepted      {} of {} ({} rejected) in {:.2} s: {:.0} events/s",
        o.accepted,
        spec.events,
        o.rejected,
        o.accept_elapsed.as_secs_f64(),
        o.events_per_sec()
    );
    println!(
        "  deliveries at sink   {} of {} expected ({} distinct pairs) in {:.2} s: {:.0} deliveries/s",
        o.delivered,
        o.accepted * spec.subscriptions,
        o.distinct_pairs,
        o.delivery_elapsed.as_secs_f64(),
        o.deliveries_per_sec()
    );
    println!(
        "  ingest latency       p50 {}  p99 {}  (POST sent → 202 read, {} events)",
        ms(o.ingest.pct(50.0)),
        ms(o.ingest.pct(99.0)),
        o.ingest.len()
    );
    println!(
        "  end-to-end latency   p50 {}  p99 {}  (202 read → sink received; {} of {} arrived before their 202 was read, counted as 0)",
        ms(o.e2e_from_accept.pct(50.0)),
        ms(o.e2e_from_accept.pct(99.0)),
        o.before_accept,
        o.e2e_from_accept.len()
    );
    println!(
        "                       p50 {}  p99 {}  (POST sent → sink received)",
        ms(o.e2e_from_send.pct(50.0)),
        ms(o.e2e_from_send.pct(99.0)),
    );
    println!(
        "  backlog              {} deliveries still to make at the last 202; last delivery {} after it",
        o.backlog_at_accept_end,
        ms(o.drain_after_accept)
    );
}
