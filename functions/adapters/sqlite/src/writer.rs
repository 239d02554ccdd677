//! The writer thread: batches write jobs into transactions, checkpoints the WAL, purges
//! expired rows.

use crate::error::{StoreError, StoreResult};
use crate::{now_ms, CHECKPOINT_EVERY, MAX_BATCH, PURGE_AGAIN, PURGE_CHUNK, PURGE_EVERY};
use rusqlite::Connection;
use std::collections::VecDeque;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A write run by the writer thread inside the open transaction.
pub(crate) trait Job: Send {
    /// Runs the write; returns whether it succeeded (a failure rolls back its savepoint).
    /// A job may run twice: when another job of its batch fails part-way, the batch is
    /// rolled back and run again (see [`run_batch`]), so a job changes nothing outside the
    /// transaction that running it twice would harm.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once the transaction is committed, or with why it was not.
    fn finish(self: Box<Self>, commit: StoreResult<()>);
    /// Whether the job writes with one SQL statement at most and fails only through it or
    /// before it: SQLite undoes a failed statement by itself, so the job needs no savepoint
    /// of its own (whose journal copies every page the job touches).
    fn one_statement(&self) -> bool;
}

pub(crate) struct TypedJob<R, F> {
    pub(crate) work: F,
    pub(crate) result: Option<StoreResult<R>>,
    pub(crate) reply: oneshot::Sender<StoreResult<R>>,
    pub(crate) one_statement: bool,
}

impl<R, F> Job for TypedJob<R, F>
where
    R: Send + 'static,
    F: FnMut(&Connection) -> StoreResult<R> + Send + 'static,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let result = (self.work)(conn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, commit: StoreResult<()>) {
        let answer = match commit {
            Ok(()) => self
                .result
                .unwrap_or_else(|| Err(StoreError::Unavailable("write was not run".into()))),
            Err(e) => Err(e),
        };
        // The caller may have gone away (request cancelled): nothing to tell it.
        let _ = self.reply.send(answer);
    }

    fn one_statement(&self) -> bool {
        self.one_statement
    }
}

/// What the writer did, logged when it stops.
#[derive(Default)]
struct WriterStats {
    transactions: u64,
    writes: u64,
    /// Batches run a second time because a job failed part-way (see [`run_batch`]).
    run_again: u64,
    busy: Duration,
}

impl WriterStats {
    fn report(&self) {
        tracing::info!(
            transactions = self.transactions,
            writes = self.writes,
            per_transaction = self.writes as f64 / self.transactions.max(1) as f64,
            run_again = self.run_again,
            busy_secs = self.busy.as_secs_f64(),
            "SQLite writer stopped"
        );
    }
}

/// A job as sent to the writer.
pub(crate) struct Queued {
    /// Goes into the next transaction ahead of every ordinary job waiting.
    pub(crate) urgent: bool,
    pub(crate) job: Box<dyn Job>,
}

/// Jobs taken off the channel, not yet in a transaction: urgent ones first.
#[derive(Default)]
struct Waiting {
    urgent: VecDeque<Box<dyn Job>>,
    ordinary: VecDeque<Box<dyn Job>>,
}

impl Waiting {
    fn push(&mut self, q: Queued) {
        if q.urgent {
            self.urgent.push_back(q.job);
        } else {
            self.ordinary.push_back(q.job);
        }
    }

    fn is_empty(&self) -> bool {
        self.urgent.is_empty() && self.ordinary.is_empty()
    }

    /// The next transaction's jobs: urgent ones first, up to [`MAX_BATCH`].
    fn take_batch(&mut self, batch: &mut Vec<Box<dyn Job>>) {
        while batch.len() < MAX_BATCH {
            match self
                .urgent
                .pop_front()
                .or_else(|| self.ordinary.pop_front())
            {
                Some(job) => batch.push(job),
                None => break,
            }
        }
    }
}

