//! In-memory adapters: for `switchboard serve --memory` and fast tests. They follow the
//! AWS adapters' semantics (the shared contract tests check it), not just their signatures.

// The engine's modules under the paths these adapters were written against.
pub(crate) use switchboard_engine::{domain, error, ports};

mod flow;
mod queue;
mod stores;

pub use flow::MemoryFlowStore;
pub use queue::MemoryQueue;
pub use stores::{
    MemoryConfigStore, MemoryDedupStore, MemoryDeliveryStore, MemoryEventStore, MemoryLimits,
};

/// Locks a mutex, recovering the data if a panicking thread poisoned it: every critical
/// section here leaves the data consistent, so poisoning carries no meaning.
pub fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
