//! Shared by the hot-path benchmarks: the provider fixtures as ingest requests, an `App`
//! over in-memory stores with a queue that only serialises (what the SQS adapter does before
//! its network call) and a dedup store that never finds a duplicate, and a DynamoDB client
//! whose HTTP client answers from memory.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use async_trait::async_trait;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::adapters::memory::MemoryQueue;
use switchboard_core::api::{AdminAuth, App, Surface};
use switchboard_core::config::Settings;
use switchboard_core::domain::source::{GenericMapping, Provider};
use switchboard_core::domain::{Source, Verification};
use switchboard_core::error::StoreResult;
use switchboard_core::ports::{Claim, ClaimTerms, DedupStore, EventQueue, Outgoing};
use switchboard_core::redact::Secret;
use switchboard_core::state::{Compose, Ports};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/providers");
pub const HMAC_SECRET: &str = "bench-hmac-secret";
pub const TOKEN: &str = "bench-token-0123456789";

fn read(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).unwrap()
}

/// Serialises the message exactly as the SQS adapter does before sending, then drops it.
pub struct SerializeOnlyQueue;

#[async_trait]
impl EventQueue for SerializeOnlyQueue {
    async fn send_traced(&self, out: Outgoing<'_>) -> StoreResult<()> {
        std::hint::black_box(out.body()?);
        Ok(())
    }
}

/// Every claim is new: the benchmark replays the same bodies, which would otherwise be
/// answered as provider retries after the first call.
pub struct NeverDuplicate;

#[async_trait]
impl DedupStore for NeverDuplicate {
    async fn claim(&self, _key: &str, _event_id: &str, _terms: ClaimTerms) -> StoreResult<Claim> {
        Ok(Claim::New)
    }
    async fn confirm(&self, _key: &str, _event_id: &str) -> StoreResult<bool> {
        Ok(true)
    }
    async fn release(&self, _key: &str, _event_id: &str) -> StoreResult<()> {
        Ok(())
    }
}

