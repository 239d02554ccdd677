//! Embedded on-disk adapters for every port, on one SQLite database file: the durable store
//! of `switchboard serve`. Feature `sqlite` (the `switchboard` binary turns it on; the Lambda
//! functions leave it off and carry no SQLite).
//!
//! # Why SQLite rather than redb
//! - The ops listings need five orders over delivery attempts (by event, subscription, call,
//!   status, recency) and two over events; in SQLite each is one `CREATE INDEX` kept in step
//!   by the engine inside the same transaction. redb is a sorted key-value store: every
//!   index would be a second table written by hand, with the same bugs waiting in each.
//! - WAL mode is the commit model this needs: one writer appending to a log, readers on
//!   their own connections reading a snapshot without blocking it or being blocked, and a
//!   choice of how hard a commit syncs (see "Durability").
//! - The file can be opened with the `sqlite3` shell to inspect or repair a store, and its
//!   format is stable. The cost is a C library compiled from source (`bundled`, no system
//!   library needed) into the `switchboard` binary only.
//!
//! # Writes: one writer, group commits
//! Every write (queue send, receive, delete; event put; attempt record; dedup claim; config
//! changes) is a job sent to one writer thread that owns the only writing connection. The
//! thread takes every job waiting (up to [`MAX_BATCH`]), runs them in one transaction (a
//! job that fails rolls back alone: when one fails part-way, the batch is run again with a
//! savepoint around each job, see `writer::run_batch`), commits once, and only then answers
//! each caller. Many concurrent requests therefore share one commit, and no caller is
//! answered before its write is committed: ingest answers 202 only once the queued message
//! is in a committed transaction. Those writes (queue sends, dedup claims) go into the next
//! transaction ahead of the delivery bookkeeping waiting (`Db::write_first`).
//!
//! Reads run on a small pool of separate connections (`spawn_blocking`), never waiting for
//! the writer; a read sees every write whose caller has been answered.
//!
//! # Events written once, messages handed over
//! `serve` builds its queue with [`SqliteQueue::storing_events`]: an accepted event is
//! written into `events` by the transaction that queues its message, which holds only a
//! reference; and with [`SqliteQueue::with_handoff`]: a message sent with no delay goes to
//! this process's pollers in memory while its row is written already leased to them, so
//! the common path neither reads, decodes nor leases the row. docs/durable.md has the
//! guarantees of both.
//!
//! # Durability
//! [`SyncMode::Normal`] (the default): in WAL mode a commit has written the transaction to
//! the WAL file through the operating system before it returns, and is fsynced at the next
//! checkpoint. A crash of the process (`kill -9`, panic, OOM kill) loses nothing that was
//! committed, so nothing answered; a power loss or kernel crash can lose the transactions
//! committed since the last checkpoint (the database stays consistent). [`SyncMode::Full`]
//! also fsyncs the WAL at every commit — once per batch, thanks to the group commit — and
//! survives power loss as well, at the cost of one fsync per batch. `Normal` is the default
//! because the requirement is surviving `kill -9`, which it meets; `Full` cost 10–25 % of
//! `serve`'s end-to-end rate in `cli/examples/durable_throughput.rs` (docs/durable.md).
//!
//! Checkpoints (copying the WAL into the database file, with its fsyncs) run on a thread
//! of their own every 50 ms (PASSIVE), so they block neither the writer nor
//! the readers. Under sustained writes such a checkpoint never catches up completely and
//! the WAL would only grow, so the writer also checkpoints itself between two
//! transactions once the WAL passes 16,384 pages (64 MiB); having the checkpointer run
//! often leaves the writer only the last 50 ms of frames to copy then (at 500 ms the
//! writer's own checkpoints were 18 % of its time under load), and having it sync the
//! database file after each run leaves the writer's sync only those frames' pages; the
//! next transaction restarts the WAL from its beginning. Commits wait while the writer
//! checkpoints (a few milliseconds), which is what set ingest's p99: at 4,096 pages it
//! did so four times as often (docs/performance.md).
//!
//! # One process per store
//! Opening takes an exclusive lock on `<database>.lock`; a second process opening the same
//! store is refused. That is what makes [`SqliteQueue::recover`] safe: messages in flight
//! when the previous process died can be made visible at once instead of after their
//! visibility timeout.

// The engine's modules under the paths these adapters were written against.
pub(crate) use switchboard_engine::{domain, error, ports, state};

