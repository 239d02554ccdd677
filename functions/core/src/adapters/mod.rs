//! Adapters for the ports: in memory (for `serve --memory` and tests), SQLite on disk (for
//! `serve`, feature `sqlite`) and AWS (SQS, DynamoDB).

pub mod aws;
pub mod memory;
#[cfg(feature = "sqlite")]
pub mod sqlite;
