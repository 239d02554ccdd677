//! Parser throughput per provider: every fixture of events/providers/manifest.json parsed
//! (decode + normalize) as ingest does it, grouped by provider.
//!
//!     cargo bench -p switchboard-core --bench providers
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::Value;
use std::hint::black_box;
use switchboard_core::domain::source::{GenericMapping, Provider};
use switchboard_core::domain::{Source, Verification};
use switchboard_core::providers::{self, Incoming};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/providers");

struct Case {
    name: String,
    source: Source,
    method: String,
    content_type: Option<String>,
    query: Option<String>,
    body: Vec<u8>,
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).unwrap()
}

fn cases() -> Vec<(Provider, Vec<Case>)> {
    let manifest: Value = serde_json::from_slice(&read("manifest.json")).unwrap();
    let mut by_provider: Vec<(Provider, Vec<Case>)> = Provider::ALL.map(|p| (p, Vec::new())).into();
    for e in manifest["fixtures"].as_array().unwrap() {
        let file = e["file"].as_str().unwrap();
        let provider: Provider = serde_json::from_value(e["provider"].clone()).unwrap();
        let t = "2024-01-01T00:00:00Z".parse().unwrap();
        let mapping: Option<GenericMapping> = e["mapping"]
            .as_str()
            .map(|m| serde_json::from_slice(&read(m)).unwrap());
        let bytes = read(file);
        let (query, body) = if file.ends_with(".query") {
            (
                Some(String::from_utf8(bytes).unwrap().trim().to_owned()),
                Vec::new(),
            )
        } else {
            (e["query"].as_str().map(str::to_owned), bytes)
        };
        let case = Case {
            name: file.to_owned(),
            source: Source {
                timezone: e["timezone"].as_str().map(str::to_owned),
                mapping,
                ..Source::blank("bench", provider, Verification::None, t)
            },
            method: e["method"].as_str().unwrap().to_owned(),
            content_type: e["content_type"].as_str().map(str::to_owned),
            query,
            body,
        };
        if let Some((_, list)) = by_provider.iter_mut().find(|(p, _)| *p == provider) {
            list.push(case);
        }
    }
    by_provider
}

fn parse_all(cases: &[Case]) -> usize {
    cases
        .iter()
        .map(|c| {
            let p = providers::parse(
                &c.source,
                &Incoming {
                    method: &c.method,
                    content_type: c.content_type.as_deref(),
                    query: c.query.as_deref(),
                    body: &c.body,
                },
            );
            black_box(p).event_type.len()
        })
        .sum()
}

fn bench(c: &mut Criterion) {
    for (provider, cases) in cases() {
        let mut g = c.benchmark_group(format!("parse/{provider:?}").to_lowercase());
        // One iteration parses every fixture of the provider once.
        g.throughput(Throughput::Elements(cases.len() as u64));
        g.bench_function("all_fixtures", |b| b.iter(|| parse_all(black_box(&cases))));
        g.finish();
        for case in &cases {
            let mut g = c.benchmark_group("parse/fixture");
            g.throughput(Throughput::Bytes(
                (case.body.len() + case.query.as_ref().map_or(0, String::len)) as u64,
            ));
            g.bench_function(&case.name, |b| {
                b.iter(|| parse_all(black_box(std::slice::from_ref(case))))
            });
            g.finish();
        }
    }
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = bench
}
criterion_main!(benches);
