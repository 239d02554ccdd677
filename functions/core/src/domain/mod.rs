//! The data Switchboard moves and records.

pub mod attempt;
pub mod envelope;
pub mod ids;
pub mod limits;
pub mod message;
pub mod source;
pub mod subscription;
pub mod time;

pub use attempt::{Attempt, AttemptStatus, ErrorKind, Trigger};
pub use envelope::{CallInfo, Envelope, RawRequest, StoredEvent};
pub use message::QueueMessage;
pub use source::{Source, SourceInput, Verification};
pub use subscription::{Format, Method, Subscription, SubscriptionInput};
