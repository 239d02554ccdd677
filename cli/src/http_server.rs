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
        Ok(collected) => {
            // A body read in one chunk is a view into the connection's read buffer: an event
            // keeps its raw body (stored, queued, handed to dispatch), and a view would keep
            // that whole buffer alive with it. An exact copy lets the buffer go now.
            let body = Bytes::copy_from_slice(&collected.to_bytes());
            handler(peer, Request::from_parts(parts, body)).await
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The handler gets a body in an allocation of its own size, not a view into the
    /// connection's read buffer (which an event kept in memory would keep alive whole).
    #[tokio::test]
    async fn handler_gets_a_body_of_its_own() {
        let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
        let handler: Handler = Arc::new(move |_peer, req: Request<Bytes>| {
            let seen = seen_tx.clone();
            Box::pin(async move {
                // Capacity of the allocation behind the body (from the body's start).
                let held = req
                    .into_body()
                    .try_into_mut()
                    .map(|b| (b.len(), b.capacity()));
                let _ = seen.send(held);
                Response::new(Bytes::new())
            })
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = watch::channel(false);
        let server = tokio::spawn(run_with(handler, listener, stopped));

        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let body = "x".repeat(1300);
        let request = format!(
            "POST /hook HTTP/1.1\r\nhost: a\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        client.write_all(request.as_bytes()).await.unwrap();
        let held = seen_rx.recv().await.unwrap();
        let (len, capacity) = held.expect("the handler holds the only reference");
        assert_eq!(len, body.len());
        assert_eq!(capacity, len, "the body keeps a larger buffer alive");
        let mut answer = [0u8; 12];
        client.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"HTTP/1.1 200");

        stop.send(true).unwrap();
        drop(client);
        server.await.unwrap();
    }
}
