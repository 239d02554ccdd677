//! How an event is laid out in its item: the payload stored once. The request body is kept
//! as bytes and the parsed `data` is left out when decoding the body gives it back (it is
//! then decoded again on read); the whole record is deflated when that makes it smaller.
//! Items written before this layout (`doc`: the event as JSON, the payload in it twice, the
//! body in base64) still read.
//!
//! The equality is checked when the item is written, with the decoder of that build; a later
//! change to `providers::decode` changes what older items read back as, so such a change
//! must keep decoding the bodies it decoded before the same way (to the same JSON value: a
//! JSON body's `data` is now the body's own text where it was the value written out again,
//! the same value).

use super::codec::{from_doc, Item, DOC};
use crate::domain::envelope::{Envelope, RawRequest, StoredEvent};
use crate::error::{StoreError, StoreResult};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use switchboard_engine::providers::{decode, Incoming};

/// The packed record (binary): the head as JSON, a newline, then the raw body's bytes.
pub(super) const RECORD: &str = "record";
/// How `record` is packed: `deflate`, or absent when stored as is.
pub(super) const PACKING: &str = "packing";
const DEFLATE: &str = "deflate";
/// Largest record inflated on read: a stored event is under DynamoDB's 400 KB item size,
/// so anything past this is not one of ours.
const MAX_INFLATED_BYTES: usize = 4 * 1024 * 1024;

/// Everything of the event except the body (and `data` when the body gives it back).
#[derive(Serialize, Deserialize)]
struct Head {
    envelope: Envelope,
    method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    query: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dedup_key: Option<String>,
    /// `envelope.data` was left out: it is the body's decoding.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    data_from_body: bool,
}

fn incoming(raw: &RawRequest) -> Incoming<'_> {
    Incoming {
        method: &raw.method,
        content_type: raw.content_type.as_deref(),
        query: raw.query.as_deref(),
        body: &raw.body,
    }
}

/// The record attributes of an event's item: `record` and, when deflated, `packing`.
pub(super) fn record_attributes(event: &StoredEvent) -> StoreResult<Vec<(String, AttributeValue)>> {
    let mut envelope = event.envelope.clone();
    // Only when decoding gives back exactly this value: an event whose data came from
    // elsewhere (or from an older decoder) keeps its own.
    let data_from_body = envelope.data.as_ref().is_some_and(|data| {
        decode(&incoming(&event.raw)).is_some_and(|d| d.text.text() == data.text())
    });
    if data_from_body {
        envelope.data = None;
    }
    let head = Head {
        envelope,
        method: event.raw.method.clone(),
        content_type: event.raw.content_type.clone(),
        query: event.raw.query.clone(),
        dedup_key: event.dedup_key.clone(),
        data_from_body,
    };
    let mut packed = serde_json::to_vec(&head).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    // Compact JSON never holds a raw newline: the first one ends the head.
    packed.push(b'\n');
    packed.extend_from_slice(&event.raw.body);
    let (packed, deflated) = smaller_of(packed);
    let mut attrs = Vec::with_capacity(2);
    if deflated {
        attrs.push((PACKING.to_owned(), AttributeValue::S(DEFLATE.to_owned())));
    }
    attrs.push((RECORD.to_owned(), AttributeValue::B(Blob::new(packed))));
    Ok(attrs)
}

/// The bytes deflated when that makes them smaller (every write unit is 1 KB of item),
/// and whether they were.
fn smaller_of(plain: Vec<u8>) -> (Vec<u8>, bool) {
    let deflated = miniz_oxide::deflate::compress_to_vec(&plain, 6);
    if deflated.len() < plain.len() {
        (deflated, true)
    } else {
        (plain, false)
    }
}

/// The event an item holds, in either layout.
pub(super) fn read_event(item: &Item) -> StoreResult<StoredEvent> {
    let Some(record) = item.get(RECORD) else {
        if item.contains_key(DOC) {
            return from_doc(item);
        }
        return Err(StoreError::Corrupt("event item has no record".into()));
    };
    let record = record
        .as_b()
        .map_err(|_| StoreError::Corrupt("event record is not binary".into()))?
        .as_ref();
    let packing = item.get(PACKING).and_then(|v| v.as_s().ok());
    let inflated;
    let packed = match packing.map(String::as_str) {
        None => record,
        Some(DEFLATE) => {
            inflated =
                miniz_oxide::inflate::decompress_to_vec_with_limit(record, MAX_INFLATED_BYTES)
                    .map_err(|e| {
                        StoreError::Corrupt(format!("event record does not inflate: {e}"))
                    })?;
            &inflated[..]
        }
        Some(other) => {
            return Err(StoreError::Corrupt(format!(
                "event record packed as {other:?}"
            )))
        }
    };
    unpack(packed)
}

