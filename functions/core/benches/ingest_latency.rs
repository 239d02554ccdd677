//! Percentiles of single ingest calls (target: handler work p99 under 1 ms): every
//! provider fixture goes through `App::handle` (verify + parse + normalize + serialize, no
//! network) as one timed call, many times over, and the p50/p90/p99/p99.9 are printed per
//! provider. Beside them, in the same run, a floor measured the same way: the same payload
//! decoded generically (JSON into a `Value`, forms and queries into pairs) and written back as
//! JSON, with the ratio of the two.
//!
//!     cargo bench -p switchboard-core --bench ingest_latency [-- CALLS_PER_PROVIDER]
//!
//! It prints figures and asserts nothing about time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// The floor: decoding the same payload generically and writing it back as JSON (a JSON
/// body through `serde_json::Value`; a form body or query string as key/value pairs).
fn floor_work(case: &common::IngestCase) -> Vec<u8> {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&case.body) {
        return serde_json::to_vec(&v).unwrap_or_default();
    }
    let form: &[u8] = if case.body.is_empty() {
        case.uri.split_once('?').map_or(&[], |(_, q)| q.as_bytes())
    } else {
        &case.body
    };
    let map: serde_json::Map<String, serde_json::Value> = form_urlencoded::parse(form)
        .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
        .collect();
    serde_json::to_vec(&map).unwrap_or_default()
}

fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn main() {
    // `cargo bench` passes `--bench`; a bare number is the call count.
    let calls: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (sources, cases) = common::ingest_cases();
    let app = rt.block_on(common::ingest_app(&sources));
    println!("ingest handler work, {calls} single calls per provider (times in µs)");
    println!(
        "{:<11} {:>8} {:>8} {:>8} {:>8} {:>8}   {:>12} {:>12} {:>9}",
        "provider", "p50", "p90", "p99", "p99.9", "max", "floor p50", "floor p99", "p99/floor"
    );
    for (provider, mine) in common::cases_per_provider(&cases) {
        let mut times = Vec::with_capacity(calls);
        let mut floor = Vec::with_capacity(calls);
        for i in 0..calls / 10 {
            // warm-up
            let _ = rt.block_on(app.handle(mine[i % mine.len()].request()));
        }
        for i in 0..calls {
            let case = mine[i % mine.len()];
            // The request is built outside the timing: a server has it before the handler runs.
            let req = case.request();
            let t = Instant::now();
            let resp = rt.block_on(app.handle(req));
            times.push(t.elapsed());
            assert_eq!(resp.status(), http::StatusCode::ACCEPTED, "{}", case.name);

            let t = Instant::now();
            let out = floor_work(case);
            floor.push(t.elapsed());
            std::hint::black_box(out);
        }
        times.sort();
        floor.sort();
        let p99 = percentile(&times, 99.0);
        let f99 = percentile(&floor, 99.0);
        println!(
            "{:<11} {:>8} {:>8} {:>8} {:>8} {:>8}   {:>12} {:>12} {:>8.1}x",
            common::provider_name(provider),
            us(percentile(&times, 50.0)),
            us(percentile(&times, 90.0)),
            us(p99),
            us(percentile(&times, 99.9)),
            us(times.last().copied().unwrap_or_default()),
            us(percentile(&floor, 50.0)),
            us(f99),
            p99.as_secs_f64() / f99.as_secs_f64().max(1e-9),
        );
    }
    println!("target: p99 < 1000 µs per call");
}
