//! Events for the engine's unit tests.

use crate::domain::time::Timestamp;
use crate::domain::{Envelope, RawRequest, StoredEvent};

/// A `call.ended` event of source `s` with no call, payload or body.
pub(crate) fn stored_event(
    id: &str,
    received_at: Timestamp,
    occurred_at: Option<Timestamp>,
) -> StoredEvent {
    StoredEvent {
        envelope: Envelope {
            id: id.into(),
            event_type: "call.ended".into(),
            provider_event: None,
            source: "s".into(),
            occurred_at,
            received_at,
            call: None,
            data: None,
            raw_unparsed: false,
        },
        raw: RawRequest {
            method: "POST".into(),
            content_type: None,
            query: None,
            body: bytes::Bytes::new(),
        },
        dedup_key: None,
    }
}
