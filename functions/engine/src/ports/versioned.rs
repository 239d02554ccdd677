//! Read-change-write of a versioned configuration record under optimistic concurrency.
//! The change is a function, not a record: when a concurrent write came first, it is
//! re-applied to a fresh read, so neither writer's change is lost and no stale copy is
//! ever written back.

use super::{ConfigStore, Record};
use crate::error::StoreError;

/// Most rounds (read, change, conditional write) before a conflict is reported as `Stale`.
pub const MAX_ROUNDS: usize = 5;

/// What [`modify`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Modified<T> {
    /// No record with that id.
    Missing,
    /// The change found nothing to do on the current record; nothing was written.
    Unchanged(T),
    /// Written, as stored (with its new version).
    Written(T),
}

/// Reads record `id`, lets `change` edit it (returning whether it changed anything; it must
/// leave the record as it was when it returns `false`) and writes it if the stored version
/// is still the one read, re-reading and re-applying up to [`MAX_ROUNDS`] times. A change
/// may refuse with its own error. A conflict that persists is `StoreError::Stale`.
pub async fn modify<T, E>(
    store: &dyn ConfigStore<T>,
    id: &str,
    mut change: impl FnMut(&mut T) -> Result<bool, E>,
) -> Result<Modified<T>, E>
where
    T: Record,
    E: From<StoreError>,
{
    for round in 1..=MAX_ROUNDS {
        let Some(mut record) = store.get(id).await? else {
            return Ok(Modified::Missing);
        };
        if !change(&mut record)? {
            return Ok(Modified::Unchanged(record));
        }
        let expected = record.version();
        record.set_version(expected.saturating_add(1));
        match store.update_if(&record, expected).await {
            Ok(()) => return Ok(Modified::Written(record)),
            Err(StoreError::Stale) => {
                tracing::debug!(%id, round, "record changed concurrently; re-applying the change");
            }
            Err(StoreError::NotFound) => return Ok(Modified::Missing),
            Err(e) => return Err(e.into()),
        }
    }
    tracing::warn!(%id, rounds = MAX_ROUNDS, "record kept changing concurrently; giving up");
    Err(StoreError::Stale.into())
}
