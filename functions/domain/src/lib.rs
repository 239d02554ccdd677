//! The data Switchboard moves and records, its validation and redaction, and the
//! subscription content filter. Every other crate depends on this one; it depends on
//! no infrastructure (AWS, HTTP, SQL, Lambda, async runtime).

pub mod attempt;
pub mod envelope;
pub mod filter;
pub mod ids;
pub mod limits;
pub mod message;
pub mod payload;
pub mod redact;
pub mod source;
pub mod subscription;
pub mod subscription_rules;
pub mod time;
pub mod trace;

pub use attempt::{Attempt, AttemptStatus, ErrorKind, Trigger};
pub use envelope::{CallInfo, Envelope, RawRequest, StoredEvent};
pub use message::QueueMessage;
pub use payload::Payload;
pub use source::{Source, SourceInput, Verification};
pub use subscription::{Format, Method, Subscription, SubscriptionInput};
pub use subscription_rules::SubscriptionError;
pub use trace::TraceHeader;
