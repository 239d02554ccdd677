//! Shared helpers for the ingest-level tests: an in-memory app, requests, the queue.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use bytes::Bytes;
use http::{Request, Response};
use serde_json::Value;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::adapters::memory::MemoryQueue;
use switchboard_core::api::{AdminAuth, App, ClientIp, Surface};
use switchboard_core::config::Settings;
use switchboard_core::domain::source::Provider;
use switchboard_core::domain::{CallInfo, QueueMessage, Source, StoredEvent, Verification};
use switchboard_core::ports::QueueConsumer;
use switchboard_core::providers::{self, Incoming, Parsed};
use switchboard_core::redact::Secret;
use switchboard_core::state::{Compose, Ports};

pub use switchboard_test_support::{fixture, ADMIN_TOKEN};

pub struct Harness {
    pub app: App,
    pub queue: Arc<MemoryQueue>,
}

pub fn source(id: &str, provider: Provider, verification: Verification) -> Source {
    let t = "2024-01-01T00:00:00Z".parse().unwrap();
    Source::blank(id, provider, verification, t)
}

impl Harness {
    pub async fn new(sources: Vec<Source>) -> Self {
        let queue = Arc::new(MemoryQueue::new(Duration::from_secs(30), 5));
        let ports = Ports::in_memory(queue.clone());
        for s in &sources {
            ports.sources.create(s).await.unwrap();
        }
        Self::with_ports(ports, queue)
    }

    pub fn with_ports(ports: Ports, queue: Arc<MemoryQueue>) -> Self {
        Self {
            app: App {
                ports,
                settings: Settings::default(),
                admin_auth: AdminAuth::Bearer(Secret::new(ADMIN_TOKEN)),
                surface: Surface::All,
            },
            queue,
        }
    }

    pub async fn send(&self, req: Request<Bytes>) -> (u16, Value) {
        let resp: Response<Bytes> = self.app.handle(req).await;
        let status = resp.status().as_u16();
        let body = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
        (status, body)
    }

    /// Every event queued so far (and removes them from the queue).
    pub async fn drain(&self) -> Vec<StoredEvent> {
        let mut out = Vec::new();
        loop {
            let batch = self.queue.receive(10, Duration::ZERO).await.unwrap();
            if batch.is_empty() {
                return out;
            }
            for m in batch {
                self.queue.delete(&m.receipt).await.unwrap();
                match QueueMessage::from_json(&m.body).unwrap() {
                    QueueMessage::Event { event } => out.push(StoredEvent::clone(&event)),
                    other => panic!("unexpected message {other:?}"),
                }
            }
        }
    }
}

/// A request builder with the usual defaults.
pub struct Req {
    builder: http::request::Builder,
    ip: Option<IpAddr>,
}

pub fn req(method: &str, uri: &str) -> Req {
    Req {
        builder: Request::builder().method(method).uri(uri),
        ip: None,
    }
}

impl Req {
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.builder = self.builder.header(k, v);
        self
    }
    pub fn json(self) -> Self {
        self.header("content-type", "application/json")
    }
    pub fn client_ip(mut self, ip: &str) -> Self {
        self.ip = Some(ip.parse().unwrap());
        self
    }
    pub fn body(self, body: impl Into<Bytes>) -> Request<Bytes> {
        let mut r = self.builder.body(body.into()).unwrap();
        if let Some(ip) = self.ip {
            r.extensions_mut().insert(ClientIp(ip));
        }
        r
    }
}

/// A source of `provider` as the parsers see it: no verification, optional zone and mapping.
pub fn parsing_source(
    provider: Provider,
    timezone: Option<&str>,
    mapping: Option<switchboard_core::domain::source::GenericMapping>,
) -> Source {
    Source {
        timezone: timezone.map(str::to_owned),
        mapping,
        ..source("src", provider, Verification::None)
    }
}

/// Parses a fixture as its provider sends it: a `.query` file as a GET's query string, a
/// `.form` file as a form post, anything else as a JSON post.
pub fn parse_fixture(src: &Source, path: &str) -> Parsed {
    let bytes = fixture(path);
    if path.ends_with(".query") {
        let q = String::from_utf8(bytes.to_vec()).unwrap();
        return providers::parse(
            src,
            &Incoming {
                method: "GET",
                content_type: None,
                query: Some(q.trim()),
                body: b"",
            },
        );
    }
    let ct = if path.ends_with(".form") {
        "application/x-www-form-urlencoded"
    } else {
        "application/json"
    };
    providers::parse(
        src,
        &Incoming {
            method: "POST",
            content_type: Some(ct),
            query: None,
            body: &bytes,
        },
    )
}

/// The parsed call block, which the test expects.
pub fn call(p: &Parsed) -> &CallInfo {
    p.call.as_ref().expect("a call block")
}

/// The call block's id, which the test expects there.
pub fn id_of(c: &CallInfo) -> &str {
    (c.id.as_deref()).unwrap_or_else(|| panic!("no call id in {c:?}"))
}

/// A parsed time as RFC 3339, which the test expects.
pub fn rfc(t: Option<switchboard_core::domain::time::Timestamp>) -> String {
    t.expect("a time").to_rfc3339()
}

/// Cases per property test: `default` in CI, `PROPTEST_CASES=N` for a long run.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
