//! Stores on SQLite: configuration tables, events, delivery attempts, dedup claims, and
//! the ops listings, each served by a primary key or an index (see the schema in `lib.rs`).

mod config;
mod dedup;
mod deliveries;
mod delivery_queries;
mod events;
mod flow;
mod listing;
mod raw_column;
mod rows;

pub use config::{SqliteConfigStore, Table};
pub use dedup::SqliteDedupStore;
pub use deliveries::SqliteDeliveryStore;
pub use events::SqliteEventStore;
pub(crate) use events::{event_of_row, with_trailing_data, EventRow};
pub use flow::SqliteFlowStore;
pub(crate) use raw_column::RawColumn;
pub(crate) use rows::to_json;