/// One ingest request as a provider sends it, verification included.
pub struct IngestCase {
    pub name: String,
    pub provider: Provider,
    pub method: http::Method,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl IngestCase {
    pub fn request(&self) -> http::Request<Bytes> {
        let mut b = http::Request::builder()
            .method(self.method.clone())
            .uri(&self.uri);
        for (k, v) in &self.headers {
            b = b.header(k, v);
        }
        b.body(self.body.clone()).unwrap()
    }
}

fn source_id(provider: Provider, file: &str) -> String {
    // Generic sources differ by mapping, so each mapping gets its own source.
    match provider {
        Provider::Generic => format!("generic-{}", file.replace(['/', '.'], "-")),
        p => format!("{p:?}").to_lowercase(),
    }
}

/// How a provider's bench source checks its requests (see [`verification`]).
enum Auth {
    Hmac,
    QueryToken,
    PathToken,
    Basic,
}

fn auth(provider: Provider) -> Auth {
    match provider {
        Provider::Hipcall => Auth::Hmac,
        Provider::Voipappz => Auth::QueryToken,
        Provider::Generic => Auth::Basic,
        Provider::Callerdesk
        | Provider::Twilio
        | Provider::Plivo
        | Provider::Telnyx
        | Provider::Vonage
        | Provider::Aircall
        | Provider::Exotel => Auth::PathToken,
    }
}

/// The providers the ingest benchmarks measure, one per way of checking requests, each
/// with its cases.
pub fn cases_per_provider(cases: &[IngestCase]) -> Vec<(Provider, Vec<&IngestCase>)> {
    [
        Provider::Hipcall,
        Provider::Voipappz,
        Provider::Callerdesk,
        Provider::Generic,
    ]
    .into_iter()
    .map(|p| (p, cases.iter().filter(|c| c.provider == p).collect()))
    .collect()
}

/// Criterion's settings for these benchmarks: short runs, enough for the hot paths.
pub fn criterion() -> criterion::Criterion {
    criterion::Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

/// Verification per provider, as a deployment would likely set it up: HMAC of the body for
/// Hipcall, a query token for VoIPappz (its URL carries `?event=` already), a path token for
/// CallerDesk, HTTP basic for generic sources. The telephony providers with their own
/// signature schemes are measured here behind a path token too (their schemes' cost is
/// a few hashes, or one Ed25519 check for Telnyx).
fn verification(provider: Provider) -> Verification {
    match auth(provider) {
        Auth::Hmac => Verification::Hmac {
            secret: Secret::new(HMAC_SECRET),
            header: "x-hipcall-signature".into(),
            algorithm: Default::default(),
            encoding: Default::default(),
            prefix: Some("sha256=".into()),
        },
        Auth::QueryToken => Verification::Token {
            token: Secret::new(TOKEN),
            location: switchboard_core::domain::source::TokenLocation::Query,
            name: None,
        },
        Auth::PathToken => Verification::Token {
            token: Secret::new(TOKEN),
            location: switchboard_core::domain::source::TokenLocation::Path,
            name: None,
        },
        Auth::Basic => Verification::Basic {
            username: "bench".into(),
            password: Secret::new(TOKEN),
        },
    }
}

/// The fixtures of events/providers/manifest.json as requests, and the sources they need.
pub fn ingest_cases() -> (Vec<Source>, Vec<IngestCase>) {
    use base64::Engine as _;
    let manifest: Value = serde_json::from_slice(&read("manifest.json")).unwrap();
    let t = "2024-01-01T00:00:00Z".parse().unwrap();
    let mut sources: Vec<Source> = Vec::new();
    let mut cases = Vec::new();
    for e in manifest["fixtures"].as_array().unwrap() {
        let file = e["file"].as_str().unwrap();
        let provider: Provider = serde_json::from_value(e["provider"].clone()).unwrap();
        let id = source_id(provider, e["mapping"].as_str().unwrap_or(file));
        if !sources.iter().any(|s| s.id == id) {
            let mapping: Option<GenericMapping> = e["mapping"]
                .as_str()
                .map(|m| serde_json::from_slice(&read(m)).unwrap());
            sources.push(Source {
                timezone: e["timezone"].as_str().map(str::to_owned),
                mapping,
                ..Source::blank(id.clone(), provider, verification(provider), t)
            });
        }
        let bytes = read(file);
        let (mut query, body) = if file.ends_with(".query") {
            (
                Some(String::from_utf8(bytes).unwrap().trim().to_owned()),
                Vec::new(),
            )
        } else {
            (e["query"].as_str().map(str::to_owned), bytes)
        };
        let mut path = format!("/hooks/{id}");
        let mut headers = Vec::new();
        if let Some(ct) = e["content_type"].as_str() {
            headers.push(("content-type".to_owned(), ct.to_owned()));
        }
        match auth(provider) {
            Auth::Hmac => {
                let mut mac = Hmac::<Sha256>::new_from_slice(HMAC_SECRET.as_bytes()).unwrap();
                mac.update(&body);
                let hex: String = mac
                    .finalize()
                    .into_bytes()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                headers.push(("x-hipcall-signature".into(), format!("sha256={hex}")));
            }
            Auth::QueryToken => {
                let token = format!("token={TOKEN}");
                query = Some(match query {
                    Some(q) if !q.is_empty() => format!("{q}&{token}"),
                    _ => token,
                });
            }
            Auth::PathToken => path.push_str(&format!("/{TOKEN}")),
            Auth::Basic => {
                let basic =
                    base64::engine::general_purpose::STANDARD.encode(format!("bench:{TOKEN}"));
                headers.push(("authorization".into(), format!("Basic {basic}")));
            }
        }
        let uri = match &query {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        cases.push(IngestCase {
            name: file.to_owned(),
            provider,
            method: e["method"].as_str().unwrap().parse().unwrap(),
            uri,
            headers,
            body: Bytes::from(body),
        });
    }
    (sources, cases)
}

/// The ingest app over in-memory stores, with the sources created.
pub async fn ingest_app(sources: &[Source]) -> App {
    let mut ports = Ports::in_memory(Arc::new(MemoryQueue::new(Duration::from_secs(30), 5)));
    ports.queue = Arc::new(SerializeOnlyQueue);
    ports.dedup = Arc::new(NeverDuplicate);
    for s in sources {
        ports.sources.create(s).await.unwrap();
    }
    App {
        ports,
        settings: Settings::default(),
        admin_auth: AdminAuth::Iam,
        surface: Surface::Ingest,
    }
}

pub fn provider_name(p: Provider) -> String {
    format!("{p:?}").to_lowercase()
}

pub mod dynamo {
    //! A DynamoDB client whose HTTP client answers from memory: the adapters' item mapping,
    //! the SDK's serialisation and SigV4 signing run, the network does not.

    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    use aws_smithy_runtime_api::client::http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
        SharedHttpConnector,
    };
    use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    /// Answers by operation (the `x-amz-target` header) with a canned JSON body.
    #[derive(Debug, Clone)]
    pub struct Canned {
        pub get_item: String,
        pub scan: String,
    }

    impl HttpConnector for Canned {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            let target = request.headers().get("x-amz-target").unwrap_or_default();
            let body = if target.ends_with(".GetItem") {
                self.get_item.clone()
            } else if target.ends_with(".Scan") {
                self.scan.clone()
            } else {
                "{}".to_owned()
            };
            let mut resp = Response::new(StatusCode::try_from(200).unwrap(), SdkBody::from(body));
            resp.headers_mut()
                .insert("content-type", "application/x-amz-json-1.0");
            HttpConnectorFuture::ready(Ok(resp))
        }
    }

    impl HttpClient for Canned {
        fn http_connector(
            &self,
            _settings: &HttpConnectorSettings,
            _components: &RuntimeComponents,
        ) -> SharedHttpConnector {
            SharedHttpConnector::new(self.clone())
        }
    }

    pub fn client(canned: Canned) -> aws_sdk_dynamodb::Client {
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("AKIDBENCH", "secret", None, None, "bench"))
            .endpoint_url("http://dynamodb.bench.invalid")
            .http_client(SharedHttpClient::new(canned))
            .build();
        aws_sdk_dynamodb::Client::from_conf(conf)
    }

    /// A DynamoDB JSON item `{"id": {"S": id}, "doc": {"S": doc}}`.
    pub fn item(id: &str, doc: &str) -> serde_json::Value {
        serde_json::json!({"id": {"S": id}, "doc": {"S": doc}})
    }
}