/// The writer thread: batches jobs into transactions until every sender is gone. Every job
/// waiting on the channel is taken off it before a batch is chosen, so an urgent job (a
/// send ingest answers on) never waits behind a backlog of ordinary ones, only behind the
/// transaction already running.
pub(crate) fn writer_loop(conn: Connection, jobs: mpsc::Receiver<Queued>) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    let mut waiting = Waiting::default();
    let mut next_purge = Instant::now();
    let mut stats = WriterStats::default();
    let mut senders_gone = false;
    loop {
        if Instant::now() >= next_purge {
            let again = match purge_expired(&conn) {
                Ok(true) => PURGE_AGAIN,
                Ok(false) => PURGE_EVERY,
                Err(e) => {
                    tracing::warn!(error = %e, "purging expired rows failed; will retry");
                    PURGE_EVERY
                }
            };
            next_purge = Instant::now() + again;
        }
        if waiting.is_empty() {
            if senders_gone {
                stats.report();
                return;
            }
            let wait = next_purge.saturating_duration_since(Instant::now());
            match jobs.recv_timeout(wait) {
                Ok(job) => waiting.push(job),
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => senders_gone = true,
            }
        }
        loop {
            match jobs.try_recv() {
                Ok(job) => waiting.push(job),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    senders_gone = true;
                    break;
                }
            }
        }
        waiting.take_batch(&mut batch);
        if batch.is_empty() {
            continue;
        }
        let started = Instant::now();
        let commit = run_batch(&conn, &mut batch, &mut stats);
        stats.transactions += 1;
        stats.writes += batch.len() as u64;
        stats.busy += started.elapsed();
        for job in batch.drain(..) {
            let outcome = match &commit {
                Ok(()) => Ok(()),
                Err(e) => Err(StoreError::Unavailable(e.clone())),
            };
            job.finish(outcome);
        }
    }
}

/// The checkpointer thread: copies the WAL into the database file every
/// [`CHECKPOINT_EVERY`] (PASSIVE: never blocks the writer or the readers), so the writer's
/// commits never pay for a checkpoint; a last one when the store closes.
///
/// A PASSIVE checkpoint that does not catch up with the writer (under load, none does)
/// leaves the pages it copied unsynced in the database file: SQLite syncs it only when a
/// checkpoint copies the whole WAL, which under load is the writer's own, between two
/// transactions, so that sync waited for every page copied since the last one and every
/// commit waited for it (5–18 ms, the ingest p99 of a loaded serve). `db_file` (the
/// database file, opened apart) is synced here after each checkpoint that copied
/// something, leaving the writer's sync only the last few milliseconds of pages. It adds
/// syncs, never removes one: what SQLite guarantees is unchanged.
pub(crate) fn checkpoint_loop(
    conn: Connection,
    db_file: Option<std::fs::File>,
    stop: mpsc::Receiver<()>,
) {
    // Frames copied by the last checkpoint whose copies were synced.
    let mut synced = 0i64;
    let mut checkpoint = |mode: &str| {
        let result = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            r.get::<_, i64>(2)
        });
        match result {
            Ok(copied) if copied > 0 && copied != synced => {
                if let Some(file) = &db_file {
                    match file.sync_data() {
                        Ok(()) => synced = copied,
                        Err(e) => tracing::warn!(error = %e, "syncing the database file failed"),
                    }
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; will retry"),
        }
    };
    loop {
        match stop.recv_timeout(CHECKPOINT_EVERY) {
            Err(mpsc::RecvTimeoutError::Timeout) => checkpoint("PASSIVE"),
            Ok(()) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                checkpoint("TRUNCATE");
                return;
            }
        }
    }
}

/// Runs every job in one transaction. A job alone in its transaction needs no savepoint:
/// when it fails, the whole transaction is rolled back instead. Nor does a one-statement job
/// (attempt records, event puts): its failed statement left nothing behind.
///
/// The other jobs first run without savepoints too (each savepoint's statement journal
/// copies every page its job touches: 9 % of the writer thread under load). Should one of
/// them fail, what it wrote before failing is in the transaction: the whole transaction is
/// rolled back and the batch run again with a savepoint around each such job, so that the
/// failing one is rolled back alone. Jobs fail rarely (a full disk, a versioned write that
/// lost), so the second run is rarely paid for.
fn run_batch(
    conn: &Connection,
    batch: &mut [Box<dyn Job>],
    stats: &mut WriterStats,
) -> Result<(), String> {
    let step = |sql: &str| -> Result<(), String> {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
            .map(|_| ())
            .map_err(|e| format!("sqlite: {e}"))
    };
    let run = |job: &mut Box<dyn Job>| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(conn))).unwrap_or_else(
            |_| {
                tracing::error!("a store write panicked; rolled back");
                false
            },
        )
    };
    step("BEGIN IMMEDIATE")?;
    let result = (|| {
        if let [job] = batch {
            // The job's own error is its answer; the empty transaction ends cleanly.
            return step(if run(job) { "COMMIT" } else { "ROLLBACK" });
        }
        let clean = batch.iter_mut().all(|job| run(job) || job.one_statement());
        if clean {
            return step("COMMIT");
        }
        stats.run_again += 1;
        step("ROLLBACK")?;
        step("BEGIN IMMEDIATE")?;
        for job in batch.iter_mut() {
            if job.one_statement() {
                run(job);
                continue;
            }
            step("SAVEPOINT job")?;
            if !run(job) {
                step("ROLLBACK TO job")?;
            }
            step("RELEASE job")?;
        }
        step("COMMIT")
    })();
    if result.is_err() && !conn.is_autocommit() {
        if let Err(e) = conn.execute_batch("ROLLBACK") {
            tracing::error!(error = %e, "rollback after a failed batch failed");
        }
    }
    result
}

