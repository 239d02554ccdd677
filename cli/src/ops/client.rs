//! The admin API client: bearer token (`switchboard serve`) or SigV4 (a deployed stack,
//! service `execute-api`, credentials and region from the usual AWS configuration).

use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::{Duration, SystemTime};
use switchboard_core::redact::Secret;

/// Why a command failed; decides the exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line or local configuration is wrong (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The API could not be reached or answered something that is not the API (exit 2).
    #[error("{0}")]
    Connection(String),
    /// The API answered with an error status (exit 1).
    #[error("{message} ({code}, HTTP {status})")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Api { .. } => 1,
            Self::Usage(_) | Self::Connection(_) => 2,
        }
    }
}

pub type CliResult<T> = Result<T, CliError>;

enum Auth {
    Bearer(Secret),
    SigV4 {
        credentials: aws_credential_types::Credentials,
        region: String,
    },
}

pub struct Client {
    http: reqwest::Client,
    endpoint: String,
    auth: Auth,
}

impl Client {
    /// A client for `endpoint`; with no token, AWS credentials sign every request.
    pub async fn new(endpoint: Option<String>, token: Option<String>) -> CliResult<Self> {
        let endpoint = endpoint.filter(|e| !e.trim().is_empty()).ok_or_else(|| {
            CliError::Usage(
                "no endpoint: pass --endpoint URL or set SWITCHBOARD_ENDPOINT (serve prints its URL; \
                 or --stack NAME for a deployed stack)"
                    .into(),
            )
        })?;
        let parsed = reqwest::Url::parse(endpoint.trim())
            .map_err(|e| CliError::Usage(format!("--endpoint {endpoint:?} is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(CliError::Usage(
                "--endpoint must be an http or https URL".into(),
            ));
        }
        let auth = match token.filter(|t| !t.trim().is_empty()) {
            Some(t) => Auth::Bearer(Secret::new(t.trim())),
            None => aws_auth().await?,
        };
        switchboard_core::tls::install_default_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| CliError::Connection(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            endpoint: endpoint.trim().trim_end_matches('/').to_owned(),
            auth,
        })
    }

    /// The API's base URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub async fn get(&self, path: &str) -> CliResult<Value> {
        self.send("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> CliResult<Value> {
        self.send("POST", path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> CliResult<Value> {
        self.send("PATCH", path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> CliResult<Value> {
        self.send("DELETE", path, None).await
    }

    /// Sends the request, authenticated (the bearer token, or signed with SigV4 over exactly
    /// its headers and body), asking for JSON.
    async fn exchange(
        &self,
        method: &str,
        path_and_query: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> CliResult<reqwest::Response> {
        let mut headers: Vec<(String, String)> = vec![("accept".into(), "application/json".into())];
        if let Some(ct) = content_type {
            headers.push(("content-type".into(), ct.to_owned()));
        }
        let url = format!("{}{path_and_query}", self.endpoint);
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| CliError::Usage(e.to_string()))?;
        match &self.auth {
            Auth::Bearer(t) => {
                headers.push(("authorization".into(), format!("Bearer {}", t.expose())))
            }
            Auth::SigV4 {
                credentials,
                region,
            } => {
                let signed = sign(method.as_str(), &url, &headers, &body, credentials, region)?;
                headers.extend(signed);
            }
        }
        let mut req = self.http.request(method, &url);
        for (k, v) in &headers {
            req = req.header(k, v);
        }
        if !body.is_empty() {
            req = req.body(body);
        }
        req.send()
            .await
            .map_err(|e| CliError::Connection(format!("cannot reach {}: {e}", self.endpoint)))
    }

    /// Forwards a request as it came (`switchboard console`): the answer's status, content
    /// type and body, whatever they are.
    pub async fn forward(
        &self,
        method: &str,
        path_and_query: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> CliResult<(u16, Option<String>, bytes::Bytes)> {
        let resp = self
            .exchange(method, path_and_query, content_type, body)
            .await?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| CliError::Connection(format!("reading the answer failed: {e}")))?;
        Ok((status, content_type, bytes))
    }

    /// Sends one request; a 2xx answer's JSON (Null when empty), or the API's error.
    pub async fn send(&self, method: &str, path: &str, body: Option<&Value>) -> CliResult<Value> {
        let bytes = body.map(Value::to_string).unwrap_or_default().into_bytes();
        let content_type = body.is_some().then_some("application/json");
        let resp = self.exchange(method, path, content_type, bytes).await?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| CliError::Connection(format!("reading the answer failed: {e}")))?;
        let json: Option<Value> = if text.trim().is_empty() {
            Some(Value::Null)
        } else {
            serde_json::from_str(&text).ok()
        };
        if (200..300).contains(&status) {
            return json.ok_or_else(|| {
                CliError::Connection(format!(
                    "the endpoint answered HTTP {status} with something that is not JSON; is {} the Switchboard API?",
                    self.endpoint
                ))
            });
        }
        let error = json.as_ref().and_then(|j| j.get("error"));
        let code = error
            .and_then(|e| e.get("code"))
            .and_then(Value::as_str)
            .unwrap_or("http_error")
            .to_owned();
        let message = error
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| {
                // API Gateway's own refusals (IAM) answer {"message": "..."}.
                json.as_ref()
                    .and_then(|j| j.get("message"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| format!("the API answered HTTP {status}"));
        Err(CliError::Api {
            status,
            code,
            message,
        })
    }
}

async fn aws_auth() -> CliResult<Auth> {
    use aws_credential_types::provider::ProvideCredentials;
    let sdk = switchboard_core::state::load_sdk_config().await;
    let provider = sdk.credentials_provider().ok_or_else(|| {
        CliError::Usage("no --token and no AWS credentials configured to sign with".into())
    })?;
    let credentials = provider.provide_credentials().await.map_err(|e| {
        CliError::Usage(format!(
            "no --token (SWITCHBOARD_TOKEN), and AWS credentials to sign the request with could not be loaded: {e}"
        ))
    })?;
    let region = sdk.region().map(|r| r.to_string()).ok_or_else(|| {
        CliError::Usage("no AWS region configured (AWS_REGION or a profile)".into())
    })?;
    Ok(Auth::SigV4 {
        credentials,
        region,
    })
}

/// SigV4 headers (`authorization`, `x-amz-date`, `x-amz-security-token`) for a request.
pub fn sign(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    credentials: &aws_credential_types::Credentials,
    region: &str,
) -> CliResult<Vec<(String, String)>> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let identity: aws_smithy_runtime_api::client::identity::Identity = credentials.clone().into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("execute-api")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| CliError::Usage(format!("cannot sign the request: {e}")))?
        .into();
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|e| CliError::Usage(format!("cannot sign the request: {e}")))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| CliError::Usage(format!("cannot sign the request: {e}")))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

/// An answer of the API read as the type it documents (a domain type, or a page of them).
/// Anything else means the endpoint is not the API this command speaks (exit 2).
pub fn decode<T: DeserializeOwned>(v: &Value) -> CliResult<T> {
    T::deserialize(v).map_err(|e| {
        CliError::Connection(format!(
            "the API answered JSON this command does not understand: {e}"
        ))
    })
}

/// Percent-encodes a path segment (ids come from the user).
pub fn segment(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// `?a=1&b=2` from the pairs that have a value ("" when none).
pub fn query(pairs: &[(&str, Option<String>)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (k, v) in pairs {
        if let Some(v) = v {
            q.append_pair(k, v);
            any = true;
        }
    }
    if any {
        format!("?{}", q.finish())
    } else {
        String::new()
    }
}
