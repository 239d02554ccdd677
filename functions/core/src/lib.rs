//! Switchboard's core: everything the Lambda functions and `switchboard serve` share.
//!
//! - [`domain`]: envelope, sources, subscriptions, attempts, queue messages (the
//!   `switchboard-domain` crate, re-exported).
//! - [`providers`]: parsers that turn a provider's webhook into the canonical envelope.
//! - [`ports`]: the capabilities the handlers need (queue, stores), as traits.
//! - [`adapters`]: those ports over AWS (SQS, DynamoDB) and in memory.
//! - [`api`]: the ingest and admin HTTP handlers, over `http::Request`/`http::Response`.
//! - [`delivery`]: the pooled HTTP client, Standard Webhooks signing, retry schedule.
//! - [`dispatch`]: the SQS batch handler that fans events out to subscribers.

pub mod adapters;
pub mod api;
pub mod config;
pub mod delivery;
pub mod dispatch;
/// The domain types live in their own crate (no infrastructure); re-exported so
/// `switchboard_core::domain` paths keep working.
pub use switchboard_domain as domain;
pub mod entry;
pub mod error;
pub mod ports;
pub mod providers;
pub use switchboard_domain::redact;
pub mod state;
pub mod tls;
