//! `switchboard console`: the console page on a local port, its `/admin` calls forwarded to
//! the admin API with the user's credentials (SigV4 for a deployed stack, the token for
//! `serve`), so a browser needs neither. Only `/admin` is forwarded; only this machine may
//! connect unless told otherwise; a request from another site's page (its `Origin`) or
//! under another host name (DNS rebinding) is refused before anything is forwarded.

use crate::http_server::{self, Handler};
use crate::ops::client::{CliError, Client};
use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;
use switchboard_core::api::response::IntoResponse;
use switchboard_core::api::{console_page, ApiError};
use tokio::net::TcpListener;
use tokio::sync::watch;

#[derive(clap::Args)]
pub struct ConsoleArgs {
    /// Address to serve the console on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// Accept connections from other machines too (anyone who reaches the port acts with
    /// your credentials).
    #[arg(long)]
    pub allow_remote: bool,
}

/// The proxy: the client that carries the credentials, and the host names it answers to.
struct Proxy {
    client: Client,
    /// `Host` values accepted; empty when `--allow-remote` (any host, same-origin still).
    hosts: Vec<String>,
}

/// Binds `args.listen` (loopback unless `--allow-remote`); returns the listener.
pub async fn bind(args: &ConsoleArgs) -> Result<TcpListener, CliError> {
    if !args.listen.ip().is_loopback() && !args.allow_remote {
        return Err(CliError::Usage(format!(
            "--listen {} is not a loopback address: anyone reaching it would act with your credentials; add --allow-remote to mean it",
            args.listen
        )));
    }
    TcpListener::bind(args.listen)
        .await
        .map_err(|e| CliError::Usage(format!("cannot listen on {}: {e}", args.listen)))
}

/// Serves until `shutdown` turns true.
pub async fn serve(
    client: Client,
    listener: TcpListener,
    allow_remote: bool,
    shutdown: watch::Receiver<bool>,
) -> Result<(), CliError> {
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::Usage(format!("cannot read the listening address: {e}")))?;
    let hosts = if allow_remote {
        Vec::new()
    } else {
        let port = addr.port();
        vec![
            addr.to_string(),
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("[::1]:{port}"),
        ]
    };
    let proxy = Arc::new(Proxy { client, hosts });
    let handler: Handler = Arc::new(move |_peer, req| {
        let proxy = proxy.clone();
        Box::pin(async move { proxy.handle(req).await })
    });
    http_server::run_with(handler, listener, shutdown).await;
    Ok(())
}

fn forbidden(message: &str) -> Response<Bytes> {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message).into_response()
}

impl Proxy {
    async fn handle(&self, req: Request<Bytes>) -> Response<Bytes> {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if !self.hosts.is_empty() && !self.hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)) {
            return forbidden("this console answers only to its own address");
        }
        // Browsers send Origin on every cross-site request and on same-site writes: only
        // this page's own origin may make calls with the user's credentials.
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            if origin.to_str().ok() != Some(format!("http://{host}").as_str()) {
                return forbidden("requests from other sites are not forwarded");
            }
        }
        let path = req.uri().path();
        if path == "/" && req.method() == http::Method::GET {
            return console_page();
        }
        if path != "/admin" && !path.starts_with("/admin/") {
            return ApiError::not_found(format!(
                "{path} is not forwarded: this console forwards only the admin API"
            ))
            .into_response();
        }
        let path_and_query = req
            .uri()
            .path_and_query()
            .map_or(path.to_owned(), |p| p.as_str().to_owned());
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (parts, body) = req.into_parts();
        match self
            .client
            .forward(
                parts.method.as_str(),
                &path_and_query,
                content_type.as_deref(),
                body.to_vec(),
            )
            .await
        {
            Ok((status, content_type, body)) => {
                let mut r = Response::new(body);
                *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
                if let Some(ct) = content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
                    r.headers_mut().insert(header::CONTENT_TYPE, ct);
                }
                r
            }
            Err(e) => {
                tracing::warn!(error = %e, "forwarding failed");
                ApiError::new(StatusCode::BAD_GATEWAY, "bad_gateway", e.to_string()).into_response()
            }
        }
    }
}
