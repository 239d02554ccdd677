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
use switchboard_core::domain::{QueueMessage, Source, StoredEvent, Verification};
use switchboard_core::ports::QueueConsumer;
use switchboard_core::redact::Secret;
use switchboard_core::state::{Compose, Ports};

pub const ADMIN_TOKEN: &str = "admin-test-token";

pub struct Harness {
    pub app: App,
    pub queue: Arc<MemoryQueue>,
}

pub fn source(id: &str, provider: Provider, verification: Verification) -> Source {
    let t = "2024-01-01T00:00:00Z".parse().unwrap();
    Source {
        id: id.into(),
        provider,
        verification,
        timezone: None,
        body_limit_bytes: None,
        ip_allow: vec![],
        mapping: None,
        description: None,
        created_at: t,
        updated_at: t,
    }
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
                    QueueMessage::Event { event } => out.push(*event),
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

pub fn fixture(path: &str) -> Bytes {
    let full = format!(
        "{}/../../events/providers/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    Bytes::from(std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}")))
}