mod dead_letters;
mod handoff;
mod queue;
mod schema;
mod stores;
mod writer;

pub use queue::SqliteQueue;
pub use stores::{
    SqliteConfigStore, SqliteDedupStore, SqliteDeliveryStore, SqliteEventStore, SqliteFlowStore,
    Table,
};

use crate::error::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags};
use schema::migrate;
#[cfg(test)]
use schema::SCHEMA_VERSION;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::{oneshot, Semaphore};
use writer::{checkpoint_loop, writer_loop, Queued, TypedJob};

/// The most jobs one transaction takes.
pub const MAX_BATCH: usize = 1024;

/// Reader connections kept open (and concurrent reads).
const READERS: usize = 4;

/// How often the writer deletes rows past their retention (`expires_at`).
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// The most rows of one table one purge deletes (the writer stays responsive).
const PURGE_CHUNK: i64 = 5_000;

/// How soon the writer purges again after a purge that deleted a whole chunk: a store that
/// takes more than a chunk per [`PURGE_EVERY`] would otherwise only grow.
const PURGE_AGAIN: Duration = Duration::from_secs(1);

/// Page cache of the writer's connection, in KiB: the indexes' inner pages it updates on
/// every commit stay in it.
const WRITER_CACHE_KIB: u32 = 16 * 1024;

/// Page cache of each reader connection, in KiB. Readers mostly fetch recent rows by key,
/// which the operating system's file cache serves as well; at the writer's size the four
/// readers' caches were most of a loaded `serve`'s memory (docs/performance.md).
const READER_CACHE_KIB: u32 = 2 * 1024;

/// Page cache of the checkpointer's connection, in KiB: a checkpoint copies WAL frames to
/// the database file without keeping them.
const CHECKPOINTER_CACHE_KIB: u32 = 256;

/// How often the checkpointer copies the WAL into the database file: often enough that the
/// writer's own checkpoint (at [`WAL_CHECKPOINT_PAGES`]) finds little left to copy.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

/// WAL pages after which a commit checkpoints (the writer's part of keeping it bounded):
/// 64 MiB of WAL at most on disk, and a quarter of the commit stalls of 4,096 pages.
const WAL_CHECKPOINT_PAGES: u32 = 16_384;

/// The size the WAL file is truncated back to after a checkpoint, in bytes: above what
/// the WAL reaches before the writer's checkpoint (66 MiB seen), so that it is not
/// truncated and grown again every time.
const WAL_SIZE_LIMIT: u64 = 80 * 1024 * 1024;

/// The name of the database file in a data directory.
pub const DB_FILE: &str = "switchboard.db";

/// How hard a commit syncs; see the module documentation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SyncMode {
    /// Survives a process crash; may lose the last commits on power loss.
    #[default]
    Normal,
    /// Also survives power loss: one fsync per committed batch.
    Full,
}

impl SyncMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "normal" => Some(Self::Normal),
            "full" => Some(Self::Full),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Full => "full",
        }
    }
}

/// Maps an SQLite error to a transient store failure (the caller retries).
pub(crate) fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {e}"))
}

/// Milliseconds since the Unix epoch (queue times outlive the process, so not `Instant`).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// One store: a database file, its writer thread and its reader connections.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    sync: SyncMode,
    writer: Option<mpsc::Sender<Queued>>,
    thread: Option<JoinHandle<()>>,
    /// Dropping the sender stops the checkpointer (after a last checkpoint).
    checkpointer: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
    readers: Mutex<Vec<Connection>>,
    read_slots: Semaphore,
    /// Held for the life of the store; dropped last.
    _lock: File,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel ends the writer after its last batch; wait for it so the
        // database is closed (and checkpointed) before the lock is released.
        self.writer.take();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the SQLite writer thread panicked");
            }
        }
        if let Some((stop, thread)) = self.checkpointer.take() {
            drop(stop);
            if thread.join().is_err() {
                tracing::error!("the SQLite checkpointer thread panicked");
            }
        }
    }
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("path", &self.inner.path)
            .field("sync", &self.inner.sync)
            .finish()
    }
}

