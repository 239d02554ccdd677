//! Stores on DynamoDB. Each item carries its key and index attributes as top-level strings
//! (the names `infra/template.yaml` declares) and the whole record as JSON in `doc`, so the
//! mapping is one place and cannot drift field by field.

mod call_attempts;
mod codec;
mod config;
mod dedup;
mod deliveries;
mod event_record;
mod events;
mod flow;
mod history_upgrade;
mod index_query;
mod sharded_query;
pub mod shards;

pub use config::DynamoConfigStore;
pub use dedup::DynamoDedupStore;
pub use deliveries::DynamoDeliveryStore;
pub use events::DynamoEventStore;
pub use flow::DynamoFlowStore;
pub use history_upgrade::{HistoryUpgrade, Progress, TableProgress, UpgradeLimits, UpgradeTables};
