//! `switchboard serve`: ingest and admin on one port, a dispatch loop over the local queue,
//! no AWS at all. The queue and the records live in an on-disk store (SQLite in the data
//! directory, see `switchboard_core::adapters::sqlite`) or, with [`Store::Memory`], in
//! memory.

use crate::http_server;
use crate::metrics::PrometheusMetrics;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::adapters::memory::{MemoryLimits, MemoryQueue};
use switchboard_core::adapters::sqlite::{Db, SqliteQueue, SyncMode, DB_FILE};
use switchboard_core::api::{AdminAuth, App, Surface};
use switchboard_core::config::Settings;
use switchboard_core::dispatch::{poller, Dispatcher};
use switchboard_core::ports::QueueConsumer;
use switchboard_core::redact::Secret;
use switchboard_core::state::{Compose, Ports};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Where `serve` keeps its queue, events, attempts and configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    /// In memory: everything is lost when the process ends.
    Memory,
    /// In `dir/switchboard.db`: a 2xx answer means the event is committed to disk, and a
    /// restart (after a crash too) resumes the queue where it was.
    Durable { dir: PathBuf, sync: SyncMode },
}

impl Store {
    pub fn durable(dir: impl Into<PathBuf>) -> Self {
        Self::Durable {
            dir: dir.into(),
            sync: SyncMode::default(),
        }
    }
}

/// The default data directory: `$XDG_DATA_HOME/switchboard` when that is an absolute path,
/// else `$HOME/.local/share/switchboard` (`%LOCALAPPDATA%\switchboard` on Windows). Never
/// relative to the working directory, so never inside a source tree by accident.
pub fn default_data_dir() -> Option<PathBuf> {
    default_data_dir_from(|k| std::env::var_os(k))
}

/// [`default_data_dir`] over any environment lookup (for tests).
pub fn default_data_dir_from(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> Option<PathBuf> {
    let absolute = |k: &str| env(k).map(PathBuf::from).filter(|p| p.is_absolute());
    if cfg!(windows) {
        return absolute("LOCALAPPDATA").map(|p| p.join("switchboard"));
    }
    if let Some(xdg) = absolute("XDG_DATA_HOME") {
        return Some(xdg.join("switchboard"));
    }
    absolute("HOME").map(|h| h.join(".local").join("share").join("switchboard"))
}

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub admin_token: Secret,
    pub settings: Settings,
    /// Where the data lives. [`ServeConfig::new`] keeps it in memory (in-process tests and
    /// benchmarks); the `switchboard serve` command defaults to the durable store.
    pub store: Store,
    /// With [`Store::Memory`]: how many events and attempts are kept (oldest dropped first).
    pub memory_limits: MemoryLimits,
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
            store: Store::Memory,
            memory_limits: MemoryLimits::default(),
            workers: 8,
            visibility: Duration::from_secs(60),
            max_receives: 5,
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// The queue `serve` polls, in memory or on disk.
#[derive(Clone)]
pub enum LocalQueue {
    Memory(Arc<MemoryQueue>),
    Durable(Arc<SqliteQueue>),
}

impl LocalQueue {
    fn consumer(&self) -> Arc<dyn QueueConsumer> {
        match self {
            Self::Memory(q) => q.clone(),
            Self::Durable(q) => q.clone(),
        }
    }

    /// Messages visible now or in flight (delayed retries not counted).
    pub async fn active_len(&self) -> usize {
        match self {
            Self::Memory(q) => q.active_len(),
            Self::Durable(q) => count(q.active_len().await),
        }
    }

    /// Messages not yet deleted (delayed retries included).
    pub async fn len(&self) -> usize {
        match self {
            Self::Memory(q) => q.len(),
            Self::Durable(q) => count(q.len().await),
        }
    }

    pub async fn is_empty(&self) -> bool {
        self.len().await == 0
    }
}

fn count(n: Result<u64, switchboard_core::error::StoreError>) -> usize {
    match n {
        Ok(n) => usize::try_from(n).unwrap_or(usize::MAX),
        Err(e) => {
            tracing::warn!(error = %e, "cannot count queued messages");
            0
        }
    }
}

/// Where a durable `serve` keeps its data, and what it found there on start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataInfo {
    /// The database file.
    pub path: PathBuf,
    pub sync: SyncMode,
    /// Messages found in the queue on start (ready, delayed or in flight).
    pub queued: u64,
    /// Of those, how many were in flight when the previous process stopped (made visible
    /// again at once: the store's lock proves that process is gone).
    pub in_flight: u64,
}

