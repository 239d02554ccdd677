//! Fault injection at the AWS SDK's HTTP layer: an HTTP client that forwards to the emulator
//! except for the requests a rule picks, which it answers itself (a throttling error, an
//! outage) without sending them, or holds back for a while before forwarding (a slow
//! service; a request given up on meanwhile never reaches the emulator). The SDK parses those
//! answers and applies its retry policy and timeouts exactly as it would to AWS's.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What a rule sees of a request: the DynamoDB/SQS operation (`X-Amz-Target`'s last part,
/// or SQS's `Action`) and the body as text.
pub struct Seen<'a> {
    pub operation: &'a str,
    pub body: &'a str,
}

type Rule = dyn Fn(&Seen<'_>) -> Option<(u16, String)> + Send + Sync;
type Latency = dyn Fn(&Seen<'_>) -> Option<std::time::Duration> + Send + Sync;

#[derive(Clone)]
pub struct FaultyHttp {
    inner: SharedHttpClient,
    rule: Arc<Rule>,
    latency: Arc<Latency>,
    /// Operations answered by the rule, in order.
    pub injected: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for FaultyHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FaultyHttp")
    }
}

impl FaultyHttp {
    /// `rule` returns `Some((status, JSON body))` to answer a request instead of the emulator.
    pub fn new(rule: impl Fn(&Seen<'_>) -> Option<(u16, String)> + Send + Sync + 'static) -> Self {
        Self {
            inner: aws_smithy_http_client::Builder::new().build_http(),
            rule: Arc::new(rule),
            latency: Arc::new(|_| None),
            injected: Arc::default(),
        }
    }

    /// Forwards every request, each after the delay `latency` returns for it (if any).
    pub fn slow(
        latency: impl Fn(&Seen<'_>) -> Option<std::time::Duration> + Send + Sync + 'static,
    ) -> Self {
        Self {
            latency: Arc::new(latency),
            ..Self::new(|_| None)
        }
    }

    pub fn injected(&self) -> Vec<String> {
        self.injected.lock().unwrap().clone()
    }

    /// SQS's `SendMessage` failing (HTTP 500, an internal failure) for as long as the
    /// returned switch is on; it starts on.
    pub fn send_message_outage() -> (Self, Arc<AtomicBool>) {
        let outage = Arc::new(AtomicBool::new(true));
        let on = outage.clone();
        let faulty = Self::new(move |seen| {
            (on.load(Ordering::SeqCst) && seen.operation == "SendMessage").then(|| {
                (
                    500,
                    r#"{"__type":"com.amazon.coral.service#InternalFailure","message":"injected outage"}"#
                        .to_owned(),
                )
            })
        });
        (faulty, outage)
    }

    /// DynamoDB's throttling answer (retryable; the SDK backs off and tries again).
    pub fn throttled() -> (u16, String) {
        (
            400,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"Rate of requests exceeds the allowed throughput (injected)"}"#.to_owned(),
        )
    }

    /// An SDK config like `sdk` whose HTTP goes through this client.
    pub fn config(&self, sdk: &aws_config::SdkConfig) -> aws_config::SdkConfig {
        sdk.to_builder().http_client(self.clone()).build()
    }
}

/// The request's `x-amz-target` (`DynamoDB_20120810.PutItem`), empty when it has none
/// (SQS's query protocol).
pub fn amz_target(request: &HttpRequest) -> &str {
    request.headers().get("x-amz-target").unwrap_or("")
}

#[derive(Debug)]
struct Connector {
    inner: SharedHttpConnector,
    outer: FaultyHttp,
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let target = amz_target(&request).rsplit('.').next().unwrap_or("");
        let target = target.to_owned();
        let body = request
            .body()
            .bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        let answer = (self.outer.rule)(&Seen {
            operation: &target,
            body: &body,
        });
        match answer {
            Some((status, text)) => {
                self.outer.injected.lock().unwrap().push(target);
                let mut response =
                    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(text));
                response
                    .headers_mut()
                    .insert("content-type", "application/x-amz-json-1.0");
                HttpConnectorFuture::ready(Ok(response))
            }
            None => match (self.outer.latency)(&Seen {
                operation: &target,
                body: &body,
            }) {
                Some(delay) => {
                    self.outer.injected.lock().unwrap().push(target);
                    let inner = self.inner.clone();
                    HttpConnectorFuture::new(async move {
                        tokio::time::sleep(delay).await;
                        inner.call(request).await
                    })
                }
                None => self.inner.call(request),
            },
        }
    }
}

impl HttpClient for FaultyHttp {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(Connector {
            inner: self.inner.http_connector(settings, components),
            outer: self.clone(),
        })
    }
}