fn unpack(packed: &[u8]) -> StoreResult<StoredEvent> {
    let split = packed
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| StoreError::Corrupt("event record has no head".into()))?;
    let (head, body) = (&packed[..split], &packed[split + 1..]);
    let head: Head =
        serde_json::from_slice(head).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let raw = RawRequest {
        method: head.method,
        content_type: head.content_type,
        query: head.query,
        body: bytes::Bytes::copy_from_slice(body),
    };
    let mut envelope = head.envelope;
    if head.data_from_body {
        envelope.data = decode(&incoming(&raw)).map(|d| d.text);
    }
    Ok(StoredEvent {
        envelope,
        raw,
        dedup_key: head.dedup_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::now;
    use std::collections::HashMap;

    fn event(body: &'static [u8], data: Option<serde_json::Value>) -> StoredEvent {
        StoredEvent {
            envelope: Envelope {
                id: "evt_1".into(),
                event_type: "call.ended".into(),
                provider_event: None,
                source: "src".into(),
                occurred_at: None,
                received_at: now(),
                call: None,
                data: data.map(crate::domain::Payload::from),
                raw_unparsed: false,
            },
            raw: RawRequest {
                method: "POST".into(),
                content_type: Some("application/json".into()),
                query: Some("a=1".into()),
                body: bytes::Bytes::from_static(body),
            },
            dedup_key: Some("src:k".into()),
        }
    }

    fn round_trip(e: &StoredEvent) -> (Item, StoredEvent) {
        let item: Item = record_attributes(e).unwrap().into_iter().collect();
        let back = read_event(&item).unwrap();
        (item, back)
    }

    fn head_of(item: &Item) -> serde_json::Value {
        let record = item[RECORD].as_b().unwrap().as_ref();
        let packed = match item.get(PACKING) {
            Some(_) => miniz_oxide::inflate::decompress_to_vec(record).unwrap(),
            None => record.to_vec(),
        };
        let end = packed.iter().position(|b| *b == b'\n').unwrap();
        serde_json::from_slice(&packed[..end]).unwrap()
    }

    #[test]
    fn data_the_body_gives_back_is_stored_once() {
        let body = br#"{"event":"call_hangup","data":{"uuid":"c-1","caller_number":"+90555","callee_number":"+90212","duration":42}}"#;
        let mut e = event(body, None);
        e.envelope.data = decode(&incoming(&e.raw)).map(|d| d.text);
        let (item, back) = round_trip(&e);
        assert_eq!(back, e);
        assert_eq!(back.envelope.data.unwrap().text().as_bytes(), body);
        assert!(head_of(&item)["envelope"].get("data").is_none());
        assert_eq!(head_of(&item)["data_from_body"], true);
    }

    #[test]
    fn data_that_differs_from_the_body_is_kept() {
        let e = event(b"{\"k\":\"v\"}\xff", Some(serde_json::json!({"k": "v"})));
        let (item, back) = round_trip(&e);
        assert_eq!(back, e);
        assert_eq!(
            head_of(&item)["envelope"]["data"],
            serde_json::json!({"k": "v"})
        );
    }

    #[test]
    fn a_json_null_payload_stays_present() {
        let e = event(b"null", Some(serde_json::Value::Null));
        assert_eq!(round_trip(&e).1, e);
        let unparsed = event(b"\x00\x01", None);
        assert_eq!(round_trip(&unparsed).1, unparsed);
    }

    #[test]
    fn a_repetitive_record_is_deflated_and_noise_is_not() {
        let long: &'static [u8] = Box::leak(
            format!("{{\"items\":[{}0]}}", "1234567890,".repeat(300))
                .into_bytes()
                .into_boxed_slice(),
        );
        let (item, _) = round_trip(&event(long, None));
        assert_eq!(item[PACKING].as_s().unwrap(), DEFLATE);
        assert!(item[RECORD].as_b().unwrap().as_ref().len() < long.len() / 4);
        // Bytes deflate cannot shrink are stored as they are.
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let noise: Vec<u8> = (0..512)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()[3]
            })
            .collect();
        assert_eq!(smaller_of(noise.clone()), (noise, false));
    }

    #[test]
    fn an_item_of_the_first_layout_still_reads() {
        let e = event(b"{\"k\":\"v\"}", Some(serde_json::json!({"k": "v"})));
        let item: Item = HashMap::from([(
            DOC.to_owned(),
            AttributeValue::S(serde_json::to_string(&e).unwrap()),
        )]);
        assert_eq!(read_event(&item).unwrap(), e);
    }

    #[test]
    fn a_damaged_record_is_corrupt_not_a_panic() {
        let item: Item = HashMap::from([
            (
                RECORD.to_owned(),
                AttributeValue::B(Blob::new(vec![1, 2, 3])),
            ),
            (PACKING.to_owned(), AttributeValue::S(DEFLATE.into())),
        ]);
        assert!(matches!(read_event(&item), Err(StoreError::Corrupt(_))));
    }
}