/// Attempts past their retention among the oldest [`PURGE_CHUNK`] attempts, in order of
/// recency: attempts have no index by expiry (each write would update one more B-tree), and
/// with one retention the oldest attempts are the first to expire. After the retention is
/// lowered, newer attempts go once the older ones, kept longer, have.
const PURGE_ATTEMPTS: &str = "DELETE FROM deliveries WHERE (event_id, sk) IN \
     (SELECT event_id, sk FROM (SELECT event_id, sk, expires_at FROM deliveries \
      INDEXED BY deliveries_recent ORDER BY attempted_at LIMIT ?2) WHERE expires_at < ?1)";

/// Events past their retention among the oldest [`PURGE_CHUNK`] events, in the order they
/// were written (rowid: events are only ever appended, and the purge deletes from the
/// oldest end): like attempts, events have no index by expiry.
const PURGE_EVENTS: &str = "DELETE FROM events WHERE rowid IN \
     (SELECT rowid FROM (SELECT rowid, expires_at FROM events ORDER BY rowid LIMIT ?2) \
      WHERE expires_at < ?1)";

/// Deletes rows past their retention, a bounded chunk per table; whether a table had a
/// whole chunk to delete (more may be waiting).
pub(crate) fn purge_expired(conn: &Connection) -> rusqlite::Result<bool> {
    let now = now_ms();
    // `key`: the columns that name a row (tables keyed WITHOUT ROWID have no rowid).
    let by_expiry = |table: &str, key: &str, column: &str| {
        format!(
            "DELETE FROM {table} WHERE ({key}) IN \
             (SELECT {key} FROM {table} WHERE {column} < ?1 LIMIT ?2)"
        )
    };
    let mut more = false;
    for (table, sql, before) in [
        ("events", PURGE_EVENTS.to_owned(), now / 1000),
        ("deliveries", PURGE_ATTEMPTS.to_owned(), now / 1000),
        ("dedup", by_expiry("dedup", "key", "expires_at_ms"), now),
        (
            "flow_lanes",
            by_expiry("flow_lanes", "rowid", "expires_at"),
            now / 1000,
        ),
    ] {
        let deleted = conn.execute(&sql, rusqlite::params![before, PURGE_CHUNK])?;
        more |= i64::try_from(deleted).unwrap_or(i64::MAX) >= PURGE_CHUNK;
        if deleted > 0 {
            tracing::info!(table, deleted, "purged expired rows");
        }
    }
    Ok(more)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    type Answer = oneshot::Receiver<StoreResult<()>>;

    /// A job that inserts `n` into `t`, then fails when `fail` says so; `one_statement` as
    /// the job declares it.
    fn job(n: i64, fail: bool, one_statement: bool) -> (Box<dyn Job>, Answer) {
        job_counted(n, fail, one_statement, Arc::default())
    }

    /// [`job`], counting its runs in `runs`.
    fn job_counted(
        n: i64,
        fail: bool,
        one_statement: bool,
        runs: Arc<AtomicUsize>,
    ) -> (Box<dyn Job>, Answer) {
        let (reply, answer) = oneshot::channel();
        let work = move |conn: &Connection| -> StoreResult<()> {
            runs.fetch_add(1, Ordering::SeqCst);
            conn.execute("INSERT INTO t VALUES (?1)", [n])
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            if fail {
                return Err(StoreError::Conflict);
            }
            Ok(())
        };
        let job = TypedJob {
            work,
            result: None,
            reply,
            one_statement,
        };
        (Box::new(job), answer)
    }

    fn insert(n: i64, fail: bool) -> (Box<dyn Job>, Answer) {
        job(n, fail, false)
    }

    /// A job of one `INSERT` into `t`, run without a savepoint of its own.
    fn insert_one(n: i64) -> (Box<dyn Job>, Answer) {
        job(n, false, true)
    }

    fn run(conn: &Connection, jobs: Vec<Box<dyn Job>>) {
        let mut batch = jobs;
        let commit = run_batch(conn, &mut batch, &mut WriterStats::default());
        for job in batch {
            job.finish(commit.clone().map_err(StoreError::Unavailable));
        }
    }

    fn rows(conn: &Connection) -> Vec<i64> {
        let mut stmt = conn.prepare("SELECT n FROM t ORDER BY n").unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    fn table() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER)").unwrap();
        conn
    }

    #[test]
    fn purging_deletes_the_expired_rows_of_every_table_and_keeps_the_others() {
        // Given one expired and one live row in each table with a retention
        let conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&conn).unwrap();
        let (secs, ms) = (now_ms() / 1000, now_ms());
        for (n, (secs, ms)) in [(secs - 10, ms - 10_000), (secs + 600, ms + 600_000)]
            .into_iter()
            .enumerate()
        {
            conn.execute_batch(&format!(
                "INSERT INTO events VALUES ('evt_{n}', 's', NULL, 't', '{{}}', '{{}}', NULL, {secs});
                 INSERT INTO deliveries VALUES ('evt_{n}', 'sub#000001', 'sub', 1, 'succeeded', \
                 NULL, 't', '{{}}', {secs});
                 INSERT INTO dedup VALUES ('k{n}', 'evt_{n}', {ms}, 0, 1);
                 INSERT INTO flow_lanes VALUES ('lane', 'o{n}', 'evt_{n}', 0, NULL, {secs});"
            ))
            .unwrap();
        }
        // When the writer purges
        purge_expired(&conn).unwrap();
        // Then only the live rows are left
        for (table, column) in [
            ("events", "id"),
            ("deliveries", "event_id"),
            ("dedup", "event_id"),
            ("flow_lanes", "event_id"),
        ] {
            let left: Vec<String> = conn
                .prepare(&format!("SELECT {column} FROM {table}"))
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(left, ["evt_1"], "{table}");
        }
    }

    /// The first column of every row `sql` selects, as text.
    fn texts(conn: &Connection, sql: &str) -> Vec<String> {
        conn.prepare(sql)
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// An attempt of `evt_{n}` attempted at `at`, expiring at `expires` (epoch seconds).
    fn attempt(conn: &Connection, n: i64, at: &str, expires: i64) {
        conn.execute(
            "INSERT INTO deliveries VALUES (?1, 'sub#000001', 'sub', 1, 'succeeded', NULL, ?2, \
             '{}', ?3)",
            rusqlite::params![format!("evt_{n:05}"), at, expires],
        )
        .unwrap();
    }

    #[test]
    fn attempts_are_purged_oldest_first_past_an_older_one_kept_longer() {
        // Given an attempt kept longer (written before the retention was lowered) and three
        // newer ones past their retention
        let conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&conn).unwrap();
        let secs = now_ms() / 1000;
        attempt(&conn, 9, "2026-01-01T00:00:00.000000Z", secs + 600);
        for n in 0..3 {
            attempt(
                &conn,
                n,
                &format!("2026-02-0{}T00:00:00.000000Z", n + 1),
                secs - 10,
            );
        }
        // When the writer purges, then the expired ones are gone, the other kept
        assert!(!purge_expired(&conn).unwrap(), "less than a chunk");
        let left = texts(&conn, "SELECT event_id FROM deliveries");
        assert_eq!(left, ["evt_00009"]);
    }

    #[test]
    fn events_are_purged_oldest_first_past_an_older_one_kept_longer() {
        // Given an event kept longer (written before the retention was lowered) and three
        // newer ones past their retention
        let conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&conn).unwrap();
        let secs = now_ms() / 1000;
        for (n, expires) in [
            (9, secs + 600),
            (0, secs - 10),
            (1, secs - 10),
            (2, secs - 10),
        ] {
            conn.execute(
                "INSERT INTO events VALUES (?1, 's', NULL, 't', '{}', '{}', NULL, ?2)",
                rusqlite::params![format!("evt_{n}"), expires],
            )
            .unwrap();
        }
        // When the writer purges, then the expired ones are gone, the other kept
        assert!(!purge_expired(&conn).unwrap(), "less than a chunk");
        let left = texts(&conn, "SELECT id FROM events");
        assert_eq!(left, ["evt_9"]);
    }

    #[test]
    fn a_purge_that_deletes_a_whole_chunk_says_more_may_wait() {
        let conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&conn).unwrap();
        let secs = now_ms() / 1000;
        for n in 0..PURGE_CHUNK + 1 {
            attempt(&conn, n, &format!("2026-02-01T00:00:00.{n:06}Z"), secs - 10);
        }
        assert!(purge_expired(&conn).unwrap(), "a whole chunk was deleted");
        assert!(!purge_expired(&conn).unwrap(), "one row was left");
        let count: i64 = conn
            .query_row("SELECT COUNT(*) FROM deliveries", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 0);
    }

    #[test]
    fn a_failing_job_alone_is_rolled_back_and_answered_with_its_error() {
        let conn = table();
        let (job, mut answer) = insert(1, true);
        run(&conn, vec![job]);
        assert!(matches!(answer.try_recv(), Ok(Err(StoreError::Conflict))));
        assert!(rows(&conn).is_empty(), "its insert was rolled back");
        assert!(conn.is_autocommit(), "no transaction left open");
        // The next job commits as usual
        let (job, mut answer) = insert(2, false);
        run(&conn, vec![job]);
        assert!(matches!(answer.try_recv(), Ok(Ok(()))));
        assert_eq!(rows(&conn), vec![2]);
    }

    #[test]
    fn a_failing_job_among_others_is_rolled_back_alone() {
        let conn = table();
        let (a, mut a_answer) = insert(1, false);
        let (b, mut b_answer) = insert(2, true);
        let (c, mut c_answer) = insert(3, false);
        run(&conn, vec![a, b, c]);
        assert!(matches!(a_answer.try_recv(), Ok(Ok(()))));
        assert!(matches!(b_answer.try_recv(), Ok(Err(StoreError::Conflict))));
        assert!(matches!(c_answer.try_recv(), Ok(Ok(()))));
        assert_eq!(rows(&conn), vec![1, 3]);
    }

    /// A job that inserts `n` into `t`, counting its runs.
    fn counted(n: i64, runs: &Arc<AtomicUsize>) -> Box<dyn Job> {
        job_counted(n, false, false, runs.clone()).0
    }

    #[test]
    fn a_batch_runs_each_job_once_unless_one_fails_part_way() {
        let conn = table();
        let runs = Arc::new(AtomicUsize::new(0));
        // A batch where every job succeeds runs each once
        run(&conn, vec![counted(1, &runs), counted(2, &runs)]);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        // One that fails after writing sends the batch round again: the others run twice,
        // yet each row is written once and the failed job's row not at all
        runs.store(0, Ordering::SeqCst);
        let (failing, mut answer) = insert(4, true);
        run(&conn, vec![counted(3, &runs), failing, counted(5, &runs)]);
        assert_eq!(
            runs.load(Ordering::SeqCst),
            3,
            "the first job twice, the last once"
        );
        assert!(matches!(answer.try_recv(), Ok(Err(StoreError::Conflict))));
        assert_eq!(rows(&conn), vec![1, 2, 3, 5]);
    }

    #[test]
    fn a_failing_one_statement_job_leaves_nothing_and_the_others_commit() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER UNIQUE)")
            .unwrap();
        let (a, mut a_answer) = insert_one(1);
        // Fails on the unique constraint: SQLite undoes the statement itself
        let (b, mut b_answer) = insert_one(1);
        let (c, mut c_answer) = insert(2, true);
        let (d, mut d_answer) = insert_one(3);
        run(&conn, vec![a, b, c, d]);
        assert!(matches!(a_answer.try_recv(), Ok(Ok(()))));
        assert!(matches!(
            b_answer.try_recv(),
            Ok(Err(StoreError::Unavailable(_)))
        ));
        assert!(matches!(c_answer.try_recv(), Ok(Err(StoreError::Conflict))));
        assert!(matches!(d_answer.try_recv(), Ok(Ok(()))));
        assert_eq!(rows(&conn), vec![1, 3]);
    }

    #[test]
    fn an_urgent_job_goes_into_the_next_transaction_ahead_of_a_backlog() {
        let (tx, rx) = mpsc::channel();
        let mut answers = Vec::new();
        for n in 0..(2 * MAX_BATCH as i64) {
            let (job, answer) = insert(n, false);
            tx.send(Queued { urgent: false, job }).unwrap();
            answers.push(answer);
        }
        let (job, answer) = insert(-1, false);
        tx.send(Queued { urgent: true, job }).unwrap();
        answers.push(answer);
        drop(tx);
        let path = std::env::temp_dir().join(format!("sb-writer-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let file = Connection::open(&path).unwrap();
        file.execute_batch("CREATE TABLE t (n INTEGER NOT NULL)")
            .unwrap();
        writer_loop(file, rx);
        for mut a in answers {
            assert!(matches!(a.try_recv(), Ok(Ok(()))));
        }
        let check = Connection::open(&path).unwrap();
        let first: i64 = check
            .query_row("SELECT n FROM t ORDER BY rowid LIMIT 1", [], |r| r.get(0))
            .unwrap();
        assert_eq!(first, -1, "the urgent job ran first");
        let count: i64 = check
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 2 * MAX_BATCH as i64 + 1);
        let _ = std::fs::remove_file(&path);
    }
}
