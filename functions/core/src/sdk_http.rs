//! The AWS SDK's HTTP client on reqwest, over the hyper and rustls that deliveries use
//! (`switchboard_engine::delivery::transport`): one HTTP/1.1 stack in each Lambda package. The SDK's own client (`aws-smithy-http-client`) always brings
//! HTTP/2 (`h2`, about 0.25 MiB of each binary) for services that speak only HTTP/1.1 to us
//! here (SQS, DynamoDB, CloudFormation, STS).
//!
//! Each request body is in memory (no operation we call streams one). Connect and read
//! timeouts come from the SDK's connector settings; the attempt and operation timeouts stay
//! with the SDK's orchestrator, which drops this future when they expire.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The SDK's HTTP client: a pooled reqwest client per distinct connector settings (in
/// practice one per process), on the process's rustls provider (`tls`).
pub fn client() -> SharedHttpClient {
    SharedHttpClient::new(ReqwestClient::default())
}

/// Connect and read timeout, the settings a reqwest client is built with.
type Key = (Option<Duration>, Option<Duration>);

#[derive(Debug, Default)]
struct ReqwestClient {
    connectors: Mutex<HashMap<Key, SharedHttpConnector>>,
}

impl HttpClient for ReqwestClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self
            .connectors
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        connectors
            .entry(key)
            .or_insert_with(|| SharedHttpConnector::new(Connector::new(key)))
            .clone()
    }
}

/// One reqwest client, or why it could not be built (reported by every call).
#[derive(Debug)]
struct Connector(Result<reqwest::Client, Arc<str>>);

impl Connector {
    fn new((connect, read): Key) -> Self {
        crate::tls::install_default_provider();
        // The SDK handles redirects and retries itself; proxies are not used in a Lambda.
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        if let Some(t) = connect {
            builder = builder.connect_timeout(t);
        }
        if let Some(t) = read {
            builder = builder.read_timeout(t);
        }
        Self(builder.build().map_err(|e| e.to_string().into()))
    }
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.0.clone();
        HttpConnectorFuture::new(async move {
            let client = client.map_err(|e| ConnectorError::other(e.to_string().into(), None))?;
            let response = client
                .execute(to_reqwest(request)?)
                .await
                .map_err(classify)?;
            from_reqwest(response).await
        })
    }
}

fn to_reqwest(request: HttpRequest) -> Result<reqwest::Request, ConnectorError> {
    let request = request
        .try_into_http1x()
        .map_err(|e| ConnectorError::user(e.into()))?;
    let (parts, body) = request.into_parts();
    let Some(bytes) = body.bytes() else {
        return Err(ConnectorError::user(
            "a streaming request body (none of the operations used sends one)".into(),
        ));
    };
    let request = http::Request::from_parts(parts, Bytes::copy_from_slice(bytes));
    reqwest::Request::try_from(request).map_err(|e| ConnectorError::user(e.into()))
}

async fn from_reqwest(response: reqwest::Response) -> Result<HttpResponse, ConnectorError> {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(classify)?;
    let mut out = http::Response::new(SdkBody::from(body));
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    HttpResponse::try_from(out).map_err(|e| ConnectorError::other(e.into(), None))
}

/// The SDK's retry policy reads the kind: timeouts and I/O failures are transient.
fn classify(e: reqwest::Error) -> ConnectorError {
    if e.is_timeout() {
        ConnectorError::timeout(e.into())
    } else if e.is_connect() || e.is_request() || e.is_body() {
        ConnectorError::io(e.into())
    } else {
        ConnectorError::other(e.into(), None)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use switchboard_test_support::sink::{Reply, Sink};

    fn post(url: &str, body: &'static str) -> HttpRequest {
        let mut request = HttpRequest::new(SdkBody::from(body));
        request.set_method("POST").unwrap();
        request.set_uri(url).unwrap();
        request
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.0");
        request
    }

    async fn call(
        connector: &Connector,
        request: HttpRequest,
    ) -> Result<HttpResponse, ConnectorError> {
        connector.call(request).await
    }

    #[tokio::test]
    async fn sends_the_request_and_hands_back_the_answer_as_it_came() {
        let sink = Sink::replying(|_, _| Reply::Full {
            status: 400,
            headers: vec![("x-amzn-requestid".into(), "r-1".into())],
            body: r#"{"__type":"ValidationException"}"#.into(),
        })
        .await;
        let connector = Connector::new((None, None));

        let answer = call(&connector, post(&sink.url("/?x=1"), r#"{"TableName":"t"}"#))
            .await
            .unwrap();

        assert_eq!(answer.status().as_u16(), 400);
        assert_eq!(answer.headers().get("x-amzn-requestid"), Some("r-1"));
        assert_eq!(
            answer.body().bytes(),
            Some(&br#"{"__type":"ValidationException"}"#[..])
        );
        let seen = sink.received();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].method, "POST");
        assert_eq!(seen[0].path_and_query, "/?x=1");
        assert_eq!(
            seen[0].header("content-type"),
            Some("application/x-amz-json-1.0")
        );
        assert_eq!(seen[0].body_str(), r#"{"TableName":"t"}"#);
    }

    #[tokio::test]
    async fn failures_are_classified_for_the_sdk_retry_policy() {
        // Nothing listens: an I/O failure, which the SDK retries.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", closed.local_addr().unwrap());
        drop(closed);
        let refused = call(&Connector::new((None, None)), post(&url, "{}")).await;
        assert!(refused.unwrap_err().is_io());

        // No answer within the read timeout: a timeout, also retried.
        let sink = Sink::replying(|_, _| Reply::Hang(Duration::from_secs(30))).await;
        let connector = Connector::new((None, Some(Duration::from_millis(200))));
        let silent = call(&connector, post(&sink.url("/"), "{}")).await;
        assert!(silent.unwrap_err().is_timeout());
    }
}