impl Db {
    /// Opens (creating when missing) the database at `path`, its directory included, takes
    /// the store's lock and starts the writer.
    pub fn open(path: &Path, sync: SyncMode) -> StoreResult<Self> {
        let unavailable = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Unavailable(format!("{what} {}: {e}", path.display()))
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir)
                .map_err(|e| unavailable("cannot create the directory of", &e))?;
        }
        let lock_path = lock_path(path);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| unavailable("cannot open the lock file of", &e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Unavailable(format!(
                    "{} is in use by another switchboard process",
                    path.display()
                )))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(unavailable("cannot lock", &e));
            }
        }
        let conn = Connection::open(path).map_err(|e| unavailable("cannot open", &e))?;
        configure(&conn, sync, Role::Writer).map_err(|e| unavailable("cannot configure", &e))?;
        migrate(&conn).map_err(|e| match e {
            StoreError::Unavailable(m) => {
                StoreError::Unavailable(format!("{}: {m}", path.display()))
            }
            other => other,
        })?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            readers.push(open_reader(path)?);
        }
        let checkpoint_conn = Connection::open(path).map_err(|e| unavailable("cannot open", &e))?;
        configure(&checkpoint_conn, sync, Role::Checkpointer)
            .map_err(|e| unavailable("cannot configure", &e))?;
        let (tx, rx) = mpsc::channel::<Queued>();
        let thread = std::thread::Builder::new()
            .name("switchboard-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx))
            .map_err(|e| unavailable("cannot start the writer for", &e))?;
        let (stop_checkpoints, stopped) = mpsc::channel::<()>();
        // Only ever synced (see `checkpoint_loop`); without it the checkpoints still run.
        let db_file = File::open(path)
            .inspect_err(|e| tracing::warn!(error = %e, "cannot open the database file to sync it"))
            .ok();
        let checkpointer = std::thread::Builder::new()
            .name("switchboard-sqlite-checkpointer".into())
            .spawn(move || checkpoint_loop(checkpoint_conn, db_file, stopped))
            .map_err(|e| unavailable("cannot start the checkpointer for", &e))?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                sync,
                writer: Some(tx),
                thread: Some(thread),
                checkpointer: Some((stop_checkpoints, checkpointer)),
                readers: Mutex::new(readers),
                read_slots: Semaphore::new(READERS),
                _lock: lock,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub fn sync_mode(&self) -> SyncMode {
        self.inner.sync
    }

    /// Runs `work` in the writer's next transaction; returns its result once committed.
    pub(crate) async fn write<R, F>(&self, work: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnMut(&Connection) -> StoreResult<R> + Send + 'static,
    {
        self.write_as(WriteKind::Ordinary, work).await
    }

    /// As [`Db::write`], for work that writes with one SQL statement at most and fails only
    /// through it or before it (see `writer::Job::one_statement`): it runs without a
    /// savepoint of its own.
    pub(crate) async fn write_one<R, F>(&self, work: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnMut(&Connection) -> StoreResult<R> + Send + 'static,
    {
        self.write_as(WriteKind::OneStatement, work).await
    }

    /// As [`Db::write`], ahead of every ordinary write waiting: for the writes a provider's
    /// 202 waits on (queue sends, dedup claims), not the delivery bookkeeping behind them.
    pub(crate) async fn write_first<R, F>(&self, work: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnMut(&Connection) -> StoreResult<R> + Send + 'static,
    {
        self.write_as(WriteKind::First, work).await
    }

    async fn write_as<R, F>(&self, kind: WriteKind, work: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnMut(&Connection) -> StoreResult<R> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(TypedJob {
            work,
            result: None,
            reply,
            one_statement: kind == WriteKind::OneStatement,
        });
        let urgent = kind == WriteKind::First;
        let gone = || StoreError::Unavailable("the SQLite writer has stopped".into());
        self.inner
            .writer
            .as_ref()
            .ok_or_else(gone)?
            .send(Queued { urgent, job })
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Runs `work` on a reader connection, off the async threads.
    pub(crate) async fn read<R, F>(&self, work: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    {
        let _slot = self
            .inner
            .read_slots
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("the store is closed".into()))?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = match switchboard_adapters_memory::lock(&inner.readers).pop() {
                Some(c) => c,
                None => open_reader(&inner.path)?,
            };
            let result = work(&conn);
            switchboard_adapters_memory::lock(&inner.readers).push(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("read task failed: {e}")))?
    }
}

/// Creates `dir` (and its parents) when missing; on Unix a directory created here is
/// readable by its owner only: the store holds source tokens and signing secrets.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// How a write is queued and run (see [`Db::write`], [`Db::write_first`], [`Db::write_one`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum WriteKind {
    Ordinary,
    First,
    OneStatement,
}

/// What a connection is for: its page cache and pragmas.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Writer,
    Reader,
    Checkpointer,
}

fn configure(conn: &Connection, sync: SyncMode, role: Role) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(64);
    let cache_kib = match role {
        Role::Writer => WRITER_CACHE_KIB,
        Role::Reader => READER_CACHE_KIB,
        Role::Checkpointer => CHECKPOINTER_CACHE_KIB,
    };
    conn.execute_batch(&format!("PRAGMA cache_size = -{cache_kib};"))?;
    if role == Role::Reader {
        return conn.execute_batch("PRAGMA query_only = ON;");
    }
    // journal_mode answers with a row, so query it rather than execute it.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "the file system refused WAL mode (got {mode})"
        )));
    }
    // The checkpointer thread copies most of the WAL in the background; the writer's own
    // checkpoint (after a commit that leaves the WAL over WAL_CHECKPOINT_PAGES) finishes the
    // job between two transactions, so the next one restarts the WAL from its beginning.
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {}; PRAGMA foreign_keys = OFF; PRAGMA temp_store = MEMORY; \
         PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}; \
         PRAGMA journal_size_limit = {WAL_SIZE_LIMIT};",
        sync.as_str().to_ascii_uppercase()
    ))
}

