//! `switchboard serve`: ingest and admin on one port, a dispatch loop over the local queue,
//! no AWS at all.

use crate::http_server;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::adapters::memory::MemoryQueue;
use switchboard_core::api::{AdminAuth, App, Surface};
use switchboard_core::config::Settings;
use switchboard_core::dispatch::{poller, Dispatcher};
use switchboard_core::redact::Secret;
use switchboard_core::state::Ports;
use tokio::net::TcpListener;
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub admin_token: Secret,
    pub settings: Settings,
    /// Queue pollers, each handling batches of up to 10 messages.
    pub workers: usize,
    /// How long a received message stays hidden before it is retried.
    pub visibility: Duration,
    /// Receipts before a message is dead-lettered.
    pub max_receives: u32,
    /// Longest wait for the queue to empty on shutdown.
    pub drain_timeout: Duration,
}

impl ServeConfig {
    pub fn new(listen: SocketAddr, admin_token: Secret) -> Self {
        // On one machine, subscribers on this machine are the point.
        let settings = Settings {
            allow_private_targets: vec!["loopback".into()],
            ..Settings::default()
        };
        Self {
            listen,
            admin_token,
            settings,
            workers: 8,
            visibility: Duration::from_secs(60),
            max_receives: 5,
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// A running server: its address, its ports (for tests) and a handle to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub ports: Ports,
    pub queue: Arc<MemoryQueue>,
    stop_http: watch::Sender<bool>,
    stop_pollers: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
    pollers: Vec<tokio::task::JoinHandle<()>>,
    drain_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot build the delivery client: {0}")]
    Client(String),
}

/// Binds and starts serving; returns once the listener is bound.
pub async fn start(config: ServeConfig) -> Result<Running, ServeError> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: config.listen,
        source,
    })?;
    let queue = Arc::new(MemoryQueue::new(config.visibility, config.max_receives));
    // Admin writes go through the same cache and invalidate it, so serve sees them at once.
    let ports = Ports::in_memory(queue.clone())
        .with_source_cache(switchboard_core::api::source_cache::DEFAULT_TTL);
    let dispatcher = Arc::new(
        Dispatcher::from_settings(ports.clone(), config.settings.clone())
            .map_err(|e| ServeError::Client(e.to_string()))?,
    );
    let app = Arc::new(App {
        ports: ports.clone(),
        settings: config.settings.clone(),
        admin_auth: AdminAuth::Bearer(config.admin_token.clone()),
        surface: Surface::All,
    });
    let (stop_http, http_rx) = watch::channel(false);
    let (stop_pollers, pollers_rx) = watch::channel(false);
    let server = tokio::spawn(http_server::run(app, listener, http_rx));
    let pollers = (0..config.workers.max(1))
        .map(|_| {
            tokio::spawn(poller::run(
                dispatcher.clone(),
                queue.clone(),
                pollers_rx.clone(),
            ))
        })
        .collect();
    Ok(Running {
        addr,
        ports,
        queue,
        stop_http,
        stop_pollers,
        server,
        pollers,
        drain_timeout: config.drain_timeout,
    })
}

impl Running {
    /// Stops accepting requests, lets the pollers finish what is queued for now (up to the
    /// drain timeout), then stops them. Returns how many messages were left (delayed retries
    /// and anything the timeout cut off), which an in-memory queue cannot keep.
    pub async fn stop(self) -> usize {
        // A send error means the receivers are gone already: nothing left to stop.
        let _ = self.stop_http.send(true);
        if let Err(e) = self.server.await {
            tracing::warn!(error = %e, "HTTP server task ended abnormally");
        }
        let deadline = tokio::time::Instant::now() + self.drain_timeout;
        while self.queue.active_len() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = self.stop_pollers.send(true);
        for p in self.pollers {
            if let Err(e) = p.await {
                tracing::warn!(error = %e, "poller task ended abnormally");
            }
        }
        self.queue.len()
    }
}
