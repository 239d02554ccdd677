//! Switchboard's engine: the ports (in domain words), the provider parsers, delivery
//! (signing, the pooled client, the SSRF guard, retries) and dispatch. It knows no adapter
//! and no HTTP server: the adapters implement its ports, the API crate serves it, and the
//! composition root (`switchboard-core`) puts them together.

pub use switchboard_domain as domain;
pub use switchboard_domain::redact;

pub mod config;
pub mod delivery;
pub mod dispatch;
pub mod error;
pub mod metrics;
pub mod ports;
pub mod providers;
pub mod source_cache;
pub mod state;
#[cfg(test)]
mod test_events;
pub mod tls;
