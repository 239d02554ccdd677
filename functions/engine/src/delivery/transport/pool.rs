//! Idle connections to subscribers, kept per origin for the next delivery.
//!
//! Last in, first out: the connection used most recently is the one least likely to have
//! been closed by the subscriber, and the ones left at the bottom age out together.

use super::{Connection, Origin};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Idle {
    connection: Connection,
    since: Instant,
}

pub(crate) struct Pool {
    idle: Mutex<HashMap<Origin, Vec<Idle>>>,
    max_per_origin: usize,
    idle_timeout: Duration,
}

impl Pool {
    pub(crate) fn new(max_per_origin: usize, idle_timeout: Duration) -> Self {
        Self {
            idle: Mutex::new(HashMap::new()),
            max_per_origin,
            idle_timeout,
        }
    }

    /// The most recently returned open connection to `origin`, if one is idle.
    pub(crate) fn take(&self, origin: &Origin) -> Option<Connection> {
        let mut idle = self.lock();
        let list = idle.get_mut(origin)?;
        while let Some(entry) = list.pop() {
            if entry.since.elapsed() > self.idle_timeout {
                // Everything below it has been idle longer still.
                list.clear();
                break;
            }
            if !entry.connection.sender.is_closed() {
                return Some(entry.connection);
            }
        }
        None
    }

    /// Keeps `connection` for the next delivery to `origin` (dropped, and so closed, when it
    /// is closed already or the origin has its fill of idle connections).
    pub(crate) fn put(&self, origin: &Origin, connection: Connection) {
        if connection.sender.is_closed() {
            return;
        }
        let entry = Idle {
            connection,
            since: Instant::now(),
        };
        let mut idle = self.lock();
        match idle.get_mut(origin) {
            Some(list) if list.len() >= self.max_per_origin => {}
            Some(list) => list.push(entry),
            None if self.max_per_origin == 0 => {}
            None => {
                idle.insert(origin.clone(), vec![entry]);
            }
        }
    }

    /// Idle connections to `origin` still open.
    #[cfg(test)]
    pub(crate) fn idle_count(&self, origin: &Origin) -> usize {
        self.lock().get(origin).map_or(0, |list| {
            list.iter()
                .filter(|e| !e.connection.sender.is_closed())
                .count()
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Origin, Vec<Idle>>> {
        // A panic while holding the lock leaves a map of idle connections: still valid.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}
