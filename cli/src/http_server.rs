//! A small hyper server mounting the library's `App` (and so its route table,
//! `switchboard_core::api::router`) on a TCP listener; `switchboard console` mounts its
//! proxy on the same loop.

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use switchboard_core::api::response::IntoResponse;
use switchboard_core::api::{ApiError, App, ClientIp};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Largest body read from a connection; per-source limits (default 1 MiB) apply below it.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// What a server answers: a request (body read whole) from a peer to a response.
pub type Handler = Arc<
    dyn Fn(SocketAddr, Request<Bytes>) -> Pin<Box<dyn Future<Output = Response<Bytes>> + Send>>
        + Send
        + Sync,
>;

async fn serve_request(
    handler: Handler,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let response = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => handler(peer, Request::from_parts(parts, collected.to_bytes())).await,
        Err(e) => {
            let too_large = e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            if too_large {
                ApiError::payload_too_large(format!("body is larger than {MAX_BODY_BYTES} bytes"))
                    .into_response()
            } else {
                ApiError::bad_request("invalid_body", "the request body could not be read")
                    .into_response()
            }
        }
    };
    Ok(response.map(Full::new))
}

/// Serves `app` (the route table, with the caller's address for IP allow-lists).
pub async fn run(app: Arc<App>, listener: TcpListener, shutdown: watch::Receiver<bool>) {
    let handler: Handler = Arc::new(move |peer, mut req| {
        let app = app.clone();
        Box::pin(async move {
            req.extensions_mut().insert(ClientIp(peer.ip()));
            app.handle(req).await
        })
    });
    run_with(handler, listener, shutdown).await;
}

/// Accepts connections until `shutdown` turns true, then waits for open requests to finish.
pub async fn run_with(
    handler: Handler,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let handler = handler.clone();
        let mut conn_shutdown = shutdown.clone();
        connections.spawn(async move {
            let service = service_fn(move |req| serve_request(handler.clone(), peer, req));
            let conn = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                _ = conn_shutdown.changed() => {
                    conn.as_mut().graceful_shutdown();
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
            }
        });
        // Reap finished connections so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
    while connections.join_next().await.is_some() {}
}
