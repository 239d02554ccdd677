//! What travels on the events queue.

use super::envelope::StoredEvent;
use super::time::Timestamp;
use super::Trigger;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum QueueMessage {
    /// A newly accepted event: store it, then fan it out to every matching subscription.
    Event { event: Box<StoredEvent> },
    /// One delivery of a stored event to one subscription: a scheduled retry or a replay.
    Deliver {
        event_id: String,
        subscription_id: String,
        attempt: u32,
        /// Not before this time; earlier receipts are re-queued (SQS delays cap at 15 min).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        not_before: Option<Timestamp>,
        trigger: Trigger,
    },
}

impl QueueMessage {
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    pub fn from_json(body: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(body)
    }

    /// The event id this message is about.
    pub fn event_id(&self) -> &str {
        match self {
            Self::Event { event } => &event.envelope.id,
            Self::Deliver { event_id, .. } => event_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliver_round_trips() {
        let m = QueueMessage::Deliver {
            event_id: "evt_1".into(),
            subscription_id: "sub_1".into(),
            attempt: 3,
            not_before: Some("2024-11-17T10:41:00Z".parse().unwrap()),
            trigger: Trigger::Retry,
        };
        let back = QueueMessage::from_json(&m.to_json().unwrap()).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.event_id(), "evt_1");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(QueueMessage::from_json("{\"kind\":\"nope\"}").is_err());
        assert!(QueueMessage::from_json("\u{0}").is_err());
    }
}