fn open_reader(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(db_err)?;
    configure(&conn, SyncMode::Normal, Role::Reader).map_err(db_err)?;
    Ok(conn)
}

/// Every port on one SQLite store, around the given queue (whose consumer side the caller
/// drives).
pub fn ports(queue: Arc<SqliteQueue>) -> state::Ports {
    let db = queue.db().clone();
    let queue_for_dead_letters = queue.clone();
    let dedup = Arc::new(SqliteDedupStore::new(queue.clone()));
    let events = Arc::new(SqliteEventStore::new(db.clone()));
    let deliveries = Arc::new(SqliteDeliveryStore::new(db.clone()));
    state::Ports {
        queue,
        sources: Arc::new(SqliteConfigStore::new(db.clone(), Table::Sources)),
        subscriptions: Arc::new(SqliteConfigStore::new(db.clone(), Table::Subscriptions)),
        events: events.clone(),
        deliveries: deliveries.clone(),
        dedup,
        event_queries: events,
        delivery_queries: deliveries,
        flow: Arc::new(SqliteFlowStore::new(db)),
        dead_letters: queue_for_dead_letters,
        metrics: state::no_metrics(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Migrates `conn`'s store and checks it is at this build's schema.
    fn migrate_to_current(conn: &Connection) {
        migrate(conn).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }

    #[test]
    fn a_store_of_schema_1_gets_dedup_claim_states_and_keeps_its_claims_queued() {
        // A version-1 store: its dedup table as that version wrote it, with one claim, and
        // its queue with one message
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE dedup (key TEXT PRIMARY KEY, event_id TEXT NOT NULL, \
             expires_at_ms INTEGER NOT NULL); \
             INSERT INTO dedup VALUES ('src:k', 'evt_old', 99999999999999); \
             CREATE TABLE queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL, \
             visible_at INTEGER NOT NULL, receive_count INTEGER NOT NULL DEFAULT 0, \
             sent_at INTEGER NOT NULL); \
             CREATE TABLE deliveries (event_id TEXT NOT NULL, sk TEXT NOT NULL, \
             subscription_id TEXT NOT NULL, attempt INTEGER NOT NULL, status TEXT NOT NULL, \
             call_id TEXT, attempted_at TEXT NOT NULL, body TEXT NOT NULL, \
             expires_at INTEGER NOT NULL, PRIMARY KEY (event_id, sk)); \
             INSERT INTO queue (body, visible_at, sent_at) VALUES ('{}', 0, 0); \
             PRAGMA user_version = 1;",
        )
        .unwrap();
        migrate_to_current(&conn);
        let (queued, claimed_at): (bool, i64) = conn
            .query_row(
                "SELECT queued, claimed_at_ms FROM dedup WHERE key = 'src:k'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert!(queued, "a claim of schema 1 was for a queued event");
        assert_eq!(claimed_at, 0);
        // its queued message has no trace context
        let trace: Option<String> = conn
            .query_row("SELECT trace FROM queue", [], |r| r.get(0))
            .unwrap();
        assert_eq!(trace, None);
        // Migrating again is a no-op
        migrate(&conn).unwrap();
    }

    #[test]
    fn a_store_of_schema_8_keeps_its_events_and_loses_their_index_by_expiry() {
        // A version-8 store (the current schema with the events' index by expiry), one event
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&format!(
            "{} CREATE INDEX events_by_expiry ON events (expires_at); \
             INSERT INTO events VALUES ('evt_1', 's', NULL, 't', '{{}}', '{{}}', NULL, 99); \
             PRAGMA user_version = 8;",
            schema::SCHEMA
        ))
        .unwrap();
        migrate_to_current(&conn);
        let (events, expiry_index): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM events), (SELECT COUNT(*) FROM sqlite_schema \
                 WHERE name = 'events_by_expiry')",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((events, expiry_index), (1, 0));
    }

    #[test]
    fn a_store_of_schema_5_keeps_its_attempts_and_claims_keyed_by_their_primary_keys() {
        // A version-5 store: attempts and claims in row tables, one of each
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE deliveries (event_id TEXT NOT NULL, sk TEXT NOT NULL, \
             subscription_id TEXT NOT NULL, attempt INTEGER NOT NULL, status TEXT NOT NULL, \
             call_id TEXT, attempted_at TEXT NOT NULL, body TEXT NOT NULL, \
             expires_at INTEGER NOT NULL, PRIMARY KEY (event_id, sk)); \
             CREATE INDEX deliveries_recent ON deliveries (attempted_at, event_id, sk); \
             INSERT INTO deliveries VALUES ('evt_1', 'sub_1#000001', 'sub_1', 1, 'succeeded', \
             'call-1', '2026-11-29T00:00:00.000000000Z', '{}', 99); \
             CREATE TABLE dedup (key TEXT PRIMARY KEY, event_id TEXT NOT NULL, \
             expires_at_ms INTEGER NOT NULL, claimed_at_ms INTEGER NOT NULL DEFAULT 0, \
             queued INTEGER NOT NULL DEFAULT 1); \
             CREATE INDEX dedup_by_expiry ON dedup (expires_at_ms); \
             INSERT INTO dedup VALUES ('src:k', 'evt_1', 5, 4, 1); \
             CREATE TABLE queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL, \
             visible_at INTEGER NOT NULL, receive_count INTEGER NOT NULL DEFAULT 0, \
             sent_at INTEGER NOT NULL, trace TEXT, event_id TEXT); \
             PRAGMA user_version = 5;",
        )
        .unwrap();
        migrate(&conn).unwrap();
        // Its rows are still there, in tables without a rowid, every listing index rebuilt
        let attempt: (String, String, i64) = conn
            .query_row(
                "SELECT sk, call_id, expires_at FROM deliveries WHERE event_id = 'evt_1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(attempt, ("sub_1#000001".into(), "call-1".into(), 99));
        let claim: (String, i64, i64) = conn
            .query_row(
                "SELECT event_id, expires_at_ms, claimed_at_ms FROM dedup WHERE key = 'src:k'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(claim, ("evt_1".into(), 5, 4));
        for table in ["deliveries", "dedup"] {
            assert!(
                conn.prepare(&format!("SELECT rowid FROM {table}")).is_err(),
                "{table} has no rowid"
            );
        }
        let indexes: Vec<String> = conn
            .prepare(
                "SELECT name FROM pragma_index_list('deliveries') WHERE origin = 'c' ORDER BY name",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            indexes,
            [
                "deliveries_by_status",
                "deliveries_by_subscription",
                "deliveries_recent"
            ]
        );
        let partial: bool = conn
            .query_row(
                "SELECT partial FROM pragma_index_list('deliveries') \
                 WHERE name = 'deliveries_by_status'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(partial, "the status index leaves successes out");
        let by_expiry: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM pragma_index_list('dedup') WHERE name = 'dedup_by_expiry'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(by_expiry, 1);
    }

    #[test]
    fn a_new_store_gets_the_latest_schema() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        conn.execute(
            "INSERT INTO dedup (key, event_id, expires_at_ms, claimed_at_ms, queued) \
             VALUES ('k', 'e', 1, 1, 0)",
            [],
        )
        .unwrap();
    }
}
