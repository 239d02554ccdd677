//! Switchboard's composition root: it builds [`state::Ports`] over the adapter families and
//! wires the Lambda functions (`entry`). The layers live in crates of their own, re-exported
//! here under the paths the mains, the CLI and the tests use:
//!
//! - [`domain`] (`switchboard-domain`): envelope, sources, subscriptions, attempts, queue
//!   messages, validation, redaction, the content filter; no infrastructure.
//! - `switchboard-engine`: [`ports`], [`providers`], [`delivery`], [`dispatch`], [`config`].
//! - [`adapters`]: the ports over memory, SQLite (feature `sqlite`) and AWS (SQS, DynamoDB;
//!   feature `aws`), one crate each.
//! - [`api`] (`switchboard-api`): the ingest and admin HTTP handlers.

pub use switchboard_api as api;
pub use switchboard_domain as domain;
pub use switchboard_domain::redact;
pub use switchboard_engine::{config, delivery, dispatch, error, metrics, ports, providers};

/// The adapter crates, one per family.
pub mod adapters {
    #[cfg(feature = "aws")]
    pub use switchboard_adapters_aws as aws;
    pub use switchboard_adapters_memory as memory;
    #[cfg(feature = "sqlite")]
    pub use switchboard_adapters_sqlite as sqlite;
}

#[cfg(feature = "aws")]
pub mod entry;
mod sdk_http;
pub mod state;
pub mod tls;
