//! The SDK's HTTP layer of one function, recording what IAM must allow: every DynamoDB
//! request as (function, action, resource ARN) in a JSON-lines file for the policy check
//! (the emulator authorizes DynamoDB on the action alone), and every request the emulator
//! refused (HTTP 403) with its message, so a test fails naming the missing grant.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Where DynamoDB requests are appended (one JSON object a line).
pub const REQUESTS_FILE: &str = "SWITCHBOARD_DEPLOYED_REQUESTS";

static APPEND: Mutex<()> = Mutex::new(());

#[derive(Clone)]
pub struct Recorder {
    function: String,
    /// `arn:aws:dynamodb:<region>:<account>:table/`
    table_arn_prefix: String,
    inner: SharedHttpClient,
    denials: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Recorder({})", self.function)
    }
}

impl Recorder {
    pub fn new(function: &str, region: &str, account: &str, inner: SharedHttpClient) -> Self {
        Self {
            function: function.to_owned(),
            table_arn_prefix: format!("arn:aws:dynamodb:{region}:{account}:table/"),
            inner,
            denials: Arc::default(),
        }
    }

    /// The requests the emulator refused with 403, with its messages.
    pub fn denials(&self) -> Vec<String> {
        self.denials
            .lock()
            .map(|d| d.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// The IAM (action, resource) pairs one DynamoDB request needs.
    fn dynamodb_needs(&self, operation: &str, body: &serde_json::Value) -> Vec<(String, String)> {
        let table = |t: &serde_json::Value| {
            t.as_str()
                .map(|name| format!("{}{name}", self.table_arn_prefix))
        };
        let mut needs = Vec::new();
        match operation {
            // Each part of a transaction needs its own action on its own table.
            "TransactWriteItems" | "TransactGetItems" => {
                for item in body["TransactItems"].as_array().into_iter().flatten() {
                    for (kind, action) in [
                        ("Put", "PutItem"),
                        ("Update", "UpdateItem"),
                        ("Delete", "DeleteItem"),
                        ("ConditionCheck", "ConditionCheckItem"),
                        ("Get", "GetItem"),
                    ] {
                        if let Some(arn) = table(&item[kind]["TableName"]) {
                            needs.push((format!("dynamodb:{action}"), arn));
                        }
                    }
                }
            }
            "BatchWriteItem" | "BatchGetItem" => {
                for name in body["RequestItems"]
                    .as_object()
                    .into_iter()
                    .flat_map(|m| m.keys())
                {
                    needs.push((
                        format!("dynamodb:{operation}"),
                        format!("{}{name}", self.table_arn_prefix),
                    ));
                }
            }
            _ => {
                if let Some(mut arn) = table(&body["TableName"]) {
                    if let Some(index) = body["IndexName"].as_str() {
                        arn = format!("{arn}/index/{index}");
                    }
                    needs.push((format!("dynamodb:{operation}"), arn));
                }
            }
        }
        needs
    }

    fn record(&self, needs: &[(String, String)]) {
        let Ok(path) = std::env::var(REQUESTS_FILE) else {
            panic!("{REQUESTS_FILE} is not set; run scripts/test-deployed");
        };
        let mut text = String::new();
        for (action, resource) in needs {
            let line = serde_json::json!({
                "function": self.function, "action": action, "resource": resource,
            });
            text.push_str(&format!("{line}\n"));
        }
        let _guard = APPEND.lock().unwrap_or_else(|e| e.into_inner());
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("{REQUESTS_FILE}={path}: {e}"));
        file.write_all(text.as_bytes())
            .unwrap_or_else(|e| panic!("{REQUESTS_FILE}={path}: {e}"));
    }
}

#[derive(Debug)]
struct Connector {
    inner: SharedHttpConnector,
    outer: Recorder,
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let target = crate::support::fault_http::amz_target(&request).to_owned();
        let (service, operation) = target.split_once('.').unwrap_or(("", ""));
        let operation = operation.to_owned();
        if service.starts_with("DynamoDB") {
            let body: serde_json::Value = request
                .body()
                .bytes()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or_default();
            let needs = self.outer.dynamodb_needs(&operation, &body);
            assert!(
                !needs.is_empty(),
                "{}: DynamoDB {operation} names no table the policy check can evaluate",
                self.outer.function
            );
            self.outer.record(&needs);
        }
        let sent = self.inner.call(request);
        let outer = self.outer.clone();
        HttpConnectorFuture::new(async move {
            let mut response = sent.await?;
            if response.status().as_u16() != 403 {
                return Ok(response);
            }
            // Keep the emulator's message (it names the action and the caller).
            let text = ByteStream::new(response.take_body())
                .collect()
                .await
                .map(|b| b.into_bytes())
                .unwrap_or_default();
            let message = String::from_utf8_lossy(&text).into_owned();
            outer
                .denials
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!("{}: {target}: 403 {message}", outer.function));
            eprintln!("DENIED {}: {target}: {message}", outer.function);
            *response.body_mut() = SdkBody::from(text);
            Ok(response)
        })
    }
}

impl HttpClient for Recorder {
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
