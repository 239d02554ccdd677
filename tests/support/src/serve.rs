//! `switchboard serve` started in-process on 127.0.0.1:0, with a client that speaks to it
//! the way a provider and an operator would: over real HTTP, the admin calls with the token.

use crate::ADMIN_TOKEN;
use serde_json::Value;
use switchboard_cli::serve::{self, Running, ServeConfig};
use switchboard_core::redact::Secret;

/// A running `serve` and an HTTP client for it.
pub struct ServeHarness {
    pub running: Running,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub http: reqwest::Client,
}

/// The configuration every harness starts from: a free loopback port, the tests' admin
/// token, the in-memory store (set `store` for the durable one).
pub fn config() -> ServeConfig {
    ServeConfig::new("127.0.0.1:0".parse().unwrap(), Secret::new(ADMIN_TOKEN))
}

impl ServeHarness {
    /// `serve` on the in-memory store.
    pub async fn start() -> Self {
        Self::with(config()).await
    }

    pub async fn with(config: ServeConfig) -> Self {
        let running = serve::start(config).await.unwrap();
        let base = format!("http://{}", running.addr);
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .unwrap();
        Self {
            running,
            base,
            http,
        }
    }

    /// The running serve, its base URL and the client, for a test that drives them itself.
    pub fn into_parts(self) -> (Running, String, reqwest::Client) {
        (self.running, self.base, self.http)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The admin API with the tests' token.
    pub fn api(&self) -> AdminApi<'_> {
        AdminApi::new(&self.http, &self.base, ADMIN_TOKEN)
    }

    /// An admin call with the token; the status and the JSON answer (`Null` when empty).
    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.api().call(method, path, body).await
    }

    /// Creates a source with verification `none`.
    pub async fn create_source(&self, id: &str, provider: &str) {
        self.api().create_source(id, provider).await;
    }

    /// Creates a subscription; its JSON answer (with the signing secret).
    pub async fn create_subscription(&self, body: Value) -> Value {
        self.api().create_subscription(body).await
    }

    /// The Hipcall source `hipcall-main` and a subscription of `url` to its `call.ended`
    /// events; the subscription's JSON answer.
    pub async fn hipcall_call_ends_to(&self, url: &str) -> Value {
        self.create_source("hipcall-main", "hipcall").await;
        let body = serde_json::json!({"url": url, "event_types": ["call.ended"]});
        self.create_subscription(body).await
    }

    /// Posts a webhook to `/hooks/{source}` as JSON, as a provider would.
    pub async fn post_hook(&self, source: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        post_hook(&self.http, &self.base, source, body).await
    }
}

/// Posts a webhook to `{base}/hooks/{source}` as JSON, as a provider would; the status and
/// the JSON answer (`Null` when there is none).
pub async fn post_hook(
    http: &reqwest::Client,
    base: &str,
    source: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let response = http
        .post(format!("{base}/hooks/{source}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    answer(response).await
}

/// Sends `request` and reads the answer's JSON body.
pub async fn json_answer(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// The admin API of a `serve` at `base`, in this process or a spawned binary.
#[derive(Clone, Copy)]
pub struct AdminApi<'a> {
    pub http: &'a reqwest::Client,
    /// `http://127.0.0.1:PORT`
    pub base: &'a str,
    pub token: &'a str,
}

impl<'a> AdminApi<'a> {
    pub fn new(http: &'a reqwest::Client, base: &'a str, token: &'a str) -> Self {
        Self { http, base, token }
    }

    /// An admin call with the token; the status and the JSON answer (`Null` when empty).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, url).bearer_auth(self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        answer(req.send().await.unwrap()).await
    }

    /// Creates a source with verification `none`.
    pub async fn create_source(&self, id: &str, provider: &str) {
        let body =
            serde_json::json!({"id": id, "provider": provider, "verification": {"type": "none"}});
        let (status, json) = self.call("POST", "/admin/sources", Some(body)).await;
        assert_eq!(status, 201, "{json}");
    }

    /// Creates a subscription; its JSON answer (with the signing secret).
    pub async fn create_subscription(&self, body: Value) -> Value {
        let (status, json) = self.call("POST", "/admin/subscriptions", Some(body)).await;
        assert_eq!(status, 201, "{json}");
        json
    }
}

async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, json)
}
