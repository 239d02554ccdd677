//! An events row's raw request, packed: the method, content type and query as one line of
//! JSON, a newline, then the body's bytes as they came, all in one BLOB. Written so since
//! schema 7: as JSON text the body went through base64 (a third larger, encoded on every
//! ingest and decoded on every read). Rows written before hold that JSON text and are read
//! as such. Since schema 8 the head also says whether the event's payload (`data`) is
//! the body's own: the envelope column then leaves it out, and it is read from the body.

use crate::domain::{Payload, RawRequest};
use crate::error::{StoreError, StoreResult};
use bytes::Bytes;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// The raw request as an events row holds it.
pub(crate) enum RawColumn {
    /// Schema 6 and before: the request as JSON text, its body in base64.
    Json(String),
    /// See [`pack`].
    Packed(Vec<u8>),
}

/// What precedes the body. Serialised JSON never holds a raw newline (one in a string is
/// escaped), so the first newline ends it.
#[derive(Serialize, Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    content_type: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    query: Option<Cow<'a, str>>,
    /// The event's `data` is `Payload::from_json_body` of the body, left out of its envelope
    /// column.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    data_from_body: bool,
}

/// A raw request as read from its column.
pub(crate) struct Unpacked {
    pub(crate) raw: RawRequest,
    /// The event's payload is the body's (see `Payload::from_json_body`).
    pub(crate) data_from_body: bool,
}

/// Whether `data` is what the body gives, so that storing the body stores it too.
pub(crate) fn data_is_body(raw: &RawRequest, data: Option<&Payload>) -> bool {
    data.is_some_and(|d| d.is_text_of(&raw.body))
}

/// The column's value for `raw` (of an event whose `data` is the body's when
/// `data_from_body`).
pub(crate) fn pack(raw: &RawRequest, data_from_body: bool) -> StoreResult<Vec<u8>> {
    let head = Head {
        method: Cow::Borrowed(&raw.method),
        content_type: raw.content_type.as_deref().map(Cow::Borrowed),
        query: raw.query.as_deref().map(Cow::Borrowed),
        data_from_body,
    };
    let mut out = Vec::with_capacity(64 + raw.body.len());
    serde_json::to_writer(&mut out, &head).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    out.push(b'\n');
    out.extend_from_slice(&raw.body);
    Ok(out)
}

impl RawColumn {
    pub(crate) fn to_raw(&self) -> StoreResult<Unpacked> {
        match self {
            Self::Json(json) => Ok(Unpacked {
                raw: super::rows::from_json(json)?,
                data_from_body: false,
            }),
            Self::Packed(packed) => {
                let corrupt = |why: String| StoreError::Corrupt(format!("raw request: {why}"));
                let end = packed
                    .iter()
                    .position(|b| *b == b'\n')
                    .ok_or_else(|| corrupt("no end to its head".into()))?;
                let (head, body) = packed.split_at(end);
                let head: Head<'_> =
                    serde_json::from_slice(head).map_err(|e| corrupt(e.to_string()))?;
                Ok(Unpacked {
                    raw: RawRequest {
                        method: head.method.into_owned(),
                        content_type: head.content_type.map(Cow::into_owned),
                        query: head.query.map(Cow::into_owned),
                        body: Bytes::copy_from_slice(body.get(1..).unwrap_or_default()),
                    },
                    data_from_body: head.data_from_body,
                })
            }
        }
    }
}

impl FromSql for RawColumn {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Blob(b) => Ok(Self::Packed(b.to_vec())),
            ValueRef::Text(t) => std::str::from_utf8(t)
                .map(|s| Self::Json(s.to_owned()))
                .map_err(|e| FromSqlError::Other(Box::new(e))),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn request(
        method: &str,
        content_type: Option<&str>,
        query: Option<&str>,
        body: &[u8],
    ) -> RawRequest {
        RawRequest {
            method: method.into(),
            content_type: content_type.map(str::to_owned),
            query: query.map(str::to_owned),
            body: Bytes::copy_from_slice(body),
        }
    }

    #[test]
    fn the_body_is_kept_as_its_bytes_after_a_head_of_one_line() {
        let raw = request("POST", Some("application/json"), None, b"{\"a\":\n1}\xff");
        let packed = pack(&raw, false).unwrap();
        assert_eq!(
            packed,
            b"{\"method\":\"POST\",\"content_type\":\"application/json\"}\n{\"a\":\n1}\xff"
        );
        assert_eq!(RawColumn::Packed(packed).to_raw().unwrap().raw, raw);
    }

    #[test]
    fn the_head_says_whether_the_payload_is_the_bodys() {
        let body = b"{\n  \"a\": [1, 2]\n}";
        let raw = request("POST", None, None, body);
        let data = Payload::from_json_body(body).unwrap();
        assert_eq!(data.text(), r#"{"a":[1,2]}"#);
        assert!(data_is_body(&raw, Some(&data)));
        assert!(!data_is_body(&raw, None));
        let other: Payload = serde_json::from_str(r#"{"a":[2,1]}"#).unwrap();
        assert!(!data_is_body(&raw, Some(&other)));
        assert!(!data_is_body(
            &request("POST", None, None, b"a=1"),
            Some(&data)
        ));
        let packed = pack(&raw, true).unwrap();
        assert!(packed.starts_with(b"{\"method\":\"POST\",\"data_from_body\":true}\n"));
        let back = RawColumn::Packed(packed).to_raw().unwrap();
        assert!(back.data_from_body);
        assert_eq!(back.raw, raw);
    }

    #[test]
    fn a_row_of_schema_6_is_read_from_its_json() {
        let raw = request("GET", None, Some("a=1\nb=2"), b"");
        let json = serde_json::to_string(&raw).unwrap();
        assert_eq!(RawColumn::Json(json).to_raw().unwrap().raw, raw);
    }

    #[test]
    fn a_packed_value_without_its_head_is_corrupt_not_a_panic() {
        for bad in [&b""[..], b"no head", b"{\"method\":1}\nbody", b"\n"] {
            let got = RawColumn::Packed(bad.to_vec()).to_raw();
            assert!(matches!(got, Err(StoreError::Corrupt(_))), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn any_request_round_trips(
            method in "[A-Z]{1,7}",
            content_type in proptest::option::of(".{0,40}"),
            query in proptest::option::of(".{0,40}"),
            body in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let raw = request(&method, content_type.as_deref(), query.as_deref(), &body);
            let flag = body.first() == Some(&b'{');
            let back = RawColumn::Packed(pack(&raw, flag).unwrap()).to_raw().unwrap();
            prop_assert_eq!(back.raw, raw);
            prop_assert_eq!(back.data_from_body, flag);
        }

        #[test]
        fn any_bytes_read_as_a_request_or_as_corrupt(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = RawColumn::Packed(bytes).to_raw();
        }
    }
}
