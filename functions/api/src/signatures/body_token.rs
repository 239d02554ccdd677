//! A shared token inside the body (Aircall puts its webhook's `token` in every JSON body):
//! the field, by key or dotted path, of the decoded JSON or form body.

use super::Refusal;
use crate::providers::{self, Incoming};
use bytes::Bytes;
use http::Request;

pub fn verify(
    field: &str,
    token: &str,
    req: &Request<Bytes>,
    same: impl Fn(&[u8], &[u8]) -> bool,
) -> Result<(), Refusal> {
    let content_type = super::header(req, "content-type");
    let incoming = Incoming {
        method: req.method().as_str(),
        content_type,
        query: None,
        body: req.body(),
    };
    let payload = providers::decode(&incoming).ok_or("missing token")?.value;
    let given = providers::field_text(&payload, field).ok_or("missing token")?;
    if same(given.as_bytes(), token.as_bytes()) {
        Ok(())
    } else {
        Err("invalid token")
    }
}

/// The raw body with every occurrence of the token replaced by `[redacted]`, so the stored
/// event, the forwarded raw body and `data` never hold it. The replacement contains no
/// character JSON or a form would escape, so the body stays as valid as it was.
pub fn scrub(body: &Bytes, token: &str) -> Bytes {
    let needle = token.as_bytes();
    if needle.is_empty() || body.len() < needle.len() {
        return body.clone();
    }
    let mut out = Vec::with_capacity(body.len());
    let mut rest: &[u8] = body;
    let mut found = false;
    while let Some(at) = rest.windows(needle.len()).position(|w| w == needle) {
        found = true;
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(b"[redacted]");
        rest = &rest[at + needle.len()..];
    }
    if !found {
        return body.clone();
    }
    out.extend_from_slice(rest);
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_by_field_and_scrubbed() {
        let body =
            Bytes::from_static(br#"{"event":"call.created","token":"45XXYYZZa08","data":{}}"#);
        let req = Request::post("/")
            .header("content-type", "application/json")
            .body(body.clone())
            .unwrap();
        let eq = |a: &[u8], b: &[u8]| a == b;
        assert_eq!(verify("token", "45XXYYZZa08", &req, eq), Ok(()));
        assert_eq!(verify("token", "nope", &req, eq), Err("invalid token"));
        assert_eq!(
            verify("data.token", "45XXYYZZa08", &req, eq),
            Err("missing token")
        );
        let scrubbed = scrub(&body, "45XXYYZZa08");
        assert_eq!(
            &scrubbed[..],
            br#"{"event":"call.created","token":"[redacted]","data":{}}"#
        );
        assert_eq!(scrub(&body, ""), body);
    }
}