/// A running server: its address, its ports (for tests) and a handle to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub ports: Ports,
    pub queue: LocalQueue,
    /// `None` when the data is in memory.
    pub data: Option<DataInfo>,
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
    #[error("cannot open the data store: {0}")]
    Store(String),
}

/// Opens the durable store in `dir`; makes messages left in flight visible again.
async fn open_durable(
    dir: &Path,
    sync: SyncMode,
    config: &ServeConfig,
) -> Result<(Arc<SqliteQueue>, DataInfo), ServeError> {
    let path = dir.join(DB_FILE);
    let db = Db::open(&path, sync).map_err(|e| ServeError::Store(e.to_string()))?;
    // Each event is written once, with its message, and handed to the pollers as sent
    // (SqliteQueue::storing_events, SqliteQueue::with_handoff).
    let queue = Arc::new(
        SqliteQueue::new(db, config.visibility, config.max_receives)
            .storing_events(config.settings.retention)
            .with_handoff(),
    );
    let recovered = queue
        .recover()
        .await
        .map_err(|e| ServeError::Store(e.to_string()))?;
    let info = DataInfo {
        path,
        sync,
        queued: recovered.queued,
        in_flight: recovered.in_flight,
    };
    Ok((queue, info))
}

/// Opens the store, binds and starts serving; returns once the listener is bound.
pub async fn start(config: ServeConfig) -> Result<Running, ServeError> {
    let (ports, queue, data) = match &config.store {
        Store::Memory => {
            let queue = Arc::new(MemoryQueue::new(config.visibility, config.max_receives));
            (
                Ports::in_memory_bounded(queue.clone(), config.memory_limits),
                LocalQueue::Memory(queue),
                None,
            )
        }
        Store::Durable { dir, sync } => {
            let (queue, info) = open_durable(dir, *sync, &config).await?;
            (
                Ports::sqlite(queue.clone()),
                LocalQueue::Durable(queue),
                Some(info),
            )
        }
    };
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
    // Admin writes go through the same cache and invalidate it, so serve sees them at once.
    let ports = ports
        .with_source_cache(switchboard_core::api::source_cache::DEFAULT_TTL)
        .with_metrics(Arc::new(PrometheusMetrics::new(queue.clone())));
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
                queue.consumer(),
                pollers_rx.clone(),
            ))
        })
        .collect();
    Ok(Running {
        addr,
        ports,
        queue,
        data,
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
    /// and anything the timeout cut off): lost with an in-memory queue, kept on disk (and
    /// resumed by the next start) with the durable store.
    pub async fn stop(self) -> usize {
        // A send error means the receivers are gone already: nothing left to stop.
        let _ = self.stop_http.send(true);
        if let Err(e) = self.server.await {
            tracing::warn!(error = %e, "HTTP server task ended abnormally");
        }
        let deadline = tokio::time::Instant::now() + self.drain_timeout;
        while self.queue.active_len().await > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = self.stop_pollers.send(true);
        for p in self.pollers {
            if let Err(e) = p.await {
                tracing::warn!(error = %e, "poller task ended abnormally");
            }
        }
        self.queue.len().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<std::ffi::OsString> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).map(Into::into)
    }

    #[cfg(unix)]
    #[test]
    fn default_data_dir_is_the_users_data_directory() {
        let home = [("HOME", "/home/ada")];
        assert_eq!(
            default_data_dir_from(env(&home)),
            Some(PathBuf::from("/home/ada/.local/share/switchboard"))
        );
        assert_eq!(
            default_data_dir_from(env(&[("HOME", "/home/ada"), ("XDG_DATA_HOME", "/data")])),
            Some(PathBuf::from("/data/switchboard"))
        );
        // Relative values are ignored (the XDG spec says so), never the working directory
        assert_eq!(
            default_data_dir_from(env(&[("HOME", "/home/ada"), ("XDG_DATA_HOME", "rel")])),
            Some(PathBuf::from("/home/ada/.local/share/switchboard"))
        );
        assert_eq!(default_data_dir_from(env(&[("HOME", "rel")])), None);
        assert_eq!(default_data_dir_from(env(&[])), None);
    }
}
