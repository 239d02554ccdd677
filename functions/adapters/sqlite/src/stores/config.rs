//! Sources and subscriptions, by id, as JSON documents.

use super::rows::{execute, from_json, is_constraint, optional_value, strings, to_json};
use crate::error::{StoreError, StoreResult};
use crate::ports::{ConfigStore, Record};
use crate::{db_err, Db};
use async_trait::async_trait;
use rusqlite::params;
use std::marker::PhantomData;

/// Which configuration table a [`SqliteConfigStore`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Sources,
    Subscriptions,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Self::Sources => "sources",
            Self::Subscriptions => "subscriptions",
        }
    }
}

/// Sources or subscriptions, by id, as JSON documents.
pub struct SqliteConfigStore<T> {
    db: Db,
    table: Table,
    _records: PhantomData<fn() -> T>,
}

impl<T> SqliteConfigStore<T> {
    pub fn new(db: Db, table: Table) -> Self {
        Self {
            db,
            table,
            _records: PhantomData,
        }
    }
}

#[async_trait]
impl<T: Record> ConfigStore<T> for SqliteConfigStore<T> {
    async fn create(&self, record: &T) -> StoreResult<()> {
        let (id, body) = (record.id().to_owned(), to_json(record)?);
        let sql = format!(
            "INSERT INTO {} (id, body) VALUES (?1, ?2)",
            self.table.name()
        );
        self.db
            .write(move |conn| {
                match conn
                    .prepare_cached(&sql)
                    .and_then(|mut s| s.execute(params![id, body]))
                {
                    Ok(_) => Ok(()),
                    Err(e) if is_constraint(&e) => Err(StoreError::Conflict),
                    Err(e) => Err(db_err(e)),
                }
            })
            .await
    }

    async fn get(&self, id: &str) -> StoreResult<Option<T>> {
        let id = id.to_owned();
        let sql = format!("SELECT body FROM {} WHERE id = ?1", self.table.name());
        self.db
            .read(move |conn| {
                let body: Option<String> = optional_value(conn, &sql, params![id])?;
                body.as_deref().map(from_json).transpose()
            })
            .await
    }

    async fn list(&self) -> StoreResult<Vec<T>> {
        let sql = format!("SELECT body FROM {} ORDER BY id", self.table.name());
        self.db
            .read(move |conn| {
                strings(conn, &sql, Vec::new())?
                    .iter()
                    .map(|b| from_json(b))
                    .collect()
            })
            .await
    }

    async fn update(&self, record: &T) -> StoreResult<()> {
        let (id, body) = (record.id().to_owned(), to_json(record)?);
        let sql = format!("UPDATE {} SET body = ?2 WHERE id = ?1", self.table.name());
        self.db
            .write(move |conn| {
                if execute(conn, &sql, params![id, body])? == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            })
            .await
    }

    async fn update_if(&self, record: &T, expected: u64) -> StoreResult<()> {
        let (id, body) = (record.id().to_owned(), to_json(record)?);
        let read = format!("SELECT body FROM {} WHERE id = ?1", self.table.name());
        let write = format!("UPDATE {} SET body = ?2 WHERE id = ?1", self.table.name());
        // One write transaction: no other writer runs between the version check and the
        // update (the store has a single writer connection).
        self.db
            .write(move |conn| {
                let stored: Option<String> = optional_value(conn, &read, params![id])?;
                let Some(stored) = stored else {
                    return Err(StoreError::NotFound);
                };
                if from_json::<T>(&stored)?.version() != expected {
                    return Err(StoreError::Stale);
                }
                execute(conn, &write, params![id, body]).map(drop)
            })
            .await
    }

    async fn delete(&self, id: &str) -> StoreResult<()> {
        let id = id.to_owned();
        let sql = format!("DELETE FROM {} WHERE id = ?1", self.table.name());
        self.db
            .write(move |conn| {
                let changed = conn
                    .prepare_cached(&sql)
                    .and_then(|mut s| s.execute(params![id]))
                    .map_err(db_err)?;
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            })
            .await
    }
}
